/**
 * The real transport: an SSH client connection over TCP, on a bare `node:net` socket.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { type AlgorithmPreferences, resolvePreferences } from "./Algorithms.js"
import { type ByteChannel, closeNetSocket, fromNetSocket } from "./ByteChannel.js"
import { handshake, type SshConnection } from "./Handshake.js"
import type { HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
import * as OwnSpans from "./OwnSpans.js"
import { Transport } from "./Transport.js"
import { TransportError, type TransportFailure } from "./TransportError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TcpOptions extends ConnectionOptions {
  readonly host: string
  /** Default 22. */
  readonly port?: number
}

/**
 * How to run a client connection over a byte channel, whatever carries it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  /** Decides whether to trust the server's host key. There is no default on purpose. */
  readonly hostKeyPolicy: HostKeyPolicy
  /** Algorithms to offer, per category, in order of preference. Unset categories keep the defaults. */
  readonly algorithms?: Partial<AlgorithmPreferences>
  /**
   * The TCP connect, and then the wait for the server's identification line, as ssh's
   * ConnectTimeout bounds both. Default 10 s for the connect; the line then waits as long
   * as a handshake step.
   */
  readonly connectTimeout?: Duration.DurationInput
  /** Each handshake step (the server's identification line too, without `connectTimeout`). Default 10 s. */
  readonly handshakeTimeout?: Duration.DurationInput
  /** Each `receive`. Default 30 s. */
  readonly receiveTimeout?: Duration.DurationInput
  /** Rekey after this much traffic. Defaults: 1 GiB and 2^28 packets. */
  readonly rekeyLimit?: { readonly bytes?: number; readonly packets?: number }
  /** The software-version part of our identification string. */
  readonly softwareVersion?: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultSoftwareVersion = "effect_ssh_auth_0.1.0"

/** The default timeouts, one object each: a connection keeps its own decoded copies otherwise. */
const tenSeconds = Duration.seconds(10)
const thirtySeconds = Duration.seconds(30)

/**
 * Opens the TCP connection: a bare `node:net` socket with TCP_NODELAY (without it Nagle
 * holds our small handshake packets back for ~40 ms), as the default byte channel. The
 * wait for the connect stays interruptible and is bounded by `connectTimeout`; a socket
 * still connecting when the wait ends is destroyed.
 */
const openSocket = (host: string, port: number, connectTimeout: Duration.Duration) =>
  // A leaf span: nothing inside makes spans, so it need not be the current one (`withSpan`
  // would put it in the fiber's context and take it out again, most of a span's cost).
  OwnSpans.useSpan("Transport.connect", { captureStackTrace: false, attributes: { "net.peer.name": host, "net.peer.port": port } }, () =>
    // Once per connection: flat, not `Effect.gen` (README, "Code run once per connection").
    Effect.flatMap(Effect.scope, (scope) => {
      // The close is in the scope before the socket exists: no interruption can leak it. A
      // plain scope finalizer, not `acquireRelease`: that one's fiber-context bookkeeping costs
      // more than the close, and the connect wait must stay interruptible anyway.
      let socket: net.Socket | undefined
      return Effect.flatMap(Scope.addFinalizer(scope, Effect.sync(() => socket && closeNetSocket(socket))), () => {
        const s = net.createConnection({ host, port, noDelay: true })
        socket = s
        // Kept for good: a socket error must never be an uncaught exception.
        s.on("error", () => {})
        return Effect.map(connected(s, host, port, connectTimeout), () => fromNetSocket(s, host, port))
      })
    }))

