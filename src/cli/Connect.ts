/**
 * `ssh-auth connect [user@]host`: authenticate like `ssh`. The destination is resolved
 * through ssh_config (`-F`, `-o`, `-l`, `-p` as ssh takes them), the host key is checked
 * against known_hosts unless pinned, and the OpenSSH strategy runs: `--dry-run` prints its
 * plan without connecting, `--json` prints the AuthResult, `-v` logs the way `ssh -v` does.
 * Exit status as ssh's: 0, or 255 when the connection or the authentication fails.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as AuthStrategy from "../AuthStrategy.js"
import * as HostKeyCheck from "../config/HostKeyCheck.js"
import * as SshConfig from "../config/SshConfig.js"
import * as AuthHandler from "../handler/AuthHandler.js"
import * as OpenSshStrategy from "../OpenSshStrategy.js"
import { CredentialError } from "../sources/AuthSource.js"
import * as Prompter from "../sources/Prompter.js"
import { acceptAnyInsecure, pinned } from "../transport/HostKeyPolicy.js"
import { kexMethods } from "../transport/kex/KexMethod.js"
import { printable, safeJson } from "../wire/PeerText.js"
import { parseDestination } from "./Destination.js"
import { describeConnection, describeProposals } from "./Negotiated.js"
import * as Output from "./Output.js"
import * as Route from "./Route.js"

/**
 * The whole login (connection, key exchange, authentication) took longer than its bound.
 *
 * @since 0.1.0
 * @category errors
 */
export class LoginTimeout extends Schema.TaggedError<LoginTimeout>()("LoginTimeout", {
  host: Schema.String,
  port: Schema.Number,
  seconds: Schema.Number
}) {
  override get message(): string {
    return `${this.host}:${this.port}: the login did not complete within ${this.seconds} s (LoginGraceTime; set it with -o LoginGraceTime=N)`
  }
}

/**
 * Answers from environment variables, chosen by where the prompt comes from and never by
 * its words: the passphrase variable answers only a local key's passphrase prompt, the
 * password variable only the server's password and non-echoing keyboard-interactive prompts.
 */
const envPrompter = (passwordEnv: Option.Option<string>, passphraseEnv: Option.Option<string>): Prompter.Prompter => {
  const fromEnv = (name: Option.Option<string>, what: string) =>
    Option.match(name, {
      onNone: () => undefined,
      onSome: (n) =>
        Effect.suspend(() => {
          const value = process.env[n]
          return value !== undefined
            ? Effect.succeed(Redacted.make(value))
            : Effect.fail(new CredentialError({ source: what, detail: `the environment variable ${n} is not set` }))
        })
    })
  return Prompter.fromSecrets({ password: fromEnv(passwordEnv, "--password-env"), passphrase: fromEnv(passphraseEnv, "--passphrase-env") })
}

/**
 * Log lines on stderr in ssh's words: `debug1: …` as ssh -v prints them, trace-level ones
 * as -vv's `debug2: …`, warnings as `Warning: …` (ssh's "Warning: Permanently added …").
 */
const sshLogger = Logger.make(({ logLevel, message }) => {
  const text = Array.isArray(message) ? message.join(" ") : String(message)
  const prefix = LogLevel.greaterThanEqual(logLevel, LogLevel.Warning) ? "Warning" : logLevel._tag === "Trace" ? "debug2" : "debug1"
  process.stderr.write(`${prefix}: ${printable(text)}\n`)
})

/** What ssh 10.1 prints when the kex it got has no post-quantum part, word for word. */
const noPostQuantumWarning = [
  "** WARNING: connection is not using a post-quantum key exchange algorithm.",
  "** This session may be vulnerable to \"store now, decrypt later\" attacks.",
  "** The server may need to be upgraded. See https://openssh.com/pq.html"
]

/** A banner line as printed: escaped first, then cut, so the bound holds for what reaches the terminal. */
const bannerLine = (line: string): string => {
  const safe = printable(line, { multiline: true })
  return safe.length > 900 ? `${safe.slice(0, 900)}… (${safe.length - 900} more characters)` : safe
}

/** Banners go to stderr as they come, as ssh prints them: escaped, and each line cut to a bound. */
const printBanner = (text: string) =>
  Effect.sync(() => {
    const lines = text.replace(/\r?\n$/, "").split("\n")
    const shown = lines.slice(0, 200).map(bannerLine)
    if (lines.length > 200) shown.push(`… (${lines.length - 200} more lines)`)
    process.stderr.write(`${shown.join("\n")}\n`)
  })

/**
 * ssh counts its -v flags; @effect/cli's booleans do not. `-vv` and `-vvv` become
 * `-v --verbosity N` before the command line is parsed.
 *
 * @since 0.1.0
 * @category internal
 */
