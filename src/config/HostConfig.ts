/**
 * The resolved configuration for one destination, typed: the keywords this library acts on,
 * decoded once from the raw keyword map (numbers, booleans, lists, enums), with file names
 * already expanded where ssh expands them (`~`, `${VAR}`, `%` tokens). Programs read this;
 * the raw map stays for printing as `ssh -G` does (`ConfigDump`).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as AlgorithmList from "./AlgorithmList.js"
import * as Defaults from "./ConfigDefaults.js"
import { ConfigError } from "./ConfigError.js"
import type { RawConfig } from "./ConfigResolver.js"
import { tokensOf } from "./ConfigResolver.js"
import { expandPath } from "./ConfigTokens.js"
import * as Keywords from "./Keywords.js"

/**
 * `StrictHostKeyChecking`: "yes", "accept-new", "no" (also written "off") or "ask" (the
 * default; without a terminal to ask on, the same as "yes").
 *
 * @since 0.1.0
 * @category models
 */
export const StrictHostKeyChecking = Schema.Literal("yes", "accept-new", "no", "ask")

/**
 * @since 0.1.0
 * @category models
 */
export type StrictHostKeyChecking = typeof StrictHostKeyChecking.Type

/**
 * `PubkeyAuthentication`: on ("yes"), off, or on with ssh's host-bound extension choice.
 *
 * @since 0.1.0
 * @category models
 */
export const PubkeyAuthentication = Schema.Literal("yes", "no", "unbound", "host-bound")

/**
 * An identity file to try, expanded, and where it was named: `-i`, `IdentityFile`, or one
 * of ssh's defaults (tried only when it exists).
 *
 * @since 0.1.0
 * @category models
 */
export const IdentityFile = Schema.Struct({
  path: Schema.String,
  origin: Schema.Literal("-i", "IdentityFile", "default")
})

/**
 * @since 0.1.0
 * @category models
 */
export type IdentityFile = typeof IdentityFile.Type

/**
 * The agent to use: a socket, or none and why (`IdentityAgent none`, `SSH_AUTH_SOCK` unset).
 *
 * @since 0.1.0
 * @category models
 */
export const IdentityAgent = Schema.Union(
  Schema.TaggedStruct("Socket", { path: Schema.String }),
  Schema.TaggedStruct("NoAgent", { detail: Schema.String })
)

/**
 * @since 0.1.0
 * @category models
 */
export type IdentityAgent = typeof IdentityAgent.Type

const Seconds = Schema.Number.pipe(Schema.nonNegative())

/**
 * The typed configuration. Times are in seconds.
 *
 * @since 0.1.0
 * @category models
 */
