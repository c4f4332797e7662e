/**
 * The `ssh-auth` command tree, as @effect/cli declares and runs it, with help laid out by
 * `Help.ts`. `main.ts` loads this module for every command line but a plain `connect`.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { agent } from "./Agent.js"
import { config } from "./Config.js"
import { connect } from "./ConnectCommand.js"
import * as Help from "./Help.js"
import { key } from "./Key.js"
import * as Output from "./Output.js"
import { probe } from "./Probe.js"
import { serve } from "./Serve.js"

const subcommands = [probe, connect, key, config, agent, serve] as const
const command = Command.make("ssh-auth").pipe(
  Command.withDescription("SSH authentication, the Effect way"),
  Command.withSubcommands(subcommands)
)

const info = { name: "ssh-auth", version: "0.1.0" }
const cli = Command.run(command, info)
type Cli = ReturnType<typeof cli>
const program: Help.Program = { ...info, command: command.descriptor, subcommands: subcommands.map((c) => c.descriptor) }

/** `--wizard` was asked for where there is no terminal to ask on. */
class WizardNeedsTerminal extends Schema.TaggedError<WizardNeedsTerminal>()("WizardNeedsTerminal", {}) {
  /** A usage error, as @effect/cli's own: status 2. */
  readonly exitCode = 2
  override get message(): string {
    return "--wizard asks its questions on a terminal, and stdin or stdout is not one"
  }
}

/**
 * Runs the command line (`process.argv`'s shape). Help is ours to lay out (see Help.ts):
 * @effect/cli's would name the subcommand alone in USAGE, pad to its longest line and colour
 * a pipe. Asked for as @effect/cli reads it. A usage error, which @effect/cli has printed
 * already, sets status 2.
 *
 * @since 0.1.0
 */
export const run = (
  argv: ReadonlyArray<string>
): Effect.Effect<void, Exclude<Effect.Effect.Error<Cli>, ValidationError.ValidationError> | WizardNeedsTerminal, Effect.Effect.Context<Cli>> => {
  const path = Help.helpRequest(program, argv.slice(2))
  if (path !== undefined) {
    return Effect.sync(() => void process.stdout.write(Help.render(Help.helpDoc(program, path), Output.outputStyle(process.stdout))))
  }
  // @effect/cli's wizard asks on the terminal; without one it would wait on stdin for ever.
  if (argv.slice(2).includes("--wizard") && !(process.stdin.isTTY && process.stdout.isTTY)) {
    return Effect.fail(new WizardNeedsTerminal())
  }
  return cli(argv).pipe(Effect.catchIf(ValidationError.isValidationError, () =>
    Effect.sync(() => {
      process.exitCode = 2
    })))
}
