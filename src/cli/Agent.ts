/**
 * `ssh-auth agent …`: `list` prints like `ssh-add -l` (and with `-L` like `ssh-add -L`);
 * `add FILE [-t life] [-c]` adds a key with constraints, like `ssh-add`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Agent from "../agent/Agent.js"
import { parseTime } from "../config/Keywords.js"
import * as KeyFile from "../keys/KeyFile.js"
import * as PublicKey from "../keys/PublicKey.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class AgentCommandError extends Schema.TaggedError<AgentCommandError>()("AgentCommandError", {
  message: Schema.String,
  exitCode: Schema.Number
}) {}

const connect = Effect.flatMap(
  Effect.sync(() => process.env.SSH_AUTH_SOCK),
  (path) => path ? Agent.make({ path }) : Effect.fail(new Agent.NoAgent({ detail: "SSH_AUTH_SOCK is not set" }))
)

const list = Command.make("list", {
  publicKeys: Options.boolean("public-keys").pipe(Options.withAlias("L"), Options.withDescription("print the public keys, as ssh-add -L"))
}, ({ publicKeys }) =>
  Effect.scoped(Effect.gen(function*() {
    const agent = yield* connect
    const identities = yield* agent.identities
    // As ssh-add -l: an empty agent is exit status 1.
    if (identities.length === 0) return yield* new AgentCommandError({ message: "The agent has no identities.", exitCode: 1 })
    for (const id of identities) {
      if (publicKeys) {
        yield* Console.log(`${id.certificate ? id.certificate.type : id.publicKey.type} ${Buffer.from(id.blob).toString("base64")} ${id.comment}`)
      } else {
        const label = `${PublicKey.typeLabel(id.publicKey)}${id.certificate ? "-CERT" : ""}`
        yield* Console.log(`${PublicKey.bits(id.publicKey)} ${PublicKey.fingerprintSha256(id.publicKey)} ${id.comment || "no comment"} (${label})`)
      }
    }
  }))).pipe(Command.withDescription("list the agent's keys, as ssh-add -l"))

const add = Command.make("add", {
  file: Args.text({ name: "file" }),
  lifetime: Options.text("lifetime").pipe(
    Options.withAlias("t"),
    Options.optional,
    Options.withDescription("forget the key after this long (seconds, or 30m, 1h…)")
  ),
  confirm: Options.boolean("confirm").pipe(Options.withAlias("c"), Options.withDescription("ask before each use")),
  passphrase: Options.redacted("passphrase").pipe(Options.withAlias("P"), Options.optional)
}, ({ confirm, file, lifetime, passphrase }) =>
  Effect.scoped(Effect.gen(function*() {
    const seconds = Option.isSome(lifetime) ? parseTime(lifetime.value) : undefined
    if (Option.isSome(lifetime) && seconds === undefined) return yield* new AgentCommandError({ message: `Invalid lifetime ${lifetime.value}`, exitCode: 2 })
    const key = yield* KeyFile.readFile(file, Option.isSome(passphrase) ? { passphrase: Effect.succeed(passphrase.value) } : {})
    const agent = yield* connect
    yield* agent.add(key, { ...(seconds !== undefined ? { lifetime: seconds } : {}), confirm, comment: key.comment || file })
    yield* Console.error(`Identity added: ${file} (${key.comment || file})`)
    if (seconds !== undefined) yield* Console.error(`Lifetime set to ${seconds} seconds`)
    if (confirm) yield* Console.error("The user must confirm each use of the key")
  }))).pipe(Command.withDescription("add a key to the agent, as ssh-add"))

/**
 * @since 0.1.0
 * @category commands
 */
export const agent = Command.make("agent").pipe(
  Command.withDescription("ssh-agent tools: list, add"),
  Command.withSubcommands([list, add])
)
