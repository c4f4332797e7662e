/**
 * The real transport: an SSH client connection over TCP, on @effect/platform-node sockets.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import { type AlgorithmPreferences, resolvePreferences } from "./Algorithms.js"
import { type ByteChannel, handshake, type SshConnection } from "./Handshake.js"
import type { HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
import { Inbox } from "./Inbox.js"
import { TransportError, type TransportFailure } from "./TransportError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface TcpOptions {
  readonly host: string
  /** Default 22. */
  readonly port?: number
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
  /** Each handshake step. Default 10 s. */
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

/** Once queued bytes are out; at once while still connecting, which may never end. */
const closeSocket = (socket: net.Socket): Effect.Effect<void> =>
  Effect.sync(() => (socket.connecting ? socket.destroy() : socket.destroySoon()))

/**
 * Opens the TCP connection as an @effect/platform-node socket. The socket's `run` owns
 * reading and the lifecycle (closing its scope ends the socket once queued bytes are out);
 * writes go straight to the underlying `net.Socket`, as ssh2 and OpenSSH write: queued at
 * once, never awaited, a failure surfacing as the end of `chunks`. Awaiting each write's
 * callback cost more CPU than framing the packet.
 */
const openSocket = (host: string, port: number, connectTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const fail = (reason: TransportError["reason"], detail: string, cause?: unknown) =>
      // Our own fields are well-typed already: skip Schema's check.
      new TransportError({ reason, host, port, step: "connect", detail, ...(cause ? { cause } : {}) }, true)
    // Connect before anything else: the setup below then overlaps with the TCP handshake and
    // the server's own startup (sshd forks and re-executes itself per connection), instead of
    // delaying the connect by ≈ 0.4 ms.
    let connectError: Error | undefined
    const conn = yield* Effect.acquireRelease(
      Effect.sync(() => {
        // TCP_NODELAY: without it Nagle holds our small handshake packets back for ~40 ms.
        const c = net.createConnection({ host, port, noDelay: true })
        // Kept for good: an error before the platform's own listener is attached must not crash.
        c.on("error", (e) => (connectError ??= e))
        return c
      }),
      // Also closes the socket if the platform never took it over.
      closeSocket
    )
    const socket = yield* NodeSocket.fromDuplex(Effect.zipRight(
      // Closing the socket's run (our close, or a failure) closes the connection.
      Effect.addFinalizer(() => closeSocket(conn)),
      // Not an acquireRelease: waiting for the connect must stay interruptible, or the
      // connect timeout could not stop it.
      Effect.async<net.Socket, Socket.SocketError>((resume) => {
        const failed = (cause: unknown) => resume(Effect.fail(new Socket.SocketGenericError({ reason: "Open", cause })))
        if (connectError !== undefined || conn.destroyed) return failed(connectError ?? new Error("socket destroyed"))
        if (!conn.connecting) return resume(Effect.succeed(conn))
        conn.once("connect", () => resume(Effect.succeed(conn)))
        conn.once("error", failed)
      })
    ))
    const chunks = new Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>()
    const ended = () => new Cause.NoSuchElementException()
    const opened = yield* Deferred.make<void, TransportError>()
    let isOpen = false
    const onOpen = Effect.sync(() => {
      isOpen = true
      Deferred.unsafeDone(opened, Effect.void)
    })
    const runFiber = yield* socket.run((chunk) => chunks.offer(chunk), { onOpen }).pipe(
      Effect.matchCause({
        onSuccess: () => chunks.end(ended),
        onFailure: (cause) => {
          // Interrupted means we closed it ourselves: nothing to report.
          if (Cause.isInterruptedOnly(cause)) return chunks.end(ended)
          if (!isOpen) {
            Deferred.unsafeDone(opened, Effect.fail(fail("ConnectFailed", `cannot connect to ${host} port ${port}`, cause)))
            return chunks.end(ended)
          }
          const lost = new TransportError({ reason: "ConnectionClosed", host, port, detail: "connection lost", cause })
          chunks.end(() => lost)
        }
      }),
      Effect.forkScoped
    )
    const timer = setTimeout(
      () => Deferred.unsafeDone(opened, Effect.fail(fail("Timeout", `no TCP connection within ${Duration.format(connectTimeout)}`))),
      Duration.toMillis(connectTimeout)
    )
    yield* Deferred.await(opened).pipe(
      Effect.ensuring(Effect.sync(() => clearTimeout(timer))),
      Effect.onError(() => Fiber.interrupt(runFiber))
    )
    const channel: ByteChannel = {
      host,
      port,
      chunks,
      write: (bytes) => {
        if (conn.writable) conn.write(bytes)
      },
      close: Effect.asVoid(Fiber.interrupt(runFiber))
    }
    return channel
  })

/**
 * Connects, runs the handshake and returns the connection. Closing the scope sends
 * DISCONNECT and closes the socket.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeTcp = (
  options: TcpOptions
): Effect.Effect<SshConnection, TransportFailure | HostKeyRejected, Scope.Scope> =>
  Effect.gen(function*() {
    const port = options.port ?? 22
    const { preferences, unsupported } = resolvePreferences(options.algorithms)
    if (unsupported.length > 0) {
      return yield* new TransportError({
        reason: "InvalidOptions",
        host: options.host,
        port,
        detail: `unsupported algorithms requested: ${unsupported.join(", ")}`
      })
    }
    const channel = yield* openSocket(options.host, port, Duration.decode(options.connectTimeout ?? "10 seconds"))
    return yield* handshake(channel, {
      hostKeyPolicy: options.hostKeyPolicy,
      preferences,
      clientIdentification: `SSH-2.0-${options.softwareVersion ?? defaultSoftwareVersion}`,
      handshakeTimeout: Duration.decode(options.handshakeTimeout ?? "10 seconds"),
      ...(options.connectTimeout !== undefined ? { identificationTimeout: Duration.decode(options.connectTimeout) } : {}),
      receiveTimeout: Duration.decode(options.receiveTimeout ?? "30 seconds"),
      rekeyBytes: options.rekeyLimit?.bytes ?? 2 ** 30,
      rekeyPackets: options.rekeyLimit?.packets ?? 2 ** 28,
      // Every client asks for ssh-userauth next; ask early.
      pipelineService: "ssh-userauth"
    })
  })
