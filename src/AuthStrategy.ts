/**
 * Strategies: a `Stream` of auth sources, folded into an `AuthResult`. The fold stops at
 * full success; partial success keeps it going, so two-factor logins work. A dead
 * connection stops it at once.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as LogLevel from "effect/LogLevel"
import * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { type Attempt, AuthFailure, AuthResult, type SourceResult } from "./AuthResult.js"
import { AuthHandler } from "./handler/AuthHandler.js"
import type { AuthMethod, AuthSource, SourceError } from "./sources/AuthSource.js"
import { NoneAuth } from "./sources/NoneAuth.js"
import * as Caller from "./transport/Caller.js"
import * as OwnSpans from "./transport/OwnSpans.js"
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
 * A run's record and its rules: which source is skipped, what an attempt's outcome means
 * for the run, and what is logged of it. The same whether the run is a conversation or an
 * Effect per attempt.
 */
class Run {
  readonly results: Array<SourceResult> = []
  allowed: ReadonlySet<string> | undefined
  stop: Stop

  /** Why `source` is not run: the server's last failure allows none of its methods. */
  skipReason(source: AuthSource<any>): string | undefined {
    const allowed = this.allowed
    if (allowed === undefined || source.method === "none" || allowed.has(source.method)) return undefined
    if ((source.fallbackMethods ?? []).some((m) => allowed.has(m))) return undefined
    return `the server allows only ${showList([...allowed]) || "nothing more"}`
  }

  /** Records `source` as skipped, if it is: then it never runs, and its secrets are never fetched. */
  skipped(source: AuthSource<any>): boolean {
    const reason = this.skipReason(source)
    if (reason === undefined) return false
    this.results.push({ source, attempt: { _tag: "Skipped", reason }, durationMillis: 0 })
    return true
  }

  /** Records an attempt and what it means for the run; gives the lines logged of it. */
  record(source: AuthSource<any>, outcome: Attempt, durationMillis: number): ReadonlyArray<readonly [LogLevel.LogLevel, string]> {
    this.results.push({ source, attempt: outcome, durationMillis })
    switch (outcome._tag) {
      case "Success":
        this.stop = "Success"
        break
      case "Failure":
        this.allowed = new Set(outcome.allowedMethods)
        break
      case "Disconnected":
        this.stop = "Disconnected"
        break
      case "Error":
        // A dead transport ends the run, and so does a server that broke the protocol
        // (the handler has closed the connection); any other error is this source's alone.
        if (outcome.error._tag === "TransportError") this.stop = "ConnectionLost"
        else if (outcome.error._tag === "AuthError" && "reason" in outcome.error && outcome.error.reason === "ProtocolError") this.stop = "ProtocolViolation"
        break
    }
    if (outcome._tag === "Error") return [[LogLevel.Info, `${source.toString()} failed with ${outcome.error._tag}`]]
    const lines: Array<readonly [LogLevel.LogLevel, string]> = [
      [LogLevel.Debug, `${source.toString()}: ${outcome._tag}${outcome._tag === "Skipped" ? `: ${printable(outcome.reason)}` : ""}`]
    ]
    // ssh -v's line, in its words.
    if (outcome._tag === "Failure") lines.push([LogLevel.Debug, `Authentications that can continue: ${showList(outcome.allowedMethods)}`])
    return lines
  }
}

/** A source's failure as its attempt's record: a skip it chose, or its error. */
const failedAttempt = (error: SourceError): Attempt => error._tag === "SourceSkipped" ? { _tag: "Skipped", reason: error.reason } : { _tag: "Error", error }

/** Named before its request goes out, as paramiko and ssh -v do. */
const tryingLine = (source: AuthSource<any>) => `Trying ${source.toString()}`

/** The attempt's span: a key's fingerprint, where the source knows it before loading; the handler adds it otherwise. */
const attemptAttributes = (source: AuthSource<any>) => {
  // Read once: a source may hash its key for it.
  const fingerprint = source.fingerprint
  return { method: source.method, username: source.username, ...(fingerprint ? { fingerprint } : {}) }
}

const ATTEMPT_SPAN = "AuthStrategy.attempt"

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
    ? OwnSpans.useSpan(AUTHENTICATE_SPAN, quietSpan, (span) => fold(strategy, list, options, span))
    : OwnSpans.withSpan(fold(strategy, undefined, options, undefined), AUTHENTICATE_SPAN, quietSpan)
})

const AUTHENTICATE_SPAN = "AuthStrategy.authenticate"
const quietSpan = { captureStackTrace: false } as const

/** The sources in the order they are tried: "none" first when asked, with the first source's username. */
const withNoneFirst = <R>(sources: ReadonlyArray<AuthSource<R>>, options: AuthenticateOptions): ReadonlyArray<AuthSource<R>> =>
  options.noneFirst && sources.length > 0 ? [new NoneAuth({ username: sources[0].username }), ...sources] : sources

