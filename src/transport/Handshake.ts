/**
 * A client connection: the core in the client role, driven by `CoreDriver` over a byte
 * channel, with the `Transport` service on top.
 *
 * @since 0.1.0
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { type Curves, CurvesImpl } from "../crypto/Curves.js"
import { randomBytes } from "../crypto/RandomPool.js"
import type { PublicKey } from "../keys/PublicKey.js"
import { show } from "../wire/PeerText.js"
import type { AlgorithmPreferences } from "./Algorithms.js"
import type { ByteChannel } from "./ByteChannel.js"
import { Connection } from "./Connection.js"
import { clockNow, drive, type Driver } from "./CoreDriver.js"
import type { HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
import type { KexInit, NegotiatedAlgorithms } from "./KexInit.js"
import * as OwnSpans from "./OwnSpans.js"
import type { Transport } from "./Transport.js"
import type { TransportFailure } from "./TransportError.js"

/**
 * @since 0.1.0
 * @category models
 */
export type { ByteChannel } from "./ByteChannel.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface HandshakeOptions {
  readonly hostKeyPolicy: HostKeyPolicy
  readonly preferences: AlgorithmPreferences
  /** Our identification string, without CR LF. */
  readonly clientIdentification: string
  /**
   * Each handshake step (KEXINIT, reply, NEWKEYS, service accept) must finish within this,
   * counted from the step's start whatever arrives in between.
   */
  readonly handshakeTimeout: Duration.Duration
  /** The wait for the server's identification line (ssh's ConnectTimeout bounds it). Default: `handshakeTimeout`. */
  readonly identificationTimeout?: Duration.Duration
  /** How long `receive` waits for the next message. */
  readonly receiveTimeout: Duration.Duration
  /** Start a rekey after this many bytes or packets (both directions) since the last one. */
  readonly rekeyBytes: number
  readonly rekeyPackets: number
  /**
   * Send SERVICE_REQUEST for this service right behind our first NEWKEYS instead of after
   * the server's: a round trip saved. `requestService` of that name then only waits.
   */
  readonly pipelineService?: string
}

/**
 * An established connection: the `Transport` service plus what tests and tools want to see.
 *
 * @since 0.1.0
 * @category models
 */
export interface SshConnection extends Transport {
  /** Starts a key exchange now and waits for it to finish. */
  readonly rekey: Effect.Effect<void, TransportFailure>
  /** Completed key exchanges, the first one included. */
  readonly kexCount: number
  /** Both KEXINIT proposals of the first key exchange, as `ssh -vv` prints them. */
  readonly proposals: { readonly client: KexInit; readonly server: KexInit }
}

/**
 * The `SshConnection` over a driven core. A class, not an object literal: V8 keeps a literal
 * with getters in dictionary mode, and its closures would be made per connection.
 */
class ClientSide implements SshConnection {
  readonly host: string
  readonly port: number
  readonly sessionId: Uint8Array
  readonly serverIdentification: string
  readonly hostKey: PublicKey
  readonly hostKeyProof: SshConnection["hostKeyProof"]
  readonly proposals: SshConnection["proposals"]
  readonly receive: Driver["receive"]

  constructor(
    channel: ByteChannel,
    private readonly core: Connection,
    private readonly driver: Driver,
    readonly clientIdentification: string,
    private readonly handshakeTimeout: Duration.Duration
  ) {
    this.host = channel.host
    this.port = channel.port
    this.sessionId = core.sessionId!
    this.serverIdentification = core.peerIdentification
    this.hostKey = core.hostKey!
    this.hostKeyProof = { hostKeyBlob: core.hostKeyBlob!, signature: core.hostKeySignature! }
    this.proposals = core.proposals!
    this.receive = driver.receive
  }

  // Properties, not methods: callers pass them around unbound (`Effect.forEach(xs, transport.send)`).
  readonly send: Driver["send"] = (payload) => this.driver.send(payload)
  readonly receiveWithin: Driver["receiveWithin"] = (millis) => this.driver.receiveWithin(millis)
  readonly disconnect: Driver["disconnect"] = (code, description) => this.driver.disconnect(code, description)
  readonly converse: Driver["converse"] = (conversation) => this.driver.converse(conversation)

