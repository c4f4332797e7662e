/**
 * ssh_config(5) resolution, as OpenSSH's `ssh` does it (readconf.c): `-o` options first,
 * then the user's file (or `-F`), then the system one; `Host` and `Match` blocks; `Include`
 * with globs and a depth limit; the first value wins except for keywords that accumulate;
 * a final pass when a `Match final` asks for one. `dump` prints the result the way
 * `ssh -G` does, and the accessors give the values with tokens, `~` and `${VAR}` expanded
 * where ssh expands them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execFile } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as nodePath from "node:path"
import { ConfigError } from "./ConfigError.js"
import { type ConfigLine, parseLine, parseText } from "./ConfigLine.js"
import * as Keywords from "./Keywords.js"
import { matchList, matchPattern } from "./Patterns.js"

/**
 * Who and where we are: what `%u`, `%d`, `%l`… expand to. Defaults come from the OS.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalContext {
  readonly localUser: string
  readonly homeDir: string
  readonly localHostname: string
  readonly uid: number
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const localContext = (): LocalContext => {
  const info = os.userInfo()
  return { localUser: info.username, homeDir: info.homedir, localHostname: os.hostname(), uid: info.uid, env: process.env }
}

/**
 * What `ssh [-F file] [-l user] [-p port] [-o K=V]… destination` is given.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolveOptions {
  /** The host as given (an alias, a name or an address). */
  readonly host: string
  readonly user?: string
  readonly port?: number
  /** `-o` options, `Keyword=value` or `Keyword value`. */
  readonly options?: ReadonlyArray<string>
  /** `-F`: this file instead of `~/.ssh/config` and the system file. */
  readonly configFile?: string
  /** Default `/etc/ssh/ssh_config`; not read when `configFile` is given. */
  readonly systemConfigFile?: string
  readonly local?: LocalContext
  /** Bound on each `Match exec` command. Default 10 s. */
  readonly execTimeoutMs?: number
}

/**
 * A resolved configuration: every keyword that got a value, as ssh holds it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResolvedConfig {
  /** The host as given. */
  readonly originalHost: string
  /** The given host, lower-cased, then HostName applied: what ssh connects to. */
  readonly host: string
  readonly local: LocalContext
  /** First value of each single-valued keyword. */
  readonly values: ReadonlyMap<string, ReadonlyArray<string>>
  /** Every value of each accumulating keyword, in order. */
  readonly lists: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<string>>>
}

const MAX_INCLUDE_DEPTH = 16

interface State {
  readonly values: Map<string, ReadonlyArray<string>>
  readonly lists: Map<string, Array<ReadonlyArray<string>>>
  wantFinal: boolean
}

interface Pass {
  readonly options: ResolveOptions
  readonly local: LocalContext
  readonly originalHost: string
  /** The host that Host lines and `Match host` see. */
  readonly host: string
  readonly final: boolean
  readonly state: State
}

const fail = (reason: ConfigError["reason"], file: string, line: number, detail: string) => new ConfigError({ reason, file, line, detail })

/** `~` and `~/x` to the home directory, as ssh's tilde_expand_filename. */
const expandTilde = (path: string, home: string) => (path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path)

/** `${VAR}` from the environment; an unset variable is left as it is. */
const expandEnv = (text: string, env: LocalContext["env"]) => text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (all, name: string) => env[name] ?? all)

/** `%x` tokens; `%%` is a percent sign, and a token we do not have is left as it is. */
const expandTokens = (text: string, tokens: Readonly<Record<string, string>>) => text.replace(/%(.)/g, (all, t: string) => (t === "%" ? "%" : tokens[t] ?? all))

const firstValue = (state: State, keyword: string) => state.values.get(keyword)?.[0]

/** The tokens ssh offers at this point of the resolution. */
const tokensOf = (pass: Pick<Pass, "local" | "originalHost">, host: string, state: State): Record<string, string> => {
  const port = firstValue(state, "port") ?? "22"
  const user = firstValue(state, "user") ?? pass.local.localUser
  const shortHost = pass.local.localHostname.split(".")[0]
  return {
    C: crypto.createHash("sha1").update(`${pass.local.localHostname}${host}${port}${user}`).digest("hex"),
    d: pass.local.homeDir,
    h: host,
    i: String(pass.local.uid),
    k: firstValue(state, "hostkeyalias") ?? host,
    L: shortHost,
    l: pass.local.localHostname,
    n: pass.originalHost,
    p: port,
    r: user,
    u: pass.local.localUser
  }
}