/** `authenticate`'s run: each source's attempt in a span under `parent` (else the current span). */
const fold = <R>(
  strategy: AuthStrategy<R>,
  list: ReadonlyArray<AuthSource<R>> | undefined,
  options: AuthenticateOptions,
  parent: Tracer.AnySpan | undefined
): Effect.Effect<AuthResult, AuthFailure, AuthHandler | R> =>
  // Once per login: flat, not `Effect.gen` (README, "Code run once per connection").
  Effect.flatMap(AuthHandler, (handler) => {
    const run = new Run()
    const sources = list && withNoneFirst(list, options)
    // Every source answers without the caller's code in a fiber of its own: the whole run is
    // one conversation of the handler's, in the connection's callbacks.
    const conversation = sources && sources.length > 0 && handler.converse && sources.every((source) => source.steps !== undefined)
      ? converseAll(handler.converse, run, sources as ReadonlyArray<AuthSource<never>>, parent)
      : undefined
    const deadline = options.deadline
    const runs = conversation ?? attempts(run, strategy, sources, options, parent)
    const finishes = deadline
      ? Effect.timeoutTo(runs, { duration: deadline, onSuccess: () => true, onTimeout: () => false })
      : Effect.as(runs, true)
    return Effect.flatMap(finishes, (finished) =>
      Effect.flatMap(handler.banners, (banners) =>
        Effect.flatMap(handler.bannersDropped, (dropped): Effect.Effect<AuthResult, AuthFailure> => {
          const result = new AuthResult(run.results, banners, dropped)
          if (run.stop === "Success") {
            return Effect.succeed(result)
          }
          return Effect.fail(
            new AuthFailure({
              result: result.toJSON(),
              errors: result.errors,
              reason: !finished ? "Deadline" : run.stop ?? "Exhausted"
            })
          )
        })))
  })

/** The run as an Effect per attempt, pulling one source at a time and stopping once the run is decided. */
const attempts = <R>(
  run: Run,
  strategy: AuthStrategy<R>,
  sources: ReadonlyArray<AuthSource<R>> | undefined,
  options: AuthenticateOptions,
  parent: Tracer.AnySpan | undefined
): Effect.Effect<void, never, AuthHandler | R> => {
  const attempt = (source: AuthSource<R>): Effect.Effect<void, never, AuthHandler | R> =>
    Effect.gen(function*() {
      if (run.skipped(source)) return
      yield* Effect.logDebug(tryingLine(source))
      const started = performance.now()
      const outcome: Attempt = yield* OwnSpans.withSpan(
        Effect.catchAll(source.authenticate, (error) => Effect.succeed(failedAttempt(error))),
        ATTEMPT_SPAN,
        { captureStackTrace: false, ...(parent ? { parent } : {}), attributes: attemptAttributes(source) }
      )
      for (const [level, line] of run.record(source, outcome, performance.now() - started)) yield* Effect.logWithLevel(level, line)
    })
  if (sources) {
    return Effect.gen(function*() {
      for (const source of sources) {
        yield* attempt(source)
        if (run.stop !== undefined) return
      }
    })
  }
  let first = true
  return Stream.runForEachWhile(strategy, (source) =>
    Effect.gen(function*() {
      if (first && options.noneFirst) yield* attempt(new NoneAuth({ username: source.username }))
      first = false
      if (run.stop === undefined) yield* attempt(source)
      return run.stop === undefined
    }))
}

/**
 * The run as one conversation of the handler's: every attempt's steps in turn, their spans
 * and log lines made by hand as the Effect run makes them. The connection's end stops it,
 * and is the outcome of the attempt in flight (or of the first, if it ended before any).
 */
const converseAll = (
  converse: NonNullable<AuthHandler["converse"]>,
  run: Run,
  sources: ReadonlyArray<AuthSource<never>>,
  parent: Tracer.AnySpan | undefined
): Effect.Effect<void> => {
  let current = { source: sources[0], started: performance.now() }
  return converse<void, never, never>(function*(requests, caller) {
    for (const source of sources) {
      if (run.skipped(source)) continue
      yield* Caller.log(caller, LogLevel.Debug, tryingLine(source), undefined)
      current = { source, started: performance.now() }
      const span = caller.begin(ATTEMPT_SPAN, parent, attemptAttributes(source))
      const exit = yield* source.steps!(requests, span)
      let outcome: Attempt
      if (Exit.isSuccess(exit)) outcome = exit.value
      else {
        const failure = Cause.failureOrCause(exit.cause)
        // A defect, or an interruption, ends the run as it would end an Effect.
        if (Either.isRight(failure)) {
          caller.end(span, exit)
          return Exit.failCause(failure.right)
        }
        outcome = failedAttempt(failure.left)
      }
      caller.end(span, Exit.succeed(outcome))
      for (const [level, line] of run.record(source, outcome, performance.now() - current.started)) yield* Caller.log(caller, level, line, undefined)
      if (run.stop !== undefined) break
    }
    return Exit.void
  }).pipe(
    Effect.catchAll((error) =>
      Effect.forEach(
        run.record(
          current.source,
          error._tag === "Disconnected" ? { _tag: "Disconnected", code: error.code, description: error.description } : { _tag: "Error", error },
          performance.now() - current.started
        ),
        ([level, line]) => Effect.logWithLevel(level, line),
        { discard: true }
      )
    )
  )
}
