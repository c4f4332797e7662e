/**
 * ssh_config(5) resolution, as OpenSSH's `ssh` does it (readconf.c): `-o` options first,
 * then the user's file (or `-F`), then the system one; `Host` and `Match` blocks; `Include`
 * with globs and a depth limit; the first value wins except for keywords that accumulate;
 * a final pass when a `Match final` asks for one. The result is the raw keyword map, as ssh
 * holds it; `HostConfig.decode` types it, `ConfigDump.dump` prints it as `ssh -G`.
 *
 * Files are read through the platform's `FileSystem` and `Path`: a missing file is skipped,
 * as ssh skips it; one that exists and cannot be read is a `ConfigError` (`Unreadable`).
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import { execFile } from "node:child_process"
import * as Defaults from "./ConfigDefaults.js"
import { ConfigError } from "./ConfigError.js"
import { type ConfigLine, parseLine, parseText } from "./ConfigLine.js"
import { expandTilde, expandTokens, type LocalContext, localContext, tokens } from "./ConfigTokens.js"
import * as FileProblem from "./internal/FileProblem.js"
import * as Keywords from "./Keywords.js"
import { matchList, matchPattern } from "./Patterns.js"

/**
 * What `ssh [-F file] [-l user] [-p port] [-i file]… [-o K=V]… destination` is given.
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
  /** `-i` files: tried before the config's IdentityFile entries, and no default is tried. */
  readonly identityFiles?: ReadonlyArray<string>
  /** `-F`: this file instead of `~/.ssh/config` and the system file. */
  readonly configFile?: string
  /** Default `/etc/ssh/ssh_config`; not read when `configFile` is given. */
  readonly systemConfigFile?: string
  readonly local?: LocalContext
  /** Bound on each `Match exec` command. Default 10 s. */
  readonly execTimeoutMs?: number
}

/**
 * A resolved configuration, untyped: every keyword that got a value, as ssh holds it. Kept
 * for printing (`ssh -G` prints values as written); programs read `HostConfig` instead.
 *
 * @since 0.1.0
 * @category models
 */
export interface RawConfig {
  /** The host as given. */
  readonly originalHost: string
  /** The given host, lower-cased, then HostName applied: what ssh connects to. */
  readonly host: string
  readonly local: LocalContext
  /** First value of each single-valued keyword. */
  readonly values: ReadonlyMap<string, ReadonlyArray<string>>
  /** Every value of each accumulating keyword, in order. */
  readonly lists: ReadonlyMap<string, ReadonlyArray<ReadonlyArray<string>>>
  /** `-i` files, `~` expanded as ssh expands its command line. */
  readonly commandLineIdentityFiles: ReadonlyArray<string>
}

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

type Files = FileSystem.FileSystem | Path.Path

const fail = (reason: ConfigError["reason"], file: string, line: number, detail: string) => new ConfigError({ reason, file, line, detail })

const firstValue = (values: ReadonlyMap<string, ReadonlyArray<string>>, keyword: string) => values.get(keyword)?.[0]

/**
 * The `%` tokens for a set of values: during resolution, or of the final result.
 *
 * @since 0.1.0
 * @category tokens
 */
export const tokensOf = (
  c: Pick<RawConfig, "local" | "originalHost">,
  host: string,
  values: ReadonlyMap<string, ReadonlyArray<string>>
): Record<string, string> =>
  tokens(c.local, c.originalHost, host, {
    port: firstValue(values, "port"),
    user: firstValue(values, "user"),
    hostKeyAlias: firstValue(values, "hostkeyalias")
  })

/** The host `Match host` compares: HostName so far (with %h), else the given host. */
const matchHost = (pass: Pass) => {
  if (pass.final) return pass.host
  const hostname = firstValue(pass.state.values, "hostname")
  return hostname === undefined ? pass.host : expandTokens(hostname, { h: pass.host }).toLowerCase()
}

