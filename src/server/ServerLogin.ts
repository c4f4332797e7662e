/**
 * One connection's login on `Server.listen`, run in the connection's own callbacks: the
 * server's core driven over the socket under `ServerPhase`'s rules, then the userauth
 * conversation (`ServerUserauth`) stepped as the client's messages arrive. Effect is entered
 * only for the application's calls (the policy, the audit hook, the GSS-API), each forked
 * from the listener's runtime and usually done before the fork returns; the login is not a
 * fiber, so a connection costs no fiber, scope or Effect program until it is authenticated
 * and handed to the application.
 *
 * The trace is the same as a fiber's would be: a root `Server.login` span over the
 * handshake's phases, named for its user once authenticated, with the application's calls
 * as its children.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type * as Tracer from "effect/Tracer"
import type { Curves } from "../crypto/Curves.js"
import { cutFailure, graceTimeout, transportFailure } from "../handler/ServerAuthHandler.js"
import { start, type Userauth, type UserauthOutcome, type UserauthSettings } from "../handler/ServerUserauth.js"
import type { ByteChannel } from "../transport/ByteChannel.js"
import type { Connection, ConnectionFailure } from "../transport/Connection.js"
import { attach, clockNow, type Driver, startCall } from "../transport/CoreDriver.js"
import * as HandshakeSpans from "../transport/HandshakeSpans.js"
import { type DetachableConnection, serverConnection, serverCore, type ServerHandshakeOptions, ServerPhase } from "../transport/ServerHandshake.js"
import { DisconnectReason } from "../wire/MessageNumber.js"
import type { AuthPolicyService } from "./AuthPolicy.js"
import type { Authenticated, ServerAuthFailure } from "./ServerAuthResult.js"

/**
 * What every login of one listener shares.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoginEnvironment {
  /** The listener's: the application's calls are forked from it. */
  readonly runtime: Runtime.Runtime<never>
  readonly clock: Clock.Clock
  readonly curves: Curves
  readonly policy: AuthPolicyService
  /** Absent with tracing off. */
  readonly tracing: HandshakeSpans.SpanEnvironment | undefined
  readonly handshake: ServerHandshakeOptions
  /** The conversation's limits; its LoginGraceTime counts from the connection. */
  readonly settings: UserauthSettings
}

/**
 * How a login ends, for its listener.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoginHandlers {
  /**
   * Authenticated: the connection is the application's now, and the application closes it
   * (`close`, in any turn). The listener may run its session on it with no fiber (`detach`).
   */
  readonly authenticated: (result: Authenticated, connection: DetachableConnection, close: () => void) => void
  /** Ended before authentication (the connection is closed): a typed failure, or the listener's interruption. */
  readonly ended: (cause: Cause.Cause<ServerAuthFailure>) => void
}

/**
 * Messages queued while the conversation waits on something else (a policy call, the
 * failure floor's pause), per request it may still take. Every message the conversation
 * takes is a request (at most `maxRequests`) or one of a method's few rounds, so a client
 * that sends this many unanswered has sent more than can ever be read before the cut: the
 * rest is dropped (sshd leaves it unread in the socket).
 */
const QUEUED_PER_REQUEST = 2

/**
 * One login in flight.
 *
 * @since 0.1.0
 * @category models
 */
export class ServerLogin {
  private readonly core: Connection
  private readonly driver: Driver
  private readonly phase: ServerPhase
  /** The login's span, until it ends. */
  private span: Tracer.Span | undefined
  private readonly acceptedAt: number
  private state: "handshake" | "userauth" | "authenticated" | "ended" = "handshake"
  private run: Userauth | undefined
  /** The conversation waits for the client's next message (not for a call or a pause). */
  private awaitingMessage = false
  private queued: Array<Uint8Array> = []
  private stepping = false
  /** Cancels the one timer in flight: the service request's step time, or the failure floor's pause. */
  private cancelTimer: (() => void) | undefined
  private call: Fiber.RuntimeFiber<unknown> | undefined