export const expandVerbosity = (args: ReadonlyArray<string>): Array<string> =>
  args.flatMap((arg) => (/^-vv+$/.test(arg) ? ["-v", "--verbosity", String(arg.length - 1)] : [arg]))

/**
 * connect's parsed command line.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectFlags {
  readonly destination: string
  readonly port: Option.Option<number>
  readonly jump: Option.Option<string>
  readonly login: Option.Option<string>
  readonly identities: ReadonlyArray<string>
  readonly configFile: Option.Option<string>
  readonly options: ReadonlyArray<string>
  readonly verbose: boolean
  readonly verbosity: number
  readonly json: boolean
  readonly dryRun: boolean
  readonly passwordEnv: Option.Option<string>
  readonly passphraseEnv: Option.Option<string>
  readonly hostKeys: ReadonlyArray<string>
  readonly insecure: boolean
}

/** The options that take a value: each name and alias, to its field and whether it repeats. */
const valued: Record<string, { readonly field: keyof ConnectFlags; readonly kind: "text" | "integer" | "repeated" }> = {
  "--port": { field: "port", kind: "integer" },
  "-p": { field: "port", kind: "integer" },
  "--jump": { field: "jump", kind: "text" },
  "-J": { field: "jump", kind: "text" },
  "--login": { field: "login", kind: "text" },
  "-l": { field: "login", kind: "text" },
  "--identity": { field: "identities", kind: "repeated" },
  "-i": { field: "identities", kind: "repeated" },
  "--config-file": { field: "configFile", kind: "text" },
  "-F": { field: "configFile", kind: "text" },
  "--option": { field: "options", kind: "repeated" },
  "-o": { field: "options", kind: "repeated" },
  "--verbosity": { field: "verbosity", kind: "integer" },
  "--password-env": { field: "passwordEnv", kind: "text" },
  "--passphrase-env": { field: "passphraseEnv", kind: "text" },
  "--host-key": { field: "hostKeys", kind: "repeated" }
}
const switches: Record<string, keyof ConnectFlags> = {
  "--verbose": "verbose",
  "-v": "verbose",
  "--json": "json",
  "--dry-run": "dryRun",
  "--insecure-accept-any-host-key": "insecure"
}

/**
 * The plain command lines of connect, parsed without @effect/cli: its run costs ≈ 0.2 s of a
 * whole login's start. Anything else (help, the wizard, `--name=value`, an unknown or repeated
 * option, a missing value) answers undefined, and @effect/cli parses it and says what is
 * wrong. test/cli/QuickArgs.test.ts holds the two to the same answers.
 *
 * @since 0.1.0
 * @category internal
 */
export const parseQuick = (args: ReadonlyArray<string>): ConnectFlags | undefined => {
  const single: Partial<Record<keyof ConnectFlags, string>> = {}
  const lists: Record<"identities" | "options" | "hostKeys", Array<string>> = { identities: [], options: [], hostKeys: [] }
  const on = new Set<keyof ConnectFlags>()
  const positional: Array<string> = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (!arg.startsWith("-") || arg === "-") {
      positional.push(arg)
      continue
    }
    const flag = switches[arg]
    if (flag !== undefined) {
      if (on.has(flag)) return undefined
      on.add(flag)
      continue
    }
    const option = valued[arg]
    const value = args[i + 1]
    if (option === undefined || value === undefined) return undefined
    i++
    if (option.kind === "repeated") lists[option.field as keyof typeof lists].push(value)
    else if (single[option.field] !== undefined) return undefined
    else single[option.field] = value
  }
  const integer = (text: string | undefined) => (text === undefined || /^-?\d+$/.test(text) ? text : undefined)
  if (positional.length !== 1 || integer(single.port) !== single.port || integer(single.verbosity) !== single.verbosity) return undefined
  const optional = (field: keyof ConnectFlags) => Option.fromNullable(single[field])
  return {
    destination: positional[0],
    port: Option.map(optional("port"), Number),
    jump: optional("jump"),
    login: optional("login"),
    identities: lists.identities,
    configFile: optional("configFile"),
    options: lists.options,
    verbose: on.has("verbose"),
    verbosity: single.verbosity === undefined ? 0 : Number(single.verbosity),
    json: on.has("json"),
    dryRun: on.has("dryRun"),
    passwordEnv: optional("passwordEnv"),
    passphraseEnv: optional("passphraseEnv"),
    hostKeys: lists.hostKeys,
    insecure: on.has("insecure")
  }
}

/**
 * Runs connect with its parsed command line.
 *
 * @since 0.1.0
 * @category commands
 */
