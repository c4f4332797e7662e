/**
 * A server connection: the core in the server role, driven by `CoreDriver` over a byte
 * channel, up to the accepted `ssh-userauth` service. What it gives is the message channel
 * the server's userauth handler (and, after it, the connection layer) runs over.
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { type Curves, CurvesImpl } from "../crypto/Curves.js"
import { randomBytes } from "../crypto/RandomPool.js"
import type { PrivateKey } from "../keys/PrivateKey.js"
import type * as PublicKey from "../keys/PublicKey.js"
import { DisconnectReason, messageName, MessageNumber } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import type { AlgorithmPreferences } from "./Algorithms.js"
import type { ByteChannel } from "./ByteChannel.js"
import { Connection } from "./Connection.js"
import * as Conversation from "./Conversation.js"
import { clockNow, type Detached, drive, type Driver } from "./CoreDriver.js"
import type { NegotiatedAlgorithms } from "./KexInit.js"
import { Disconnected, TransportError, type TransportFailure } from "./TransportError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerHandshakeOptions {
  /** Our host keys; the client's preference among their algorithms picks one. */
  readonly hostKeys: ReadonlyArray<PrivateKey>
  readonly preferences: AlgorithmPreferences
  /** Our identification string, without CR LF. */
  readonly serverIdentification: string
  /** Each handshake step must finish within this, counted from the step's start. */
  readonly handshakeTimeout: Duration.Duration
  /** How long `receive` waits for the next message. */
  readonly receiveTimeout: Duration.Duration
  readonly rekeyBytes: number
  readonly rekeyPackets: number
  /** The signature algorithms we verify, sent as `server-sig-algs` (RFC 8308). */
  readonly serverSigAlgs: ReadonlyArray<string>
  /** Further EXT_INFO extensions (publickey-hostbound@openssh.com…). */
  readonly extensions?: ReadonlyArray<readonly [string, Uint8Array]>
  /**
   * When the login must be done, in ms on the clock (sshd's LoginGraceTime runs from the
   * connection, and ends with USERAUTH_SUCCESS): past it the connection is cut, and every
   * wait on it fails with a `Timeout`.
   */
  readonly deadline?: number
}

/**
 * The server's side of an established connection, with `ssh-userauth` accepted.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerConnection {
  /** The client's address and port, as the channel knows them. */
  readonly clientAddress: string
  readonly clientPort: number
  readonly sessionId: Uint8Array
  readonly clientIdentification: string
  readonly serverIdentification: string
  /** The host key this connection proved, and all of ours (a host-bound request names one). */
  readonly hostKey: PublicKey.PublicKey
  readonly hostKeys: ReadonlyArray<PublicKey.PublicKey>
  readonly algorithms: NegotiatedAlgorithms
  /** Every extension from the client's EXT_INFO. */
  readonly extensions: ReadonlyMap<string, Uint8Array>
  readonly send: (payload: Uint8Array) => Effect.Effect<void, TransportFailure>
  readonly receive: Effect.Effect<Uint8Array, TransportFailure>
  readonly receiveWithin: (millis: number) => Effect.Effect<Uint8Array, TransportFailure>
  /** Messages received and not taken yet. */
  readonly pending: number
  /** Runs a conversation in the connection's callbacks (its `onFailure` included): one wait of the caller's fiber, not one per message. */
  readonly converse: <A, E, R>(conversation: Conversation.Conversation<A, E, R>) => Effect.Effect<A, E | TransportFailure, R>
  readonly disconnect: (code?: number, description?: string) => Effect.Effect<void>
  readonly rekey: Effect.Effect<void, TransportFailure>
  /** How the connection ended, once it has. */
  readonly closed: TransportFailure | undefined
}

/**
 * A `ServerConnection` that also runs a conversation with no fiber waiting on it
 * (`Driver.detach`), under the same rules as `converse`: for the listener's own sessions.
 *
 * @since 0.1.0
 * @category models
 */
