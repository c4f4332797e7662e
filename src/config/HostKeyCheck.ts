/**
 * The host-key check ssh does, as a policy for the transport: known_hosts files (user and
 * global), `HostKeyAlias`, `StrictHostKeyChecking` and host certificates through
 * `@cert-authority`. Also the host key algorithms to offer, known ones first, so that
 * negotiation does not pick a key type known_hosts does not hold.
 *
 * Two deliberate differences from ssh. A changed host key is refused even under
 * `StrictHostKeyChecking no`: ssh goes on there but turns password authentication off, and
 * a policy cannot reach into the authentication that follows, so it refuses. A known_hosts
 * file that exists but cannot be read is an error naming it, where ssh reads past it and
 * may then call a known host unknown.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as PublicKey from "../keys/PublicKey.js"
import { confirm, type Prompter } from "../sources/Prompter.js"
import { hostCertificateAlgorithms, hostKeyAlgorithms as supportedHostKeyAlgorithms } from "../transport/Algorithms.js"
import { type HostKeyInfo, type HostKeyPolicy, HostKeyRejected } from "../transport/HostKeyPolicy.js"
import type { HostConfig, StrictHostKeyChecking } from "./HostConfig.js"
import * as KnownHosts from "./KnownHosts.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface HostKeyCheckOptions {
  readonly strictHostKeyChecking: StrictHostKeyChecking
  readonly userKnownHostsFiles: ReadonlyArray<string>
  readonly globalKnownHostsFiles: ReadonlyArray<string>
  /** Look the host up, and record it, under this name instead of its own. */
  readonly hostKeyAlias?: string
  readonly hashKnownHosts: boolean
  /** Seconds since the epoch, for certificate validity. Default: the clock. */
  readonly now?: () => number
  /** Under "ask", who to ask about an unknown host (a terminal); without one, "ask" refuses. */
  readonly prompter?: Prompter
}

/**
 * The options as a resolved ssh_config gives them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const optionsFromConfig = (config: HostConfig): HostKeyCheckOptions => ({
  strictHostKeyChecking: config.strictHostKeyChecking,
  userKnownHostsFiles: config.userKnownHostsFiles,
  globalKnownHostsFiles: config.globalKnownHostsFiles,
  hashKnownHosts: config.hashKnownHosts,
  ...(config.hostKeyAlias !== undefined ? { hostKeyAlias: config.hostKeyAlias } : {})
})

/** Every entry of the files; a missing file holds none, an unreadable one is an error. */
const readAll = (files: ReadonlyArray<string>) =>
  Effect.map(Effect.forEach(files, (file) => Effect.map(KnownHosts.readFile(file), (r) => r.entries)), (lists) => lists.flat())

/** The name and port known_hosts is searched under: the alias (port 22) or the host. */
const lookupName = (options: HostKeyCheckOptions, host: string, port: number) =>
  options.hostKeyAlias !== undefined ? { name: options.hostKeyAlias, port: 22 } : { name: host, port }

/**
 * The policy, on the file system it is made with. It reads the known_hosts files at each
 * check, so that entries added by another process (or an earlier `accept-new`) count. A
 * known_hosts file that exists but cannot be read refuses the key, naming the file.
 *
 * @since 0.1.0
 * @category policies
 */
export const make = (options: HostKeyCheckOptions): Effect.Effect<HostKeyPolicy, never, FileSystem.FileSystem | Path.Path> =>
  Effect.map(Effect.context<FileSystem.FileSystem | Path.Path>(), (context) => (info: HostKeyInfo) => Effect.provide(check(options, info), context))

