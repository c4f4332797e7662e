/**
 * The real transport: an SSH client connection over TCP, on @effect/platform-node sockets.
 *
 * @since 0.1.0
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Mailbox from "effect/Mailbox"
import type * as Scope from "effect/Scope"
import { type AlgorithmPreferences, resolvePreferences } from "./Algorithms.js"
import { type ByteChannel, handshake, type SshConnection } from "./Handshake.js"
import type { HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
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
  /** TCP connect. Default 10 s. */
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

const openSocket = (host: string, port: number, connectTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const fail = (reason: TransportError["reason"], detail: string, cause?: unknown) =>
      // Our own fields are well-typed already: skip Schema's check.
      new TransportError({ reason, host, port, step: "connect", detail, ...(cause ? { cause } : {}) }, true)
    // TCP_NODELAY: without it Nagle holds our small handshake packets back for ~40 ms.
    const socket = yield* NodeSocket.makeNet({ host, port, noDelay: true }).pipe(
      Effect.mapError((cause) => fail("ConnectFailed", `cannot connect to ${host} port ${port}`, cause))
    )
    const chunks = yield* Mailbox.make<Uint8Array, TransportError>()
    const opened = yield* Deferred.make<void>()
    const runFiber = yield* socket.run((chunk) => {
      chunks.unsafeOffer(chunk)
    }, { onOpen: Deferred.succeed(opened, undefined) }).pipe(
      Effect.matchCauseEffect({
        onSuccess: () => chunks.end,
        onFailure: (cause) =>
          // Interrupted means we closed it ourselves: nothing to report.
          Cause.isInterruptedOnly(cause) ? chunks.end : Effect.flatMap(Deferred.isDone(opened), (wasOpen) =>
            chunks.fail(
              wasOpen
                ? new TransportError({ reason: "ConnectionClosed", host, port, detail: "connection lost", cause })
                : fail("ConnectFailed", `cannot connect to ${host} port ${port}`, cause)
            ))
      }),
      Effect.forkScoped
    )
    const write = yield* socket.writer
    yield* Effect.raceFirst(
      Deferred.await(opened),
      Effect.zipRight(chunks.await, Effect.failSync(() => fail("ConnectionClosed", "connection closed while opening")))
    ).pipe(
      Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () => fail("Timeout", `no TCP connection within ${Duration.format(connectTimeout)}`)
      }),
      Effect.onError(() => Fiber.interrupt(runFiber))
    )
    const channel: ByteChannel = {
      host,
      port,
      chunks,
      write: (bytes) =>
        write(bytes).pipe(
          Effect.mapError((cause) =>
            new TransportError({ reason: "ConnectionClosed", host, port, step: "write", detail: "write failed", cause })
          )
        ),
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
      receiveTimeout: Duration.decode(options.receiveTimeout ?? "30 seconds"),
      rekeyBytes: options.rekeyLimit?.bytes ?? 2 ** 30,
      rekeyPackets: options.rekeyLimit?.packets ?? 2 ** 28,
      // Every client asks for ssh-userauth next; ask early.
      pipelineService: "ssh-userauth"
    })
  })
