/**
 * A listed strategy whose every source has steps (`none`, keys in memory) runs as one
 * conversation of the handler's, not as an Effect per attempt: once over a scripted server
 * (the conversation's Effect loop, TestClock for the deadlines) and once over our server on
 * the in-memory pair (the core's driver, in the connection's callbacks). Its record is the
 * Effect run's: the outcome of every attempt, the connection's end as the outcome of the
 * attempt it cut, and the run stopped by it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import { AuthError } from "../../src/handler/AuthError.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import { KeyError } from "../../src/keys/KeyError.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import type { Signer } from "../../src/keys/PrivateKey.js"
import * as UserTable from "../../src/server/UserTable.js"
import { Password } from "../../src/sources/Password.js"
import * as Sources from "../../src/sources/PrivateKey.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { pair } from "../support/ServerPair.js"

const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const otherKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** The handler over `transport`, counting how the strategy called it. */
const counted = (transport: Transport) => {
  const calls = { converse: 0, none: 0, publicKey: 0, password: 0 }
  const layer = Layer.effect(
    AuthHandler.AuthHandler,
    Effect.map(AuthHandler.makeWith({}).pipe(Effect.provideService(Transport, transport)), (handler): AuthHandler.AuthHandler => ({
      ...handler,
      allowedMethods: handler.allowedMethods,
      converse: (run) => (calls.converse++, handler.converse!(run)),
      none: (username) => (calls.none++, handler.none(username)),
      publicKey: (username, signer, options) => (calls.publicKey++, handler.publicKey(username, signer, options)),
      password: (username, password, change) => (calls.password++, handler.password(username, password, change))
    }))
  )
  return { calls, layer }
}

/** A tracer that keeps the names of the spans it made, and how each ended. */
const recorder = () => {
  const started: Array<string> = []
  const ended: Array<string> = []
  const live = new Set<Tracer.Span>()
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      started.push(name)
      const attributes = new Map<string, unknown>()
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: String(started.length),
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled: true,
        kind,
        end: (_endTime, exit) => {
          live.delete(span)
          ended.push(`${name} ${Exit.isInterrupted(exit) ? "interrupted" : exit._tag}`)
        },
        attribute: (key, value) => void attributes.set(key, value),
        event: () => {},
        addLinks: () => {}
      }
      live.add(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, started, ended, open: () => [...live].map((s) => s.name) }
}

const keys = () => [
  new InMemoryPrivateKey({ username: "alice", key: otherKey }),
  new InMemoryPrivateKey({ username: "alice", key: aliceKey })
]

