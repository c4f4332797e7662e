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
import * as FiberId from "effect/FiberId"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import { DisconnectReason } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import type { ByteChannel, ChannelSink } from "./ByteChannel.js"
import type { Connection, ConnectionEvent, ConnectionFailure } from "./Connection.js"
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
  /**
   * Runs a conversation in the core's own turn with no fiber waiting on it: each of its calls
   * runs on `runtime`, as a fiber only while it runs, and `onEnd` hears how it ended. For a
   * server's session, which may wait for days on an idle connection.
   */
  readonly detach: <A>(
    conversation: Conversation<A, never, never>,
    runtime: Runtime.Runtime<never>,
    onEnd: (exit: Exit.Exit<A, TransportFailure>) => void
  ) => Detached
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
  // Once per connection: flat, not `Effect.gen` (README, "Code run once per connection").
  Effect.clockWith((clock) =>
    Effect.flatMap(HandshakeSpans.make(options.spanParent), (spans) =>
      Effect.flatMap(
        // The runtime (a copy of the caller's context and fiber refs, ≈ 2 KiB) is held only while
        // work that must be a fiber can come: the host-key check, at the first key exchange only.
        options.hostKeyPolicy !== undefined || clock !== liveClock ? Effect.runtime<never>() : Effect.succeed(undefined),
        (runtime) => {
          const driver = attach(core, channel, options, { clock, spans, runtime })
          // A plain scope finalizer: `addFinalizer`'s fiber-context bookkeeping costs more than this.
          return Effect.as(
            Effect.flatMap(Effect.scope, (scope) =>
              Scope.addFinalizer(scope, Effect.sync(() => driver.step(() => core.disconnect(DisconnectReason.BY_APPLICATION, options.closing))))),
            driver
          )
        }
      ))
  )

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
export const attach = (core: Connection, channel: ByteChannel, options: DriverOptions, environment: DriverEnvironment): Driver =>
  new CoreDriver(core, channel, options, environment)

/** Who waits for a key exchange to end: the connection's opener for the first, `rekey` for later ones. */
type Settle<E> = (result: Effect.Effect<void, E>) => void

/** The conversation waiting for the next message: it has the message, not `inbound`. */
interface Listener {
  message(payload: Uint8Array): void
  closed(): void
}

const liveNow = () => Date.now()

/**
 * `clock`'s time as a function, the same one for every connection on the live clock (a
 * connection keeps it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const clockNow = (clock: Clock.Clock): () => number => clock === liveClock ? liveNow : () => clock.unsafeCurrentTimeMillis()

/**
 * A driven connection. A class, not closures over `attach`'s locals: an idle connection keeps
 * one object, where some thirty closures and their shared context cost ≈ 4 KiB per
 * connection. It is also the channel's sink (`data`, `end`, `lost`).
 */
class CoreDriver implements Driver, ChannelSink {
  readonly services: Inbox<string, TransportFailure>
  /** On the live clock a Node timer: a fiber per arm costs a fork and an interrupt per handshake. */
  readonly schedule: Schedule
  readonly now: () => number
  // Both read by a conversation's `Turns`.
  readonly inbound: Inbox<Uint8Array, TransportFailure>
  listener: Listener | undefined
  private firstKexState: Settle<TransportFailure | HostKeyRejected> | Effect.Effect<void, TransportFailure | HostKeyRejected> | undefined
  private kexWaiters: Array<Settle<TransportFailure>> = []
  private runtime: Runtime.Runtime<never> | undefined
  private spans: HandshakeSpans.HandshakeSpans
  /** The deadline timer: one, armed while the core waits on its peer. */
  private timer: { readonly at: number; cancel: () => void } | undefined
  private policy: Fiber.RuntimeFiber<void> | undefined
  private readonly receiveMillis: number

  constructor(
    readonly core: Connection,
    private readonly channel: ByteChannel,
    private readonly options: DriverOptions,
    environment: DriverEnvironment
  ) {
    const { clock } = environment
    this.runtime = environment.runtime
    this.spans = environment.spans
    this.receiveMillis = Duration.toMillis(options.receiveTimeout)
    // On any clock but the live one (TestClock) a sleep fiber of the caller's runtime, so the
    // caller's clock decides when a deadline comes.
    this.schedule = clock === liveClock ? liveTimer : (millis, fire) => {
      const fiber = this.runFork(Effect.sleep(millis))
      fiber.addObserver((exit) => {
        if (exit._tag === "Success") fire()
      })
      return () => interrupt(fiber)
    }
    this.now = clockNow(clock)
    // Their timed takes (`receive`, a SERVICE_ACCEPT's wait) run on the caller's clock, as the core's deadlines do.
    this.inbound = new Inbox(this.schedule)
    this.services = new Inbox(this.schedule)
    // What arrives goes straight into the core, in the channel's own callback.
    channel.open(this)
    this.drain()
  }

