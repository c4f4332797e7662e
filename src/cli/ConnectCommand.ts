/**
 * `ssh-auth connect` as @effect/cli declares it: its help, its wizard and its errors. A plain
 * command line runs without it (`Connect.parseQuick`); this module is loaded only when one
 * does not.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { runConnect } from "./Connect.js"

/**
 * connect's command line, as @effect/cli declares it (help, the wizard, errors).
 *
 * @since 0.1.0
 * @category internal
 */
export const flags = {
  destination: Args.text({ name: "destination" }).pipe(Args.withDescription("[user@]host, or a Host alias from ssh_config")),
  port: Options.integer("port").pipe(Options.withAlias("p"), Options.optional),
  jump: Options.text("jump").pipe(
    Options.withAlias("J"),
    Options.optional,
    Options.withDescription("jump hosts, as ssh -J: [user@]host[:port], comma-separated; each is a login of its own")
  ),
  login: Options.text("login").pipe(Options.withAlias("l"), Options.optional, Options.withDescription("user to log in as")),
  identities: Options.text("identity").pipe(Options.withAlias("i"), Options.repeated, Options.withDescription("private key file, tried before the config's")),
  configFile: Options.text("config-file").pipe(
    Options.withAlias("F"),
    Options.optional,
    Options.withDescription("ssh_config to read instead of ~/.ssh/config and /etc/ssh/ssh_config")
  ),
  options: Options.text("option").pipe(
    Options.withAlias("o"),
    Options.repeated,
    Options.withDescription(
      "Keyword=value, as ssh -o. ConnectTimeout=N bounds the TCP connect, the server's identification line and each key exchange step. " +
        "LoginGraceTime=N (ours, not ssh's) bounds the whole login: default 120 seconds, 0 for none"
    )
  ),
  verbose: Options.boolean("verbose").pipe(Options.withAlias("v"), Options.withDescription("log each step, as ssh -v")),
  verbosity: Options.integer("verbosity").pipe(
    Options.withDefault(0),
    Options.withDescription("how verbose: 1 as -v, 2 as -vv (adds ssh's debug2 lines); -vv and -vvv set it")
  ),
  json: Options.boolean("json").pipe(Options.withDescription("print the AuthResult as JSON")),
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("print the plan (what would be tried, in order) without connecting")),
  passwordEnv: Options.text("password-env").pipe(Options.optional, Options.withDescription("answer password prompts from this environment variable")),
  passphraseEnv: Options.text("passphrase-env").pipe(Options.optional, Options.withDescription("answer key passphrase prompts from this environment variable")),
  hostKeys: Options.text("host-key").pipe(Options.repeated, Options.withDescription("accept only this host key fingerprint (SHA256:…) instead of known_hosts")),
  insecure: Options.boolean("insecure-accept-any-host-key").pipe(Options.withDescription("trust any host key (anyone on the path can impersonate the server)"))
}

/**
 * @since 0.1.0
 * @category commands
 */
export const connect = Command.make("connect", flags, (f) => runConnect(f)).pipe(
  Command.withDescription("authenticate like ssh, and print the AuthResult")
)
