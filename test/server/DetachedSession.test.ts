/**
 * `serveExec` returned as it is from `onAuthenticated`: `Server.listen` runs the session in
 * the connection's callbacks. An idle session holds no fiber (wrapped in an Effect of the
 * application's, it holds one); an exec that takes its time still runs and is answered; a
 * shutdown ends the session, the exec in flight included, with DISCONNECT and `onClosed`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Supervisor from "effect/Supervisor"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as Server from "../../src/server/Server.js"
import { type ExecHandler, serveExec } from "../../src/server/Session.js"
import * as UserTable from "../../src/server/UserTable.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { memoryPair } from "../../src/transport/ByteChannel.js"
import * as Conversation from "../../src/transport/Conversation.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { serverHandshake } from "../../src/transport/ServerHandshake.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import type { Transport } from "../../src/transport/Transport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { channelOpen } from "../hostile-client/HostileClient.js"
import { clientOn } from "../support/ServerPair.js"

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const users = UserTable.layer({ alice: { keys: [aliceKey.publicKey] } })

const execRequest = (recipient: number, command: string) =>
  encode((w) => w.byte(MessageNumber.CHANNEL_REQUEST).uint32(recipient).string("exec").boolean(true).string(command))

/** Our client, logged in as alice. */
const loggedIn = (port: number) =>
  Effect.gen(function*() {
    const transport = yield* makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure })
    const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
      AuthHandler.provide(transport)
    )
    expect(result.succeeded).toBe(true)
    return transport
  })

/** Opens a session channel and sends `command` as its exec: the server's number for the channel. */
const startExec = (transport: Transport, command: string) =>
  Effect.gen(function*() {
    yield* transport.send(channelOpen)
    const confirmation = decode(yield* transport.receive, (r) => [r.byte(), r.uint32("recipient"), r.uint32("sender")] as const)
    if (confirmation._tag === "Left" || confirmation.right[0] !== MessageNumber.CHANNEL_OPEN_CONFIRMATION) {
      return expect.fail(`expected CHANNEL_OPEN_CONFIRMATION, got ${JSON.stringify(confirmation)}`)
    }
    yield* transport.send(execRequest(confirmation.right[2], command))
  })

/** Runs `command` on a new session channel and gives its output (up to CHANNEL_CLOSE). */
const exec = (transport: Transport, command: string) =>
  Effect.gen(function*() {
    yield* startExec(transport, command)
    let output = ""
    // Bounded: the server closes the channel after the exit status; `receive` has its deadline.
    for (let i = 0; i < 16; i++) {
      const message = yield* transport.receive
      if (message[0] === MessageNumber.CHANNEL_DATA) {
        output += decode(message, (r) => {
          r.byte()
          r.uint32("recipient")
          return r.text("data")
        }).pipe((e) => e._tag === "Right" ? e.right : "")
      }
      if (message[0] === MessageNumber.CHANNEL_CLOSE) return output
    }
    return expect.fail(`no CHANNEL_CLOSE after 16 messages; output so far: ${output}`)
  })

const answer: ExecHandler = ({ command }) => Effect.succeed({ stdout: `ran ${command}\n`, exitStatus: 0 })

