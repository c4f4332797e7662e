/**
 * The Effect edge of the connection core, for either role: it runs a sans-IO `Connection`
 * over a byte channel and turns the core's events into what Effect code waits on.
 *
 * What arrives goes into the core in the channel's own callback, and what the core wants
 * sent goes out at once. A message goes to the conversation waiting for one (`converse`:
 * the client's userauth requests are stepped in these callbacks, as the core is), else into
 * a queue, as service names do; the end of a key exchange settles its waiters, the end of
 * the connection ends them all, and the core's deadlines become one sleep on the caller's
 * clock, armed only while the core waits on its peer. An open connection holds no fiber:
 * only the host-key policy (a client's) is a fiber, of the caller's runtime (tracer, logger,
 * clock), and only while it runs; the deadline is a Node timer on the live clock and a sleep
 * on any other.
 *
 * The client's `Handshake` and the server's `ServerHandshake` build their services on this.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { DisconnectReason } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import type { ByteChannel } from "./ByteChannel.js"
import type { Connection, ConnectionFailure } from "./Connection.js"
import type { Conversation, Steps } from "./Conversation.js"
import * as HandshakeSpans from "./HandshakeSpans.js"
import type { HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
import { Inbox, liveTimer, type Schedule, type TakeTimeout } from "./Inbox.js"
import { TransportError, type TransportFailure } from "./TransportError.js"

/** The clock Effect runs on unless a caller provides another (TestClock, say). */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * @since 0.1.0
 * @category models
 */
export interface DriverOptions {
  /** A client's: decides on the server's host key. The core reads nothing more until it has. */
  readonly hostKeyPolicy?: HostKeyPolicy
  /** How long `receive` waits for the next message. */
  readonly receiveTimeout: Duration.Duration
  /** Sent with DISCONNECT when the scope closes. */
  readonly closing: string
  /** The span the handshake's phases go under; by default the current span. */
  readonly spanParent?: Tracer.AnySpan
  /**
   * A server's: answers each SERVICE_REQUEST in the core's own turn, so that a request out
   * of phase is refused before anything else of the client's is read. The names it returns
   * true for go on to `services`; without it, all do. `earlier` counts the messages the
   * peer sent before this request.
   */
  readonly onServiceRequest?: (name: string, core: Connection, earlier: number) => boolean
  /**
   * A server's: sees each message in the core's own turn, before it is queued; false drops
   * it. So a message out of phase ends the connection when it arrives, not when it is read.
   */
  readonly onMessage?: (payload: Uint8Array, core: Connection) => boolean
  /** Sees the end of the first key exchange: for a caller that is not a fiber. */
  readonly onFirstKex?: () => void
  /** Sees the end of the connection, after every waiter was told: for a caller that is not a fiber. */
  readonly onClosed?: (error: ConnectionFailure) => void
}

/**
 * A running connection, as the role-specific services see it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Driver {
  readonly core: Connection
  /** Waits for the first key exchange: done, or how the connection ended before it was. */
  readonly firstKex: Effect.Effect<void, TransportFailure | HostKeyRejected>
  /** Services the peer named: a client's SERVICE_ACCEPTs, a server's SERVICE_REQUESTs. */
  readonly services: Inbox<string, TransportFailure>
  /** Runs a call into the core, then sends and dispatches what it produced. */
  readonly step: (call: () => void) => void
  /** The error users of a dead connection see. */
  readonly userError: () => TransportFailure
  readonly error: (reason: TransportError["reason"], step: string | undefined, detail: string) => TransportError
  readonly send: (payload: Uint8Array) => Effect.Effect<void, TransportFailure>
  readonly receive: Effect.Effect<Uint8Array, TransportFailure>
  readonly receiveWithin: (millis: number) => Effect.Effect<Uint8Array, TransportFailure>
  readonly pending: () => number
  /** Queues a message for `receive`, as if it had just arrived: one a caller took in its own turn and gives back. */
  readonly requeue: (payload: Uint8Array) => void
  readonly disconnect: (code?: number, description?: string) => Effect.Effect<void>
  readonly rekey: Effect.Effect<void, TransportFailure>
  /**
   * Runs a conversation in the core's own turn: the caller's fiber waits once, until the
   * conversation ends or calls the caller's code. While it waits for a message, every
   * message goes to it (the queued ones first): one conversation at a time.
   */
  readonly converse: <A, E, R>(conversation: Conversation<A, E, R>) => Effect.Effect<A, E | TransportFailure, R>
  /** Calls `fire` after `millis` on the caller's clock (a Node timer on the live one); gives its cancel. */
  readonly schedule: (millis: number, fire: () => void) => () => void
}

