/**
 * The auth pipeline over the scripted transport: the cases a real sshd won't produce on
 * demand. Timeouts run on the TestClock, so nothing really waits.
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
import { KeyError } from "../../src/keys/KeyError.js"
import type { Signer } from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { Password } from "../../src/sources/Password.js"
import { PrivateKey } from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { encode } from "../../src/wire/Writer.js"

/** A signer the scripted server never checks: the key shape is what matters here. */
const fakeSigner = (type: "ssh-rsa" | "ssh-ed25519"): Signer => {
  const blob = type === "ssh-rsa"
    ? encode((w) => w.string("ssh-rsa").mpint(65537n).mpint(2n ** 2047n + 12345n))
    : encode((w) => w.string("ssh-ed25519").string(new Uint8Array(32).fill(7)))
  return {
    publicKey: Either.getOrThrow(PublicKey.fromBlob(blob)),
    sign: (algorithm) =>
      algorithm === "ssh-rsa" && type === "ssh-rsa"
        ? Effect.fail(new KeyError({ reason: "AlgorithmMismatch", detail: "no SHA-1 here" }))
        : Effect.succeed(encode((w) => w.string(algorithm).string(new Uint8Array(8))))
  }
}

/** Runs a strategy against a script; returns the result (or failure) and what the client sent. */
const run = <R>(
  steps: ReadonlyArray<Scripted.Step>,
  strategy: AuthStrategy.AuthStrategy<R>,
  serverSigAlgs?: ReadonlyArray<string>,
  options: AuthHandler.AuthHandlerOptions = {}
) =>
  Effect.gen(function*() {
    const transport = yield* Scripted.makeScripted({ steps, ...(serverSigAlgs ? { serverSigAlgs } : {}) })
    const layer = AuthHandler.layerWith(options).pipe(Layer.provide(Layer.succeed(Transport, transport)))
    const result = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer), Effect.either)
    return { result, sent: transport.sent, transport }
  })

/** `run`, with the handler given by `AuthHandler.provide` instead of a Layer. */
const runProvided = <R>(steps: ReadonlyArray<Scripted.Step>, strategy: AuthStrategy.AuthStrategy<R>, options: AuthHandler.AuthHandlerOptions = {}) =>
  Effect.gen(function*() {
    const transport = yield* Scripted.makeScripted({ steps })
    const result = yield* AuthStrategy.authenticate(strategy).pipe(AuthHandler.provide(transport, options), Effect.either)
    return { result, sent: transport.sent, transport }
  })

const method = (m: string) => (msg: Scripted.ClientMessage) =>
  msg._tag === "UserauthRequest" && msg.method === m ? true as const : `expected a ${m} request, got ${JSON.stringify(msg._tag)}`