export const runConnect = (f: ConnectFlags) =>
  Effect.gen(function*() {
    const parsed = parseDestination(f.destination)
    const user = Option.getOrElse(f.login, () => parsed.user)
    const config = yield* SshConfig.resolve({
      host: parsed.host,
      // -J is ProxyJump set before anything else, as ssh sets it.
      options: Option.isSome(f.jump) ? [`ProxyJump=${f.jump.value}`, ...f.options] : f.options,
      identityFiles: f.identities,
      ...(user !== undefined ? { user } : {}),
      ...(Option.isSome(f.port) ? { port: f.port.value } : {}),
      ...(Option.isSome(f.configFile) ? { configFile: f.configFile.value } : {})
    })

    const terminal = process.stdin.isTTY ? yield* Prompter.terminal() : undefined
    const prompter = Option.isSome(f.passwordEnv) || Option.isSome(f.passphraseEnv) ? envPrompter(f.passwordEnv, f.passphraseEnv) : terminal
    const strategyOptions: OpenSshStrategy.OpenSshStrategyOptions = { config, ...(prompter ? { prompter } : {}) }
    const agent = OpenSshStrategy.agentLayer(config)

    const route: Route.RouteContext = {
      insecure: f.insecure,
      ...(Option.isSome(f.configFile) ? { configFile: f.configFile.value } : {}),
      ...(prompter ? { prompter } : {}),
      ...(terminal ? { terminal } : {})
    }
    if (f.dryRun) {
      const hops = yield* Route.describe(config, route)
      const steps = yield* OpenSshStrategy.plan(strategyOptions).pipe(Effect.provide(agent))
      for (const line of hops) yield* Console.log(line)
      yield* Console.log(`plan for ${config.user}@${config.hostname} port ${config.port}:`)
      for (const line of OpenSshStrategy.formatPlan(steps, OpenSshStrategy.authenticateOptions)) yield* Console.log(line)
      return
    }

    const { hostname: host, loginGraceTime: grace, port } = config
    const login = Effect.gen(function*() {
      const checked = f.hostKeys.length > 0
        ? { policy: pinned(f.hostKeys), hostKeyAlgorithms: undefined }
        : f.insecure
        ? { policy: acceptAnyInsecure, hostKeyAlgorithms: undefined }
        : yield* HostKeyCheck.fromConfig(config, config.batchMode ? undefined : terminal)
      const transport = yield* Route.open(config, checked, route)
      // ssh -v's kex lines, from the same words `ssh-auth probe` prints; -vv puts both
      // proposals before the negotiated algorithms, where ssh does.
      for (const line of describeConnection(transport)) {
        if (line.startsWith("debug1: kex: algorithm:")) { for (const p of describeProposals(transport)) yield* Effect.logTrace(p) }
        yield* Effect.logDebug(line.replace(/^debug1: /, ""))
      }
      // OpenSSH 10.1's warning, on the same terms: the config left KexAlgorithms alone and WarnWeakCrypto on.
      if (!kexMethods.get(transport.algorithms.kex)?.postQuantum && !config.kexAlgorithmsSet && config.warnWeakCrypto) {
        for (const line of noPostQuantumWarning) yield* Console.error(line)
      }
      return yield* AuthStrategy.authenticate(OpenSshStrategy.make(strategyOptions), OpenSshStrategy.authenticateOptions).pipe(
        AuthHandler.provide(transport, { onBanner: printBanner }),
        Effect.provide(agent)
      )
    })
    const result = yield* (grace > 0
      ? Effect.timeoutFail(login, { duration: `${grace} seconds`, onTimeout: () => new LoginTimeout({ host, port, seconds: grace }) })
      : login)
    const last = result.attempts.at(-1)
    if (last) yield* Effect.logDebug(`Authenticated to ${host} ([${host}]:${port}) using "${last.source.method}".`)
    yield* Console.log(f.json ? safeJson(result.toJSON(), 2) : String(result))
  }).pipe(
    Effect.scoped,
    (self) => {
      const verbosity = Math.max(f.verbose ? 1 : 0, f.verbosity)
      // The command installs the pretty logger; ssh's lines take its place. Like ssh, only
      // warnings show without -v (the library's info lines are for -v).
      return self.pipe(
        Effect.provide(Layer.mergeAll(
          Logger.replace(Output.prettyLogger, sshLogger),
          Logger.remove(Logger.prettyLoggerDefault),
          Logger.remove(Logger.defaultLogger)
        )),
        Logger.withMinimumLogLevel(verbosity >= 2 ? LogLevel.Trace : verbosity === 1 ? LogLevel.Debug : LogLevel.Warning)
      )
    }
  )
