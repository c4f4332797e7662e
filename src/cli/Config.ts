/**
 * `ssh-auth config [-F file] [-l user] [-p port] [-o K=V]... [user@]host`: the resolved
 * configuration in `ssh -G`'s format, for the keywords this library acts on.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ConfigDump from "../config/ConfigDump.js"
import * as SshConfig from "../config/SshConfig.js"
import { parseDestination } from "./Destination.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const config = Command.make("config", {
  destination: Args.text({ name: "destination" }).pipe(Args.withDescription("[user@]host")),
  configFile: Options.text("config-file").pipe(
    Options.withAlias("F"),
    Options.optional,
    Options.withDescription("read this file instead of ~/.ssh/config and /etc/ssh/ssh_config")
  ),
  login: Options.text("login").pipe(Options.withAlias("l"), Options.optional),
  port: Options.integer("port").pipe(Options.withAlias("p"), Options.optional),
  options: Options.text("option").pipe(Options.withAlias("o"), Options.repeated, Options.withDescription("Keyword=value, as ssh -o"))
}, ({ configFile, destination, login, options, port }) =>
  Effect.gen(function*() {
    const { host, user } = parseDestination(destination)
    // As ssh: -l wins over user@.
    const chosenUser = Option.getOrElse(login, () => user)
    const { config, raw } = yield* SshConfig.resolveWithRaw({
      host,
      options,
      ...(chosenUser !== undefined ? { user: chosenUser } : {}),
      ...(Option.isSome(port) ? { port: port.value } : {}),
      ...(Option.isSome(configFile) ? { configFile: configFile.value } : {})
    })
    for (const line of ConfigDump.dump(raw, config)) yield* Console.log(line)
  })).pipe(Command.withDescription("print the resolved ssh configuration for a host, as ssh -G"))
