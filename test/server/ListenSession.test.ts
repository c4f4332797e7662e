/**
 * The application's session on `Server.listen`: its own finalizers run while the
 * connection is still open, then the server closes it, then `onClosed` hears of it; a
 * shutdown waits for all three.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as Server from "../../src/server/Server.js"
import * as UserTable from "../../src/server/UserTable.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const goodbyeRequest = encode((w) => w.byte(MessageNumber.GLOBAL_REQUEST).string("goodbye@example.com").boolean(false))
const users = UserTable.layer({ alice: { keys: [aliceKey.publicKey] } })

describe("Server.listen's sessions", () => {
  it.scopedLive("the application's finalizers still have the connection; the server closes it after them", () =>
    Effect.gen(function*() {
      const listening = yield* Server.listen({
        port: 0,
        hostKeys: [hostKey],
        // The session ends at once; its finalizer says goodbye on the connection.
        onAuthenticated: ({ connection }) => Effect.addFinalizer(() => Effect.ignore(connection.send(goodbyeRequest)))
      }).pipe(Effect.provide(users))
      const transport = yield* makeTcp({ host: "127.0.0.1", port: listening.port, hostKeyPolicy: acceptAnyInsecure })
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
        AuthHandler.provide(transport)
      )
      expect(result.succeeded).toBe(true)
      const goodbye = yield* transport.receive
      expect(decode(goodbye, (r) => [r.byte(), r.text("request name")] as const)).toMatchObject({
        right: [MessageNumber.GLOBAL_REQUEST, "goodbye@example.com"]
      })
      // Then the server's DISCONNECT.
      const after = yield* Effect.flip(transport.receive)
      expect(after._tag).toBe("Disconnected")
    }))

  it.live("a shutdown interrupts an idle session: its finalizer, the DISCONNECT, then onClosed, all before the shutdown is done", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const serverScope = yield* Scope.make()
      const listening = yield* Server.listen({
        port: 0,
        hostKeys: [hostKey],
        onAuthenticated: ({ connection }) =>
          // A finalizer that takes its time: the shutdown must wait for it, and for what follows it.
          Effect.addFinalizer(() =>
            Effect.sleep("30 millis").pipe(Effect.zipRight(Effect.ignore(connection.send(goodbyeRequest))), Effect.tap(() => events.push("finalizer")))
          ).pipe(
            Effect.zipRight(Effect.never)
          ),
        onClosed: (outcome) => Effect.sync(() => events.push(Exit.isInterrupted(outcome) ? "closed: interrupted" : `closed: ${outcome._tag}`))
      }).pipe(Effect.provide(users), Scope.extend(serverScope))
      yield* Effect.scoped(Effect.gen(function*() {
        const transport = yield* makeTcp({ host: "127.0.0.1", port: listening.port, hostKeyPolicy: acceptAnyInsecure })
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
          AuthHandler.provide(transport)
        )
        expect(result.succeeded).toBe(true)
        expect(listening.connections()).toBe(1)
        yield* Scope.close(serverScope, Exit.void)
        events.push("shutdown done")
        expect(events).toEqual(["finalizer", "closed: interrupted", "shutdown done"])
        expect(listening.connections()).toBe(0)
        const first = yield* transport.receive
        expect(first[0]).toBe(MessageNumber.GLOBAL_REQUEST)
        const after = yield* Effect.flip(transport.receive)
        expect(after._tag).toBe("Disconnected")
      }))
    }))
})