const check = (options: HostKeyCheckOptions, info: HostKeyInfo) =>
  Effect.gen(function*() {
    const reject = (detail: string, expected: ReadonlyArray<string> = []) =>
      new HostKeyRejected({ host: info.host, port: info.port, keyType: info.key.type, fingerprint: info.fingerprint, expected: [...expected], detail })
    const { name, port } = lookupName(options, info.host, info.port)
    const entries = yield* readAll([...options.userKnownHostsFiles, ...options.globalKnownHostsFiles]).pipe(
      Effect.mapError((e) => reject(e.message))
    )
    const now = options.now?.() ?? Date.now() / 1000
    const result = KnownHosts.lookup(entries, name, port, info.certificate ?? info.key, now)
    switch (result._tag) {
      case "Known":
      case "CertifiedBy":
        return
      case "Revoked":
        return yield* reject(`the host key is marked @revoked in ${result.entry.file} line ${result.entry.line}`)
      case "CertificateInvalid":
        return yield* reject(`the host certificate from the CA in ${result.entry.file} line ${result.entry.line} is not acceptable: ${result.error.message}`)
      case "Mismatch":
        return yield* reject(
          `REMOTE HOST IDENTIFICATION HAS CHANGED: the ${PublicKey.typeLabel(info.key)} key sent by the remote host is ${info.fingerprint}; offending key${
            result.expected.length > 1 ? "s" : ""
          } in ${result.expected.map((e) => `${e.file}:${e.line}`).join(", ")}`,
          result.expected.map((e) => PublicKey.fingerprintSha256(e.key))
        )
      case "Unknown": {
        const others = result.otherTypes.length > 0
          ? ` (keys of other types are known: ${result.otherTypes.map((e) => `${e.keyType} in ${e.file}:${e.line}`).join(", ")})`
          : ""
        const strict = () => reject(`no ${info.key.type} host key is known for ${KnownHosts.hostName(name, port)} and strict checking is on${others}`)
        if (options.strictHostKeyChecking === "yes") return yield* strict()
        if (options.strictHostKeyChecking === "ask") {
          // Without a terminal ssh refuses, as in BatchMode.
          if (options.prompter === undefined) return yield* strict()
          const shown = KnownHosts.hostName(name, port)
          const answer = yield* options.prompter.ask(confirm(
            `The authenticity of host '${shown}' can't be established.\n${
              PublicKey.typeLabel(info.key)
            } key fingerprint is ${info.fingerprint}.${others}\nAre you sure you want to continue connecting (yes/no/[fingerprint])? `
          )).pipe(Effect.mapError((e) => reject(`cannot ask about the host key: ${e.message}`)))
          const reply = Redacted.value(answer).trim()
          if (reply.toLowerCase() !== "yes" && reply !== info.fingerprint) return yield* reject("Host key verification failed: not confirmed")
        }
        const file = options.userKnownHostsFiles[0]
        if (file === undefined) return yield* reject("the host is unknown and there is no UserKnownHostsFile to record it in")
        const line = KnownHosts.formatEntry(name, port, info.key, { hash: options.hashKnownHosts })
        yield* KnownHosts.append(file, line).pipe(
          Effect.mapError((e) => reject(`the host is unknown and cannot be recorded: ${e.message}`))
        )
        yield* Effect.logWarning(`Permanently added ${KnownHosts.hostName(name, port)} (${info.key.type}) to the list of known hosts in ${file}`)
        return
      }
    }
  })

/**
 * The host key algorithms to offer: certificates first when a `@cert-authority` covers the
 * host, then the algorithms of the keys known_hosts holds for it, then the rest.
 *
 * @since 0.1.0
 * @category algorithms
 */
export const preferredAlgorithms = (
  options: HostKeyCheckOptions,
  host: string,
  port: number
): Effect.Effect<ReadonlyArray<string>, KnownHosts.KnownHostsError, FileSystem.FileSystem> =>
  Effect.map(readAll([...options.userKnownHostsFiles, ...options.globalKnownHostsFiles]), (entries) => {
    const { name, port: p } = lookupName(options, host, port)
    const known = KnownHosts.knownAlgorithms(entries, name, p).filter((a) => supportedHostKeyAlgorithms.includes(a))
    const hasCa = entries.some((e) => e.marker === "cert-authority" && KnownHosts.matches(e, name, p))
    const certs = hasCa ? hostCertificateAlgorithms : []
    return [...certs, ...known, ...supportedHostKeyAlgorithms.filter((a) => !known.includes(a))]
  })

/**
 * The policy and the host key algorithms for a resolved ssh_config, ready for the
 * transport's `hostKeyPolicy` and `algorithms.hostKey`. A `HostKeyAlgorithms` the config
 * sets is kept in its order (ssh reorders only its default).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromConfig = (
  config: HostConfig,
  prompter?: Prompter
): Effect.Effect<
  { readonly policy: HostKeyPolicy; readonly hostKeyAlgorithms: ReadonlyArray<string> },
  KnownHosts.KnownHostsError,
  FileSystem.FileSystem | Path.Path
> =>
  Effect.gen(function*() {
    const options = { ...optionsFromConfig(config), ...(prompter ? { prompter } : {}) }
    const supported = new Set([...supportedHostKeyAlgorithms, ...hostCertificateAlgorithms])
    const hostKeyAlgorithms = config.hostKeyAlgorithms !== undefined
      ? config.hostKeyAlgorithms.filter((a) => supported.has(a))
      : yield* preferredAlgorithms(options, config.hostname, config.port)
    return { policy: yield* make(options), hostKeyAlgorithms }
  })
