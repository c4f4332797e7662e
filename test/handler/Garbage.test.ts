/**
 * Whatever a server answers during authentication, the strategy ends in an AuthResult or a
 * typed AuthFailure: never a defect, never a hang. fast-check writes the server's replies —
 * well-formed userauth messages in any order, method-specific messages (60–79) with random
 * bodies, transport messages, and plain garbage — to a strategy that tries every method.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import type { Signer } from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { NoneAuth } from "../../src/sources/NoneAuth.js"
import { Password } from "../../src/sources/Password.js"
import { PrivateKey } from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { encode } from "../../src/wire/Writer.js"

const keyBlob = encode((w) => w.string("ssh-ed25519").string(new Uint8Array(32).fill(3)))
const signer: Signer = {
  publicKey: Either.getOrThrow(PublicKey.fromBlob(keyBlob)),
  sign: (algorithm) => Effect.succeed(encode((w) => w.string(algorithm).string(new Uint8Array(64))))
}

const text = fc.string({ maxLength: 20 })
const method = fc.constantFrom("none", "password", "publickey", "keyboard-interactive", "hostbased", "")

/** One message from the server. */
const reply: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(Scripted.success),
  fc.tuple(fc.array(method, { maxLength: 4 }), fc.boolean()).map(([methods, partial]) => Scripted.failure(methods, partial)),
  text.map(Scripted.banner),
  fc.tuple(fc.constantFrom("ssh-ed25519", "rsa-sha2-256", ""), fc.boolean()).map(([alg, same]) => Scripted.pkOk(alg, same ? keyBlob : new Uint8Array(3))),
  fc.array(fc.record({ prompt: text, echo: fc.boolean() }), { maxLength: 3 }).map((prompts) => Scripted.infoRequest({ prompts })),
  text.map(Scripted.passwordChangeRequest),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.string()).map(([code, why]) => Scripted.disconnect(code, why)),
  // A method-specific or other message number with a random body, and bare garbage.
  fc.tuple(fc.integer({ min: 50, max: 127 }), fc.uint8Array({ maxLength: 40 })).map(([n, body]) => Uint8Array.of(n, ...body)),
  fc.uint8Array({ minLength: 1, maxLength: 40 })
)

const steps = fc.array(fc.array(reply, { minLength: 1, maxLength: 3 }).map((r): Scripted.Step => ({ reply: r })), { maxLength: 8 })

const strategy = () =>
  AuthStrategy.make(
    new NoneAuth({ username: "kim" }),
    new PrivateKey({ username: "kim", signer }),
    new Password({ username: "kim", password: Effect.succeed(Redacted.make("pw")), changePassword: () => Effect.succeed(Redacted.make("new")) }),
    new KeyboardInteractive({ username: "kim", responder: (request) => Effect.succeed(request.prompts.map(() => Redacted.make("x"))) })
  )

describe("garbage from the server during authentication", () => {
  it.live("always an AuthResult or a typed AuthFailure, never a defect or a hang", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(steps, fc.boolean(), async (script, noneFirst) => {
          const exit = await Effect.runPromiseExit(
            Effect.gen(function*() {
              const transport = yield* Scripted.makeScripted({ steps: script, receiveTimeout: "20 millis" })
              const layer = AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))
              return yield* AuthStrategy.authenticate(strategy(), { noneFirst, deadline: "5 seconds" }).pipe(Effect.provide(layer))
            })
          )
          if (Exit.isFailure(exit)) {
            expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
            const failure = Cause.failureOption(exit.cause)
            expect(failure._tag === "Some" && failure.value._tag).toBe("AuthFailure")
            // The deadline is far: only the script can have ended the run.
            if (failure._tag === "Some") expect(failure.value.reason).not.toBe("Deadline")
          } else {
            expect(exit.value.succeeded).toBe(true)
          }
        }),
        { numRuns: 150 }
      )
    ), 60_000)
})
