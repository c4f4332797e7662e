/**
 * Strategies: a `Stream` of auth sources, folded into an `AuthResult`. The fold stops at
 * full success; partial success keeps it going, so two-factor logins work. A dead
 * connection stops it at once.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { type Attempt, AuthFailure, AuthResult, type SourceResult } from "./AuthResult.js"
import { AuthHandler } from "./handler/AuthHandler.js"
import type { AuthMethod, AuthSource } from "./sources/AuthSource.js"
import { NoneAuth } from "./sources/NoneAuth.js"
import { printable, showList } from "./wire/PeerText.js"

/**
 * A `Stream` of sources. `R` is what building the stream needs and what running its
 * sources needs (a secrets service behind a password getter, say): both show in
 * `authenticate`'s requirements.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthStrategy<R = never> = Stream.Stream<AuthSource<R>, never, R>

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace AuthStrategy {
  /**
   * What a strategy needs: to build its stream and to run its sources.
   *
   * @since 0.1.0
   * @category models
   */
  export type Context<S> = S extends Stream.Stream<infer A, infer _E, infer R> ? R | AuthSource.Context<A> : never
}

/**
 * The sources behind strategies that are plain lists (made by `make`, and the combinators
 * below applied to such). `authenticate` walks those directly: running even a one-element
 * Stream costs ≈ 0.35 ms of CPU, a tenth of a whole login. Every other Stream runs as one.
 */
const lists = new WeakMap<AuthStrategy<any>, ReadonlyArray<AuthSource<any>>>()

const listed = <R>(sources: ReadonlyArray<AuthSource<R>>): AuthStrategy<R> => {
  const stream = Stream.fromIterable(sources)
  lists.set(stream, sources)
  return stream
}

/**
 * A strategy of the given sources, in order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <const Sources extends ReadonlyArray<AuthSource<any>>>(
  ...sources: Sources
): AuthStrategy<AuthSource.Context<Sources[number]>> => listed(sources)

/**
 * The strategies one after another.
 *
 * @since 0.1.0
 * @category combinators
 */
export const sequence = <const Strategies extends ReadonlyArray<AuthStrategy<any>>>(
  ...strategies: Strategies
): AuthStrategy<AuthStrategy.Context<Strategies[number]>> => {
  const parts = strategies.map((s) => lists.get(s))
  if (parts.every((p) => p !== undefined)) return listed(parts.flat())
  return strategies.reduce((acc, s) => Stream.concat(acc, s), Stream.empty as AuthStrategy<any>)
}

/**
 * Only the sources of the given methods.
 *
 * @since 0.1.0
 * @category combinators
 */
export const filterMethods: {
  (methods: ReadonlyArray<AuthMethod>): <R>(self: AuthStrategy<R>) => AuthStrategy<R>
  <R>(self: AuthStrategy<R>, methods: ReadonlyArray<AuthMethod>): AuthStrategy<R>
} = dual(2, <R>(self: AuthStrategy<R>, methods: ReadonlyArray<AuthMethod>): AuthStrategy<R> => {
  const list = lists.get(self)
  return list
    ? listed(list.filter((s) => methods.includes(s.method)))
    : Stream.filter(self, (s) => methods.includes(s.method))
})

/**
 * Only the first `n` sources.
 *
 * @since 0.1.0
 * @category combinators
 */
