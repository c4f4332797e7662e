/**
 * How `connect` reaches a host, as ssh_config says: directly, through a `ProxyCommand`, or
 * through jump hosts (`ProxyJump`, `-J`). A jump chain `a,b,c` is built as ssh builds it:
 * the target is reached through `c`, and `c` through `a,b`; every jump host is a login of its
 * own, with its own ssh_config, host-key check and strategy. A proxy setting we cannot honour
 * is an error, never a direct connection.
 *
 * @since 0.1.0
 */
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as AuthStrategy from "../AuthStrategy.js"
import { ConfigError } from "../config/ConfigError.js"
import type { HostConfig } from "../config/HostConfig.js"
import * as HostKeyCheck from "../config/HostKeyCheck.js"
import type * as KnownHosts from "../config/KnownHosts.js"
import * as SshConfig from "../config/SshConfig.js"
import type * as DirectTcpip from "../connection/DirectTcpip.js"
import * as AuthHandler from "../handler/AuthHandler.js"
import * as OpenSshStrategy from "../OpenSshStrategy.js"
import type { Prompter } from "../sources/Prompter.js"
import { supported } from "../transport/Algorithms.js"
import type { SshConnection } from "../transport/Handshake.js"
import { acceptAnyInsecure, type HostKeyPolicy, type HostKeyRejected } from "../transport/HostKeyPolicy.js"
import * as Jump from "../transport/Jump.js"
import * as ProxyCommand from "../transport/ProxyCommand.js"
import { type ConnectionOptions, makeOver, makeTcp } from "../transport/TcpTransport.js"
import type { TransportFailure } from "../transport/TransportError.js"
import { printable } from "../wire/PeerText.js"

/**
 * A jump host failed: it could not be reached, its host key was refused, or it would not let
 * us in. Names the hop; the chain stops there.
 *
 * @since 0.1.0
 * @category errors
 */
export class JumpHostFailed extends Schema.TaggedError<JumpHostFailed>()("JumpHostFailed", {
  /** `user@host:port`, as resolved. */
  hop: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `jump host ${this.hop}: ${this.detail}`
  }
}

/**
 * One hop of a ProxyJump list.
 *
 * @since 0.1.0
 * @category models
 */
export interface Hop {
  readonly user?: string
  readonly host: string
  readonly port?: number
}

/**
 * How reaching a host can fail, jump hosts and proxy commands included.
 *
 * @since 0.1.0
 * @category errors
 */
export type RouteFailure =
  | ConfigError
  | KnownHosts.KnownHostsError
  | JumpHostFailed
  | DirectTcpip.ChannelOpenRefused
  | ProxyCommand.ProxyCommandInvalid
  | TransportFailure
  | HostKeyRejected

/** ssh's own bound is the command line; ours keeps a ProxyJump loop from running forever. */
const MAX_DEPTH = 8

const badJump = (detail: string) => new ConfigError({ reason: "BadValue", file: "ProxyJump", line: 0, detail })

/** Fails on what this route cannot honour, for connecting and planning alike: never some other way instead. */
const honoured = (config: HostConfig, depth: number): Effect.Effect<void, ConfigError> => {
  if (depth > MAX_DEPTH) return Effect.fail(badJump(`more than ${MAX_DEPTH} jump hosts: is there a loop in ProxyJump?`))
  if (config.proxyUseFdpass && (config.proxyCommand !== undefined || config.proxyJump !== undefined)) {
    return Effect.fail(
      new ConfigError({
        reason: "BadValue",
        file: "ProxyUseFdpass",
        line: 0,
        detail: "ProxyUseFdpass yes is not supported: refusing to connect some other way"
      })
    )
  }
  return Effect.void
}