export interface DetachableConnection extends ServerConnection {
  readonly detach: <A>(
    conversation: Conversation.Conversation<A, never, never>,
    runtime: Runtime.Runtime<never>,
    onEnd: (exit: Exit.Exit<A, TransportFailure>) => void
  ) => Detached
}

const USERAUTH = "ssh-userauth"
/** One encoder for every connection. */
const utf8 = new TextEncoder()

/**
 * The `ServerConnection` over a driven core. A class, not an object literal: V8 keeps a
 * literal with getters in dictionary mode, and its closures would be made per connection.
 */
class ServerSide implements DetachableConnection {
  readonly clientAddress: string
  readonly clientPort: number
  readonly sessionId: Uint8Array
  readonly clientIdentification: string
  readonly hostKey: PublicKey.PublicKey

  constructor(
    channel: ByteChannel,
    private readonly core: Connection,
    private readonly driver: Driver,
    readonly serverIdentification: string,
    readonly hostKeys: ReadonlyArray<PublicKey.PublicKey>,
    private readonly phase: ServerPhase
  ) {
    this.clientAddress = channel.host
    this.clientPort = channel.port
    this.sessionId = core.sessionId!
    this.clientIdentification = core.peerIdentification
    this.hostKey = core.hostKey!
  }

  get algorithms(): NegotiatedAlgorithms {
    return this.core.negotiated!
  }

  get extensions(): ReadonlyMap<string, Uint8Array> {
    return this.core.extensions
  }

  get pending(): number {
    return this.driver.pending()
  }

  get closed(): TransportFailure | undefined {
    return this.core.closed === undefined ? undefined : this.phase.violation ?? this.driver.userError()
  }

  /** Every failure of a wait becomes the violation we cut the connection for, if any. */
  private cause<A>(effect: Effect.Effect<A, TransportFailure>): Effect.Effect<A, TransportFailure> {
    return Effect.mapError(effect, (e) => this.phase.violation ?? e)
  }

  get rekey(): Effect.Effect<void, TransportFailure> {
    return this.driver.rekey
  }

  // Made when asked for: an idle connection need not keep one.
  get receive(): Effect.Effect<Uint8Array, TransportFailure> {
    return this.cause(this.driver.receive)
  }

  // Properties, not methods: callers pass them around unbound (`Effect.forEach(xs, connection.send)`).
  readonly send = (payload: Uint8Array): Effect.Effect<void, TransportFailure> => {
    if (payload[0] === MessageNumber.USERAUTH_SUCCESS) this.phase.authenticated()
    return this.cause(this.driver.send(payload))
  }

  readonly receiveWithin = (millis: number): Effect.Effect<Uint8Array, TransportFailure> => this.cause(this.driver.receiveWithin(millis))

  readonly converse = <A, E, R>(conversation: Conversation.Conversation<A, E, R>): Effect.Effect<A, E | TransportFailure, R> =>
    this.driver.converse(this.onThisConnection(conversation))

  detach<A>(
    conversation: Conversation.Conversation<A, never, never>,
    runtime: Runtime.Runtime<never>,
    onEnd: (exit: Exit.Exit<A, TransportFailure>) => void
  ): Detached {
    return this.driver.detach(this.onThisConnection(conversation), runtime, onEnd)
  }

  /** `conversation` under this connection's rules, however it is run. */
  private onThisConnection<A, E, R>(conversation: Conversation.Conversation<A, E, R>): Conversation.Conversation<A, E, R> {
    const { phase } = this
    const { onFailure } = conversation
    return Conversation.make<A, E, R>(
      // Once authenticated, no USERAUTH_SUCCESS can change the phase: nothing to watch.
      phase.isAuthenticated ? conversation.start : (now) => watchSuccess(conversation.start(now), phase),
      (e) => {
        // The connection's end becomes the violation it was cut for, as every wait's does; the conversation's own failures stay its own.
        const error = e instanceof TransportError || e instanceof Disconnected ? phase.violation ?? e : e
        return onFailure ? onFailure(error) : Effect.fail(error)
      }
    )
  }

