/**
 * The Effect edge of a client connection: it runs the sans-IO core (`Connection`) over a
 * byte channel and provides the `Transport` service on top.
 *
 * The edge owns the channel. One reader fiber feeds the core what arrives and writes what
 * the core wants sent; the core's events become service calls (the host-key policy), queue
 * entries (messages, service accepts) and the end of the connection; its deadlines become
 * one timer on the caller's clock, armed only while the core waits on the server. The
 * caller's runtime (tracer, logger, clock) is kept: everything runs in fibers of its scope.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import { CurvesImpl } from "../crypto/Curves.js"
import { DisconnectReason } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import type { AlgorithmPreferences } from "./Algorithms.js"
import type { ByteChannel } from "./ByteChannel.js"
import { Connection, type ConnectionFailure } from "./Connection.js"
import { type HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
import { Inbox } from "./Inbox.js"
import type { KexInit } from "./KexInit.js"
import type { Transport } from "./Transport.js"
import { TransportError, type TransportFailure } from "./TransportError.js"

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
 * Runs the version exchange and the first key exchange over `channel`, then keeps the
 * connection serviced by a reader fiber in the current scope. Closing the scope sends
 * DISCONNECT.
 *
 * @since 0.1.0
 * @category constructors
 */
export const handshake = (
  channel: ByteChannel,
  options: HandshakeOptions
): Effect.Effect<SshConnection, TransportFailure | HostKeyRejected, Scope.Scope> =>
  Effect.gen(function*() {
    const { host, port } = channel
    const curves = yield* CurvesImpl
    const clock = yield* Effect.clock
    const scope = yield* Effect.scope
    const stepMillis = Duration.toMillis(options.handshakeTimeout)
    const core = new Connection({
      role: "client",
      host,
      port,
      identification: options.clientIdentification,
      preferences: options.preferences,
      random: (n) => crypto.randomBytes(n),
      now: () => clock.unsafeCurrentTimeMillis(),
      curves,
      stepTimeoutMillis: stepMillis,
      ...(options.identificationTimeout ? { identificationTimeoutMillis: Duration.toMillis(options.identificationTimeout) } : {}),
      rekeyBytes: options.rekeyBytes,
      rekeyPackets: options.rekeyPackets,
      ...(options.pipelineService ? { pipelineService: options.pipelineService } : {})
    })
    const error = (reason: TransportError["reason"], step: string | undefined, detail: string) =>
      new TransportError({ reason, host, port, detail, ...(step ? { step } : {}) }, true)

    const inbound = new Inbox<Uint8Array, TransportFailure>()
    const serviceAccepts = new Inbox<string, TransportFailure>()
    const firstKex = yield* Deferred.make<void, TransportFailure | HostKeyRejected>()
    let kexWaiters: Array<Deferred.Deferred<void, TransportFailure>> = []

    /** The error users of a dead connection see. A host key rejection only happens before they have one. */
    const userError = (): TransportFailure => {
      const e = core.closed
      return e === undefined || e._tag === "HostKeyRejected" ? error("Closed", undefined, "connection is closed") : e
    }

    // ---- the deadline timer: one fiber, armed while the core waits on the server ----
    let timer: { readonly at: number; readonly fiber: Fiber.RuntimeFiber<void> } | undefined
    const armDeadline: Effect.Effect<void> = Effect.suspend(() => {
      const at = core.nextDeadline()
      if (timer !== undefined && (at === undefined || at < timer.at)) {
        const stale = timer.fiber
        timer = undefined
        return Effect.zipRight(Fiber.interruptFork(stale), at === undefined ? Effect.void : armDeadline)
      }
      // A later deadline is left to the armed timer, which re-arms when it fires.
      if (at === undefined || timer !== undefined) return Effect.void
      const fire = Effect.suspend(() => {
        timer = undefined
        core.onDeadline(clock.unsafeCurrentTimeMillis())
        return drain
      })
      return Effect.map(
        Effect.forkIn(Effect.zipRight(Effect.sleep(Math.max(0, at - clock.unsafeCurrentTimeMillis())), fire), scope),
        (fiber) => void (timer = { at, fiber })
      )
    })

    // ---- the core's output: bytes to the channel, events to their consumers ----
    const closeWith = (e: ConnectionFailure): Effect.Effect<void> => {
      const forUsers = userError()
      inbound.end(() => forUsers)
      serviceAccepts.end(() => forUsers)
      Deferred.unsafeDone(firstKex, Effect.fail(e))
      for (const waiter of kexWaiters) Deferred.unsafeDone(waiter, Effect.fail(forUsers))
      kexWaiters = []
      return channel.close
    }

    const drain: Effect.Effect<void> = Effect.suspend(function loop(): Effect.Effect<void> {
      for (let event = core.pollEvent(); event !== undefined; event = core.pollEvent()) {
        switch (event._tag) {
          case "Message":
            inbound.offer(event.payload)
            break
          case "ServiceAccept":
            serviceAccepts.offer(event.name)
            break
          case "KexDone":
            if (event.first) Deferred.unsafeDone(firstKex, Effect.void)
            for (const waiter of kexWaiters) Deferred.unsafeDone(waiter, Effect.void)
            kexWaiters = []
            break
          case "ServiceRequest":
            // A server asking the client for a service: the core only reports this to servers.
            break
          case "Closed": {
            const out = core.pollTransmit()
            if (out) channel.write(out)
            return Effect.zipRight(closeWith(event.error), armDeadline)
          }
          case "HostKey": {
            const out = core.pollTransmit()
            if (out) channel.write(out)
            const { algorithm, certificate, fingerprint, key } = event
            // The policy may prompt: the core reads nothing more until it has answered.
            return options.hostKeyPolicy({ host, port, key, algorithm, fingerprint, ...(certificate ? { certificate } : {}) }).pipe(
              Effect.matchEffect({
                onSuccess: () => Effect.sync(() => core.acceptHostKey()),
                onFailure: (rejected) => Effect.sync(() => core.rejectHostKey(rejected))
              }),
              Effect.zipRight(Effect.suspend(loop))
            )
          }
        }
      }
      const out = core.pollTransmit()
      if (out) channel.write(out)
      return armDeadline
    })

    // ---- the reader ----
    const reader = Effect.gen(function*() {
      // Bounded by the connection: it ends when the core has closed.
      while (core.closed === undefined) {
        const chunk = yield* channel.chunks.take().pipe(
          Effect.catchAll((e) =>
            Effect.sync(() => {
              if (e._tag === "NoSuchElementException") core.receiveEnd()
              else core.lost(e)
              return undefined
            })
          )
        )
        if (chunk !== undefined) core.receive(chunk)
        yield* drain
      }
    })
    yield* reader.pipe(
      // A defect here is a bug of ours; still, nobody may be left waiting on a dead reader.
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          Effect.suspend(() => {
            core.lost(error("ProtocolError", undefined, `internal error: ${show(String(defect))}`))
            return drain
          }),
          Effect.die(defect)
        )
      ),
      Effect.interruptible,
      Effect.forkIn(scope)
    )

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        core.disconnect(DisconnectReason.BY_APPLICATION, "closed by the client")
        return drain
      })
    )

    yield* drain
    yield* Deferred.await(firstKex)

    const receiveMillis = Duration.toMillis(options.receiveTimeout)
    const receiveTimeoutError = () => error("Timeout", "receive", `no message from the server within ${Duration.format(options.receiveTimeout)}`)

    const connection: SshConnection = {
      host,
      port,
      sessionId: core.sessionId!,
      clientIdentification: options.clientIdentification,
      serverIdentification: core.peerIdentification,
      hostKey: core.hostKey!,
      hostKeyProof: { hostKeyBlob: core.hostKeyBlob!, signature: core.hostKeySignature! },
      get algorithms() {
        return core.negotiated!
      },
      get serverSigAlgs() {
        const value = core.extensions.get("server-sig-algs")
        return value === undefined
          ? Option.none()
          : Option.some(Buffer.from(value).toString("latin1").split(",").filter((s) => s.length > 0))
      },
      get extensions() {
        return core.extensions
      },
      get kexCount() {
        return core.kexCount
      },
      proposals: core.proposals!,
      send: (payload) =>
        Effect.suspend(() => {
          if (core.closed) return Effect.fail(userError())
          core.send(payload)
          return drain
        }),
      receive: inbound.take({ millis: receiveMillis, onTimeout: receiveTimeoutError }),
      receiveWithin: (millis) =>
        millis >= receiveMillis
          ? inbound.take({ millis: receiveMillis, onTimeout: receiveTimeoutError })
          : inbound.take({
            millis: Math.max(0, millis),
            onTimeout: () => error("Timeout", "receive", "no reply from the server in time: its deadline ran from our last message")
          }),
      get pending() {
        return inbound.size
      },
      requestService: (name) =>
        Effect.gen(function*() {
          if (core.closed) return yield* userError()
          core.requestService(name)
          yield* drain
          const accepted = yield* serviceAccepts.take({
            millis: stepMillis,
            onTimeout: () => error("Timeout", "SERVICE_ACCEPT", `no SERVICE_ACCEPT for ${name} within ${Duration.format(options.handshakeTimeout)}`)
          })
          if (accepted !== name) {
            return yield* error("ProtocolError", "SERVICE_ACCEPT", `requested service ${name} but the server accepted "${show(accepted, 64)}"`)
          }
        }),
      disconnect: (code = DisconnectReason.BY_APPLICATION, description = "closed by the client") =>
        Effect.suspend(() => {
          core.disconnect(code, description)
          return drain
        }),
      rekey: Effect.gen(function*() {
        if (core.closed) return yield* userError()
        const done = yield* Deferred.make<void, TransportFailure>()
        kexWaiters.push(done)
        core.rekey()
        yield* drain
        yield* Deferred.await(done)
      })
    }
    return connection
  })
