/**
 * The Effect edge over the in-memory channel pair: our client's edge against the core's
 * server role in one process with no network, every deadline of the core on the TestClock,
 * and the caller's runtime kept (the host-key policy sees the caller's context).
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { type ByteChannel, fromPlatformSocket, memoryPair } from "../../src/transport/ByteChannel.js"
import * as Conversation from "../../src/transport/Conversation.js"
import { handshake } from "../../src/transport/Handshake.js"
import { acceptAnyInsecure, type HostKeyPolicy, pinned } from "../../src/transport/HostKeyPolicy.js"
import { Transport } from "../../src/transport/Transport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { coreServer, serverCore } from "../support/CoreServer.js"
import { ForkCounter } from "../support/ForkCounter.js"

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** The core's server role on one end of a channel, in a fiber of the test's scope. */
const serveOn = (channel: ByteChannel, options: { readonly silentAfter?: "nothing" | "KEXINIT"; readonly echo?: false } = {}) =>
  Effect.gen(function*() {
    const core = serverCore([hostKey], "memory", 0, "SSH-2.0-memory_server")
    const flush = () => {
      const out = core.pollTransmit()
      if (out === undefined) return
      if (options.silentAfter === "nothing") return
      if (options.silentAfter === "KEXINIT") {
        // Only the version line and KEXINIT: then silence.
        channel.write(out)
        options = { silentAfter: "nothing" }
        return
      }
      channel.write(out)
    }
    const step = () => {
      for (let e = core.pollEvent(); e; e = core.pollEvent()) {
        if (e._tag === "ServiceRequest") core.acceptService(e.name)
        // Echo every message back: the test's client receives what it sent.
        if (e._tag === "Message" && options.echo !== false) core.send(e.payload)
      }
      flush()
    }
    flush()
    channel.open({
      data: (bytes) => {
        core.receive(bytes)
        step()
      },
      end: () => core.receiveEnd(),
      lost: (e) => core.lost(e)
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => channel.close()))
    return core
  })

const clientOver = (channel: ByteChannel, hostKeyPolicy: HostKeyPolicy = acceptAnyInsecure) =>
  handshake(channel, {
    hostKeyPolicy,
    preferences: defaultPreferences,
    clientIdentification: "SSH-2.0-memory_client",
    handshakeTimeout: Duration.seconds(10),
    identificationTimeout: Duration.seconds(3),
    receiveTimeout: Duration.seconds(30),
    rekeyBytes: 2 ** 30,
    rekeyPackets: 2 ** 28,
    pipelineService: "ssh-userauth"
  })

/** Something the caller set in its own fiber: a policy that sees it runs in the caller's context. */
const caller = FiberRef.unsafeMake("nobody")

/**
 * Runs `effect` and gives its error, checking that it fails exactly when TestClock reaches
 * `millis`: not a millisecond before, and at once then, with no real time passing (a timer on
 * the live clock would make it wait that long for real).
 */
const failsAt = <A, E>(millis: number, effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Effect.flip(effect))
    for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
    yield* TestClock.adjust(millis - 1)
    expect(fiber.unsafePoll()).toBeNull()
    yield* TestClock.adjust(1)
    for (let i = 0; i < 50 && fiber.unsafePoll() === null; i++) yield* Effect.yieldNow()
    expect(fiber.unsafePoll()).not.toBeNull()
    return yield* Fiber.join(fiber)
  })