describe("auth over the scripted transport", () => {
  it.effect("a banner between requests is kept and the exchange goes on", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const { result } = yield* run(
        [
          { expect: method("password"), reply: [Scripted.banner("Authorized use only"), Scripted.failure(["password"])] },
          { expect: method("password"), reply: [Scripted.banner("second banner"), Scripted.success] }
        ],
        AuthStrategy.make(
          new Password({ username: "alice", password: Effect.succeed(Redacted.make("a")) }),
          new Password({ username: "alice", password: Effect.succeed(Redacted.make("b")) })
        ),
        undefined,
        { onBanner: (text) => Effect.sync(() => void seen.push(text)) }
      )
      expect(seen).toEqual(["Authorized use only", "second banner"])
      expect(Either.isRight(result)).toBe(true)
      const r = Either.getOrThrow(result)
      expect(r.attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Success"])
      expect(r.banners).toEqual(["Authorized use only", "second banner"])
      expect(r.toJSON().banners).toEqual(["Authorized use only", "second banner"])
    }))

  it.effect("AuthHandler.provide gives the handler the layer gives: the same requests, result and banner callbacks", () =>
    Effect.gen(function*() {
      const steps: ReadonlyArray<Scripted.Step> = [
        { expect: method("password"), reply: [Scripted.banner("first"), Scripted.failure(["password", "publickey"])] },
        { expect: method("password"), reply: [Scripted.banner("second"), Scripted.success] }
      ]
      const strategy = AuthStrategy.make(
        new Password({ username: "alice", password: Effect.succeed(Redacted.make("a")) }),
        new Password({ username: "alice", password: Effect.succeed(Redacted.make("b")) })
      )
      const seen: Array<string> = []
      const onBanner = (text: string) => Effect.sync(() => void seen.push(text))
      const provided = yield* runProvided(steps, strategy, { onBanner })
      expect(seen).toEqual(["first", "second"])
      const layered = yield* run(steps, strategy, undefined, { onBanner })
      expect(provided.sent).toEqual(layered.sent)
      const json = (r: typeof provided.result) => Either.getOrThrow(r).toJSON()
      const strip = (j: ReturnType<typeof json>) => ({ ...j, attempts: j.attempts.map(({ durationMillis: _, ...a }) => a) })
      expect(strip(json(provided.result))).toEqual(strip(json(layered.result)))
      expect(json(provided.result).attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Success"])
      // The handler keeps state per connection: what the server allowed is the handler's own.
      const refused = yield* runProvided([{ expect: method("password"), reply: [Scripted.failure(["publickey"])] }], strategy)
      expect(Either.flip(refused.result).pipe(Either.getOrThrow).result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Skipped"])
    }))

  it.effect("PASSWD_CHANGEREQ without a callback is a typed PasswordChangeRequired, with one it sends old and new", () =>
    Effect.gen(function*() {
      const without = yield* run(
        [{ expect: method("password"), reply: [Scripted.passwordChangeRequest("Password expired")] }],
        AuthStrategy.make(new Password({ username: "bob", password: Effect.succeed(Redacted.make("old")) }))
      )
      const error = Either.flip(without.result).pipe(Either.getOrThrow)
      expect(error.result.attempts[0].attempt).toEqual({
        _tag: "Error",
        error: "PasswordChangeRequired",
        message: "the server requires a new password for bob: Password expired"
      })

      const withCallback = yield* run(
        [
          { expect: method("password"), reply: [Scripted.passwordChangeRequest("Password expired")] },
          { expect: method("password"), reply: [Scripted.success] }
        ],
        AuthStrategy.make(
          new Password({
            username: "bob",
            password: Effect.succeed(Redacted.make("old")),
            changePassword: (prompt) => Effect.succeed(Redacted.make(`new for ${prompt}`))
          })
        )
      )
      expect(Either.isRight(withCallback.result)).toBe(true)
      const second = withCallback.sent[1]
      expect(second._tag === "UserauthRequest" && Buffer.from(second.rest).toString("latin1")).toContain("new for Password expired")
    }))

  it.effect("keyboard-interactive: several rounds, a zero-prompt round answered empty", () =>
    Effect.gen(function*() {
      const seen: Array<number> = []
      const { result, sent } = yield* run(
        [
          {
            expect: method("keyboard-interactive"),
            reply: [Scripted.infoRequest({ name: "2FA", prompts: [{ prompt: "Password: ", echo: false }, { prompt: "Code: ", echo: true }] })]
          },
          { expect: (m) => (m._tag === "InfoResponse" && m.responses.length === 2) || "two responses", reply: [Scripted.infoRequest({ prompts: [] })] },
          { expect: (m) => (m._tag === "InfoResponse" && m.responses.length === 0) || "zero responses", reply: [Scripted.success] }
        ],
        AuthStrategy.make(
          new KeyboardInteractive({
            username: "carol",
            responder: (req) =>
              Effect.sync(() => {
                seen.push(req.prompts.length)
                return req.prompts.map((p) => Redacted.make(p.echo ? "123456" : "pw"))
              })
          })
        )
      )
      expect(Either.isRight(result)).toBe(true)
      expect(seen).toEqual([2, 0])
      expect(sent[1]._tag === "InfoResponse" && sent[1].responses).toEqual(["pw", "123456"])
    }))

  it.effect("a responder with the wrong number of responses is that source's error", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [{ reply: [Scripted.infoRequest({ prompts: [{ prompt: "a", echo: false }, { prompt: "b", echo: false }] })] }],
        AuthStrategy.make(new KeyboardInteractive({ username: "dave", responder: () => Effect.succeed([Redacted.make("only one")]) }))
      )
      const error = Either.flip(result).pipe(Either.getOrThrow)
      const attempt = error.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/2 prompts but 1 responses/)
    }))

  it.effect("partial success keeps the strategy going; only full success ends it", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [
          { expect: method("publickey"), reply: [Scripted.pkOk("ssh-ed25519", fakeSigner("ssh-ed25519").publicKey.blob)] },
          { expect: method("publickey"), reply: [Scripted.failure(["password"], true)] },
          { expect: method("password"), reply: [Scripted.success] }
        ],
        AuthStrategy.make(
          new PrivateKey({ username: "erin", signer: fakeSigner("ssh-ed25519") }),
          new Password({ username: "erin", password: Effect.succeed(Redacted.make("pw")) })
        )
      )
      const r = Either.getOrThrow(result)
      expect(r.attempts.map((a) => a.attempt)).toEqual([
        { _tag: "Failure", allowedMethods: ["password"], partialSuccess: true },
        { _tag: "Success" }
      ])
    }))

  it.effect("skipQuery sends the signed request at once: one round trip, no PK_OK", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{
          expect: (m) => (m._tag === "UserauthRequest" && m.method === "publickey" && m.rest[0] === 1) || "a signed request",
          reply: [Scripted.success]
        }],
        AuthStrategy.make(new PrivateKey({ username: "lee", signer: fakeSigner("ssh-ed25519"), skipQuery: true }))
      )
      expect(Either.isRight(result)).toBe(true)
      expect(sent).toHaveLength(1)
    }))

  it.effect("PK_OK naming another algorithm is a protocol violation: the connection is closed and no later source sends its secret", () =>
    Effect.gen(function*() {
      const signer = fakeSigner("ssh-ed25519")
      const { result, sent } = yield* run(
        [
          { reply: [Scripted.pkOk("ecdsa-sha2-nistp256", signer.publicKey.blob)] },
          { expect: method("password"), reply: [Scripted.success] }
        ],
        AuthStrategy.make(new PrivateKey({ username: "frank", signer }), new Password({ username: "frank", password: Effect.succeed(Redacted.make("pw")) }))
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      expect(failure.reason).toBe("ProtocolViolation")
      const first = failure.result.attempts[0].attempt
      expect(first._tag === "Error" && first.error).toBe("AuthError")
      expect(first._tag === "Error" && first.message).toMatch(/PK_OK names ecdsa-sha2-nistp256/)
      expect(failure.result.attempts).toHaveLength(1)
      expect(sent.filter((m) => m._tag === "UserauthRequest" && m.method === "password")).toEqual([])
    }))

  it.effect("an unexpected message type is a protocol error naming it", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [{ reply: [encode((w) => w.byte(94).uint32(0).string("data"))] }],
        AuthStrategy.make(new Password({ username: "gina", password: Effect.succeed(Redacted.make("pw")) }))
      )
      const error = Either.flip(result).pipe(Either.getOrThrow)
      const attempt = error.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/unexpected CHANNEL_DATA in reply to a password request/)
    }))

  it.effect("EXT_INFO sent twice: the RSA algorithm follows the latest server-sig-algs (RFC 8332)", () =>
    Effect.gen(function*() {
      const rsa = fakeSigner("ssh-rsa")
      const { result, sent } = yield* run(
        [
          // Query as rsa-sha2-256, the best the first EXT_INFO allows; a second EXT_INFO widens it.
          { reply: [Scripted.extInfo({ "server-sig-algs": "ssh-ed25519,rsa-sha2-256,rsa-sha2-512" }), Scripted.failure(["publickey"])] },
          { reply: [Scripted.pkOk("rsa-sha2-512", rsa.publicKey.blob)] },
          { reply: [Scripted.success] }
        ],
        AuthStrategy.make(new PrivateKey({ username: "hal", signer: rsa }), new PrivateKey({ username: "hal", signer: rsa })),
        ["ssh-ed25519", "rsa-sha2-256"]
      )
      expect(Either.isRight(result)).toBe(true)
      const algorithmOf = (m: Scripted.ClientMessage) => m._tag === "UserauthRequest" ? Buffer.from(m.rest.subarray(5, 5 + m.rest[4])).toString("latin1") : ""
      expect(sent.map(algorithmOf)).toEqual(["rsa-sha2-256", "rsa-sha2-512", "rsa-sha2-512"])
    }))

  it.effect("without EXT_INFO an RSA key uses rsa-sha2-256; ssh-rsa only when allowed", () =>
    Effect.sync(() => {
      const key = fakeSigner("ssh-rsa").publicKey
      expect(AuthHandler.signatureAlgorithmsFor(key, Option.none())).toEqual(["rsa-sha2-256"])
      expect(AuthHandler.signatureAlgorithmsFor(key, Option.none(), true)).toEqual(["rsa-sha2-256", "ssh-rsa"])
      expect(AuthHandler.signatureAlgorithmsFor(key, Option.some(["ssh-rsa"]))).toEqual([])
      expect(AuthHandler.signatureAlgorithmsFor(key, Option.some(["ssh-rsa", "rsa-sha2-512"]), true)).toEqual(["rsa-sha2-512", "ssh-rsa"])
      const ed = fakeSigner("ssh-ed25519").publicKey
      expect(AuthHandler.signatureAlgorithmsFor(ed, Option.some([]))).toEqual(["ssh-ed25519"])
    }))

  it.effect("a server that never answers times out; the strategy stops on the dead connection", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.fork(
        run([{ reply: [] }], AuthStrategy.make(new Password({ username: "ivy", password: Effect.succeed(Redacted.make("pw")) })))
      )
      yield* TestClock.adjust("6 seconds")
      const { result } = yield* Fiber.join(fiber)
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error.reason).toBe("ConnectionLost")
      const attempt = error.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/the script sent nothing/)
    }))

  it.effect("the whole run has a deadline, apart from each request's timeout", () =>
    Effect.gen(function*() {
      const transport = yield* Scripted.makeScripted({ steps: [{ reply: [] }], receiveTimeout: "1 hour" })
      const layer = AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))
      const fiber = yield* AuthStrategy.authenticate(
        AuthStrategy.make(new Password({ username: "kim", password: Effect.succeed(Redacted.make("pw")) })),
        { deadline: "2 seconds" }
      ).pipe(Effect.provide(layer), Effect.flip, Effect.fork)
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(fiber)
      expect(error.reason).toBe("Deadline")
      expect(error.message).toMatch(/the deadline passed/)
    }))

  it.effect("a DISCONNECT under the strategy ends it with the code and text", () =>
    Effect.gen(function*() {
      let asked = 0
      const { result } = yield* run(
        [{ reply: [Scripted.disconnect(2, "Too many authentication failures")] }],
        AuthStrategy.make(
          new Password({ username: "jo", password: Effect.succeed(Redacted.make("pw")) }),
          new Password({ username: "jo", password: Effect.sync(() => (asked++, Redacted.make("never"))) })
        )
      )
      const error = Either.flip(result).pipe(Either.getOrThrow)
      expect(error.reason).toBe("Disconnected")
      expect(error.message).toMatch(/Too many authentication failures/)
      expect(asked).toBe(0)
    }))

  it.effect("layerScripted provides what the client sent, each request's fields decoded", () =>
    Effect.gen(function*() {
      const signer = fakeSigner("ssh-ed25519")
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(
        new PrivateKey({ username: "max", signer }),
        new Password({ username: "max", password: Effect.succeed(Redacted.make("old")), changePassword: () => Effect.succeed(Redacted.make("new")) }),
        new KeyboardInteractive({ username: "max", responder: () => Effect.succeed([Redacted.make("123456")]), submethods: "pam" })
      ))
      expect(result.succeeded).toBe(true)
      const sent = yield* Scripted.sent
      expect(sent.map((m) => m._tag === "UserauthRequest" ? { method: m.method, fields: m.fields } : m)).toEqual([
        { method: "publickey", fields: { _tag: "PublicKey", signed: false, algorithm: "ssh-ed25519", blob: signer.publicKey.blob } },
        { method: "publickey", fields: { _tag: "PublicKey", signed: true, algorithm: "ssh-ed25519", blob: signer.publicKey.blob } },
        { method: "password", fields: { _tag: "Password", password: "old" } },
        { method: "password", fields: { _tag: "Password", password: "old", newPassword: "new" } },
        { method: "keyboard-interactive", fields: { _tag: "KeyboardInteractive", submethods: "pam" } },
        { _tag: "InfoResponse", responses: ["123456"] }
      ])
    }).pipe(Effect.provide(Layer.provideMerge(
      AuthHandler.layer,
      Scripted.layerScripted({
        serverSigAlgs: ["ssh-ed25519"],
        steps: [
          { reply: [Scripted.pkOk("ssh-ed25519", fakeSigner("ssh-ed25519").publicKey.blob)] },
          { reply: [Scripted.failure(["password"], true)] },
          { reply: [Scripted.passwordChangeRequest("expired")] },
          { reply: [Scripted.failure(["keyboard-interactive"], true)] },
          { reply: [Scripted.infoRequest({ prompts: [{ prompt: "Code: ", echo: true }] })] },
          { reply: [Scripted.success] }
        ]
      })
    ))))
})
