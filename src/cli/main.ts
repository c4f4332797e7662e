/**
 * The `ssh-auth` command.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { agent } from "./Agent.js"
import { config } from "./Config.js"
import { connect, expandVerbosity } from "./Connect.js"
import { key } from "./Key.js"
import { probe } from "./Probe.js"

const command = Command.make("ssh-auth").pipe(
  Command.withDescription("SSH authentication, the Effect way"),
  Command.withSubcommands([probe, connect, key, config, agent])
)

const cli = Command.run(command, { name: "ssh-auth", version: "0.1.0" })

// Only connect counts its -v flags.
cli(process.argv[2] === "connect" ? expandVerbosity(process.argv) : process.argv).pipe(
  // Like ssh: a connection failure prints one line and exits 255.
  Effect.catchAll((error) =>
    ValidationError.isValidationError(error)
      // @effect/cli has already printed what was wrong with the command line.
      ? Effect.sync(() => {
        process.exitCode = 2
      })
      : Effect.zipRight(
        Console.error(`ssh-auth: ${error.message}`),
        Effect.sync(() => {
          // A command may say its own status (ssh-add -l exits 1 for an empty agent).
          process.exitCode = "exitCode" in error && typeof error.exitCode === "number" ? error.exitCode : 255
        })
      )
  ),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({ disableErrorReporting: true })
)