  get rekey(): Effect.Effect<void, TransportFailure> {
    return this.driver.rekey
  }

  get algorithms(): NegotiatedAlgorithms {
    return this.core.negotiated!
  }

  get serverSigAlgs(): Option.Option<ReadonlyArray<string>> {
    const value = this.core.extensions.get("server-sig-algs")
    return value === undefined ? Option.none() : Option.some(Buffer.from(value).toString("latin1").split(",").filter((s) => s.length > 0))
  }

  get extensions(): ReadonlyMap<string, Uint8Array> {
    return this.core.extensions
  }

  get kexCount(): number {
    return this.core.kexCount
  }

  get pending(): number {
    return this.driver.pending()
  }

  readonly requestService = (name: string): Effect.Effect<void, TransportFailure> =>
    Effect.suspend(() => {
      const { core, driver, handshakeTimeout } = this
      if (core.closed) return Effect.fail(driver.userError())
      driver.step(() => core.requestService(name))
      return Effect.flatMap(
        driver.services.take({
          millis: Duration.toMillis(handshakeTimeout),
          onTimeout: () => driver.error("Timeout", "SERVICE_ACCEPT", `no SERVICE_ACCEPT for ${name} within ${Duration.format(handshakeTimeout)}`)
        }),
        (accepted) =>
          accepted === name
            ? Effect.void
            : Effect.fail(driver.error("ProtocolError", "SERVICE_ACCEPT", `requested service ${name} but the server accepted "${show(accepted, 64)}"`))
      )
    })
}

/**
 * Runs the version exchange and the first key exchange over `channel`, then keeps the
 * connection serviced from the channel's callbacks. Closing the scope sends DISCONNECT and
 * closes the channel.
 *
 * @since 0.1.0
 * @category constructors
 */
export const handshake = (
  channel: ByteChannel,
  options: HandshakeOptions
): Effect.Effect<SshConnection, TransportFailure | HostKeyRejected, Scope.Scope> =>
  // Its phases' spans go under it by name (the driver opens them in callbacks), so it need
  // not be the fiber's current span: `useSpan` (10 Effect operations against `withSpan`'s 35).
  OwnSpans.useSpan("Transport.handshake", {
    captureStackTrace: false,
    attributes: { "net.peer.name": channel.host, "net.peer.port": channel.port }
  }, (span) =>
    // Once per connection: flat, not `Effect.gen` (README, "Code run once per connection").
    Effect.flatMap(CurvesImpl, (curves) =>
      Effect.clockWith((clock) => {
        const core = clientCore(channel, options, curves, clock)
        return Effect.flatMap(
          drive(core, channel, {
            hostKeyPolicy: options.hostKeyPolicy,
            receiveTimeout: options.receiveTimeout,
            closing: "closed by the client",
            ...(span ? { spanParent: span } : {})
          }),
          (driver) => Effect.map(driver.firstKex, () => new ClientSide(channel, core, driver, options.clientIdentification, options.handshakeTimeout))
        )
      })))

/** The client's connection core for `handshake`. */
const clientCore = (channel: ByteChannel, options: HandshakeOptions, curves: Curves, clock: Clock.Clock) =>
  new Connection({
    role: "client",
    host: channel.host,
    port: channel.port,
    identification: options.clientIdentification,
    preferences: options.preferences,
    random: randomBytes,
    now: clockNow(clock),
    curves,
    stepTimeoutMillis: Duration.toMillis(options.handshakeTimeout),
    ...(options.identificationTimeout ? { identificationTimeoutMillis: Duration.toMillis(options.identificationTimeout) } : {}),
    rekeyBytes: options.rekeyBytes,
    rekeyPackets: options.rekeyPackets,
    ...(options.pipelineService ? { pipelineService: options.pipelineService } : {})
  })
