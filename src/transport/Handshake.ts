/**
 * The Effect edge of a client connection: it runs the sans-IO core (`Connection`) over a
 * byte channel and provides the `Transport` service on top.
 *
 * The edge owns the channel. What arrives goes into the core in the channel's own callback,
 * and what the core wants sent goes out at once; the core's events become service calls
 * (the host-key policy), queue entries (messages, service accepts) and the end of the
 * connection; its deadlines become one sleep on the caller's clock, armed only while the
 * core waits on the server. An open connection holds no fiber: only the policy and the
 * sleep are fibers, of the caller's runtime (tracer, logger, clock), and only while they run.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import { CurvesImpl } from "../crypto/Curves.js"
import { randomBytes } from "../crypto/RandomPool.js"
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
  Effect.gen(function*() {
    const { host, port } = channel
    const curves = yield* CurvesImpl
    const clock = yield* Effect.clock
    const stepMillis = Duration.toMillis(options.handshakeTimeout)
    const core = new Connection({
      role: "client",
      host,
      port,
      identification: options.clientIdentification,
      preferences: options.preferences,
      random: randomBytes,
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
    // Who waits for a key exchange to end: the handshake for the first, `rekey` for later ones.
    type Settle<E> = (result: Effect.Effect<void, E>) => void
    let firstKex: Settle<TransportFailure | HostKeyRejected> | Effect.Effect<void, TransportFailure | HostKeyRejected> | undefined
    let kexWaiters: Array<Settle<TransportFailure>> = []
    const settleFirstKex = (result: Effect.Effect<void, TransportFailure | HostKeyRejected>) => {
      if (typeof firstKex === "function") firstKex(result)
      else if (firstKex === undefined) firstKex = result
    }
    const settleKexWaiters = (result: Effect.Effect<void, TransportFailure>) => {
      const waiters = kexWaiters
      kexWaiters = []
      for (const settle of waiters) settle(result)
    }

    /** The error users of a dead connection see. A host key rejection only happens before they have one. */
    const userError = (): TransportFailure => {
      const e = core.closed
      return e === undefined || e._tag === "HostKeyRejected" ? error("Closed", undefined, "connection is closed") : e
    }

    // Work that must be an Effect (the host-key policy, the deadline's sleep) runs as a
    // fiber of the caller's runtime: its tracer, logger and clock. Nothing else is a fiber.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const interrupt = (fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined) => fiber?.unsafeInterruptAsFork(fiber.id())

    // ---- the deadline timer: one sleep, armed while the core waits on the server ----
    let timer: { readonly at: number; readonly fiber: Fiber.RuntimeFiber<void> } | undefined
    const armDeadline = (): void => {
      const at = core.nextDeadline()
      if (timer !== undefined && (at === undefined || at < timer.at)) {
        interrupt(timer.fiber)
        timer = undefined
      }
      // A later deadline is left to the armed timer, which re-arms when it fires.
      if (at === undefined || timer !== undefined) return
      const fiber = runFork(Effect.sleep(Math.max(0, at - clock.unsafeCurrentTimeMillis())))
      timer = { at, fiber }
      fiber.addObserver((exit) => {
        if (exit._tag === "Failure" || timer?.fiber !== fiber) return
        timer = undefined
        core.onDeadline(clock.unsafeCurrentTimeMillis())
        drain()
      })
    }

    // ---- the core's output: bytes to the channel, events to their consumers ----
    const flush = () => {
      const out = core.pollTransmit()
      if (out) channel.write(out)
    }
    let policy: Fiber.RuntimeFiber<void> | undefined
    const closeWith = (e: ConnectionFailure): void => {
      const forUsers = userError()
      inbound.end(() => forUsers)
      serviceAccepts.end(() => forUsers)
      settleFirstKex(Effect.fail(e))
      settleKexWaiters(Effect.fail(forUsers))
      interrupt(policy)
      channel.close()
    }

    const drain = (): void => {
      for (let event = core.pollEvent(); event !== undefined; event = core.pollEvent()) {
        switch (event._tag) {
          case "Message":
            inbound.offer(event.payload)
            break
          case "ServiceAccept":
            serviceAccepts.offer(event.name)
            break
          case "KexDone":
            if (event.first) settleFirstKex(Effect.void)
            settleKexWaiters(Effect.void)
            break
          case "ServiceRequest":
            // A server asking the client for a service: the core only reports this to servers.
            break
          case "Closed":
            flush()
            closeWith(event.error)
            break
          case "HostKey": {
            flush()
            const { algorithm, certificate, fingerprint, key } = event
            // The policy may prompt: the core reads nothing more until it has answered.
            policy = runFork(
              Effect.matchEffect(options.hostKeyPolicy({ host, port, key, algorithm, fingerprint, ...(certificate ? { certificate } : {}) }), {
                onSuccess: () => Effect.sync(() => core.acceptHostKey()),
                onFailure: (rejected) => Effect.sync(() => core.rejectHostKey(rejected))
              })
            )
            policy.addObserver(() => {
              policy = undefined
              drain()
            })
            break
          }
        }
      }
      flush()
      armDeadline()
    }

    // ---- what arrives: straight into the core, in the channel's own callback ----
    const guarded = (feed: () => void) => () => {
      try {
        feed()
      } catch (defect) {
        // A bug of ours; still, nobody may be left waiting on a connection that cannot go on.
        core.lost(error("ProtocolError", undefined, `internal error: ${show(String(defect))}`))
      }
      drain()
    }
    channel.open({
      data: (bytes) => guarded(() => core.receive(bytes))(),
      end: guarded(() => core.receiveEnd()),
      lost: (e) => guarded(() => core.lost(e))()
    })

    // A plain scope finalizer: `addFinalizer`'s fiber-context bookkeeping costs more than this.
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => {
        core.disconnect(DisconnectReason.BY_APPLICATION, "closed by the client")
        drain()
        interrupt(timer?.fiber)
        timer = undefined
      })
    )

    drain()
    yield* Effect.async<void, TransportFailure | HostKeyRejected>((resume) => {
      if (firstKex === undefined) firstKex = resume
      else resume(firstKex as Effect.Effect<void, TransportFailure | HostKeyRejected>)
    })

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
          drain()
          return Effect.void
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
          drain()
          const accepted = yield* serviceAccepts.take({
            millis: stepMillis,
            onTimeout: () => error("Timeout", "SERVICE_ACCEPT", `no SERVICE_ACCEPT for ${name} within ${Duration.format(options.handshakeTimeout)}`)
          })
          if (accepted !== name) {
            return yield* error("ProtocolError", "SERVICE_ACCEPT", `requested service ${name} but the server accepted "${show(accepted, 64)}"`)
          }
        }),
      disconnect: (code = DisconnectReason.BY_APPLICATION, description = "closed by the client") =>
        Effect.sync(() => {
          core.disconnect(code, description)
          drain()
        }),
      rekey: Effect.suspend(() => {
        if (core.closed) return Effect.fail(userError())
        return Effect.async<void, TransportFailure>((resume) => {
          kexWaiters.push(resume)
          core.rekey()
          drain()
          return Effect.sync(() => {
            kexWaiters = kexWaiters.filter((settle) => settle !== resume)
          })
        })
      })
    }
    return connection
  })