/** Waits for `s` to connect, interruptibly and within `connectTimeout`; a socket still connecting when the wait ends is destroyed. */
const connected = (s: net.Socket, host: string, port: number, connectTimeout: Duration.Duration) => {
  const fail = (reason: TransportError["reason"], detail: string, cause?: unknown) =>
    // Our own fields are well-typed already: skip Schema's check.
    new TransportError({ reason, host, port, step: "connect", detail, ...(cause ? { cause } : {}) }, true)
  return Effect.async<void, TransportError>((resume) => {
    const done = (result: Effect.Effect<void, TransportError>) => {
      clearTimeout(timer)
      s.off("connect", onConnect)
      s.off("error", onError)
      resume(result)
    }
    const onConnect = () => done(Effect.void)
    const onError = (cause: Error) => done(Effect.fail(fail("ConnectFailed", `cannot connect to ${host} port ${port}`, cause)))
    const timer = setTimeout(() => {
      s.destroy()
      done(Effect.fail(fail("Timeout", `no TCP connection within ${Duration.format(connectTimeout)}`)))
    }, Duration.toMillis(connectTimeout))
    s.once("connect", onConnect)
    s.once("error", onError)
    return Effect.sync(() => {
      clearTimeout(timer)
      s.destroy()
    })
  })
}

/**
 * Connects, runs the handshake and returns the connection. Closing the scope sends
 * DISCONNECT and closes the socket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTcp = (
  options: TcpOptions
): Effect.Effect<SshConnection, TransportFailure | HostKeyRejected, Scope.Scope> => {
  // Once per connection: flat, not `Effect.gen` (README, "Code run once per connection").
  const port = options.port ?? 22
  return Effect.flatMap(checkedPreferences(options, options.host, port), (preferences) =>
    Effect.flatMap(
      openSocket(options.host, port, Duration.decode(options.connectTimeout ?? tenSeconds)),
      (channel) => handshakeWith(channel, preferences, options)
    ))
}

/**
 * Runs a client connection over a channel someone else opened: a ProxyCommand's pipes, a
 * `direct-tcpip` channel of a bastion's connection (ProxyJump), a WebSocket tunnel. The
 * server's identification line must come within `connectTimeout`, when given. Closing the
 * scope sends DISCONNECT and closes the channel.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeOver = (
  channel: ByteChannel,
  options: ConnectionOptions
): Effect.Effect<SshConnection, TransportFailure | HostKeyRejected, Scope.Scope> =>
  Effect.gen(function*() {
    const preferences = yield* checkedPreferences(options, channel.host, channel.port)
    yield* Scope.addFinalizer(yield* Effect.scope, Effect.sync(() => channel.close()))
    return yield* handshakeWith(channel, preferences, options)
  })

const checkedPreferences = (options: ConnectionOptions, host: string, port: number) => {
  const { preferences, unsupported } = resolvePreferences(options.algorithms)
  return unsupported.length === 0 ? Effect.succeed(preferences) : Effect.fail(
    new TransportError({ reason: "InvalidOptions", host, port, detail: `unsupported algorithms requested: ${unsupported.join(", ")}` })
  )
}

const handshakeWith = (channel: ByteChannel, preferences: AlgorithmPreferences, options: ConnectionOptions) =>
  handshake(channel, {
    hostKeyPolicy: options.hostKeyPolicy,
    preferences,
    clientIdentification: `SSH-2.0-${options.softwareVersion ?? defaultSoftwareVersion}`,
    handshakeTimeout: Duration.decode(options.handshakeTimeout ?? tenSeconds),
    ...(options.connectTimeout !== undefined ? { identificationTimeout: Duration.decode(options.connectTimeout) } : {}),
    receiveTimeout: Duration.decode(options.receiveTimeout ?? thirtySeconds),
    rekeyBytes: options.rekeyLimit?.bytes ?? 2 ** 30,
    rekeyPackets: options.rekeyLimit?.packets ?? 2 ** 28,
    // Every client asks for ssh-userauth next; ask early.
    pipelineService: "ssh-userauth"
  })

/**
 * A `Transport` over TCP to a real SSH server. The connection lives as long as the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTcp = (options: TcpOptions): Layer.Layer<Transport, TransportFailure | HostKeyRejected> => Layer.scoped(Transport, makeTcp(options))