  data(bytes: Uint8Array): void {
    this.step(() => this.core.receive(bytes))
  }

  end(): void {
    this.step(() => this.core.receiveEnd())
  }

  lost(e: TransportError): void {
    this.step(() => this.core.lost(e))
  }

  error(reason: TransportError["reason"], step: string | undefined, detail: string): TransportError {
    const { host, port } = this.channel
    return new TransportError({ reason, host, port, detail, ...(step ? { step } : {}) }, true)
  }

  /** A host key rejection only happens before users have the connection. */
  userError(): TransportFailure {
    const e = this.core.closed
    return e === undefined || e._tag === "HostKeyRejected" ? this.error("Closed", undefined, "connection is closed") : e
  }

  // Work that must be an Effect (the host-key policy, the deadline's sleep on a clock other
  // than the live one) runs as a fiber of the caller's runtime. Nothing else is a fiber.
  private runFork<A, E>(effect: Effect.Effect<A, E>): Fiber.RuntimeFiber<A, E> {
    return Runtime.runFork(this.runtime!)(effect)
  }

  /** Once only: the end of the first exchange, or of the connection before it, whichever comes first. */
  private settleFirstKex(result: Effect.Effect<void, TransportFailure | HostKeyRejected>): void {
    const waiting = this.firstKexState
    if (typeof waiting !== "function" && waiting !== undefined) return
    this.firstKexState = result
    if (typeof waiting === "function") waiting(result)
  }

  private settleKexWaiters(result: Effect.Effect<void, TransportFailure>): void {
    const waiters = this.kexWaiters
    this.kexWaiters = []
    for (const settle of waiters) settle(result)
  }

  private cancelTimer(): void {
    this.timer?.cancel()
    this.timer = undefined
  }

  private armDeadline(): void {
    const at = this.core.nextDeadline()
    if (this.timer !== undefined && (at === undefined || at < this.timer.at)) this.cancelTimer()
    // A later deadline is left to the armed timer, which re-arms when it fires.
    if (at === undefined || this.timer !== undefined) return
    // Armed before it is scheduled: a deadline already past may fire at once.
    const armed: { at: number; cancel: () => void } = { at, cancel: () => {} }
    this.timer = armed
    armed.cancel = this.schedule(Math.max(0, at - this.now()), () => {
      if (this.timer !== armed) return
      this.timer = undefined
      this.core.onDeadline(this.now())
      this.drain()
    })
  }

  // ---- the core's output: bytes to the channel, events to their consumers ----
  private flush(): void {
    const out = this.core.pollTransmit()
    if (out) this.channel.write(out)
  }

  private closeWith(e: ConnectionFailure): void {
    const forUsers = this.userError()
    this.inbound.end(() => forUsers)
    const waiting = this.listener
    this.listener = undefined
    waiting?.closed()
    this.services.end(() => forUsers)
    this.spans.failed(e)
    this.settleFirstKex(Effect.fail(e))
    this.settleKexWaiters(Effect.fail(forUsers))
    interrupt(this.policy)
    this.cancelTimer()
    this.channel.close()
    this.options.onClosed?.(e)
  }

  private drain(): void {
    const { core, options } = this
    // Before the events: the key exchange's span must be open when they report on it.
    if (core.peerIdentification !== "") this.spans.identified(core.peerIdentification)
    for (let event = core.pollEvent(); event !== undefined; event = core.pollEvent()) {
      switch (event._tag) {
        case "Message":
          if (options.onMessage?.(event.payload, core) ?? true) {
            const waiting = this.listener
            this.listener = undefined
            if (waiting !== undefined) waiting.message(event.payload)
            else this.inbound.offer(event.payload)
          }
          break
        case "ServiceAccept":
          this.services.offer(event.name)
          break
        case "ServiceRequest":
          if (options.onServiceRequest?.(event.name, core, this.inbound.size) ?? true) this.services.offer(event.name)
          break
        case "KexDone":
          if (event.first) {
            this.spans.keyExchanged(core.negotiated)
            this.spans = HandshakeSpans.none
            // Kept on any other clock: its sleeps are fibers of that runtime.
            if (this.schedule === liveTimer) this.runtime = undefined
            this.settleFirstKex(Effect.void)
            options.onFirstKex?.()
          }
          this.settleKexWaiters(Effect.void)
          break
        case "Closed":
          this.flush()
          this.closeWith(event.error)
          return
        case "HostKey":
          this.flush()
          this.checkHostKey(event)
          break
      }
    }
    this.flush()
    this.armDeadline()
  }

