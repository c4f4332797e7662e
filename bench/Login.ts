/**
 * This library's login as the benchmarks run it: TCP and the handshake (`makeTcp`), then the
 * strategy of one in-memory key, folded by `AuthStrategy.authenticate` over `AuthHandler`.
 * The connection lives as long as the caller's Scope. Only the public API is used.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as AuthStrategy from "../src/AuthStrategy.js"
import * as AuthHandler from "../src/handler/AuthHandler.js"
import type { PrivateKey } from "../src/keys/PrivateKey.js"
import { InMemoryPrivateKey } from "../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../src/transport/TcpTransport.js"
import { Transport } from "../src/transport/Transport.js"
import { BENCH_ALGORITHMS } from "./Harness.js"

export interface LoginOptions {
  readonly port: number
  readonly user: string
  readonly key: PrivateKey
  /** false: ask whether the key is acceptable before signing (OpenSSH's way). Default true. */
  readonly skipQuery?: boolean
}

/** Connects and authenticates on 127.0.0.1; fails if the server does not accept the key. */
export const ours = (options: LoginOptions) =>
  Effect.gen(function*() {
    const transport = yield* makeTcp({ host: "127.0.0.1", port: options.port, hostKeyPolicy: acceptAnyInsecure, algorithms: BENCH_ALGORITHMS })
    const source = new InMemoryPrivateKey({ username: options.user, key: options.key, skipQuery: options.skipQuery ?? true })
    const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(
      Effect.provide(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))))
    )
    if (!result.succeeded) return yield* Effect.die(new Error("not authenticated"))
  })
