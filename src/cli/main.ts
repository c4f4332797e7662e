/**
 * The `ssh-auth` command.
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import type { Teardown } from "@effect/platform/Runtime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as os from "node:os"
import { printable, show } from "../wire/PeerText.js"
import { expandVerbosity, parseQuick, runConnect } from "./Connect.js"
import * as Output from "./Output.js"

/**
 * A plain `connect` runs at once; every other command line (help, the other commands, the
 * wizard, a usage error) goes to @effect/cli's command tree, a module loaded on first use:
 * in the startup snapshot, its definitions cost memory every login would carry.
 */
type RunCommands = ReturnType<typeof import("./Commands.js")["run"]>
type RunConnect = ReturnType<typeof runConnect>
const run = (
  argv: ReadonlyArray<string>
): Effect.Effect<
  void,
  Effect.Effect.Error<RunCommands> | Effect.Effect.Error<RunConnect>,
  Effect.Effect.Context<RunCommands> | Effect.Effect.Context<RunConnect>
> => {
  // runCommand has expanded connect's -vv already.
  const quick = argv[2] === "connect" ? parseQuick(argv.slice(3)) : undefined
  if (quick !== undefined) return runConnect(quick)
  return Effect.flatMap(Effect.promise(() => import("./Commands.js")), (commands) => commands.run(argv))
}

/** A bug of ours still ends the way every failure does: one line, status 255, like ssh. */
const internalError = (what: unknown): string =>
  `ssh-auth: internal error: ${show(what instanceof Error ? `${what.name}: ${what.message}` : String(what), 300)}`

/** Colour and bold (SGR) sequences, as @effect/cli's own rendering writes them (its wizard, say). */

const sgr = /\x1b\[[0-9;]*m/g

/**
 * Everything the command prints passes through here: a server's words end up in results,
 * errors and logs, and no control sequence of theirs may reach the terminal. Colour
 * sequences are dropped rather than shown escaped: @effect/cli writes them whatever the
 * output is, and "\033[0;1m" in a pipe helps no one.
 */
const escapingConsole = Console.consoleWith((console) => {
  // @effect/cli's rendered documents (a usage error, --version) end in a newline of their own: one is enough.
  const escape = (args: ReadonlyArray<unknown>) =>
    args.map((a, i) => typeof a === "string" ? printable((i === args.length - 1 ? a.replace(/\n$/, "") : a).replace(sgr, ""), { multiline: true }) : a)
  return Effect.succeed<Console.Console>({
    ...console,
    log: (...args) => console.log(...escape(args)),
    error: (...args) => console.error(...escape(args)),
    warn: (...args) => console.warn(...escape(args)),
    info: (...args) => console.info(...escape(args)),
    debug: (...args) => console.debug(...escape(args))
  })
})

/**
 * Runs the command on `argv` (`process.argv`'s shape) and sets the exit status. Importing this
 * module runs nothing: the bundle's entry (`./bin.ts`) calls it, and so does a startup
 * snapshot's main function.
 *
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): void => {
  // The last resort, for a throw outside any Effect (a socket callback, say): never a silent exit.
  process.on("uncaughtException", (error) => {
    process.stderr.write(`${internalError(error)}\n`)
    process.exit(255)
  })
  // runMain interrupts the command on either signal; the status says which one came. `serve`
  // runs until a signal stops it: for it, that is the normal end.
  if (argv[2] !== "serve") { for (const name of signals) process.on(name, noteSignal[name]) }
  runCommand(argv)
}

const signals = ["SIGINT", "SIGTERM"] as const
let signalled: (typeof signals)[number] | undefined
const noteSignal = { SIGINT: () => (signalled ??= "SIGINT"), SIGTERM: () => (signalled ??= "SIGTERM") }

/**
 * How runMain ends the process: as a shell reports a death by signal (128 + its number: 130 for
 * Ctrl-C, 143 for SIGTERM) when a signal interrupted a command; otherwise with the status the
 * command set. runMain's own would exit 0 for an interrupted command, a silent end to a login.
 */
const teardown: Teardown = (exit, onExit) => {
  // Ours go with runMain's: a process that lingers after its command must still die of a signal.
  for (const name of signals) process.removeListener(name, noteSignal[name])
  const interrupted = Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
  if (interrupted && signalled !== undefined) return onExit(128 + os.constants.signals[signalled])
  onExit(Exit.isFailure(exit) && !interrupted ? 1 : 0)
}

// Only connect counts its -v flags.
const runCommand = (argv: ReadonlyArray<string>): void =>
  Effect.flatMap(escapingConsole, (console) =>
    run(argv[2] === "connect" ? expandVerbosity(argv) : argv).pipe(
      // Like ssh: a connection failure prints one line and exits 255.
      Effect.catchAll((error) =>
        Effect.zipRight(
          Console.error(`ssh-auth: ${error.message}`),
          Effect.sync(() => {
            // A command may say its own status (ssh-add -l exits 1 for an empty agent).
            process.exitCode = "exitCode" in error && typeof error.exitCode === "number" ? error.exitCode : 255
          })
        )
      ),
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          Console.error(internalError(defect)),
          Effect.sync(() => {
            process.exitCode = 255
          })
        )
      ),
      Effect.withConsole(console)
    )).pipe(
      // Interrupted by a signal: the teardown says which; anything else left is ours to report.
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.failCause(cause) : Effect.sync(() => {
          process.stderr.write(`${internalError(Cause.squash(cause))}\n`)
          process.exitCode = 255
        })
      ),
      // Effect's pretty logger, without colours where the output may not have them.
      Effect.provide(Layer.merge(NodeContext.layer, Logger.replace(Logger.defaultLogger, Output.prettyLogger))),
      NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true, teardown })
    )