  private checkHostKey(event: Extract<ConnectionEvent, { readonly _tag: "HostKey" }>): void {
    const { core, spans } = this
    const decide = this.options.hostKeyPolicy
    if (decide === undefined) return core.acceptHostKey()
    const { host, port } = this.channel
    const { algorithm, certificate, fingerprint, key } = event
    const check = decide({ host, port, key, algorithm, fingerprint, ...(certificate ? { certificate } : {}) })
    // A policy that answers with a value (pinned fingerprints, acceptAnyInsecure) is
    // decided here: a fiber for it would sit on the handshake's critical path.
    const answer = Exit.isExit(check) ? decided(check as Exit.Exit<void, HostKeyRejected>) : undefined
    if (answer !== undefined) {
      spans.hostKeyChecked({ algorithm, fingerprint }, check as Exit.Exit<void, HostKeyRejected>)
      return answer === "accepted" ? core.acceptHostKey() : core.rejectHostKey(answer)
    }
    const policy = this.runFork(
      Effect.matchEffect(spans.hostKeyCheck(check, { algorithm, fingerprint }), {
        onSuccess: () => Effect.sync(() => core.acceptHostKey()),
        onFailure: (rejected) => Effect.sync(() => core.rejectHostKey(rejected))
      })
    )
    this.policy = policy
    policy.addObserver(() => {
      this.policy = undefined
      this.drain()
    })
  }

  step(call: () => void): void {
    try {
      call()
    } catch (defect) {
      // A bug of ours; still, nobody may be left waiting on a connection that cannot go on.
      this.core.lost(this.error("ProtocolError", undefined, `internal error: ${show(String(defect))}`))
    }
    this.drain()
  }

  /** A wait of at most `millis` (a caller's own deadline), never longer than `receive` waits, and the error it ends with. */
  waitOf(millis: number): TakeTimeout<TransportError> {
    const peer = this.core.role === "client" ? "server" : "client"
    return millis >= this.receiveMillis
      ? {
        millis: this.receiveMillis,
        onTimeout: () => this.error("Timeout", "receive", `no message from the ${peer} within ${Duration.format(this.options.receiveTimeout)}`)
      }
      : {
        millis: Math.max(0, millis),
        onTimeout: () => this.error("Timeout", "receive", `no reply from the ${peer} in time: its deadline ran from our last message`)
      }
  }

  /**
   * Steps a conversation in the core's turn until it ends, or calls code of the caller's
   * that is not already an `Exit`: that runs in the caller's fiber, and the conversation
   * goes on in a new wait after it. What it sends goes out with the turn's output.
   */
  advance<A, E, R>(steps: Steps<A, E>, input: unknown, onFailure: OnFailure<A, E, R>): Effect.Effect<A, E | TransportFailure, R> {
    return Effect.async<A, E | TransportFailure, R>((resume) => {
      const turns = new FiberTurns<A, E, R>(this, steps, onFailure, resume)
      this.step(() => turns.go(input))
      // Interrupted while waiting.
      return Effect.sync(() => turns.interrupted())
    })
  }

  get firstKex(): Effect.Effect<void, TransportFailure | HostKeyRejected> {
    return Effect.async<void, TransportFailure | HostKeyRejected>((resume) => {
      if (this.firstKexState === undefined) this.firstKexState = resume
      else if (typeof this.firstKexState !== "function") resume(this.firstKexState)
    })
  }

  send(payload: Uint8Array): Effect.Effect<void, TransportFailure> {
    return Effect.suspend(() => {
      if (this.core.closed) return Effect.fail(this.userError())
      this.step(() => this.core.send(payload))
      return Effect.void
    })
  }

  get receive(): Effect.Effect<Uint8Array, TransportFailure> {
    return this.inbound.take(this.waitOf(this.receiveMillis))
  }

  receiveWithin(millis: number): Effect.Effect<Uint8Array, TransportFailure> {
    return this.inbound.take(this.waitOf(millis))
  }

  pending(): number {
    return this.inbound.size
  }

  requeue(payload: Uint8Array): void {
    this.inbound.offer(payload)
  }

  disconnect(code: number = DisconnectReason.BY_APPLICATION, description: string = this.options.closing): Effect.Effect<void> {
    return Effect.sync(() => this.step(() => this.core.disconnect(code, description)))
  }

