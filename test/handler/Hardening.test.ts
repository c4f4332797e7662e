/**
 * The handler against a hostile server, over the scripted transport (and a dripping one of
 * this file's): every deadline runs from our last message, banners are kept within a
 * budget, replies are bounded, a protocol violation ends the run before any later secret
 * goes out, and each key is offered once. Timeouts run on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import type { Signer } from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { Password } from "../../src/sources/Password.js"
import { PrivateKey } from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { TransportError } from "../../src/transport/TransportError.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"

const rsa: Signer = {
  publicKey: Either.getOrThrow(PublicKey.fromBlob(encode((w) => w.string("ssh-rsa").mpint(65537n).mpint(2n ** 2047n + 12345n)))),
  sign: (algorithm) => Effect.succeed(encode((w) => w.string(algorithm).string(new Uint8Array(8))))
}

const password = (user: string, secret = "hunter2-secret") => new Password({ username: user, password: Effect.succeed(Redacted.make(secret)) })

const run = <R>(
  steps: ReadonlyArray<Scripted.Step>,
  strategy: AuthStrategy.AuthStrategy<R>,
  options: AuthHandler.AuthHandlerOptions = {},
  serverSigAlgs?: ReadonlyArray<string>
) =>
  Effect.gen(function*() {
    const transport = yield* Scripted.makeScripted({ steps, ...(serverSigAlgs ? { serverSigAlgs } : {}) })
    const layer = AuthHandler.layerWith(options).pipe(Layer.provide(Layer.succeed(Transport, transport)))
    const result = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer), Effect.either)
    return { result, sent: transport.sent }
  })

const passwordsSent = (sent: ReadonlyArray<Scripted.ClientMessage>) => sent.filter((m) => m._tag === "UserauthRequest" && m.method === "password").length

/**
 * A server that answers nothing but a banner every second, forever: the transport
 * drips one whenever the handler waits long enough for it.
 */
const drippingTransport = Effect.gen(function*() {
  const inner = yield* Scripted.makeScripted({ steps: [{ reply: [] }], receiveTimeout: "1 hour" })
  const drip = (millis: number) =>
    millis >= 1000
      ? Effect.as(Effect.sleep("1 second"), Scripted.banner("still here"))
      : Effect.zipRight(
        Effect.sleep(millis),
        Effect.fail(new TransportError({ reason: "Timeout", host: "h", port: 22, step: "receive", detail: "no reply in time" }))
      )
  const transport: Transport = { ...inner, send: inner.send, receive: drip(3_600_000), receiveWithin: drip, pending: 0 }
  return transport
})

describe("the handler against a hostile server", () => {
  it.effect("a banner every second does not extend the reply deadline, which runs from the request", () =>
    Effect.gen(function*() {
      const transport = yield* drippingTransport
      const layer = AuthHandler.layerWith({ replyTimeout: "10 seconds" }).pipe(Layer.provide(Layer.succeed(Transport, transport)))
      const fiber = yield* AuthStrategy.authenticate(AuthStrategy.make(password("ann"))).pipe(Effect.provide(layer), Effect.flip, Effect.fork)
      yield* TestClock.adjust("11 seconds")
      const failure = yield* Fiber.join(fiber)
      expect(failure.reason).toBe("ConnectionLost")
      const attempt = failure.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/no reply in time/)
      // Nine or ten banners came in; none of them bought the server more time.
      expect(failure.result.banners.length).toBeGreaterThanOrEqual(9)
      expect(failure.result.banners.length).toBeLessThanOrEqual(10)
    }))

  it.effect("banners are kept up to a byte budget; the rest are counted, not kept", () =>
    Effect.gen(function*() {
      const big = "b".repeat(10_000)
      const { result } = yield* run(
        [{ reply: [...Array.from({ length: 20 }, () => Scripted.banner(big)), Scripted.success] }],
        AuthStrategy.make(password("bea")),
        { bannerBudget: 50_000 }
      )
      const r = Either.getOrThrow(result)
      expect(r.banners).toHaveLength(5)
      expect(r.bannersDropped).toEqual({ count: 15, bytes: 150_000 })
      expect(r.toJSON().bannersDropped).toEqual({ count: 15, bytes: 150_000 })
    }))

  it.effect("one request's replies are bounded in bytes: a flood of large banners is a protocol violation", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{ reply: Array.from({ length: 6 }, () => Scripted.banner("x".repeat(250_000))) }, { reply: [Scripted.success] }],
        AuthStrategy.make(password("cat"), password("cat"))
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      expect(failure.reason).toBe("ProtocolViolation")
      const attempt = failure.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/replies to one password request passed 1048576 bytes/)
      expect(passwordsSent(sent)).toBe(1)
    }))

  it.effect("one request's replies are bounded in count: a flood of small banners is a protocol violation", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [{ reply: Array.from({ length: 300 }, () => Scripted.banner("hi")) }],
        AuthStrategy.make(password("dan"))
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      const attempt = failure.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/more than 256 messages in reply to one password request/)
    }))

  it.effect("a malformed reply ends the run: the next source's password is never sent", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [
          { reply: [Uint8Array.of(MessageNumber.USERAUTH_FAILURE, 0, 0, 0)] },
          { reply: [Scripted.success] }
        ],
        AuthStrategy.make(new PrivateKey({ username: "eve", signer: rsa }), password("eve"))
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      expect(failure.reason).toBe("ProtocolViolation")
      expect(failure.message).toMatch(/the server broke the protocol/)
      expect(passwordsSent(sent)).toBe(0)
      expect(failure.result.attempts).toHaveLength(1)
    }))

  it.effect("a reply that came before its request (SUCCESS queued behind a FAILURE) is a protocol violation", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{ reply: [Scripted.failure(["password"]), Scripted.success] }, { reply: [Scripted.success] }],
        AuthStrategy.make(password("fay", "first"), password("fay", "second"))
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      expect(failure.reason).toBe("ProtocolViolation")
      const attempt = failure.result.attempts[1].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/USERAUTH_SUCCESS arrived before the password request was sent/)
      expect(passwordsSent(sent)).toBe(1)
    }))

  it.effect("a banner that came between requests is not a violation: it is kept", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [{ reply: [Scripted.failure(["password"]), Scripted.banner("late")] }, { reply: [Scripted.success] }],
        AuthStrategy.make(password("gil"), password("gil"))
      )
      expect(Either.getOrThrow(result).banners).toEqual(["late"])
    }))

  it.effect("an RSA key is offered once, with the best algorithm server-sig-algs lists, not once per algorithm", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{ reply: [Scripted.failure(["publickey", "password"])] }, { reply: [Scripted.success] }],
        AuthStrategy.make(new PrivateKey({ username: "hal", signer: rsa }), password("hal")),
        {},
        ["ssh-ed25519", "rsa-sha2-256", "rsa-sha2-512"]
      )
      expect(Either.isRight(result)).toBe(true)
      const offers = sent.filter((m) => m._tag === "UserauthRequest" && m.method === "publickey")
      expect(offers).toHaveLength(1)
      const offer = offers[0]
      expect(offer._tag === "UserauthRequest" && Buffer.from(offer.rest.subarray(5, 5 + offer.rest[4])).toString("latin1")).toBe("rsa-sha2-512")
      expect(AuthHandler.signatureAlgorithmsFor(rsa.publicKey, Option.some(["rsa-sha2-256"]))).toEqual(["rsa-sha2-256"])
    }))
})
