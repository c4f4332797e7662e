/**
 * Strategy combinators, over the scripted transport. Strategies made from plain lists are
 * walked without the Stream machinery; every case here runs both ways — the list form and
 * the same sources as an opaque Stream — and the two must record the same run.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type { AuthResultJson } from "../../src/AuthResult.js"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import type { AuthSource } from "../../src/sources/AuthSource.js"
import { NoneAuth } from "../../src/sources/NoneAuth.js"
import { Password } from "../../src/sources/Password.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"

/** A password source that counts how often its getter runs. */
const password = (user: string, secret: string, asked: Array<string>) =>
  new Password({ username: user, password: Effect.sync(() => (asked.push(secret), Redacted.make(secret))) })

/** The run as data: attempts without timings, whether it succeeded, and the methods sent. */
const runOnce = <R>(steps: ReadonlyArray<Scripted.Step>, strategy: AuthStrategy.AuthStrategy<R>) =>
  Effect.gen(function*() {
    const transport = yield* Scripted.makeScripted({ steps })
    const layer = AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))
    const outcome = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer), Effect.either)
    const json: AuthResultJson = Either.match(outcome, { onLeft: (e) => e.result, onRight: (r) => r.toJSON() })
    return {
      succeeded: Either.isRight(outcome),
      attempts: json.attempts.map((a) => `${a.source.username}/${a.source.method}: ${a.attempt._tag}`),
      sent: transport.sent.map((m) => (m._tag === "UserauthRequest" ? `${m.username}/${m.method}` : m._tag))
    }
  })

const opaque = (sources: ReadonlyArray<AuthSource>): AuthStrategy.AuthStrategy =>
  // A Stream the list registry has never seen: built by a combinator AuthStrategy doesn't own.
  Stream.map(Stream.fromIterable(sources), (s) => s)

const fail = (methods: ReadonlyArray<string>) => ({ reply: [Scripted.failure(methods)] })

describe("strategy combinators: lists and Streams agree", () => {
  it.effect("sequence: one list after another, stopping at the first full success", () =>
    Effect.gen(function*() {
      const askedList: Array<string> = [], askedStream: Array<string> = []
      const steps = [fail(["password"]), fail(["password"]), { reply: [Scripted.success] }]
      const build = (asked: Array<string>) =>
        [[new NoneAuth({ username: "ann" })], [password("ann", "wrong", asked), password("ann", "right", asked), password("ann", "never", asked)]] as const
      const [a, b] = build(askedList)
      const viaList = yield* runOnce(steps, AuthStrategy.sequence(AuthStrategy.make(...a), AuthStrategy.make(...b)))
      const [c, d] = build(askedStream)
      const viaStream = yield* runOnce(steps, AuthStrategy.sequence(opaque(c), opaque(d)))
      expect(viaList).toEqual({
        succeeded: true,
        attempts: ["ann/none: Failure", "ann/password: Failure", "ann/password: Success"],
        sent: ["ann/none", "ann/password", "ann/password"]
      })
      expect(viaStream).toEqual(viaList)
      // The third getter never ran, either way.
      expect(askedList).toEqual(["wrong", "right"])
      expect(askedStream).toEqual(askedList)
    }))

  it.effect("sequence of a list and a Stream still runs every source in order", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const run = yield* runOnce(
        [fail(["password"]), { reply: [Scripted.success] }],
        AuthStrategy.sequence(AuthStrategy.make(new NoneAuth({ username: "bo" })), opaque([password("bo", "pw", asked)]))
      )
      expect(run.attempts).toEqual(["bo/none: Failure", "bo/password: Success"])
      expect(asked).toEqual(["pw"])
    }))

  it.effect("filterMethods keeps only the named methods", () =>
    Effect.gen(function*() {
      const steps = [fail(["password"]), { reply: [Scripted.success] }]
      const sources = (
        asked: Array<string>
      ) => [new NoneAuth({ username: "cy" }), password("cy", "one", asked), new NoneAuth({ username: "cy" }), password("cy", "two", asked)]
      const asked: Array<string> = []
      const viaList = yield* runOnce(steps, AuthStrategy.filterMethods(AuthStrategy.make(...sources(asked)), ["password"]))
      const viaStream = yield* runOnce(steps, AuthStrategy.filterMethods(opaque(sources([])), ["password"]))
      expect(viaList.sent).toEqual(["cy/password", "cy/password"])
      expect(viaList.succeeded).toBe(true)
      expect(viaStream).toEqual(viaList)
      expect(asked).toEqual(["one", "two"])
    }))

  it.effect("take(n) runs only the first n sources, then fails as exhausted", () =>
    Effect.gen(function*() {
      const steps = [fail(["password"]), fail(["password"])]
      const sources = (asked: Array<string>) => [password("di", "a", asked), password("di", "b", asked), password("di", "c", asked)]
      const asked: Array<string> = []
      const viaList = yield* runOnce(steps, AuthStrategy.take(AuthStrategy.make(...sources(asked)), 2))
      const viaStream = yield* runOnce(steps, AuthStrategy.take(opaque(sources([])), 2))
      expect(viaList).toEqual({ succeeded: false, attempts: ["di/password: Failure", "di/password: Failure"], sent: ["di/password", "di/password"] })
      expect(viaStream).toEqual(viaList)
      expect(asked).toEqual(["a", "b"])
    }))

  it.effect("an empty list fails at once with nothing sent", () =>
    Effect.gen(function*() {
      const run = yield* runOnce([], AuthStrategy.make())
      expect(run).toEqual({ succeeded: false, attempts: [], sent: [] })
    }))
})