const runExec = (command: string, timeout: number) =>
  Effect.async<boolean>((resume) => {
    const child = execFile("/bin/sh", ["-c", command], { timeout }, (error) => resume(Effect.succeed(error === null)))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** Evaluates a Match line: an error in the line, or whether it matches. */
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
          result = result && listMatches(firstValue(pass.state.values, "user") ?? pass.local.localUser, false)
          break
        case "localuser":
          result = result && listMatches(pass.local.localUser, false)
          break
        case "tagged":
          result = result && listMatches(firstValue(pass.state.values, "tag") ?? "", false)
          break
        case "exec": {
          // As ssh: a command is not run once the line can no longer match.
          if (!result) break
          const command = expandTokens(value, tokensOf(pass, matchHost(pass), pass.state.values))
          const ok = yield* runExec(command, pass.options.execTimeoutMs ?? Defaults.execTimeoutMs)
          result = result && ok !== negate
          break
        }
        default:
          return yield* bad(`Unsupported Match attribute ${attribute}`)
      }
    }
    return result
  })

const unreadable = (path: string, what: string) => (error: PlatformError) =>
  new ConfigError({ reason: "Unreadable", file: path, line: 0, detail: `${what}: ${FileProblem.describe(error)}`, cause: error })

/**
 * Include patterns: absolute, or under ~/.ssh (user files) or /etc/ssh (system files);
 * globbed and sorted. As glob(3), what does not exist matches nothing; unlike ssh's glob,
 * a directory or file we may not read is an error, not a silent gap in the config.
 */
const expandInclude = (pattern: string, local: LocalContext, system: boolean): Effect.Effect<ReadonlyArray<string>, ConfigError, Files> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const expanded = expandTilde(pattern, local.homeDir)
    const absolute = path.isAbsolute(expanded) ? expanded : path.join(system ? Defaults.systemConfigDir : path.join(local.homeDir, ".ssh"), expanded)
    const parts = absolute.split("/").filter((p) => p !== "")
    let paths = ["/"]
    for (const part of parts) {
      const next: Array<string> = []
      for (const dir of paths) {
        if (!/[*?[]/.test(part)) {
          next.push(path.join(dir, part))
          continue
        }
        const entries = yield* fs.readDirectory(dir).pipe(
          Effect.catchAll((error) =>
            error._tag === "SystemError" && (error.reason === "NotFound" || error.reason === "BadResource")
              ? Effect.succeed([] as Array<string>)
              : Effect.fail(unreadable(dir, "cannot list this directory for an Include")(error))
          )
        )
        for (const e of [...entries].sort()) if (!e.startsWith(".") || part.startsWith(".")) { if (matchPattern(e, part, false)) next.push(path.join(dir, e)) }
      }
      paths = next
    }
    const files: Array<string> = []
    for (const p of paths) {
      const info = yield* fs.stat(p).pipe(
        Effect.catchAll((error) =>
          error._tag === "SystemError" && (error.reason === "NotFound" || error.reason === "BadResource")
            ? Effect.succeed(undefined)
            : Effect.fail(unreadable(p, "cannot read this file for an Include")(error))
        )
      )
      if (info?.type === "File") files.push(p)
    }
    return files
  })

/**
 * ProxyJump and ProxyCommand share one place, as in ssh (readconf.c): whichever comes first
 * wins, and `ProxyCommand none` holds both back; `ProxyJump none` holds back only later
 * ProxyJumps. (`ssh -G` is the oracle: test/config/SshConfigOracle.test.ts.)
 */
const proxyTaken = (state: State, name: string): boolean => {
  if (name === "proxyjump") return state.values.has("proxycommand")
  if (name !== "proxycommand") return false
  const jump = state.values.get("proxyjump")?.[0]
  return jump !== undefined && jump.toLowerCase() !== "none"
}