  constructor(
    private readonly channel: ByteChannel,
    private readonly environment: LoginEnvironment,
    private readonly handlers: LoginHandlers
  ) {
    const { clock, handshake, tracing } = environment
    this.acceptedAt = clock.unsafeCurrentTimeMillis()
    this.span = tracing?.tracer.span("Server.login", Option.none(), tracing.context, [], clock.unsafeCurrentTimeNanos(), "internal", {
      captureStackTrace: false
    })
    this.span?.attribute("net.peer.name", channel.host)
    this.span?.attribute("net.peer.port", channel.port)
    this.core = serverCore(channel, handshake, environment.curves, clock)
    this.phase = new ServerPhase(channel)
    this.driver = attach(this.core, channel, {
      receiveTimeout: handshake.receiveTimeout,
      closing: "closed by the server",
      onServiceRequest: (name, core) => {
        if (this.phase.onServiceRequest(name, core)) this.begin()
        return false
      },
      onMessage: (payload, core) => this.phase.onMessage(payload, core) && this.deliver(payload),
      onFirstKex: () => this.awaitServiceRequest(),
      onClosed: (error) => this.closed(error)
    }, {
      clock,
      spans: tracing ? HandshakeSpans.open(tracing, this.span) : HandshakeSpans.none,
      // The listener's, shared: the driver forks from it only for timers on a clock other than the live one.
      runtime: environment.runtime
    })
    // Not for a socket that was gone before it was attached (the driver has ended it already).
    if (this.state === "handshake") this.phase.armGrace(this.driver, this.acceptedAt + environment.settings.graceMillis, this.acceptedAt)
  }

  /** The listener is closing: the login ends with a DISCONNECT, as an interrupted one. */
  interrupt(): void {
    this.end(Cause.interrupt(FiberId.none))
  }

  // ---- the handshake ----

  /** After the first key exchange, the service request has the handshake's step time (sshd: LoginGraceTime only). */
  private awaitServiceRequest(): void {
    const timeout = this.environment.handshake.handshakeTimeout
    // On the listener's clock, as the core's deadlines.
    this.cancelTimer = this.driver.schedule(Duration.toMillis(timeout), () => {
      this.cancelTimer = undefined
      if (this.state !== "handshake") return
      const error = this.driver.error("Timeout", "SERVICE_REQUEST", `no SERVICE_REQUEST within ${Duration.format(timeout)}`)
      this.end(Cause.fail(transportFailure(error)))
    })
  }

  // ---- the conversation ----

  private begin(): void {
    this.stopTimer()
    const { clock, curves, policy } = this.environment
    const now = clock.unsafeCurrentTimeMillis()
    this.state = "userauth"
    this.run = start({
      policy,
      curves,
      client: {
        address: this.channel.host,
        port: this.channel.port,
        clientIdentification: this.core.peerIdentification,
        sessionId: this.core.sessionId!
      },
      hostKeys: this.environment.handshake.hostKeys.map((k) => k.publicKey),
      now: clockNow(clock)
    }, { ...this.environment.settings, graceMillis: Math.max(0, this.acceptedAt + this.environment.settings.graceMillis - now) })
    this.resume(undefined)
  }

  /** A message from the client: to the conversation, or, once authenticated, to the application's queue. */
  private deliver(payload: Uint8Array): boolean {
    if (this.state === "authenticated") return true
    if (this.state !== "userauth") return false
    if (this.awaitingMessage) {
      this.resume(payload)
    } else if (this.queued.length < QUEUED_PER_REQUEST * this.environment.settings.maxRequests) {
      this.queued.push(payload)
    }
    return false
  }

  /** Steps the conversation until it waits. Never re-entered: what it sends is flushed by the driver after. */
  private resume(input: unknown): void {
    if (this.stepping || this.state !== "userauth") return
    this.stepping = true
    this.awaitingMessage = false
    try {
      let next: unknown = input
      while (this.state === "userauth") {
        const step = this.run!.steps.next(next)
        next = undefined
        if (step.done) return this.finish(step.value)
        const want = step.value
        switch (want._tag) {
          case "Send":
            this.core.send(want.payload)
            continue
          case "Receive": {
            const message = this.queued.shift()
            if (message !== undefined) {
              next = message
              continue
            }
            this.awaitingMessage = true
            return
          }
          case "Poll":
            next = this.queued.shift()
            continue
          case "Call": {
            // The policy's and the audit hook's calls: their types say they need nothing the
            // listener's runtime lacks and never fail (were one to, its cause ends the login).
            const exit = this.callNow(want.effect as Effect.Effect<unknown>)
            if (exit === undefined) return
            if (Exit.isFailure(exit)) return this.end(exit.cause as Cause.Cause<never>)
            next = exit.value
            continue
          }
          case "Sleep":
            // On the caller's clock, TestClock included, as the driver's deadlines.
            this.cancelTimer = this.driver.schedule(want.millis, () => {
              this.cancelTimer = undefined
              this.driver.step(() => this.resume(undefined))
            })
            return
        }
      }
    } catch (defect) {
      // A bug of ours: the connection ends with it, as a fiber's would.
      this.end(Cause.die(defect))
    } finally {
      this.stepping = false
    }
  }

