/**
 * What a conversation keeps of the fiber that runs it, to trace and log from the
 * connection's callbacks as that fiber would: its tracer and clock (spans are opened and
 * ended by hand, as the handshake's phases are), its current span, and the log levels it
 * keeps. A log line is a call of the caller's code only when that level is kept, so at the
 * default level a login's debug lines cost nothing.
 *
 * Spans made here see the caller's tracer and clock, not the span annotations or links an
 * `Effect.annotateSpans` put in scope (as the handshake's phases do not).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import { call, type ConversationStep } from "./Conversation.js"
import * as OwnSpans from "./OwnSpans.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Caller {
  /** The caller's current span when it started the conversation. */
  readonly span: Tracer.AnySpan | undefined
  /** The caller's services (a `Context.Reference`'s value, say). */
  readonly context: Context.Context<never>
  /** Opens a span under `parent`; undefined with tracing off. */
  readonly begin: (name: string, parent: Tracer.AnySpan | undefined, attributes: Record<string, unknown>) => Tracer.Span | undefined
  /** Ends `span` with `exit`. */
  readonly end: (span: Tracer.Span | undefined, exit: Exit.Exit<unknown, unknown>) => void
  /** Ends every span still open with `exit`: the run ended under them. */
  readonly endOpen: (exit: Exit.Exit<unknown, unknown>) => void
  /** Whether the caller keeps log lines of `level`. */
  readonly keeps: (level: LogLevel.LogLevel) => boolean
}

const quiet = { captureStackTrace: false } as const

/**
 * The running fiber's tracer, clock, current span and log level, in one operation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const capture: Effect.Effect<Caller> = Effect.withFiberRuntime((fiber) => {
  const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
  const keeps = (level: LogLevel.LogLevel) => LogLevel.greaterThanEqual(level, minimum)
  const span = fiber.currentSpan
  const context = fiber.currentContext
  if (!OwnSpans.recording(fiber)) {
    return Effect.succeed<Caller>({ span, context, begin: () => undefined, end: () => {}, endOpen: () => {}, keeps })
  }
  const tracer = fiber.currentTracer
  const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
  const open = new Set<Tracer.Span>()
  const end = (s: Tracer.Span | undefined, exit: Exit.Exit<unknown, unknown>) => {
    if (s === undefined || !open.delete(s)) return
    s.end(clock.unsafeCurrentTimeNanos(), exit)
  }
  return Effect.succeed<Caller>({
    span,
    context,
    begin: (name, parent, attributes) => {
      const s = tracer.span(name, Option.fromNullable(parent), Context.empty(), [], clock.unsafeCurrentTimeNanos(), "internal", quiet)
      for (const key in attributes) s.attribute(key, attributes[key])
      open.add(s)
      return s
    },
    end,
    endOpen: (exit) => {
      for (const s of [...open].reverse()) end(s, exit)
    },
    keeps
  })
})

/**
 * Logs `message` at `level` in the caller's fiber, under `span`, if the caller keeps that
 * level; else nothing happens, not even a call.
 *
 * @since 0.1.0
 * @category steps
 */
export function* log(
  caller: Caller,
  level: LogLevel.LogLevel,
  message: string,
  span: Tracer.AnySpan | undefined
): Generator<ConversationStep, void, unknown> {
  if (!caller.keeps(level)) return
  const line = Effect.logWithLevel(level, message)
  yield* call(span ? Effect.withParentSpan(line, span) : line)
}