export const take: {
  (n: number): <R>(self: AuthStrategy<R>) => AuthStrategy<R>
  <R>(self: AuthStrategy<R>, n: number): AuthStrategy<R>
} = dual(2, <R>(self: AuthStrategy<R>, n: number): AuthStrategy<R> => {
  const list = lists.get(self)
  return list && Number.isInteger(n) ? listed(list.slice(0, Math.max(0, n))) : Stream.take(self, n)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface AuthenticateOptions {
  /** Send "none" first to learn the allowed methods, with the first source's username. */
  readonly noneFirst?: boolean
  /** A deadline for the whole run. */
  readonly deadline?: Duration.DurationInput
}

type Stop = "Success" | "Disconnected" | "ConnectionLost" | "ProtocolViolation" | undefined

/**
 * Tries the sources in order until one fully succeeds. Sources whose method the server
 * does not allow (as its last failure said) are recorded as skipped and never run, so
 * their secrets are never fetched.
 *
 * @example
 * ```ts
 * import { Effect, Layer, Redacted } from "effect"
 * import * as AuthHandler from "effect-ssh-auth/handler/AuthHandler"
 * import * as AuthStrategy from "effect-ssh-auth/AuthStrategy"
 * import * as Password from "effect-ssh-auth/sources/Password"
 * import * as Scripted from "effect-ssh-auth/transport/ScriptedTransport"
 *
 * const strategy = AuthStrategy.make(Password.make({ username: "deploy", password: Effect.succeed(Redacted.make("s3cret")) }))
 *
 * // A server that allows password only, then accepts it: no network needed.
 * const server = Scripted.layerScripted({
 *   steps: [
 *     { reply: [Scripted.failure(["password"])] },
 *     { expect: (m) => m._tag === "UserauthRequest" && m.method === "password" || "a password request", reply: [Scripted.success] }
 *   ]
 * })
 *
 * const program = AuthStrategy.authenticate(strategy, { noneFirst: true, deadline: "30 seconds" }).pipe(
 *   Effect.provide(AuthHandler.layer.pipe(Layer.provide(server)))
 * )
 *
 * Effect.runPromise(program).then((result) => {
 *   assert.strictEqual(result.succeeded, true)
 *   // One line per attempt: "NoneAuth(user=deploy) -> failure; …" then "Password(user=deploy) -> success (… ms)"
 *   assert.match(String(result), /Password\(user=deploy\) -> success/)
 * })
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const authenticate: {
  /** Piped: `strategy.pipe(AuthStrategy.authenticate({ noneFirst: true }))`. */
  (options?: AuthenticateOptions): <R>(strategy: AuthStrategy<R>) => Effect.Effect<AuthResult, AuthFailure, AuthHandler | R>
  <R>(strategy: AuthStrategy<R>, options?: AuthenticateOptions): Effect.Effect<AuthResult, AuthFailure, AuthHandler | R>
} = dual((args) => Stream.StreamTypeId in Object(args[0]), <R>(
  strategy: AuthStrategy<R>,
  options: AuthenticateOptions = {}
): Effect.Effect<AuthResult, AuthFailure, AuthHandler | R> => {
  const list = lists.get(strategy)
  // A listed strategy runs nothing of the caller's outside its attempts, and the attempts'
  // spans name this one as their parent: it need not be the fiber's current span, which is
  // most of what a span costs (`useSpan`: 10 Effect operations against `withSpan`'s 35). A
  // stream's own effects run in the run's span, so there it is the current one.
  return list
    ? Effect.useSpan(AUTHENTICATE_SPAN, quietSpan, (span) => fold(strategy, list, options, span))
    : Effect.withSpan(fold(strategy, undefined, options, undefined), AUTHENTICATE_SPAN, quietSpan)
})

const AUTHENTICATE_SPAN = "AuthStrategy.authenticate"
const quietSpan = { captureStackTrace: false } as const

/** `authenticate`'s run: each source's attempt in a span under `parent` (else the current span). */
const fold = <R>(
  strategy: AuthStrategy<R>,
  list: ReadonlyArray<AuthSource<R>> | undefined,
  options: AuthenticateOptions,
  parent: Tracer.AnySpan | undefined
): Effect.Effect<AuthResult, AuthFailure, AuthHandler | R> =>
  Effect.gen(function*() {
    const results: Array<SourceResult> = []
    let allowed: ReadonlySet<string> | undefined
    let stop: Stop
    let first = true

    const attempt = (source: AuthSource<R>): Effect.Effect<void, never, AuthHandler | R> =>
      Effect.gen(function*() {
        const runnable = (allowed: ReadonlySet<string>) =>
          source.method === "none" || allowed.has(source.method) || (source.fallbackMethods ?? []).some((m) => allowed.has(m))
        if (allowed && !runnable(allowed)) {
          results.push({
            source,
            attempt: { _tag: "Skipped", reason: `the server allows only ${showList([...allowed]) || "nothing more"}` },
            durationMillis: 0
          })
          return
        }
        // Named before its request goes out, as paramiko and ssh -v do.
        yield* Effect.logDebug(`Trying ${source.toString()}`)
        const started = performance.now()
        const outcome: Attempt = yield* source.authenticate.pipe(
          Effect.catchAll((error) =>
            Effect.succeed<Attempt>(error._tag === "SourceSkipped" ? { _tag: "Skipped", reason: error.reason } : { _tag: "Error", error })
          ),
          Effect.withSpan("AuthStrategy.attempt", {
            captureStackTrace: false,
            ...(parent ? { parent } : {}),
            // A key's fingerprint, where the source knows it before loading; the handler adds it otherwise.
            attributes: { method: source.method, username: source.username, ...(source.fingerprint ? { fingerprint: source.fingerprint } : {}) }
          })
        )
        results.push({ source, attempt: outcome, durationMillis: performance.now() - started })
        if (outcome._tag === "Error") yield* Effect.logInfo(`${source.toString()} failed with ${outcome.error._tag}`)
        else yield* Effect.logDebug(`${source.toString()}: ${outcome._tag}${outcome._tag === "Skipped" ? `: ${printable(outcome.reason)}` : ""}`)
        // ssh -v's line, in its words.
        if (outcome._tag === "Failure") yield* Effect.logDebug(`Authentications that can continue: ${showList(outcome.allowedMethods)}`)
        switch (outcome._tag) {
          case "Success":
            stop = "Success"
            return
          case "Failure":
            allowed = new Set(outcome.allowedMethods)
            return
          case "Disconnected":
            stop = "Disconnected"
            return
          case "Error":
            // A dead transport ends the run, and so does a server that broke the protocol
            // (the handler has closed the connection); any other error is this source's alone.
            if (outcome.error._tag === "TransportError") stop = "ConnectionLost"
            else if (outcome.error._tag === "AuthError" && "reason" in outcome.error && outcome.error.reason === "ProtocolError") stop = "ProtocolViolation"
            return
        }
      })

    const step = (source: AuthSource<R>) =>
      Effect.gen(function*() {
        if (first && options.noneFirst) yield* attempt(new NoneAuth({ username: source.username }))
        first = false
        if (stop === undefined) yield* attempt(source)
        return stop === undefined
      })
    // Pulls one source at a time and stops pulling once the run is decided.
    const run: Effect.Effect<void, never, AuthHandler | R> = list
      ? Effect.gen(function*() {
        for (const source of list) if (!(yield* step(source))) return
      })
      : Stream.runForEachWhile(strategy, step)
    const deadline = options.deadline
    const finished = yield* (deadline
      ? Effect.timeoutTo(run, { duration: deadline, onSuccess: () => true, onTimeout: () => false })
      : Effect.as(run, true))

    const handler = yield* AuthHandler
    const result = new AuthResult(results, yield* handler.banners, yield* handler.bannersDropped)
    if (stop === "Success") return result
    return yield* new AuthFailure({
      result: result.toJSON(),
      errors: result.errors,
      reason: !finished ? "Deadline" : stop ?? "Exhausted"
    })
  })