  converse<A, E, R>(conversation: Conversation<A, E, R>): Effect.Effect<A, E | TransportFailure, R> {
    return Effect.suspend(() => this.advance(conversation.start(this.now), undefined, conversation.onFailure))
  }

  detach<A>(conversation: Conversation<A, never, never>, runtime: Runtime.Runtime<never>, onEnd: (exit: Exit.Exit<A, TransportFailure>) => void): Detached {
    const turns = new DetachedTurns(this, conversation.start(this.now), conversation.onFailure, runtime, onEnd)
    this.step(() => turns.go(undefined))
    return turns
  }

  get rekey(): Effect.Effect<void, TransportFailure> {
    return Effect.suspend(() => {
      if (this.core.closed) return Effect.fail(this.userError())
      return Effect.async<void, TransportFailure>((resume) => {
        this.kexWaiters.push(resume)
        this.step(() => this.core.rekey())
        return Effect.sync(() => {
          this.kexWaiters = this.kexWaiters.filter((settle) => settle !== resume)
        })
      })
    })
  }
}

const interrupt = (fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined) => fiber?.unsafeInterruptAsFork(fiber.id())

/** A conversation's own `onFailure`, if it has one. */
type OnFailure<A, E, R> = Conversation<A, E, R>["onFailure"]

/**
 * A call of the caller's code, started on `runtime`: its exit when it finished in its fork
 * (the usual case: the policy's lookups, an exec that answers at once), else its fiber.
 *
 * @since 0.1.0
 * @category running
 */
export const startCall = <A, E>(runtime: Runtime.Runtime<never>, effect: Effect.Effect<A, E>): Exit.Exit<A, E> | Fiber.RuntimeFiber<A, E> => {
  if (Exit.isExit(effect)) return effect as Exit.Exit<A, E>
  const fiber = Runtime.runFork(runtime)(effect)
  return fiber.unsafePoll() ?? fiber
}

/** One conversation's run in the driver's callbacks, from its start or a call's return to its end or its next call. */
abstract class Turns<A, E, R> implements Listener {
  protected done = false
  private cancelTimer: (() => void) | undefined

  constructor(
    protected readonly driver: CoreDriver,
    protected readonly steps: Steps<A, E>,
    protected readonly onFailure: OnFailure<A, E, R>
  ) {}

  /** The run ended: with `exit`, before its `onFailure` is applied. */
  protected abstract end(exit: Exit.Exit<A, E | TransportFailure>): void

  /** Calls the caller's `effect`: its exit, to go on with in this turn, or undefined when the run goes on later, or not here. */
  protected abstract call(effect: Effect.Effect<unknown, E, R>): Exit.Exit<unknown, E> | undefined

  /** Nothing more reaches this run. */
  protected stop(): void {
    this.done = true
    if (this.driver.listener === this) this.driver.listener = undefined
    this.cancelTimer?.()
  }

  private fail(error: TransportFailure): void {
    this.end(Exit.fail(error))
  }

  message(payload: Uint8Array): void {
    this.cancelTimer?.()
    this.cancelTimer = undefined
    this.go(payload)
  }

  closed(): void {
    this.fail(this.driver.userError())
  }

  /** Waits for the next message, at most until `deadline` and never longer than `receive` waits. */
  private wait(deadline: number): void {
    const { driver } = this
    const timeout = driver.waitOf(deadline - driver.now())
    driver.listener = this
    this.cancelTimer = driver.schedule(timeout.millis, () => {
      this.cancelTimer = undefined
      driver.step(() => this.fail(timeout.onTimeout()))
    })
  }

  go(first: unknown): void {
    const { driver, steps } = this
    const { core } = driver
    try {
      // Each turn is a conversation step: bounded by what the conversation does with a message.
      for (let next = first;;) {
        const turn = steps.next(next)
        next = undefined
        if (turn.done) return this.end(turn.value)
        const want = turn.value
        switch (want._tag) {
          case "Send":
            if (core.closed) return this.fail(driver.userError())
            core.send(want.payload)
            continue
          case "Poll":
            next = driver.inbound.poll()
            continue
          case "Receive":
            next = driver.inbound.poll()
            if (next !== undefined) continue
            if (driver.inbound.isEnded) return this.fail(driver.userError())
            return this.wait(want.deadline)
          case "Call": {
            const effect = want.effect as Effect.Effect<unknown, E, R>
            const exit = Exit.isExit(effect) ? effect as Exit.Exit<unknown, E> : this.call(effect)
            if (exit === undefined) return
            if (Exit.isFailure(exit)) return this.end(exit as Exit.Exit<never, E>)
            next = exit.value
            continue
          }
          case "Sleep":
            this.cancelTimer = driver.schedule(want.millis, () => {
              this.cancelTimer = undefined
              driver.step(() => this.go(undefined))
            })
            return
        }
      }
    } catch (defect) {
      this.end(Exit.die(defect))
    }
  }
}