describe("the edge over the in-memory pair", () => {
  it.scopedLive("our client's edge and the core's server role: handshake, ssh-userauth, a message each way, a rekey", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      const server = yield* serveOn(b)
      const seen: Array<string> = []
      const policy: HostKeyPolicy = (info) => Effect.map(FiberRef.get(caller), (who) => void seen.push(`${who}: ${info.fingerprint}`))
      const connection = yield* clientOver(a, policy).pipe(Effect.locally(caller, "the caller"))
      expect(seen).toEqual([`the caller: ${PublicKey.fingerprintSha256(hostKey.publicKey)}`])
      expect(connection.serverIdentification).toBe("SSH-2.0-memory_server")
      expect(Buffer.compare(connection.sessionId, server.sessionId!)).toBe(0)
      yield* connection.requestService("ssh-userauth")
      const ping = encode((w) => w.byte(MessageNumber.GLOBAL_REQUEST).string("ping").boolean(false))
      yield* connection.send(ping)
      expect(Buffer.compare(yield* connection.receive, ping)).toBe(0)
      yield* connection.rekey
      expect(connection.kexCount).toBe(2)
      yield* connection.send(ping)
      expect(Buffer.compare(yield* connection.receive, ping)).toBe(0)
    }))

  it.scoped("the host-key policy runs in the caller's fiber context, with no clock moving", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      yield* serveOn(b)
      const names: Array<string> = []
      yield* Effect.fork(clientOver(a, () => Effect.map(FiberRef.get(caller), (name) => void names.push(name))).pipe(Effect.locally(caller, "the caller")))
      // Bytes move through memory; the policy is reached without the clock moving. Bounded.
      for (let i = 0; i < 100 && names.length === 0; i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
      expect(names).toEqual(["the caller"])
    }))

  it.scopedLive("a policy that answers with a value (pinned fingerprints) is answered without a fiber, and its refusal still ends the handshake", () =>
    Effect.gen(function*() {
      const fingerprint = PublicKey.fingerprintSha256(hostKey.publicKey)
      // Counts the fibers the handshake starts (the driver forks from the caller's runtime, which carries this supervisor).
      const forks = (policy: HostKeyPolicy) =>
        Effect.gen(function*() {
          const counter = new ForkCounter()
          const [a, b] = memoryPair()
          yield* serveOn(b)
          const outcome = yield* Effect.either(Effect.supervised(clientOver(a, policy), counter))
          return { outcome, forked: counter.started }
        })

      const accepted = yield* forks(pinned([fingerprint]))
      expect(accepted.outcome._tag).toBe("Right")
      expect(accepted.forked).toBe(0)

      const refused = yield* forks(pinned(["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]))
      expect(refused.forked).toBe(0)
      expect(refused.outcome._tag === "Left" && refused.outcome.left._tag).toBe("HostKeyRejected")
      expect(refused.outcome._tag === "Left" && refused.outcome.left.message).toContain(fingerprint)

      // A policy with work to do (here, a pause) is still a fiber of the caller's runtime.
      const working = yield* forks(() => Effect.sleep(1))
      expect(working.outcome._tag).toBe("Right")
      expect(working.forked).toBeGreaterThanOrEqual(1)
    }))

  it.scoped("every deadline of the core runs on the caller's clock: a silent server times out at the identification line", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      yield* serveOn(b, { silentAfter: "nothing" })
      const fiber = yield* Effect.fork(Effect.flip(clientOver(a)))
      yield* TestClock.adjust("2999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "version exchange"])
    }))

  it.scoped("a server silent after KEXINIT times out at KEXDH_REPLY, ten TestClock seconds after its KEXINIT", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      yield* serveOn(b, { silentAfter: "KEXINIT" })
      const fiber = yield* Effect.fork(Effect.flip(clientOver(a)))
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust("9 seconds")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      const error = yield* Fiber.join(fiber)
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXDH_REPLY"])
    }))

  it.scoped("the handler's reply deadline runs on the caller's clock too: a request the server never answers fails at replyTimeout, and the connection is closed", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      // Accepts ssh-userauth, then reads every request and answers none.
      const server = yield* serveOn(b, { echo: false })
      const connection = yield* clientOver(a)
      const error = yield* failsAt(
        5_000,
        AuthHandler.makeWith({ replyTimeout: "5 seconds" }).pipe(
          Effect.flatMap((handler) => handler.none("alice")),
          Effect.provideService(Transport, connection)
        )
      )
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "receive"])
      expect(error.message).toContain("its deadline ran from our last message")
      // A server that stopped answering gets no further request: the handler closed the connection.
      for (let i = 0; i < 50 && server.closed === undefined; i++) yield* Effect.yieldNow()
      expect(server.closed?._tag).toBe("Disconnected")
    }))

  it.scoped("the transport's own waits run on the caller's clock: receive's timeout", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      yield* serveOn(b, { echo: false })
      const connection = yield* clientOver(a)
      const error = yield* failsAt(30_000, connection.receive)
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "receive"])
      expect(error.message).toContain("no message from the server within 30s")
    }))

  it.scoped("a conversation's pause runs on the caller's clock: what it sends after goes out when TestClock passes it", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      yield* serveOn(b)
      const connection = yield* clientOver(a)
      yield* connection.requestService("ssh-userauth")
      const ping = encode((w) => w.byte(MessageNumber.GLOBAL_REQUEST).string("ping").boolean(false))
      const conversation = Conversation.make<Uint8Array>(function*(now) {
        yield* Conversation.sleep(4_000)
        yield* Conversation.send(ping)
        return Exit.succeed(yield* Conversation.receive(now() + 1_000))
      })
      expect(connection.converse).toBeDefined()
      const fiber = yield* Effect.fork(Conversation.run(connection, conversation))
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      yield* TestClock.adjust(3_999)
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust(1)
      expect(Buffer.compare(yield* Fiber.join(fiber), ping)).toBe(0)
    }))

  it.scoped("a conversation's onFailure is what its failures become: a wait's deadline, a call's failure, its own end; on the core's driver and on the Effect loop", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair()
      yield* serveOn(b, { echo: false })
      const connection = yield* clientOver(a)
      yield* connection.requestService("ssh-userauth")
      const recovering = (start: Conversation.Conversation<string, string, never>["start"]) =>
        Conversation.make<string, string>(start, (e) => Effect.succeed(typeof e === "string" ? `own: ${e}` : `transport: ${e._tag}`))
      const waits = recovering(function*(now) {
        return Exit.succeed(String((yield* Conversation.receive(now() + 1_000)).length))
      })
      const calls = recovering(function*() {
        // An Exit is answered in the driver's turn; any other Effect runs in the caller's fiber.
        yield* Conversation.call(Effect.succeed(1))
        return Exit.succeed(yield* Conversation.call(Effect.suspend(() => Effect.fail("no"))))
      })
      const callsExit = recovering(function*() {
        return Exit.succeed(yield* Conversation.call(Exit.fail("refused")))
      })
      const ends = recovering(function*() {
        return Exit.fail("given up")
      })
      // The same connection without its own `converse`: run by the Effect loop.
      const loopOnly: Conversation.Conversant = {
        send: connection.send,
        receive: connection.receive,
        receiveWithin: connection.receiveWithin,
        pending: 0
      }
      for (const transport of [connection, loopOnly]) {
        const error = yield* failsAt(1_000, Effect.flip(Conversation.run(transport, waits)))
        expect(error).toBe("transport: TransportError")
        expect(yield* Conversation.run(transport, calls)).toBe("own: no")
        expect(yield* Conversation.run(transport, callsExit)).toBe("own: refused")
        expect(yield* Conversation.run(transport, ends)).toBe("own: given up")
      }
      // Without onFailure, the failure is the run's.
      expect(
        yield* Effect.flip(Conversation.run(
          connection,
          Conversation.make<never, string>(function*() {
            return Exit.fail("plain")
          })
        ))
      ).toBe("plain")
    }))

  it.scopedLive("over an @effect/platform Socket someone else opened: the same client, against the core's server role on loopback", () =>
    Effect.gen(function*() {
      const { log, port } = yield* coreServer([hostKey])
      const socket = yield* NodeSocket.makeNet({ host: "127.0.0.1", port })
      const channel = yield* fromPlatformSocket(socket, "127.0.0.1", port)
      const connection = yield* clientOver(channel)
      yield* connection.requestService("ssh-userauth")
      expect(connection.hostKey.blob).toEqual(hostKey.publicKey.blob)
      expect(log.services).toEqual(["ssh-userauth"])
    }))
})