/** Records one keyword line's value, first-wins or accumulating. */
const assign = (state: State, name: string, info: Keywords.Keyword, args: ReadonlyArray<string>) => {
  if (proxyTaken(state, name)) return
  if (info.accumulates) {
    const list = state.lists.get(name) ?? []
    list.push(args)
    state.lists.set(name, list)
  } else if (!state.values.has(name)) state.values.set(name, args)
}

/** A file's text, or undefined when it does not exist. */
const readConfigFile = (file: string): Effect.Effect<string | undefined, ConfigError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) =>
    fs.readFileString(file).pipe(
      Effect.catchAll((error) => FileProblem.isMissing(error) ? Effect.succeed(undefined) : Effect.fail(unreadable(file, "cannot read")(error)))
    ))

/** Processes lines; `active` is shared with includes, as ssh shares its activep. */
const processLines = (
  pass: Pass,
  lines: ReadonlyArray<ConfigLine>,
  activity: { active: boolean },
  flags: { readonly system: boolean; readonly neverMatch: boolean; readonly depth: number }
): Effect.Effect<void, ConfigError, Files> =>
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
          if (flags.depth >= Defaults.maxIncludeDepth) {
            return yield* fail(
              "IncludeDepth",
              line.file,
              line.line,
              `Too many recursive configuration includes (more than ${Defaults.maxIncludeDepth} deep: an Include loop?)`
            )
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
        const ignoreUnknown = firstValue(pass.state.values, "ignoreunknown")
        if (ignoreUnknown !== undefined && matchList(line.keyword, ignoreUnknown.split(","), true) === "match") continue
        return yield* fail("BadOption", line.file, line.line, `Bad configuration option: ${line.keyword}`)
      }
      const problem = known.info.check?.(line.args)
      if (problem !== undefined) {
        return yield* fail(
          "BadValue",
          line.file,
          line.line,
          problem === "extra arguments at end of line" ? `keyword ${line.keyword} extra arguments at end of line` : problem
        )
      }
      // IgnoreUnknown applies to the lines after it wherever it is set.
      if (known.name === "ignoreunknown" && !pass.state.values.has("ignoreunknown")) pass.state.values.set("ignoreunknown", line.args)
      if (activity.active && !known.ignored) assign(pass.state, known.name, known.info, known.info.verbatim ? [line.rest] : line.args)
    }
  })

const runPass = (pass: Pass): Effect.Effect<void, ConfigError, Files> =>
  Effect.gen(function*() {
    const { options } = pass
    const path = yield* Path.Path
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
        { file: path.join(pass.local.homeDir, Defaults.userConfigFile), system: false, required: false },
        { file: options.systemConfigFile ?? Defaults.systemConfigFile, system: true, required: false }
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
 * Resolves the configuration for a destination, as `ssh -G` would, to the raw keyword map.
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve: (options: ResolveOptions) => Effect.Effect<RawConfig, ConfigError, FileSystem.FileSystem | Path.Path> = Effect.fn(
  "ConfigResolver.resolve"
)(function*(options: ResolveOptions) {
  const local = options.local ?? localContext()
  const state: State = { values: new Map(), lists: new Map(), wantFinal: false }
  // -l and -p are set before any file is read, so they win like -o.
  if (options.user !== undefined) state.values.set("user", [options.user])
  if (options.port !== undefined) state.values.set("port", [String(options.port)])
  const originalHost = options.host
  const host = options.host.toLowerCase()
  yield* runPass({ options, local, originalHost, host, final: false, state })
  const hostname = firstValue(state.values, "hostname")
  const finalHost = hostname === undefined ? host : expandTokens(hostname, { h: host }).toLowerCase()
  if (hostname !== undefined) state.values.set("hostname", [finalHost])
  if (state.wantFinal) yield* runPass({ options, local, originalHost, host: finalHost, final: true, state })
  return {
    originalHost,
    host: finalHost,
    local,
    values: state.values,
    lists: state.lists,
    commandLineIdentityFiles: (options.identityFiles ?? []).map((f) => expandTilde(f, local.homeDir))
  }
})