  /** Runs an application call: its exit at once if it finished in the fork (the usual case), else later through `resume`. */
  private callNow(effect: Effect.Effect<unknown>): Exit.Exit<unknown> | undefined {
    const fiber = startCall(this.environment.runtime, this.span && !Exit.isExit(effect) ? Effect.withParentSpan(effect, this.span) : effect)
    if (Exit.isExit(fiber)) return fiber
    this.call = fiber
    fiber.addObserver((exit) => {
      if (this.call !== fiber) return
      this.call = undefined
      this.driver.step(() => Exit.isFailure(exit) ? this.end(exit.cause as Cause.Cause<never>) : this.resume(exit.value))
    })
    return undefined
  }

  private finish(outcome: UserauthOutcome): void {
    if (outcome._tag === "Cut") {
      this.core.disconnect(outcome.code, outcome.detail)
      return this.end(Cause.fail(cutFailure(this.run!, outcome)))
    }
    const { result } = outcome
    this.state = "authenticated"
    // The conversation's record is in the result: an idle connection keeps neither.
    this.run = undefined
    this.phase.authenticated()
    // What the client sent behind its last request is the application's to read.
    for (const message of this.queued.splice(0)) this.driver.requeue(message)
    this.span?.attribute("user", result.user)
    this.endSpan(Exit.void)
    this.handlers.authenticated(result, serverConnection(this.channel, this.driver, this.phase, this.environment.handshake), () => this.close())
  }

  // ---- the end ----

  private closed(error: ConnectionFailure): void {
    if (this.state === "handshake") {
      return this.end(Cause.fail(transportFailure(this.phase.violation ?? (error._tag === "HostKeyRejected" ? this.driver.userError() : error))))
    }
    if (this.state !== "userauth") return
    const run = this.run!
    const why = this.phase.violation ?? this.driver.userError()
    this.end(Cause.fail(
      why._tag === "TransportError" && why.reason === "Timeout" ? cutFailure(run, graceTimeout) : transportFailure(why, run.attempts, run.user)
    ))
  }

  private stopTimer(): void {
    this.cancelTimer?.()
    this.cancelTimer = undefined
  }

  /** An idle connection keeps no span. */
  private endSpan(exit: Exit.Exit<void, ServerAuthFailure>): void {
    this.span?.end(this.environment.clock.unsafeCurrentTimeNanos(), exit)
    this.span = undefined
  }

  /** Ends a login that was not authenticated: DISCONNECT, the socket closed, the span ended, the listener told. */
  private end(cause: Cause.Cause<ServerAuthFailure>): void {
    if (this.state === "ended" || this.state === "authenticated") return
    this.state = "ended"
    this.awaitingMessage = false
    this.queued = []
    const call = this.call
    this.call = undefined
    call?.unsafeInterruptAsFork(FiberId.none)
    const scope = this.run?.openScope
    if (scope !== undefined) Runtime.runFork(this.environment.runtime)(Scope.close(scope, Exit.void))
    this.close()
    this.endSpan(Exit.failCause(cause))
    this.handlers.ended(cause)
  }

  private close(): void {
    this.stopTimer()
    this.phase.dispose()
    // The driver flushes what is queued, DISCONNECT last, then closes the channel: at once,
    // or in the turn this runs in, when the conversation cut the connection itself.
    if (this.core.closed === undefined) this.driver.step(() => this.core.disconnect(DisconnectReason.BY_APPLICATION, "closed by the server"))
  }
}
