/**
 * `ssh-auth connect [user@]host [-p port] [-i key]... [--password-env VAR]`: builds a
 * strategy from the flags, authenticates and prints the AuthResult.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as os from "node:os"
import * as AuthStrategy from "../AuthStrategy.js"
import * as AuthHandler from "../handler/AuthHandler.js"
import type { AuthSource } from "../sources/AuthSource.js"
import { CredentialError } from "../sources/AuthSource.js"
import { Password } from "../sources/Password.js"
import { OnDiskPrivateKey } from "../sources/PrivateKey.js"
import { acceptAnyInsecure, type HostKeyPolicy, pinned } from "../transport/HostKeyPolicy.js"
import { makeTcp } from "../transport/TcpTransport.js"
import { Transport } from "../transport/Transport.js"
import { TransportError } from "../transport/TransportError.js"
import { parseDestination } from "./Destination.js"

const destination = Args.text({ name: "destination" }).pipe(Args.withDescription("[user@]host"))
const port = Options.integer("port").pipe(Options.withAlias("p"), Options.withDefault(22))
const login = Options.text("login").pipe(Options.withAlias("l"), Options.optional, Options.withDescription("user to log in as"))
const identities = Options.text("identity").pipe(Options.withAlias("i"), Options.repeated, Options.withDescription("private key file"))
const passwordEnv = Options.text("password-env").pipe(
  Options.optional,
  Options.withDescription("name of an environment variable holding the password (tried after the keys)")
)
const passphraseEnv = Options.text("passphrase-env").pipe(
  Options.optional,
  Options.withDescription("name of an environment variable holding the key passphrase")
)
const hostKeys = Options.text("host-key").pipe(
  Options.repeated,
  Options.withDescription("accept only this host key fingerprint (SHA256:…, as `ssh-auth probe` prints)")
)
const insecure = Options.boolean("insecure-accept-any-host-key").pipe(
  Options.withDescription("trust any host key (anyone on the path can impersonate the server)")
)
const json = Options.boolean("json").pipe(Options.withDescription("print the AuthResult as JSON"))

/** A secret from the environment, read only when the source using it is tried. */
const fromEnv = (name: string, what: string) =>
  Effect.suspend(() => {
    const value = process.env[name]
    return value === undefined
      ? Effect.fail(new CredentialError({ source: `--${what}-env ${name}`, detail: `environment variable ${name} is not set` }))
      : Effect.succeed(Redacted.make(value))
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const connect = Command.make(
  "connect",
  { destination, port, login, identities, passwordEnv, passphraseEnv, hostKeys, insecure, json },
  (flags) =>
    Effect.gen(function*() {
      const parsed = parseDestination(flags.destination)
      const user = Option.getOrElse(flags.login, () => parsed.user ?? os.userInfo().username)
      const policy: HostKeyPolicy | undefined = flags.hostKeys.length > 0
        ? pinned(flags.hostKeys)
        : flags.insecure
        ? acceptAnyInsecure
        : undefined
      if (policy === undefined) {
        return yield* new TransportError({
          reason: "InvalidOptions",
          host: parsed.host,
          port: flags.port,
          detail: "no way to check the host key: pass --host-key FINGERPRINT (see ssh-auth probe) or --insecure-accept-any-host-key"
        })
      }
      const passphrase = Option.map(flags.passphraseEnv, (name) => fromEnv(name, "passphrase"))
      const sources: Array<AuthSource> = flags.identities.map((path) =>
        new OnDiskPrivateKey(user, "-i", path, Option.getOrUndefined(passphrase))
      )
      if (Option.isSome(flags.passwordEnv)) sources.push(new Password(user, fromEnv(flags.passwordEnv.value, "password")))

      const transport = yield* makeTcp({ host: parsed.host, port: flags.port, hostKeyPolicy: policy })
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(...sources)).pipe(
        Effect.provide(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))))
      )
      yield* Console.log(flags.json ? JSON.stringify(result.toJSON(), null, 2) : String(result))
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("authenticate to a server and print the AuthResult"))