describe("a serveExec session returned as it is", () => {
  it.live("holds no fiber while idle; wrapped in an Effect of the application's, it holds one", () =>
    Effect.gen(function*() {
      for (const wrapped of [false, true]) {
        const supervisor = yield* Supervisor.track
        yield* Effect.scoped(Effect.gen(function*() {
          const listening = yield* Server.listen({
            port: 0,
            hostKeys: [hostKey],
            onAuthenticated: ({ connection, result }) => {
              const session = serveExec(connection, result, answer)
              return wrapped ? Effect.asVoid(session) : session
            }
          }).pipe(Effect.provide(users), Effect.supervised(supervisor))
          const transport = yield* loggedIn(listening.port)
          expect(yield* exec(transport, "uptime")).toBe("ran uptime\n")
          expect(listening.connections()).toBe(1)
          const live = yield* supervisor.value
          expect({ wrapped, fibers: live.length }).toEqual({ wrapped, fibers: wrapped ? 1 : 0 })
        }))
      }
    }))

  it.live("an exec that takes its time is answered; a shutdown ends the session with the exec in flight: DISCONNECT, onClosed, no connection left", () =>
    Effect.gen(function*() {
      const ended: Array<string> = []
      const serverScope = yield* Scope.make()
      const listening = yield* Server.listen({
        port: 0,
        hostKeys: [hostKey],
        onAuthenticated: ({ connection, result }) =>
          serveExec(
            connection,
            result,
            ({ command }) => command === "forever" ? Effect.never : Effect.delay(Effect.succeed({ stdout: `slowly ${command}\n`, exitStatus: 0 }), "20 millis")
          ),
        onClosed: (outcome) => Effect.sync(() => void ended.push(Exit.isInterrupted(outcome) ? "interrupted" : outcome._tag))
      }).pipe(Effect.provide(users), Scope.extend(serverScope))
      yield* Effect.scoped(Effect.gen(function*() {
        const transport = yield* loggedIn(listening.port)
        expect(yield* exec(transport, "uptime")).toBe("slowly uptime\n")
        yield* startExec(transport, "forever")
        expect((yield* transport.receive)[0]).toBe(MessageNumber.CHANNEL_SUCCESS)
        yield* Scope.close(serverScope, Exit.void)
        expect(ended).toEqual(["interrupted"])
        expect(listening.connections()).toBe(0)
        const after = yield* Effect.flip(transport.receive)
        expect(after._tag).toBe("Disconnected")
      }))
    }))
})

describe("a conversation run with no fiber waiting on it (detach)", () => {
  /** Our server's connection and our client's, over the in-memory pair. */
  const connected = Effect.gen(function*() {
    const [a, b] = memoryPair("127.0.0.1", 40000)
    const server = yield* Effect.forkScoped(serverHandshake(b, {
      hostKeys: [hostKey],
      preferences: defaultPreferences,
      serverIdentification: "SSH-2.0-effect_ssh_auth_server_test",
      handshakeTimeout: Duration.seconds(10),
      receiveTimeout: Duration.days(1),
      rekeyBytes: 2 ** 30,
      rekeyPackets: 2 ** 28,
      serverSigAlgs: [],
      extensions: []
    }))
    const client = yield* clientOn(a)
    return { client, server: yield* Fiber.join(server), runtime: yield* Effect.runtime<never>() }
  })

  it.scopedLive("a call that answers later goes on in a later turn; the end is heard once", () =>
    Effect.gen(function*() {
      const { runtime, server } = yield* connected
      const heard: Array<Exit.Exit<number, unknown>> = []
      server.detach(
        Conversation.make<number>(function*() {
          const n = yield* Conversation.call(Effect.delay(Effect.succeed(7), "10 millis"))
          return Exit.succeed(n + 1)
        }),
        runtime,
        (exit) => void heard.push(exit)
      )
      expect(heard).toEqual([])
      yield* Effect.sleep("50 millis")
      expect(heard).toEqual([Exit.succeed(8)])
    }))

  it.scopedLive("interrupted while its onFailure still runs: the end is heard once, as the interruption", () =>
    Effect.gen(function*() {
      const { client, runtime, server } = yield* connected
      const heard: Array<string> = []
      const run = server.detach(
        Conversation.make<void>(
          (now) =>
            (function*() {
              yield* Conversation.receive(now() + 60_000)
              return Exit.void
            })(),
          // What the connection's end becomes takes its time.
          () => Effect.never
        ),
        runtime,
        (exit) => void heard.push(Exit.isInterrupted(exit) ? "interrupted" : exit._tag)
      )
      yield* client.disconnect()
      yield* Effect.sleep("50 millis")
      expect(heard).toEqual([])
      run.interrupt()
      run.interrupt()
      yield* Effect.sleep("20 millis")
      expect(heard).toEqual(["interrupted"])
    }))
})