/**
 * Starts driving `core` over `channel`. Closing the scope sends DISCONNECT and closes the
 * channel.
 *
 * @since 0.1.0
 * @category constructors
 */
export const drive = (core: Connection, channel: ByteChannel, options: DriverOptions): Effect.Effect<Driver, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const spans = yield* HandshakeSpans.make(options.spanParent)
    // The runtime (a copy of the caller's context and fiber refs, ≈ 2 KiB) is held only while
    // work that must be a fiber can come: the host-key check, at the first key exchange only.
    const runtime = options.hostKeyPolicy !== undefined || clock !== liveClock ? yield* Effect.runtime<never>() : undefined
    const driver = attach(core, channel, options, { clock, spans, runtime })
    // A plain scope finalizer: `addFinalizer`'s fiber-context bookkeeping costs more than this.
    yield* Scope.addFinalizer(
      yield* Effect.scope,
      Effect.sync(() => driver.step(() => core.disconnect(DisconnectReason.BY_APPLICATION, options.closing)))
    )
    return driver
  })

/**
 * What a host-key policy's finished answer says: accepted, or the rejection. A defect or an
 * interruption says neither, and is left to the policy's fiber, which reports it as before.
 */
const decided = (exit: Exit.Exit<void, HostKeyRejected>): "accepted" | HostKeyRejected | undefined => {
  if (Exit.isSuccess(exit)) return "accepted"
  return Cause.isFailType(exit.cause) ? exit.cause.error : undefined
}

/**
 * What a driver runs on: the caller's clock, the handshake's spans, and the runtime that
 * fibers (the host-key policy, sleeps on a clock other than the live one) are forked from.
 *
 * @since 0.1.0
 * @category models
 */
export interface DriverEnvironment {
  readonly clock: Clock.Clock
  readonly spans: HandshakeSpans.HandshakeSpans
  /** Needed for a host-key policy, or a clock other than the live one. */
  readonly runtime: Runtime.Runtime<never> | undefined
}