export class HostConfig extends Schema.Class<HostConfig>("HostConfig")({
  /** The host as given (an alias, a name or an address). */
  originalHost: Schema.String,
  /** What to connect to: the given host lower-cased, with HostName applied. */
  hostname: Schema.String,
  user: Schema.String,
  port: Schema.Int.pipe(Schema.between(1, 65535)),
  /** In the order to try them: `-i` files, then IdentityFile, or ssh's defaults when neither names one. */
  identityFiles: Schema.Array(IdentityFile),
  certificateFiles: Schema.Array(Schema.String),
  identitiesOnly: Schema.Boolean,
  identityAgent: IdentityAgent,
  /** The methods in the order to try them, when `PreferredAuthentications` is set. */
  preferredAuthentications: Schema.optional(Schema.Array(Schema.String)),
  pubkeyAuthentication: PubkeyAuthentication,
  passwordAuthentication: Schema.Boolean,
  kbdInteractiveAuthentication: Schema.Boolean,
  /** gssapi-with-mic with the user's Kerberos ticket; off unless the config turns it on, as in ssh. */
  gssapiAuthentication: Schema.Boolean,
  /** Forward the ticket-granting ticket to the server. */
  gssapiDelegateCredentials: Schema.Boolean,
  /** The host name in the GSSAPI service name (`host@<name>`), when it is not the one connected to. */
  gssapiServerIdentity: Schema.optional(Schema.String),
  numberOfPasswordPrompts: Schema.Int.pipe(Schema.nonNegative()),
  batchMode: Schema.Boolean,
  /** None when unset or `none`. */
  connectTimeout: Schema.optional(Seconds),
  /**
   * The bound on a whole login: connection, key exchange and authentication. An ssh-auth
   * keyword (sshd's name for its side of the same bound; ssh has none), so it belongs on the
   * command line (`-o LoginGraceTime=30`) rather than in a file ssh also reads. 0: no bound.
   */
  loginGraceTime: Seconds,
  userKnownHostsFiles: Schema.Array(Schema.String),
  globalKnownHostsFiles: Schema.Array(Schema.String),
  strictHostKeyChecking: StrictHostKeyChecking,
  hashKnownHosts: Schema.Boolean,
  hostKeyAlias: Schema.optional(Schema.String),
  /** As the config sets it; unset, the transport offers the types known_hosts holds first. */
  hostKeyAlgorithms: Schema.optional(Schema.Array(Schema.String)),
  pubkeyAcceptedAlgorithms: Schema.Array(Schema.String),
  /** `KexAlgorithms` assembled over OpenSSH 10's defaults (`+`, `-`, `^` as ssh takes them), names we lack included. */
  kexAlgorithms: Schema.Array(Schema.String),
  /** Whether the config chose KexAlgorithms (then ssh does not warn about a kex without post-quantum protection). */
  kexAlgorithmsSet: Schema.Boolean,
  /** OpenSSH 10.1's WarnWeakCrypto: warn when the connection's kex is not post-quantum. Default yes. */
  warnWeakCrypto: Schema.Boolean,
  /** `ProxyJump`'s hops, as written (`a,b,c`; `none` is unset). */
  proxyJump: Schema.optional(Schema.String),
  /** `ProxyCommand`'s command line, as written, `%` tokens unexpanded (`none` is unset). */
  proxyCommand: Schema.optional(Schema.String),
  /** `ProxyUseFdpass`: a file descriptor passed back by the command; not supported, and refused rather than ignored. */
  proxyUseFdpass: Schema.Boolean
}) {
  /**
   * Whether the config lets a method run.
   *
   * @since 0.1.0
   */
  methodEnabled(method: "publickey" | "password" | "keyboard-interactive" | "gssapi-with-mic"): boolean {
    switch (method) {
      case "publickey":
        return this.pubkeyAuthentication !== "no"
      case "password":
        return this.passwordAuthentication
      case "keyboard-interactive":
        return this.kbdInteractiveAuthentication
      case "gssapi-with-mic":
        return this.gssapiAuthentication
    }
  }

  /**
   * `HostKeyAlgorithms`, or ssh's default when the config leaves it alone.
   *
   * @since 0.1.0
   */
  get effectiveHostKeyAlgorithms(): ReadonlyArray<string> {
    return this.hostKeyAlgorithms ?? Defaults.keyAlgorithms
  }
}

const notNone = (f: string) => f.toLowerCase() !== "none"

const yesNo = (v: string | undefined, fallback: boolean) => (v === undefined ? fallback : Keywords.isYes(v))

const strictHostKeyChecking = (v: string | undefined): StrictHostKeyChecking => {
  const lower = v?.toLowerCase()
  if (lower === undefined || lower === "ask") return "ask"
  if (lower === "accept-new") return "accept-new"
  return Keywords.isYes(lower) ? "yes" : "no"
}

const pubkeyAuthentication = (v: string | undefined): typeof PubkeyAuthentication.Type => {
  const lower = v?.toLowerCase()
  if (lower === "unbound" || lower === "host-bound") return lower
  return lower === "no" || lower === "false" ? "no" : "yes"
}

/**
 * The identity files as written, before expansion, and where each was named: what `ssh -G`
 * prints, and what `decode` expands.
 *
 * @since 0.1.0
 * @category decoding
 */
export const identityFilesAsWritten = (raw: RawConfig): ReadonlyArray<IdentityFile> => {
  const configured = (raw.lists.get("identityfile") ?? []).map((args) => ({ path: args[0], origin: "IdentityFile" as const }))
  const named = [...raw.commandLineIdentityFiles.map((path) => ({ path, origin: "-i" as const })), ...configured]
  return named.length > 0 ? named : Defaults.identityFiles.map((path) => ({ path, origin: "default" as const }))
}