describe("a strategy of sources with steps, as one conversation", () => {
  it.scopedLive("over our server on the in-memory pair: none, a refused key, the right key; one conversation, no per-source call", () =>
    Effect.gen(function*() {
      const users = UserTable.layer({ alice: { keys: [aliceKey.publicKey] } })
      const connection = yield* pair(users)
      const { calls, layer } = counted(connection.client)
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(...keys()), { noneFirst: true }).pipe(Effect.provide(layer))
      expect(result.succeeded).toBe(true)
      expect(result.attempts.map((a) => `${a.source.method} ${a.attempt._tag}`)).toEqual(["none Failure", "publickey Failure", "publickey Success"])
      expect(calls).toEqual({ converse: 1, none: 0, publicKey: 0, password: 0 })
      const server = yield* connection.server
      expect(server.user).toBe("alice")
      expect(server.credentials.map((c) => c._tag)).toEqual(["PublicKey"])
    }))

  it.scopedLive("its log lines, at debug, are the Effect run's, in the same order", () =>
    Effect.gen(function*() {
      const users = UserTable.layer({ alice: { keys: [aliceKey.publicKey] } })
      const linesOf = (conversation: boolean) =>
        Effect.gen(function*() {
          const connection = yield* pair(users)
          const { calls, layer } = counted(connection.client)
          const lines: Array<string> = []
          const logger = Logger.make(({ logLevel, message }) => {
            const text = Array.isArray(message) ? message.join(" ") : String(message)
            // Our own lines: not the transport's, which the two runs share.
            if (!/SERVICE_ACCEPT/.test(text)) lines.push(`${logLevel.label} ${text}`)
          })
          const handler = conversation ? layer : Layer.map(layer, (context) => {
            const { converse: _, ...effectOnly } = Context.get(context, AuthHandler.AuthHandler)
            return Context.make(AuthHandler.AuthHandler, effectOnly)
          })
          yield* AuthStrategy.authenticate(AuthStrategy.make(...keys()), { noneFirst: true }).pipe(
            Effect.provide(handler),
            Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
            Logger.withMinimumLogLevel(LogLevel.Debug)
          )
          expect(calls.converse).toBe(conversation ? 1 : 0)
          return lines
        })
      const conversation = yield* linesOf(true)
      expect(conversation).toEqual(yield* linesOf(false))
      expect(conversation.filter((l) => l.startsWith("DEBUG Trying"))).toHaveLength(3)
      expect(conversation.filter((l) => l.startsWith("DEBUG Authentications that can continue: "))).toHaveLength(2)
      expect(conversation.at(-1)).toMatch(/^DEBUG InMemoryPrivateKey\(.*\): Success$/)
    }))

  it.scopedLive("a source without steps (a password) runs the Effect way, one handler call per attempt", () =>
    Effect.gen(function*() {
      const users = UserTable.layer({ alice: { keys: [aliceKey.publicKey], password: Redacted.make("pw") } })
      const connection = yield* pair(users)
      const { calls, layer } = counted(connection.client)
      const strategy = AuthStrategy.make(new Password({ username: "alice", password: Effect.succeed(Redacted.make("wrong")) }), ...keys())
      const result = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer))
      expect(result.succeeded).toBe(true)
      expect(calls).toEqual({ converse: 0, none: 0, publicKey: 2, password: 1 })
    }))

  it.effect("an empty list asks nothing of the handler, not even the service", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({ steps: [] })
      const { calls, layer } = counted(transport)
      const error = yield* AuthStrategy.authenticate(AuthStrategy.make(), { noneFirst: true }).pipe(Effect.provide(layer), Effect.flip)
      expect(error.reason).toBe("Exhausted")
      expect(error.result.attempts).toEqual([])
      expect(calls.converse).toBe(0)
    }))

  it.effect("a server that never answers: the attempt it cut records the timeout, and the run stops on the dead connection", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({ steps: [{ reply: [] }] })
      const { calls, layer } = counted(transport)
      const fiber = yield* AuthStrategy.authenticate(AuthStrategy.make(...keys())).pipe(Effect.provide(layer), Effect.either, Effect.fork)
      yield* TestClock.adjust("6 seconds")
      const error = Either.flip(yield* Fiber.join(fiber)).pipe(Either.getOrThrow)
      expect(error.reason).toBe("ConnectionLost")
      expect(error.result.attempts).toHaveLength(1)
      const attempt = error.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/the script sent nothing/)
      expect(transport.sent.filter((m) => m._tag === "UserauthRequest")).toHaveLength(1)
      expect(calls.converse).toBe(1)
    }))

  it.effect("a DISCONNECT in the middle of the run is the outcome of the attempt it cut; the next key is never offered", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({ steps: [{ reply: [Scripted.disconnect(2, "Too many authentication failures")] }] })
      const { layer } = counted(transport)
      const error = yield* AuthStrategy.authenticate(AuthStrategy.make(...keys())).pipe(Effect.provide(layer), Effect.flip)
      expect(error.reason).toBe("Disconnected")
      expect(error.message).toMatch(/Too many authentication failures/)
      expect(error.result.attempts.map((a) => a.attempt._tag)).toEqual(["Disconnected"])
      expect(transport.sent.filter((m) => m._tag === "UserauthRequest")).toHaveLength(1)
    }))

  it.effect("a PK_OK for a key we did not offer is the server's protocol error: the connection is closed and nothing more is sent", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({
        steps: [{ reply: [Scripted.pkOk("ssh-ed25519", aliceKey.publicKey.blob)] }]
      })
      const { layer } = counted(transport)
      const strategy = AuthStrategy.make(
        new InMemoryPrivateKey({ username: "alice", key: otherKey, skipQuery: false }),
        new InMemoryPrivateKey({ username: "alice", key: aliceKey })
      )
      const error = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer), Effect.flip)
      expect(error.reason).toBe("ProtocolViolation")
      const attempt = error.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/PK_OK names ssh-ed25519, not the ssh-ed25519 key we offered/)
      expect(error.result.attempts).toHaveLength(1)
      // Only the query went out: no signature, and not the second key.
      expect(transport.sent.filter((m) => m._tag === "UserauthRequest")).toHaveLength(1)
      const after = yield* Effect.flip(transport.send(Uint8Array.of(5)))
      expect(after._tag === "TransportError" && after.reason).toBe("Closed")
    }))

  it.effect("a deadline for the whole run interrupts the conversation, and the spans it left open are ended", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({ steps: [{ reply: [] }], receiveTimeout: "1 hour" })
      const { layer } = counted(transport)
      const spans = recorder()
      const fiber = yield* AuthStrategy.authenticate(AuthStrategy.make(...keys()), { deadline: "2 seconds" }).pipe(
        Effect.provide(layer),
        Effect.flip,
        Effect.withTracer(spans.tracer),
        Effect.fork
      )
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error.reason).toBe("Deadline")
      // The key signs before its request goes out (skipQuery): that span ended, the request's was cut.
      expect(spans.started).toEqual(["AuthStrategy.authenticate", "AuthStrategy.attempt", "AuthHandler.publicKey.sign", "AuthHandler.sendAuthRequest"])
      expect(spans.ended).toContain("AuthHandler.publicKey.sign Success")
      expect(spans.ended).toContain("AuthHandler.sendAuthRequest interrupted")
      expect(spans.open()).toEqual([])
      expect(spans.ended).toContain("AuthStrategy.attempt interrupted")
    }))

  it.effect("a signer of the caller's own runs as a call in the caller's fiber; its failure is that attempt's error, and the run goes on", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({ steps: [{ reply: [Scripted.success] }] })
      const { calls, layer } = counted(transport)
      let asked = 0
      const refusing: Signer = {
        publicKey: otherKey.publicKey,
        sign: () => Effect.suspend(() => (asked++, Effect.fail(new KeyError({ reason: "Malformed", detail: "the token was unplugged" }))))
      }
      const strategy = AuthStrategy.make(
        Sources.make({ username: "alice", signer: refusing, skipQuery: true }),
        new InMemoryPrivateKey({ username: "alice", key: aliceKey })
      )
      const result = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer))
      expect(result.succeeded).toBe(true)
      expect(asked).toBe(1)
      const [refused, accepted] = result.attempts
      expect(refused.attempt._tag === "Error" && refused.attempt.error instanceof AuthError && refused.attempt.error.reason).toBe("SigningFailed")
      expect(accepted.attempt._tag).toBe("Success")
      // Only the second key's signed request went out.
      expect(transport.sent.filter((m) => m._tag === "UserauthRequest")).toHaveLength(1)
      expect(calls.converse).toBe(1)
    }))
})
