/**
 * The library's own spans, made only where they go somewhere. Effect's built-in tracer keeps
 * nothing it is given (no exporter reads its spans), and under it a login's spans were ≈ 10 %
 * of a client's CPU (0.63 against 0.57 ms per login, warm). So under that tracer, as with
 * tracing off, the library makes no span of its own; provide a tracer (`@effect/opentelemetry`,
 * say) and every one is there.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Tracer from "effect/Tracer"

/** The tracer a program has unless it provides one. */
const builtIn = Context.get(DefaultServices.liveServices, Tracer.Tracer)

/**
 * Whether the spans of `fiber` go somewhere: tracing on, and a tracer other than Effect's
 * built-in one.
 *
 * @since 0.1.0
 * @category predicates
 */
export const recording = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.getFiberRef(FiberRef.currentTracerEnabled) && fiber.currentTracer !== builtIn

/**
 * `Effect.useSpan`, or `f(undefined)` where the span would go nowhere.
 *
 * @since 0.1.0
 * @category combinators
 */
export const useSpan = <A, E, R>(
  name: string,
  options: Tracer.SpanOptions,
  f: (span: Tracer.Span | undefined) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> => Effect.withFiberRuntime<A, E, R>((fiber) => recording(fiber) ? Effect.useSpan(name, options, f) : f(undefined))

/**
 * `Effect.withSpan`, or `self` alone where the span would go nowhere.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSpan = <A, E, R>(self: Effect.Effect<A, E, R>, name: string, options: Tracer.SpanOptions): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime<A, E, R>((fiber) => recording(fiber) ? Effect.withSpan(self, name, options) : self)