  readonly disconnect = (code?: number, description?: string): Effect.Effect<void> => this.driver.disconnect(code, description)
}

/** A conversation's steps, with its USERAUTH_SUCCESS seen by the phase rules as `send`'s is. */
function* watchSuccess<A, E>(steps: Conversation.Steps<A, E>, phase: ServerPhase): Conversation.Steps<A, E> {
  for (let input: unknown = undefined;;) {
    const turn = steps.next(input)
    if (turn.done) return turn.value
    if (turn.value._tag === "Send" && turn.value.payload[0] === MessageNumber.USERAUTH_SUCCESS) phase.authenticated()
    input = yield turn.value
  }
}

/**
 * A server connection's phase rules, for either way of running one (`serverHandshake`, or
 * `Server.listen`'s login in callbacks): only `ssh-userauth` is served, and only before
 * authentication; any other request, one after USERAUTH_SUCCESS, or any message before the
 * first request ends the connection with SERVICE_NOT_AVAILABLE or PROTOCOL_ERROR as it
 * arrives (RFC 4253 §10; paramiko's CVE-2018-7750 came from serving requests out of phase).
 * A repeated `ssh-userauth` request during userauth is answered again, as sshd answers it
 * (paramiko sends one before every method), and reaches no one else. LoginGraceTime is one
 * timer over the whole connection.
 *
 * @since 0.1.0
 * @category models
 */
export class ServerPhase {
  private served = false
  /** Set when we send USERAUTH_SUCCESS: from then on, ssh-userauth is not served again. */
  private authenticatedYet = false
  /** Why we cut the connection: what every later wait on it fails with. */
  violation: TransportError | undefined
  private cancelGrace: (() => void) | undefined

  constructor(private readonly channel: ByteChannel) {}

  /** Cuts the connection for `detail`; the first reason is the one kept. */
  cut(core: Connection, code: number, reason: "ProtocolError" | "Timeout", detail: string, step?: string): false {
    this.violation ??= new TransportError({ reason, host: this.channel.host, port: this.channel.port, detail, ...(step ? { step } : {}) }, true)
    core.disconnect(code, detail)
    return false
  }

  private refuse(core: Connection, code: number, detail: string): false {
    return this.cut(core, code, "ProtocolError", detail, "SERVICE_REQUEST")
  }

  /** The driver's `onServiceRequest`: true for the first `ssh-userauth`, the one to serve. */
  readonly onServiceRequest = (name: string, core: Connection): boolean => {
    if (this.served && name === USERAUTH && !this.authenticatedYet) {
      core.acceptService(name)
      return false
    }
    if (this.served) return this.refuse(core, DisconnectReason.PROTOCOL_ERROR, `second SERVICE_REQUEST (${show(name, 64)}): a service is already accepted`)
    if (core.closed) return false
    if (name !== USERAUTH) return this.refuse(core, DisconnectReason.SERVICE_NOT_AVAILABLE, `service not available: ${show(name, 64)}`)
    this.served = true
    core.acceptService(name)
    return true
  }

  /** The driver's `onMessage`: nothing but the service request may come first; the rest is cut as it arrives. */
  readonly onMessage = (payload: Uint8Array, core: Connection): boolean =>
    this.served || this.refuse(core, DisconnectReason.PROTOCOL_ERROR, `${messageName(payload[0])} before the service request`)

  /** LoginGraceTime: at `deadline` (ms, on the clock `now` was read from) the connection is cut, unless authenticated by then. */
  armGrace(driver: Driver, deadline: number, now: number): void {
    // On the driver's clock, the caller's, as the core's deadlines.
    this.cancelGrace = driver.schedule(
      Math.max(0, deadline - now),
      () => driver.step(() => this.cut(driver.core, DisconnectReason.BY_APPLICATION, "Timeout", "Timeout before authentication"))
    )
  }