/** A run that a fiber waits on: its end, and each call, resume the fiber; the call runs there, and the run goes on in a new wait. */
class FiberTurns<A, E, R> extends Turns<A, E, R> {
  constructor(
    driver: CoreDriver,
    steps: Steps<A, E>,
    onFailure: OnFailure<A, E, R>,
    private readonly resume: (result: Effect.Effect<A, E | TransportFailure, R>) => void
  ) {
    super(driver, steps, onFailure)
  }

  private finish(result: Effect.Effect<A, E | TransportFailure, R>): void {
    if (this.done) return
    this.stop()
    this.resume(result)
  }

  /** A failure becomes what the conversation's `onFailure` makes of it, run in the caller's fiber (a throw there is a defect of that fiber). */
  protected end(exit: Exit.Exit<A, E | TransportFailure>): void {
    const { onFailure } = this
    if (onFailure === undefined || Exit.isSuccess(exit) || !Cause.isFailType(exit.cause)) return this.finish(exit)
    const error = exit.cause.error
    this.finish(Effect.suspend(() => onFailure(error)))
  }

  protected call(effect: Effect.Effect<unknown, E, R>): undefined {
    const { driver, steps, onFailure } = this
    const next = (value: unknown) => driver.advance<A, E, R>(steps, value, onFailure)
    this.finish(onFailure === undefined ? Effect.flatMap(effect, next) : Effect.matchEffect(effect, { onFailure, onSuccess: next }))
  }

  /** The fiber was interrupted while it waited. */
  interrupted(): void {
    this.stop()
  }
}

/**
 * A conversation run with no fiber waiting on it (`Driver.detach`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Detached {
  /** Ends the run as interrupted: its call in flight is interrupted, and its `onEnd` hears it at once. */
  readonly interrupt: () => void
}

/** A run in the connection's callbacks alone: each call is a fiber of `runtime` only while it runs, and `onEnd` hears the end. */
class DetachedTurns<A> extends Turns<A, never, never> implements Detached {
  private calling: Fiber.RuntimeFiber<unknown, unknown> | undefined
  /** `onEnd` has heard the end: once only, though `onFailure`'s call may still be running when the run is interrupted. */
  private heard = false

  constructor(
    driver: CoreDriver,
    steps: Steps<A, never>,
    onFailure: OnFailure<A, never, never>,
    private readonly runtime: Runtime.Runtime<never>,
    private readonly onEnd: (exit: Exit.Exit<A, TransportFailure>) => void
  ) {
    super(driver, steps, onFailure)
  }

  private hear(exit: Exit.Exit<A, TransportFailure>): void {
    if (this.heard) return
    this.heard = true
    this.onEnd(exit)
  }

  /** Starts `effect` on `runtime`: its exit, when it finished in its fork; else `then` hears it later, unless the run is interrupted first. */
  private start<B, E>(effect: Effect.Effect<B, E>, then: (exit: Exit.Exit<B, E>) => void): Exit.Exit<B, E> | undefined {
    const started = startCall(this.runtime, effect)
    if (Exit.isExit(started)) return started
    this.calling = started
    started.addObserver((exit) => {
      if (this.calling !== started) return
      this.calling = undefined
      then(exit)
    })
    return undefined
  }

  /** A failure becomes what `onFailure` makes of it, run on `runtime`, and that is the end. */
  protected end(exit: Exit.Exit<A, TransportFailure>): void {
    if (this.done) return
    this.stop()
    const { onFailure } = this
    if (onFailure === undefined || Exit.isSuccess(exit) || !Cause.isFailType(exit.cause)) return this.hear(exit)
    const ended = this.start(onFailure(exit.cause.error), (later) => this.hear(later))
    if (ended !== undefined) this.hear(ended)
  }

  protected call(effect: Effect.Effect<unknown>): Exit.Exit<unknown> | undefined {
    return this.start(effect, (exit) => this.driver.step(() => Exit.isFailure(exit) ? this.end(exit as Exit.Exit<never>) : this.go(exit.value)))
  }

  interrupt(): void {
    const calling = this.calling
    this.calling = undefined
    interrupt(calling)
    if (!this.done) this.stop()
    this.hear(Exit.interrupt(FiberId.none))
  }
}