/** The host `Match host` compares: HostName so far (with %h), else the given host. */
const matchHost = (pass: Pass) => {
  if (pass.final) return pass.host
  const hostname = firstValue(pass.state, "hostname")
  return hostname === undefined ? pass.host : expandTokens(hostname, { h: pass.host }).toLowerCase()
}

const runExec = (command: string, timeout: number) =>
  Effect.async<boolean>((resume) => {
    const child = execFile("/bin/sh", ["-c", command], { timeout }, (error) => resume(Effect.succeed(error === null)))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Evaluates a Match line: Either an error in the line, or whether it matches. */
const evaluateMatch = (pass: Pass, line: ConfigLine): Effect.Effect<boolean, ConfigError> =>
  Effect.gen(function*() {
    const bad = (detail: string) => fail("BadMatch", line.file, line.line, detail)
    const args = line.args
    if (args.length === 0) return yield* bad("Bad Match condition: no attributes")
    let result = true
    for (let i = 0; i < args.length; i++) {
      const negate = args[i].startsWith("!")
      const attribute = (negate ? args[i].slice(1) : args[i]).toLowerCase()
      if (attribute === "all") {
        const rest = args.filter((a, j) => j !== i && !["canonical", "final", "!canonical", "!final"].includes(a.toLowerCase()))
        if (rest.length > 0) return yield* bad("'all' cannot be combined with other Match attributes")
        result = result && !negate
        continue
      }
      if (attribute === "canonical" || attribute === "final") {
        if (attribute === "final") pass.state.wantFinal = true
        result = result && (pass.final !== negate)
        continue
      }
      const value = args[++i]
      if (value === undefined) return yield* bad(`Bad Match condition: missing argument to ${attribute}`)
      const patterns = value.split(",")
      const listMatches = (subject: string, caseInsensitive = true) => (matchList(subject, patterns, caseInsensitive) === "match") !== negate
      switch (attribute) {
        case "host":
          result = result && listMatches(matchHost(pass))
          break
        case "originalhost":
          result = result && listMatches(pass.originalHost)
          break
        case "user":
          result = result && listMatches(firstValue(pass.state, "user") ?? pass.local.localUser, false)
          break
        case "localuser":
          result = result && listMatches(pass.local.localUser, false)
          break
        case "tagged":
          result = result && listMatches(firstValue(pass.state, "tag") ?? "", false)
          break
        case "exec": {
          // As ssh: a command is not run once the line can no longer match.
          if (!result) break
          const command = expandTokens(value, tokensOf(pass, matchHost(pass), pass.state))
          const ok = yield* runExec(command, pass.options.execTimeoutMs ?? 10_000)
          result = result && ok !== negate
          break
        }
        default:
          return yield* bad(`Unsupported Match attribute ${attribute}`)
      }
    }
    return result
  })

/** Include patterns: absolute, or under ~/.ssh (user files) or /etc/ssh (system files); globbed and sorted. */
const expandInclude = (pattern: string, local: LocalContext, system: boolean): Effect.Effect<ReadonlyArray<string>> =>
  Effect.promise(async () => {
    const expanded = expandTilde(pattern, local.homeDir)
    const absolute = nodePath.isAbsolute(expanded) ? expanded : nodePath.join(system ? "/etc/ssh" : nodePath.join(local.homeDir, ".ssh"), expanded)
    const parts = absolute.split("/").filter((p) => p !== "")
    let paths = ["/"]
    for (const part of parts) {
      const next: Array<string> = []
      for (const dir of paths) {
        if (!/[*?[]/.test(part)) {
          next.push(nodePath.join(dir, part))
          continue
        }
        const entries = await fs.readdir(dir).catch(() => [] as Array<string>)
        for (const e of entries.sort()) if (!e.startsWith(".") || part.startsWith(".")) if (matchPattern(e, part, false)) next.push(nodePath.join(dir, e))
      }
      paths = next
    }
    const files: Array<string> = []
    for (const p of paths) if (await fs.stat(p).then((s) => s.isFile(), () => false)) files.push(p)
    return files
  })

/** Records one keyword line's value, first-wins or accumulating. */
const assign = (state: State, name: string, info: Keywords.Keyword, args: ReadonlyArray<string>) => {
  if (info.accumulates) {
    const list = state.lists.get(name) ?? []
    list.push(args)
    state.lists.set(name, list)
  } else if (!state.values.has(name)) state.values.set(name, args)
}

/** Processes lines; `active` is shared with includes, as ssh shares its activep. */
const processLines = (
  pass: Pass,
  lines: ReadonlyArray<ConfigLine>,
  activity: { active: boolean },
  flags: { readonly system: boolean; readonly neverMatch: boolean; readonly depth: number }
): Effect.Effect<void, ConfigError> =>
  Effect.gen(function*() {
    for (const line of lines) {
      switch (line.keyword) {
        case "host": {
          if (line.args.length === 0) return yield* fail("BadValue", line.file, line.line, "Host: missing argument.")
          activity.active = !flags.neverMatch && matchList(pass.host, line.args) === "match"
          continue
        }
        case "match": {
          const matched = yield* evaluateMatch(pass, line)
          activity.active = !flags.neverMatch && matched
          continue
        }
        case "include": {
          if (line.args.length === 0) return yield* fail("BadValue", line.file, line.line, "Include: missing argument.")
          if (flags.depth >= MAX_INCLUDE_DEPTH) {
            return yield* fail("IncludeDepth", line.file, line.line, `Too many recursive configuration includes (more than ${MAX_INCLUDE_DEPTH} deep: an Include loop?)`)
          }
          const outer = activity.active
          for (const pattern of line.args) {
            for (const file of yield* expandInclude(pattern, pass.local, flags.system)) {
              const text = yield* readConfigFile(file)
              if (text === undefined) continue
              const included = yield* parseText(text, file)
              yield* processLines(pass, included, activity, { ...flags, neverMatch: flags.neverMatch || !outer, depth: flags.depth + 1 })
            }
          }
          activity.active = outer
          continue
        }
      }
      const known = Keywords.lookup(line.keyword)
      if (known === undefined) {
        const ignoreUnknown = firstValue(pass.state, "ignoreunknown")
        if (ignoreUnknown !== undefined && matchList(line.keyword, ignoreUnknown.split(","), true) === "match") continue
        return yield* fail("BadOption", line.file, line.line, `Bad configuration option: ${line.keyword}`)
      }
      const problem = known.info.check?.(line.args)
      if (problem !== undefined) {
        return yield* fail("BadValue", line.file, line.line, problem === "extra arguments at end of line" ? `keyword ${line.keyword} extra arguments at end of line` : problem)
      }
      // IgnoreUnknown applies to the lines after it wherever it is set.
      if (known.name === "ignoreunknown" && !pass.state.values.has("ignoreunknown")) pass.state.values.set("ignoreunknown", line.args)
      if (activity.active && !known.ignored) assign(pass.state, known.name, known.info, line.args)
    }
  })

/** A file's text, or undefined when it does not exist. */
const readConfigFile = (file: string): Effect.Effect<string | undefined, ConfigError> =>
  Effect.tryPromise({
    try: () => fs.readFile(file, "utf8"),
    catch: (cause) => cause
  }).pipe(
    Effect.catchAll((cause) =>
      (cause as NodeJS.ErrnoException).code === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(fail("Unreadable", file, 0, `cannot read: ${(cause as Error).message}`))
    )
  )

const runPass = (pass: Pass): Effect.Effect<void, ConfigError> =>
  Effect.gen(function*() {
    const { options } = pass
    // -o options come first, so they win.
    const commandLine: Array<ConfigLine> = []
    for (const option of options.options ?? []) {
      const parsed = yield* parseLine(option, "command-line", 0)
      if (parsed === undefined) continue
      if (["host", "match", "include"].includes(parsed.keyword)) {
        return yield* fail("BadOption", "command-line", 0, `${parsed.keyword} is not allowed on the command line`)
      }
      commandLine.push(parsed)
    }
    yield* processLines(pass, commandLine, { active: true }, { system: false, neverMatch: false, depth: 0 })
    const files: Array<{ readonly file: string; readonly system: boolean; readonly required: boolean }> = options.configFile !== undefined
      ? [{ file: options.configFile, system: false, required: true }]
      : [
        { file: nodePath.join(pass.local.homeDir, ".ssh", "config"), system: false, required: false },
        { file: options.systemConfigFile ?? "/etc/ssh/ssh_config", system: true, required: false }
      ]
    for (const { file, required, system } of files) {
      const text = yield* readConfigFile(file)
      if (text === undefined) {
        if (required) return yield* fail("Unreadable", file, 0, "Can't open user config file: No such file or directory")
        continue
      }
      const lines = yield* parseText(text, file)
      yield* processLines(pass, lines, { active: true }, { system, neverMatch: false, depth: 0 })
    }
  })

/**
 * Resolves the configuration for a destination, as `ssh -G` would.
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve = (options: ResolveOptions): Effect.Effect<ResolvedConfig, ConfigError> =>
  Effect.gen(function*() {
    const local = options.local ?? localContext()
    const state: State = { values: new Map(), lists: new Map(), wantFinal: false }
    // -l and -p are set before any file is read, so they win like -o.
    if (options.user !== undefined) state.values.set("user", [options.user])
    if (options.port !== undefined) state.values.set("port", [String(options.port)])
    const originalHost = options.host
    const host = options.host.toLowerCase()
    yield* runPass({ options, local, originalHost, host, final: false, state })
    const hostname = firstValue(state, "hostname")
    const finalHost = hostname === undefined ? host : expandTokens(hostname, { h: host }).toLowerCase()
    if (hostname !== undefined) state.values.set("hostname", [finalHost])
    if (state.wantFinal) yield* runPass({ options, local, originalHost, host: finalHost, final: true, state })
    return { originalHost, host: finalHost, local, values: state.values, lists: state.lists }
  })

// ---------------------------------------------------------------------------------------
// Reading the result

const value = (c: ResolvedConfig, keyword: string) => c.values.get(keyword)?.[0]
const yesNo = (c: ResolvedConfig, keyword: string, fallback: boolean) => {
  const v = value(c, keyword)
  return v === undefined ? fallback : Keywords.isYes(v)
}

/** The tokens for the final configuration. */
const finalTokens = (c: ResolvedConfig) =>
  tokensOf({ local: c.local, originalHost: c.originalHost }, c.host, { values: new Map(c.values), lists: new Map(), wantFinal: false })

/**
 * `~`, `${VAR}` and `%` tokens, as ssh expands file names (IdentityFile, `-i`…).
 *
 * @since 0.1.0
 * @category accessors
 */
export const expandPath = (c: ResolvedConfig, path: string) => expandTokens(expandEnv(expandTilde(path, c.local.homeDir), c.local.env), finalTokens(c))

/**
 * @since 0.1.0
 * @category accessors
 */
export const user = (c: ResolvedConfig): string => value(c, "user") ?? c.local.localUser

/**
 * @since 0.1.0
 * @category accessors
 */
export const hostname = (c: ResolvedConfig): string => c.host

/**
 * @since 0.1.0
 * @category accessors
 */
export const port = (c: ResolvedConfig): number => Number(value(c, "port") ?? 22)

const defaultIdentityFiles = ["~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk", "~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss", "~/.ssh/id_dsa"]

const rawIdentityFiles = (c: ResolvedConfig) => {
  const configured = (c.lists.get("identityfile") ?? []).map((args) => args[0])
  return configured.length > 0 ? configured : defaultIdentityFiles
}

/**
 * The identity files to try, in order, expanded; `explicit` is false for ssh's defaults,
 * which are only tried if they exist.
 *
 * @since 0.1.0
 * @category accessors
 */
export const identityFiles = (c: ResolvedConfig): { readonly files: ReadonlyArray<string>; readonly explicit: boolean } => ({
  files: rawIdentityFiles(c).filter((f) => f.toLowerCase() !== "none").map((f) => expandPath(c, f)),
  explicit: c.lists.has("identityfile")
})

/**
 * @since 0.1.0
 * @category accessors
 */
export const certificateFiles = (c: ResolvedConfig): ReadonlyArray<string> =>
  (c.lists.get("certificatefile") ?? []).map((args) => args[0]).filter((f) => f.toLowerCase() !== "none").map((f) => expandPath(c, f))

/**
 * The agent socket: undefined for "none"; `SSH_AUTH_SOCK` (the default) from the environment.
 *
 * @since 0.1.0
 * @category accessors
 */
export const identityAgent = (c: ResolvedConfig): string | undefined => {
  const v = value(c, "identityagent")
  if (v === undefined || v === "SSH_AUTH_SOCK") return c.local.env.SSH_AUTH_SOCK || undefined
  if (v.toLowerCase() === "none") return undefined
  if (v.startsWith("$") && !v.startsWith("${")) return c.local.env[v.slice(1)]
  return expandPath(c, v)
}

/**
 * @since 0.1.0
 * @category accessors
 */
export const userKnownHostsFiles = (c: ResolvedConfig): ReadonlyArray<string> =>
  (c.values.get("userknownhostsfile") ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]).filter((f) => f.toLowerCase() !== "none").map((f) => expandPath(c, f))

/**
 * @since 0.1.0
 * @category accessors
 */
export const globalKnownHostsFiles = (c: ResolvedConfig): ReadonlyArray<string> =>
  (c.values.get("globalknownhostsfile") ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]).filter((f) => f.toLowerCase() !== "none").map((f) => expandPath(c, f))

/**
 * `StrictHostKeyChecking`: "yes", "accept-new", "no" (off) or "ask" (the default; without a
 * terminal to ask on, the same as "yes").
 *
 * @since 0.1.0
 * @category accessors
 */
export const strictHostKeyChecking = (c: ResolvedConfig): "yes" | "accept-new" | "no" | "ask" => {
  const v = value(c, "stricthostkeychecking")?.toLowerCase()
  if (v === undefined || v === "ask") return "ask"
  if (v === "accept-new") return "accept-new"
  return Keywords.isYes(v) ? "yes" : "no"
}

/**
 * @since 0.1.0
 * @category accessors
 */
export const hostKeyAlias = (c: ResolvedConfig): string | undefined => value(c, "hostkeyalias")

/**
 * @since 0.1.0
 * @category accessors
 */
export const hashKnownHosts = (c: ResolvedConfig): boolean => yesNo(c, "hashknownhosts", false)

/**
 * @since 0.1.0
 * @category accessors
 */
export const identitiesOnly = (c: ResolvedConfig): boolean => yesNo(c, "identitiesonly", false)

/**
 * @since 0.1.0
 * @category accessors
 */
export const batchMode = (c: ResolvedConfig): boolean => yesNo(c, "batchmode", false)

/**
 * The methods in the order to try them, when `PreferredAuthentications` is set.
 *
 * @since 0.1.0
 * @category accessors
 */
export const preferredAuthentications = (c: ResolvedConfig): ReadonlyArray<string> | undefined => value(c, "preferredauthentications")?.split(",")

/**
 * @since 0.1.0
 * @category accessors
 */
export const methodEnabled = (c: ResolvedConfig, method: "publickey" | "password" | "keyboard-interactive"): boolean =>
  method === "publickey"
    ? value(c, "pubkeyauthentication")?.toLowerCase() !== "no" && value(c, "pubkeyauthentication")?.toLowerCase() !== "false"
    : yesNo(c, method === "password" ? "passwordauthentication" : "kbdinteractiveauthentication", true)

/**
 * @since 0.1.0
 * @category accessors
 */
export const numberOfPasswordPrompts = (c: ResolvedConfig): number => Number(value(c, "numberofpasswordprompts") ?? 3)

/**
 * Seconds, or undefined for none.
 *
 * @since 0.1.0
 * @category accessors
 */
export const connectTimeout = (c: ResolvedConfig): number | undefined => {
  const v = value(c, "connecttimeout")
  return v === undefined || v.toLowerCase() === "none" ? undefined : Keywords.parseTime(v)
}

/**
 * The bound on a whole login, in seconds: connection, key exchange and authentication.
 * `LoginGraceTime` is an ssh-auth keyword (sshd's name for its side of the same bound;
 * ssh has none), so it belongs on the command line (`-o LoginGraceTime=30`) rather than
 * in a config file that ssh also reads. Default 120; 0 means no bound.
 *
 * @since 0.1.0
 * @category accessors
 */
export const loginGraceTime = (c: ResolvedConfig): number => {
  const v = value(c, "logingracetime")
  return (v === undefined ? undefined : Keywords.parseTime(v)) ?? 120
}

/**
 * @since 0.1.0
 * @category accessors
 */
export const proxyJump = (c: ResolvedConfig): string | undefined => {
  const v = value(c, "proxyjump")
  return v === undefined || v.toLowerCase() === "none" ? undefined : v
}

// OpenSSH 9.2's defaults and the algorithms it knows, for the +, - and ^ forms.
const defaultKeyAlgorithms = [
  "ssh-ed25519-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "sk-ssh-ed25519-cert-v01@openssh.com",
  "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "rsa-sha2-512-cert-v01@openssh.com",
  "rsa-sha2-256-cert-v01@openssh.com",
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "rsa-sha2-512",
  "rsa-sha2-256"
]
const allKeyAlgorithms = [
  "ssh-ed25519",
  "ssh-ed25519-cert-v01@openssh.com",
  "sk-ssh-ed25519@openssh.com",
  "sk-ssh-ed25519-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
  "ssh-dss",
  "ssh-dss-cert-v01@openssh.com",
  "ssh-rsa",
  "ssh-rsa-cert-v01@openssh.com",
  "rsa-sha2-256",
  "rsa-sha2-256-cert-v01@openssh.com",
  "rsa-sha2-512",
  "rsa-sha2-512-cert-v01@openssh.com"
]

/**
 * An algorithm list as ssh assembles it (kex_assemble_names): a plain list replaces the
 * default; `+list` appends, `-list` removes (patterns allowed) and `^list` puts first.
 *
 * @since 0.1.0
 * @category algorithms
 */
export const assembleAlgorithms = (
  spec: string | undefined,
  defaults: ReadonlyArray<string>,
  all: ReadonlyArray<string>
): Either.Either<ReadonlyArray<string>, string> => {
  if (spec === undefined) return Either.right(defaults)
  const op = spec[0]
  const names = (op === "+" || op === "-" || op === "^" ? spec.slice(1) : spec).split(",").filter((n) => n !== "")
  const expand = (list: ReadonlyArray<string>) => all.filter((a) => list.some((p) => matchPattern(a, p, false)))
  if (op === "-") return Either.right(defaults.filter((d) => !names.some((p) => matchPattern(d, p, false))))
  const wanted = expand(names)
  const unknown = names.filter((n) => !/[*?]/.test(n) && !all.includes(n))
  if (unknown.length > 0) return Either.left(`Bad key types '${spec}'.`)
  // Patterns expand in the order ssh knows the algorithms; plain names keep their order.
  const ordered = names.flatMap((n) => (/[*?]/.test(n) ? wanted.filter((a) => matchPattern(a, n, false)) : [n]))
  const unique = [...new Set(ordered)]
  if (op === "+") return Either.right([...defaults, ...unique.filter((a) => !defaults.includes(a))])
  if (op === "^") return Either.right([...unique, ...defaults.filter((a) => !unique.includes(a))])
  return Either.right(unique)
}

/**
 * @since 0.1.0
 * @category accessors
 */
export const hostKeyAlgorithms = (c: ResolvedConfig): ReadonlyArray<string> =>
  Either.getOrElse(assembleAlgorithms(value(c, "hostkeyalgorithms"), defaultKeyAlgorithms, allKeyAlgorithms), () => defaultKeyAlgorithms)

/**
 * @since 0.1.0
 * @category accessors
 */
export const pubkeyAcceptedAlgorithms = (c: ResolvedConfig): ReadonlyArray<string> =>
  Either.getOrElse(assembleAlgorithms(value(c, "pubkeyacceptedalgorithms"), defaultKeyAlgorithms, allKeyAlgorithms), () => defaultKeyAlgorithms)

/**
 * Checks what can only be checked once resolved (algorithm lists), as ssh does before it
 * connects.
 *
 * @since 0.1.0
 * @category resolution
 */
export const validate = (c: ResolvedConfig): Either.Either<ResolvedConfig, ConfigError> => {
  for (const keyword of ["hostkeyalgorithms", "pubkeyacceptedalgorithms"]) {
    const assembled = assembleAlgorithms(value(c, keyword), defaultKeyAlgorithms, allKeyAlgorithms)
    if (Either.isLeft(assembled)) return Either.left(fail("BadValue", "config", 0, `${keyword}: ${assembled.left}`))
  }
  return Either.right(c)
}

const addKeysToAgent = (c: ResolvedConfig) => {
  const args = c.values.get("addkeystoagent")
  if (args === undefined) return "false"
  const [v, t] = args
  const lower = v.toLowerCase()
  if (lower === "yes" || lower === "true") return "true"
  if (lower === "no" || lower === "false") return "false"
  if (lower === "ask" || lower === "confirm") return t === undefined ? lower : `${lower} ${Keywords.parseTime(t)}`
  return String(Keywords.parseTime(v))
}

const trueFalse = (v: string | undefined, fallback: string) => v === undefined ? fallback : Keywords.isYes(v) ? "true" : v.toLowerCase() === "no" || v.toLowerCase() === "false" ? "false" : v.toLowerCase()
const yesNoText = (c: ResolvedConfig, keyword: string, fallback: boolean) => (yesNo(c, keyword, fallback) ? "yes" : "no")

/**
 * The keywords this library acts on, as `ssh -G` prints them: lower-case keyword, a space,
 * the value; repeated keywords on several lines; unset optional ones left out.
 *
 * @since 0.1.0
 * @category formatting
 */
export const dump = (c: ResolvedConfig): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const put = (keyword: string, v: string | undefined) => {
    if (v !== undefined) lines.push(`${keyword} ${v}`)
  }
  put("host", c.originalHost)
  put("user", user(c))
  put("hostname", hostname(c))
  put("port", String(port(c)))
  put("batchmode", yesNoText(c, "batchmode", false))
  put("hashknownhosts", yesNoText(c, "hashknownhosts", false))
  put("identitiesonly", yesNoText(c, "identitiesonly", false))
  put("kbdinteractiveauthentication", yesNoText(c, "kbdinteractiveauthentication", true))
  put("passwordauthentication", yesNoText(c, "passwordauthentication", true))
  put("pubkeyauthentication", trueFalse(value(c, "pubkeyauthentication"), "true"))
  put("stricthostkeychecking", trueFalse(value(c, "stricthostkeychecking")?.replace(/^off$/i, "no"), "ask"))
  put("numberofpasswordprompts", String(numberOfPasswordPrompts(c)))
  put("hostkeyalgorithms", hostKeyAlgorithms(c).join(","))
  put("hostkeyalias", hostKeyAlias(c))
  put("pubkeyacceptedalgorithms", pubkeyAcceptedAlgorithms(c).join(","))
  put("preferredauthentications", value(c, "preferredauthentications"))
  for (const f of rawIdentityFiles(c)) put("identityfile", f)
  for (const args of c.lists.get("certificatefile") ?? []) put("certificatefile", args[0])
  put("globalknownhostsfile", (c.values.get("globalknownhostsfile") ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]).join(" "))
  put("userknownhostsfile", (c.values.get("userknownhostsfile") ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]).map((f) => f.toLowerCase() === "none" ? f : expandPath(c, f)).join(" "))
  put("addkeystoagent", addKeysToAgent(c))
  const agent = value(c, "identityagent")
  put("identityagent", agent === undefined || agent === "SSH_AUTH_SOCK" || agent.toLowerCase() === "none" || /^\$[A-Za-z_]/.test(agent) ? agent : expandPath(c, agent))
  const timeout = value(c, "connecttimeout")
  put("connecttimeout", timeout === undefined || timeout.toLowerCase() === "none" ? "none" : String(Keywords.parseTime(timeout)))
  put("proxyjump", proxyJump(c))
  return lines
}