/**
 * Starts driving `core` over `channel` in plain callbacks, for a caller that is not a fiber
 * (a server's accept callback). The caller ends the connection (`disconnect`) when done.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attach = (core: Connection, channel: ByteChannel, options: DriverOptions, environment: DriverEnvironment): Driver => {
  const { host, port } = channel
  const { clock } = environment
  let { runtime, spans } = environment
  const peer = core.role === "client" ? "server" : "client"
  const error = (reason: TransportError["reason"], step: string | undefined, detail: string) =>
    new TransportError({ reason, host, port, detail, ...(step ? { step } : {}) }, true)

  // Their timed takes (`receive`, a SERVICE_ACCEPT's wait) run on the caller's clock, as the core's deadlines do.
  const inbound = new Inbox<Uint8Array, TransportFailure>((millis, fire) => schedule(millis, fire))
  /** The conversation waiting for the next message, if one is: it has the message, not `inbound`. */
  let listener: { readonly message: (payload: Uint8Array) => void; readonly closed: () => void } | undefined
  const services = new Inbox<string, TransportFailure>((millis, fire) => schedule(millis, fire))
  // Who waits for a key exchange to end: the connection's opener for the first, `rekey` for later ones.
  type Settle<E> = (result: Effect.Effect<void, E>) => void
  let firstKex: Settle<TransportFailure | HostKeyRejected> | Effect.Effect<void, TransportFailure | HostKeyRejected> | undefined
  let kexWaiters: Array<Settle<TransportFailure>> = []
  /** Once only: the end of the first exchange, or of the connection before it, whichever comes first. */
  const settleFirstKex = (result: Effect.Effect<void, TransportFailure | HostKeyRejected>) => {
    const waiting = firstKex
    if (typeof waiting !== "function" && waiting !== undefined) return
    firstKex = result
    if (typeof waiting === "function") waiting(result)
  }
  const settleKexWaiters = (result: Effect.Effect<void, TransportFailure>) => {
    const waiters = kexWaiters
    kexWaiters = []
    for (const settle of waiters) settle(result)
  }

  /** A host key rejection only happens before users have the connection. */
  const userError = (): TransportFailure => {
    const e = core.closed
    return e === undefined || e._tag === "HostKeyRejected" ? error("Closed", undefined, "connection is closed") : e
  }

  // Work that must be an Effect (the host-key policy, the deadline's sleep on a clock other
  // than the live one) runs as a fiber of the caller's runtime. Nothing else is a fiber.
  const runFork = <A, E>(effect: Effect.Effect<A, E>) => Runtime.runFork(runtime!)(effect)
  const interrupt = (fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined) => fiber?.unsafeInterruptAsFork(fiber.id())

  // ---- the deadline timer: one, armed while the core waits on its peer ----
  // On the live clock a Node timer: a fiber per arm costs a fork and an interrupt per
  // handshake. On any other clock (TestClock) a sleep fiber of the caller's runtime, so the
  // caller's clock decides when the deadline comes.
  const schedule: Schedule = clock === liveClock
    ? liveTimer
    : (millis, fire) => {
      const fiber = runFork(Effect.sleep(millis))
      fiber.addObserver((exit) => {
        if (exit._tag === "Success") fire()
      })
      return () => interrupt(fiber)
    }
  let timer: { readonly at: number; readonly cancel: () => void } | undefined
  const cancelTimer = () => {
    timer?.cancel()
    timer = undefined
  }
  const armDeadline = (): void => {
    const at = core.nextDeadline()
    if (timer !== undefined && (at === undefined || at < timer.at)) cancelTimer()
    // A later deadline is left to the armed timer, which re-arms when it fires.
    if (at === undefined || timer !== undefined) return
    // Armed before it is scheduled: a deadline already past may fire at once.
    const armed: { at: number; cancel: () => void } = { at, cancel: () => {} }
    timer = armed
    armed.cancel = schedule(Math.max(0, at - clock.unsafeCurrentTimeMillis()), () => {
      if (timer !== armed) return
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
    const waiting = listener
    listener = undefined
    waiting?.closed()
    services.end(() => forUsers)
    spans.failed(e)
    settleFirstKex(Effect.fail(e))
    settleKexWaiters(Effect.fail(forUsers))
    interrupt(policy)
    cancelTimer()
    channel.close()
    options.onClosed?.(e)
  }

  const drain = (): void => {
    // Before the events: the key exchange's span must be open when they report on it.
    if (core.peerIdentification !== "") spans.identified(core.peerIdentification)
    for (let event = core.pollEvent(); event !== undefined; event = core.pollEvent()) {
      switch (event._tag) {
        case "Message":
          if (options.onMessage?.(event.payload, core) ?? true) {
            const waiting = listener
            listener = undefined
            if (waiting !== undefined) waiting.message(event.payload)
            else inbound.offer(event.payload)
          }
          break
        case "ServiceAccept":
          services.offer(event.name)
          break
        case "ServiceRequest":
          if (options.onServiceRequest?.(event.name, core, inbound.size) ?? true) services.offer(event.name)
          break
        case "KexDone":
          if (event.first) {
            spans.keyExchanged(core.negotiated)
            spans = HandshakeSpans.none
            if (clock === liveClock) runtime = undefined
            settleFirstKex(Effect.void)
            options.onFirstKex?.()
          }
          settleKexWaiters(Effect.void)
          break
        case "Closed":
          flush()
          closeWith(event.error)
          return
        case "HostKey": {
          flush()
          const decide = options.hostKeyPolicy
          if (decide === undefined) {
            core.acceptHostKey()
            break
          }
          const { algorithm, certificate, fingerprint, key } = event
          const check = decide({ host, port, key, algorithm, fingerprint, ...(certificate ? { certificate } : {}) })
          // A policy that answers with a value (pinned fingerprints, acceptAnyInsecure) is
          // decided here: a fiber for it would sit on the handshake's critical path.
          const answer = Exit.isExit(check) ? decided(check as Exit.Exit<void, HostKeyRejected>) : undefined
          if (answer !== undefined) {
            spans.hostKeyChecked({ algorithm, fingerprint }, check as Exit.Exit<void, HostKeyRejected>)
            if (answer === "accepted") core.acceptHostKey()
            else core.rejectHostKey(answer)
            break
          }
          policy = runFork(
            Effect.matchEffect(spans.hostKeyCheck(check, { algorithm, fingerprint }), {
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

  const step = (call: () => void): void => {
    try {
      call()
    } catch (defect) {
      // A bug of ours; still, nobody may be left waiting on a connection that cannot go on.
      core.lost(error("ProtocolError", undefined, `internal error: ${show(String(defect))}`))
    }
    drain()
  }

  // ---- what arrives: straight into the core, in the channel's own callback ----
  channel.open({
    data: (bytes) => step(() => core.receive(bytes)),
    end: () => step(() => core.receiveEnd()),
    lost: (e) => step(() => core.lost(e))
  })

  drain()

  const receiveTimeout: TakeTimeout<TransportError> = {
    millis: Duration.toMillis(options.receiveTimeout),
    onTimeout: () => error("Timeout", "receive", `no message from the ${peer} within ${Duration.format(options.receiveTimeout)}`)
  }
  const receive = inbound.take(receiveTimeout)
  /** A wait of at most `millis` (a caller's own deadline), never longer than `receive` waits, and the error it ends with. */
  const waitOf = (millis: number): TakeTimeout<TransportError> =>
    millis >= receiveTimeout.millis ? receiveTimeout : {
      millis: Math.max(0, millis),
      onTimeout: () => error("Timeout", "receive", `no reply from the ${peer} in time: its deadline ran from our last message`)
    }
  const now = () => clock.unsafeCurrentTimeMillis()

  /**
   * Steps a conversation in the core's turn until it ends, or calls code of the caller's
   * that is not already an `Exit`: that runs in the caller's fiber, and the conversation
   * goes on in a new wait after it. What it sends goes out with the turn's output.
   */
  const advance = <A, E, R>(steps: Steps<A, E>, input: unknown): Effect.Effect<A, E | TransportFailure, R> =>
    Effect.async<A, E | TransportFailure, R>((resume) => {
      let done = false
      let cancelTimer: (() => void) | undefined
      const finish = (result: Effect.Effect<A, E | TransportFailure, R>): void => {
        if (done) return
        done = true
        if (listener === waiting) listener = undefined
        cancelTimer?.()
        resume(result)
      }
      const waiting = {
        message: (payload: Uint8Array) => {
          cancelTimer?.()
          cancelTimer = undefined
          go(payload)
        },
        closed: () => finish(Effect.fail(userError()))
      }
      /** Waits for the next message, at most until `deadline` and never longer than `receive` waits. */
      const wait = (deadline: number): void => {
        const timeout = waitOf(deadline - now())
        listener = waiting
        cancelTimer = schedule(timeout.millis, () => {
          cancelTimer = undefined
          step(() => finish(Effect.fail(timeout.onTimeout())))
        })
      }
      const go = (first: unknown): void => {
        try {
          // Each turn is a conversation step: bounded by what the conversation does with a message.
          for (let next = first;;) {
            const turn = steps.next(next)
            next = undefined
            if (turn.done) return finish(turn.value)
            const want = turn.value
            switch (want._tag) {
              case "Send":
                if (core.closed) return finish(Effect.fail(userError()))
                core.send(want.payload)
                continue
              case "Poll":
                next = inbound.poll()
                continue
              case "Receive":
                next = inbound.poll()
                if (next !== undefined) continue
                if (inbound.isEnded) return finish(Effect.fail(userError()))
                return wait(want.deadline)
              case "Call": {
                const effect = want.effect as Effect.Effect<unknown, E, R>
                if (!Exit.isExit(effect)) return finish(Effect.flatMap(effect, (value) => advance<A, E, R>(steps, value)))
                if (Exit.isFailure(effect)) return finish(effect as Exit.Exit<never, E>)
                next = effect.value
                continue
              }
              case "Sleep":
                cancelTimer = schedule(want.millis, () => {
                  cancelTimer = undefined
                  step(() => go(undefined))
                })
                return
            }
          }
        } catch (defect) {
          finish(Effect.die(defect))
        }
      }
      step(() => go(input))
      // Interrupted while waiting.
      return Effect.sync(() => {
        done = true
        if (listener === waiting) listener = undefined
        cancelTimer?.()
      })
    })

  return {
    core,
    services,
    step,
    userError,
    error,
    firstKex: Effect.async<void, TransportFailure | HostKeyRejected>((resume) => {
      if (firstKex === undefined) firstKex = resume
      else if (typeof firstKex !== "function") resume(firstKex)
    }),
    send: (payload) =>
      Effect.suspend(() => {
        if (core.closed) return Effect.fail(userError())
        step(() => core.send(payload))
        return Effect.void
      }),
    receive,
    receiveWithin: (millis) => millis >= receiveTimeout.millis ? receive : inbound.take(waitOf(millis)),
    pending: () => inbound.size,
    requeue: (payload) => inbound.offer(payload),
    disconnect: (code = DisconnectReason.BY_APPLICATION, description = options.closing) => Effect.sync(() => step(() => core.disconnect(code, description))),
    schedule,
    converse: (conversation) => Effect.suspend(() => advance(conversation.start(now), undefined)),
    rekey: Effect.suspend(() => {
      if (core.closed) return Effect.fail(userError())
      return Effect.async<void, TransportFailure>((resume) => {
        kexWaiters.push(resume)
        step(() => core.rekey())
        return Effect.sync(() => {
          kexWaiters = kexWaiters.filter((settle) => settle !== resume)
        })
      })
    })
  } satisfies Driver
}
