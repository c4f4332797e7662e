/**
 * What a login on `Server.listen` costs in fibers: none before authentication when the
 * policy answers with values (the user table's plain keys), and one for a policy call that
 * has work to do (an authorized_keys entry, whose options need the clock).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Supervisor from "effect/Supervisor"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as AuthorizedKeys from "../../src/server/AuthorizedKeys.js"
import type { AuthPolicy } from "../../src/server/AuthPolicy.js"
import * as Server from "../../src/server/Server.js"
import * as UserTable from "../../src/server/UserTable.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** Counts the fibers started under it. */
class ForkCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart() {
    this.started++
  }
}

/** Fibers the server started up to the moment the application got the connection, its session's own included. */
const fibersUntilAuthenticated = (users: Layer.Layer<AuthPolicy>) =>
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
      return yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
        AuthHandler.provide(transport)
      )
    }))
    expect(result.succeeded).toBe(true)
    expect(atAuthentication).toBeDefined()
    return atAuthentication! - before
  })

describe("Server.listen's fibers per login", () => {
  it.scopedLive("a user table's plain key is proven with no fiber: the session's is the login's first", () =>
    Effect.gen(function*() {
      const fibers = yield* fibersUntilAuthenticated(UserTable.layer({ alice: { keys: [aliceKey.publicKey] } }))
      expect(fibers).toBe(1)
    }))

  it.scopedLive("an authorized_keys entry with options is proven in a fiber (it reads the clock)", () =>
    Effect.gen(function*() {
      const line = `expiry-time="29991231" ${PublicKeyText.format(aliceKey.publicKey)}`
      const parsed = AuthorizedKeys.parse(line)
      expect(parsed.errors).toEqual([])
      const fibers = yield* fibersUntilAuthenticated(UserTable.layer({ alice: { authorizedKeys: parsed.keys } }))
      expect(fibers).toBe(2)
    }))
})