/**
 * Decodes the raw map, checking what can only be checked once resolved (the algorithm
 * lists, the port), as ssh does before it connects.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (raw: RawConfig): Either.Either<HostConfig, ConfigError> => {
  const value = (keyword: string) => raw.values.get(keyword)?.[0]
  const bad = (detail: string) => Either.left(new ConfigError({ reason: "BadValue", file: "config", line: 0, detail }))
  const algorithms: Record<string, ReadonlyArray<string>> = {}
  for (const keyword of ["hostkeyalgorithms", "pubkeyacceptedalgorithms"]) {
    const assembled = AlgorithmList.assemble(value(keyword), Defaults.keyAlgorithms, Defaults.allKeyAlgorithms)
    if (Either.isLeft(assembled)) return bad(`${keyword}: ${assembled.left}`)
    algorithms[keyword] = assembled.right
  }
  const kex = AlgorithmList.assemble(value("kexalgorithms"), Defaults.kexAlgorithms, Defaults.allKexAlgorithms, {
    what: "SSH2 KexAlgorithms",
    patternsOnlyToRemove: true
  })
  if (Either.isLeft(kex)) return bad(`kexalgorithms: ${kex.left}`)
  const port = Number(value("port") ?? Defaults.port)
  if (!Number.isInteger(port) || port < 1 || port > 65535) return bad(`Bad port '${value("port")}'.`)
  const tokens = tokensOf(raw, raw.host, raw.values)
  const expand = (path: string) => expandPath(path, raw.local, tokens)
  const timeout = value("connecttimeout")
  const grace = value("logingracetime")
  return Either.right(
    new HostConfig({
      originalHost: raw.originalHost,
      hostname: raw.host,
      user: value("user") ?? raw.local.localUser,
      port,
      identityFiles: identityFilesAsWritten(raw).filter((f) => notNone(f.path)).map((f) => ({ ...f, path: expand(f.path) })),
      certificateFiles: (raw.lists.get("certificatefile") ?? []).map((args) => args[0]).filter(notNone).map(expand),
      identitiesOnly: yesNo(value("identitiesonly"), false),
      identityAgent: identityAgent(raw, value("identityagent"), expand),
      ...(value("preferredauthentications") !== undefined ? { preferredAuthentications: value("preferredauthentications")!.split(",") } : {}),
      pubkeyAuthentication: pubkeyAuthentication(value("pubkeyauthentication")),
      passwordAuthentication: yesNo(value("passwordauthentication"), true),
      kbdInteractiveAuthentication: yesNo(value("kbdinteractiveauthentication"), true),
      gssapiAuthentication: yesNo(value("gssapiauthentication"), false),
      gssapiDelegateCredentials: yesNo(value("gssapidelegatecredentials"), false),
      ...(value("gssapiserveridentity") !== undefined ? { gssapiServerIdentity: value("gssapiserveridentity")! } : {}),
      numberOfPasswordPrompts: Number(value("numberofpasswordprompts") ?? Defaults.numberOfPasswordPrompts),
      batchMode: yesNo(value("batchmode"), false),
      ...(timeout !== undefined && timeout.toLowerCase() !== "none" ? { connectTimeout: Keywords.parseTime(timeout)! } : {}),
      loginGraceTime: (grace === undefined ? undefined : Keywords.parseTime(grace)) ?? Defaults.loginGraceTime,
      userKnownHostsFiles: (raw.values.get("userknownhostsfile") ?? Defaults.userKnownHostsFiles).filter(notNone).map(expand),
      globalKnownHostsFiles: (raw.values.get("globalknownhostsfile") ?? Defaults.globalKnownHostsFiles).filter(notNone).map(expand),
      strictHostKeyChecking: strictHostKeyChecking(value("stricthostkeychecking")),
      hashKnownHosts: yesNo(value("hashknownhosts"), false),
      ...(value("hostkeyalias") !== undefined ? { hostKeyAlias: value("hostkeyalias")! } : {}),
      ...(raw.values.has("hostkeyalgorithms") ? { hostKeyAlgorithms: algorithms.hostkeyalgorithms } : {}),
      pubkeyAcceptedAlgorithms: algorithms.pubkeyacceptedalgorithms,
      kexAlgorithms: kex.right,
      kexAlgorithmsSet: raw.values.has("kexalgorithms"),
      warnWeakCrypto: value("warnweakcrypto") === undefined || Keywords.isYes(value("warnweakcrypto")),
      ...(value("proxyjump") !== undefined && value("proxyjump")!.toLowerCase() !== "none" ? { proxyJump: value("proxyjump")! } : {}),
      ...(value("proxycommand") !== undefined && value("proxycommand")!.toLowerCase() !== "none" ? { proxyCommand: value("proxycommand")! } : {}),
      proxyUseFdpass: yesNo(value("proxyusefdpass"), false)
    })
  )
}

/** The agent socket: `SSH_AUTH_SOCK` (the default) or `$VAR` from the environment, else a path. */
const identityAgent = (raw: RawConfig, v: string | undefined, expand: (path: string) => string): IdentityAgent => {
  const fromEnv = (name: string) => {
    const path = raw.local.env[name]
    return path ? { _tag: "Socket" as const, path } : { _tag: "NoAgent" as const, detail: `${name} is not set` }
  }
  if (v === undefined || v === "SSH_AUTH_SOCK") return fromEnv("SSH_AUTH_SOCK")
  if (v.toLowerCase() === "none") return { _tag: "NoAgent", detail: "IdentityAgent is none" }
  if (v.startsWith("$") && !v.startsWith("${")) return fromEnv(v.slice(1))
  return { _tag: "Socket", path: expand(v) }
}