/**
 * Parses `[user@]host[:port]` hops, comma-separated, or `ssh://[user@]host[:port]`, with
 * `[…]` around an IPv6 address, as ssh's -J takes them.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseHops = (spec: string): Either.Either<ReadonlyArray<Hop>, ConfigError> => {
  const hops: Array<Hop> = []
  for (const raw of spec.split(",")) {
    const text = raw.startsWith("ssh://") ? raw.slice("ssh://".length).replace(/\/$/, "") : raw
    const at = text.lastIndexOf("@")
    const user = at > 0 ? text.slice(0, at) : undefined
    const hostPort = text.slice(at + 1)
    const m = /^(?:\[([^\]\s]+)\]|([^:[\]\s]+))(?::(\d+))?$/.exec(hostPort)
    if (m === null || at === 0) return Either.left(badJump(`cannot parse the jump host ${JSON.stringify(raw)}`))
    const port = m[3] === undefined ? undefined : Number(m[3])
    if (port !== undefined && (port < 1 || port > 65535)) return Either.left(badJump(`bad port in the jump host ${JSON.stringify(raw)}`))
    hops.push({ host: m[1] ?? m[2], ...(user ? { user } : {}), ...(port !== undefined ? { port } : {}) })
  }
  return Either.right(hops)
}

/**
 * What every hop shares: the config file, who answers prompts, and whether any host key
 * goes (`--insecure-accept-any-host-key`).
 *
 * @since 0.1.0
 * @category models
 */
export interface RouteContext {
  readonly configFile?: string
  readonly prompter?: Prompter
  /** For known_hosts questions (unknown host keys), where a terminal is there to ask. */
  readonly terminal?: Prompter
  readonly insecure: boolean
}

const label = (config: HostConfig) => `${config.user}@${config.hostname}:${config.port}`

/** The jump host a ProxyJump list names last, with its own config; the rest of the list reaches it. */
const jumpHost = (spec: string, context: RouteContext) =>
  Effect.gen(function*() {
    const hops = yield* parseHops(spec)
    const last = hops[hops.length - 1]
    const rest = hops.slice(0, -1).map((h) => `${h.user ? `${h.user}@` : ""}${h.host.includes(":") ? `[${h.host}]` : h.host}${h.port ? `:${h.port}` : ""}`)
    yield* Effect.logDebug(
      `Setting implicit ProxyCommand from ProxyJump: ssh${rest.length > 0 ? ` -J ${rest.join(",")}` : ""} -W '[%h]:%p' ${printable(spec.split(",").at(-1)!)}`
    )
    const hopConfig = yield* SshConfig.resolve({
      host: last.host,
      ...(last.user ? { user: last.user } : {}),
      ...(last.port ? { port: last.port } : {}),
      ...(context.configFile ? { configFile: context.configFile } : {}),
      ...(rest.length > 0 ? { options: [`ProxyJump=${rest.join(",")}`] } : {})
    })
    return hopConfig
  })

/** The transport options `config` asks for, with the host-key policy chosen for it. */
const connectionOptions = (
  config: HostConfig,
  checked: { readonly policy: HostKeyPolicy; readonly hostKeyAlgorithms: ReadonlyArray<string> | undefined }
): ConnectionOptions => ({
  hostKeyPolicy: checked.policy,
  algorithms: {
    // The names ssh knows and we do not have (group-exchange, group18) are left out, as ssh leaves out what the server lacks.
    kex: config.kexAlgorithms.filter((name) => supported.kex.has(name)),
    ...(checked.hostKeyAlgorithms ? { hostKey: checked.hostKeyAlgorithms } : {})
  },
  // ssh's ConnectTimeout bounds the connect and the identification line; we also bound each kex step with it.
  ...(config.connectTimeout !== undefined
    ? { connectTimeout: `${config.connectTimeout} seconds`, handshakeTimeout: `${config.connectTimeout} seconds` }
    : {})
})

/** A jump host's own host-key check: its known_hosts, unless every key goes. */
const hopPolicy = (config: HostConfig, context: RouteContext) =>
  context.insecure
    ? Effect.succeed({ policy: acceptAnyInsecure, hostKeyAlgorithms: undefined })
    : HostKeyCheck.fromConfig(config, config.batchMode ? undefined : context.terminal)

