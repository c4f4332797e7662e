/**
 * This library's login as the benchmarks run it: TCP and the handshake (`makeTcp`), then the
 * strategy of one in-memory key, folded by `AuthStrategy.authenticate` over the `AuthHandler` that
 * `AuthHandler.provide` gives it (no Layer built per login).
 * The connection lives as long as the caller's Scope. Only the public API is used.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as AuthStrategy from "../src/AuthStrategy.js"
import * as AuthHandler from "../src/handler/AuthHandler.js"
import type { PrivateKey } from "../src/keys/PrivateKey.js"
import { InMemoryPrivateKey } from "../src/sources/PrivateKey.js"
import type { AlgorithmPreferences } from "../src/transport/Algorithms.js"
import { acceptAnyInsecure } from "../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../src/transport/TcpTransport.js"
import { BENCH_ALGORITHMS, withTimeout } from "./Harness.js"

export interface LoginOptions {
  readonly port: number
  readonly user: string
  readonly key: PrivateKey
  /** false: ask whether the key is acceptable before signing (OpenSSH's way). Default true. */
  readonly skipQuery?: boolean
  /** What to offer; default `BENCH_ALGORITHMS` (curve25519-sha256, the rest our defaults). */
  readonly algorithms?: Partial<AlgorithmPreferences>
}

/** Connects and authenticates on 127.0.0.1; fails if the server does not accept the key. */
export const ours = (options: LoginOptions) =>
  Effect.gen(function*() {
    const transport = yield* makeTcp({
      host: "127.0.0.1",
      port: options.port,
      hostKeyPolicy: acceptAnyInsecure,
      algorithms: options.algorithms ?? BENCH_ALGORITHMS
    })
    const source = new InMemoryPrivateKey({ username: options.user, key: options.key, skipQuery: options.skipQuery ?? true })
    const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(AuthHandler.provide(transport))
    if (!result.succeeded) return yield* Effect.die(new Error("not authenticated"))
  })

/**
 * Runs `effect` to a promise, interrupted after `millis` by `withTimeout`'s plain timer, as
 * the benchmarks bound their other clients' connections: not `Effect.timeout`, whose race of
 * two fibers (≈ 0.1–0.2 ms of CPU) would be the harness's work counted as the login's.
 */
export const bounded = <A, E>(effect: Effect.Effect<A, E>, millis: number, what: string): Promise<A> =>
  withTimeout(millis, `effect-ssh-auth ${what}`, (onTimeout) =>
    new Promise<A>((resolve, reject) => {
      // A fiber interrupted by the timer, as `runPromise` with an AbortSignal would be, but
      // without the signal's listeners (≈ 25 µs per login in a profile: the harness's work).
      const fiber = Effect.runFork(effect)
      onTimeout(() => fiber.unsafeInterruptAsFork(fiber.id()))
      fiber.addObserver((exit) => Exit.isSuccess(exit) ? resolve(exit.value) : reject(Cause.squash(exit.cause)))
    }))
