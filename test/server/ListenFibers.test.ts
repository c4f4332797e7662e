/**
 * What a login on `Server.listen` costs in fibers: none before authentication when the
 * policy answers with values (the user table's layer does, for keys, authorized_keys entries
 * and passwords), and one for each policy call that has work to do.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as AuthorizedKeys from "../../src/server/AuthorizedKeys.js"
import { AuthPolicy, type KeyGrant, type KeyOffer } from "../../src/server/AuthPolicy.js"
import * as Server from "../../src/server/Server.js"
import * as UserTable from "../../src/server/UserTable.js"
import type { AuthSource } from "../../src/sources/AuthSource.js"
import { Password } from "../../src/sources/Password.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { ForkCounter } from "../support/ForkCounter.js"

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** Fibers the server started up to the moment the application got the connection, its session's own included. */
const fibersUntilAuthenticated = (users: Layer.Layer<AuthPolicy>, source: AuthSource = new InMemoryPrivateKey({ username: "alice", key: aliceKey })) =>
  Effect.gen(function*() {
    const counter = new ForkCounter()
    let atAuthentication: number | undefined
    const listening = yield* Server.listen({
      port: 0,
      hostKeys: [hostKey],
      onAuthenticated: () => Effect.sync(() => (atAuthentication = counter.started))
    }).pipe(Effect.supervised(counter), Effect.provide(users))
    const before = counter.started
    const result = yield* Effect.scoped(Effect.gen(function*() {
      const transport = yield* makeTcp({ host: "127.0.0.1", port: listening.port, hostKeyPolicy: acceptAnyInsecure })
      return yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(
        AuthHandler.provide(transport)
      )
    }))
    expect(result.succeeded).toBe(true)
    expect(atAuthentication).toBeDefined()
    return atAuthentication! - before
  })

const withOptions = AuthorizedKeys.parse(`expiry-time="29991231" ${PublicKeyText.format(aliceKey.publicKey)}`)

describe("Server.listen's fibers per login", () => {
  it.scopedLive("a user table's plain key is proven with no fiber: the session's is the login's first", () =>
    Effect.gen(function*() {
      const fibers = yield* fibersUntilAuthenticated(UserTable.layer({ alice: { keys: [aliceKey.publicKey] } }))
      expect(fibers).toBe(1)
    }))

  it.scopedLive("an authorized_keys entry with options too: the table's layer checks it on the clock and curves it was built with", () =>
    Effect.gen(function*() {
      expect(withOptions.errors).toEqual([])
      const fibers = yield* fibersUntilAuthenticated(UserTable.layer({ alice: { authorizedKeys: withOptions.keys } }))
      expect(fibers).toBe(1)
    }))

  it.scopedLive("a password is checked with no fiber", () =>
    Effect.gen(function*() {
      const fibers = yield* fibersUntilAuthenticated(
        UserTable.layer({ alice: { password: Redacted.make("correct horse") } }),
        new Password({ username: "alice", password: Effect.succeed(Redacted.make("correct horse")) })
      )
      expect(fibers).toBe(1)
    }))

  it.scopedLive("a table made without its layer reads the clock for the entry's options in each call's context: a fiber", () =>
    Effect.gen(function*() {
      const table = UserTable.make({ alice: { authorizedKeys: withOptions.keys } })
      const fibers = yield* fibersUntilAuthenticated(Layer.succeed(AuthPolicy, table))
      expect(fibers).toBe(2)
    }))
})

describe("the user table's layer keeps the clock it was built on", () => {
  it.effect("expiry-time is checked on that clock: TestClock's, moved by the test", () =>
    Effect.gen(function*() {
      const expiring = AuthorizedKeys.parse(`expiry-time="19700102" ${PublicKeyText.format(aliceKey.publicKey)}`)
      const policy = yield* Effect.provide(AuthPolicy, UserTable.layer({ alice: { authorizedKeys: expiring.keys } }))
      const offer: KeyOffer = {
        user: "alice",
        key: aliceKey.publicKey,
        algorithm: "ssh-ed25519",
        client: { address: "127.0.0.1", port: 40000, clientIdentification: "SSH-2.0-test", sessionId: new Uint8Array(32) }
      }
      // Answered as values, read here without running anything.
      const proven = () => {
        const answer = policy.keyProven!(offer)
        expect(Exit.isExit(answer)).toBe(true)
        return answer as Exit.Exit<Option.Option<KeyGrant>>
      }
      const before = proven()
      expect(Exit.isSuccess(before) && Option.isSome(before.value)).toBe(true)
      yield* TestClock.adjust("2 days")
      const after = proven()
      expect(Exit.isSuccess(after) && Option.isNone(after.value)).toBe(true)
    }))
})