/**
 * Opens the connection to `config`'s host, through its ProxyCommand or ProxyJump if it has
 * one; jump hosts are authenticated on the way, each with its own strategy. The target is
 * not authenticated here.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (
  config: HostConfig,
  checked: { readonly policy: HostKeyPolicy; readonly hostKeyAlgorithms: ReadonlyArray<string> | undefined },
  context: RouteContext,
  depth = 0
): Effect.Effect<
  SshConnection,
  RouteFailure,
  Scope.Scope | FileSystem.FileSystem | Path.Path | CommandExecutor.CommandExecutor
> =>
  Effect.gen(function*() {
    yield* honoured(config, depth)
    const options = connectionOptions(config, checked)
    if (config.proxyJump !== undefined) {
      const hopConfig = yield* jumpHost(config.proxyJump, context)
      const hop = label(hopConfig)
      const failed = (e: unknown) => e instanceof JumpHostFailed ? e : new JumpHostFailed({ hop, detail: e instanceof Error ? e.message : String(e), cause: e })
      const jump = yield* Effect.gen(function*() {
        const transport = yield* open(hopConfig, yield* hopPolicy(hopConfig, context), context, depth + 1)
        const strategy = OpenSshStrategy.make({ config: hopConfig, ...(context.prompter ? { prompter: context.prompter } : {}) })
        const result = yield* AuthStrategy.authenticate(strategy, OpenSshStrategy.authenticateOptions).pipe(
          AuthHandler.provide(transport),
          Effect.provide(OpenSshStrategy.agentLayer(hopConfig))
        )
        const method = result.attempts.at(-1)?.source.method ?? "none"
        yield* Effect.logDebug(`Authenticated to ${hopConfig.hostname} ([${hopConfig.hostname}]:${hopConfig.port}) using "${method}".`)
        return transport
      }).pipe(Effect.mapError(failed))
      yield* Effect.logDebug(`Connecting to ${config.hostname} port ${config.port} through ${hop}.`)
      return yield* Jump.through(jump, { host: config.hostname, port: config.port, ...options })
    }
    if (config.proxyCommand !== undefined) {
      yield* Effect.logDebug(`Executing proxy command: exec ${printable(config.proxyCommand)}`)
      const channel = yield* ProxyCommand.open(config.proxyCommand, {
        host: config.hostname,
        port: config.port,
        user: config.user,
        alias: config.originalHost
      })
      return yield* makeOver(channel, options)
    }
    yield* Effect.logDebug(`Connecting to ${config.hostname} port ${config.port}.`)
    return yield* makeTcp({ host: config.hostname, port: config.port, ...options })
  })

/**
 * The hops before `config`'s host, for `--dry-run`: each jump host with its user, host, port
 * and strategy, or the ProxyCommand it would run.
 *
 * @since 0.1.0
 * @category planning
 */
export const describe = (
  config: HostConfig,
  context: RouteContext,
  depth = 0
): Effect.Effect<ReadonlyArray<string>, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function*() {
    yield* honoured(config, depth)
    if (config.proxyJump !== undefined) {
      const hopConfig = yield* jumpHost(config.proxyJump, context)
      const before = yield* describe(hopConfig, context, depth + 1)
      const steps = yield* OpenSshStrategy.plan({ config: hopConfig, ...(context.prompter ? { prompter: context.prompter } : {}) }).pipe(
        Effect.provide(OpenSshStrategy.agentLayer(hopConfig))
      )
      return [
        ...before,
        `jump host ${hopConfig.user}@${hopConfig.hostname} port ${hopConfig.port} (ProxyJump ${printable(config.proxyJump)}):`,
        ...OpenSshStrategy.formatPlan(steps, OpenSshStrategy.authenticateOptions).map((line) => `  ${line}`)
      ]
    }
    if (config.proxyCommand !== undefined) {
      const command = yield* Effect.mapError(
        ProxyCommand.expandTokens(config.proxyCommand, { host: config.hostname, port: config.port, user: config.user, alias: config.originalHost }),
        (e) => new ConfigError({ reason: "BadValue", file: "ProxyCommand", line: 0, detail: e.message })
      )
      return [`through ProxyCommand: ${printable(command)}`]
    }
    return []
  })