  get isAuthenticated(): boolean {
    return this.authenticatedYet
  }

  /** USERAUTH_SUCCESS is out: LoginGraceTime ends with the login. */
  authenticated(): void {
    this.authenticatedYet = true
    this.dispose()
  }

  dispose(): void {
    this.cancelGrace?.()
    this.cancelGrace = undefined
  }
}

const sharedExtensions = new WeakMap<ServerHandshakeOptions, ReadonlyArray<readonly [string, Uint8Array]>>()

/** Our EXT_INFO, made once per options: every connection of a listener shares it (≈ 600 bytes each). */
const extensionsOf = (options: ServerHandshakeOptions): ReadonlyArray<readonly [string, Uint8Array]> => {
  let extensions = sharedExtensions.get(options)
  if (extensions === undefined) {
    extensions = [["server-sig-algs", utf8.encode(options.serverSigAlgs.join(","))], ...(options.extensions ?? [])]
    sharedExtensions.set(options, extensions)
  }
  return extensions
}

/**
 * The core in the server role for `channel`, with our identification, host keys and extensions.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serverCore = (channel: ByteChannel, options: ServerHandshakeOptions, curves: Curves, clock: Clock.Clock): Connection =>
  new Connection({
    role: "server",
    host: channel.host,
    port: channel.port,
    identification: options.serverIdentification,
    preferences: options.preferences,
    hostKeys: options.hostKeys,
    extensions: extensionsOf(options),
    random: randomBytes,
    now: clockNow(clock),
    curves,
    stepTimeoutMillis: Duration.toMillis(options.handshakeTimeout),
    rekeyBytes: options.rekeyBytes,
    rekeyPackets: options.rekeyPackets
  })

/**
 * The `ServerConnection` of a driven core whose service request was served.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serverConnection = (channel: ByteChannel, driver: Driver, phase: ServerPhase, options: ServerHandshakeOptions): DetachableConnection =>
  new ServerSide(channel, driver.core, driver, options.serverIdentification, options.hostKeys.map((k) => k.publicKey), phase)

/**
 * Runs the version exchange, the first key exchange and the service request over `channel`,
 * under `ServerPhase`'s rules. Every wait on the connection fails with the violation the
 * connection was cut for, if any: a `ProtocolError` at step SERVICE_REQUEST. Closing the
 * scope sends DISCONNECT.
 *
 * @since 0.1.0
 * @category constructors
 */
export const serverHandshake = (
  channel: ByteChannel,
  options: ServerHandshakeOptions
): Effect.Effect<DetachableConnection, TransportFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const core = serverCore(channel, options, yield* CurvesImpl, clock)
    const phase = new ServerPhase(channel)
    const driver = yield* drive(core, channel, {
      receiveTimeout: options.receiveTimeout,
      closing: "closed by the server",
      onServiceRequest: phase.onServiceRequest,
      onMessage: phase.onMessage
    })
    if (options.deadline !== undefined) {
      phase.armGrace(driver, options.deadline, clock.unsafeCurrentTimeMillis())
      yield* Scope.addFinalizer(yield* Effect.scope, Effect.sync(() => phase.dispose()))
    }
    const cause = <A>(effect: Effect.Effect<A, TransportFailure>) => Effect.mapError(effect, (e) => phase.violation ?? e)
    yield* Effect.mapError(driver.firstKex, (e) => phase.violation ?? (e._tag === "HostKeyRejected" ? driver.userError() : e))
    yield* cause(driver.services.take({
      millis: Duration.toMillis(options.handshakeTimeout),
      onTimeout: () => driver.error("Timeout", "SERVICE_REQUEST", `no SERVICE_REQUEST within ${Duration.format(options.handshakeTimeout)}`)
    }))
    return serverConnection(channel, driver, phase, options)
  })
