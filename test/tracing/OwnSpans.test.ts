/**
 * The library's own spans are made only where they go somewhere: under Effect's built-in
 * tracer (no exporter reads it) there are none, so a source's code sees the caller's span;
 * under a tracer of the caller's, the source runs in its attempt's span, under the login's.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Tracer from "effect/Tracer"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as UserTable from "../../src/server/UserTable.js"
import * as Password from "../../src/sources/Password.js"
import { pair } from "../support/ServerPair.js"

const users = UserTable.layer({ alice: { password: Redacted.make("s3cret") } })

/** A tracer of the caller's: it keeps the names of the spans it was given. */
const keeping = () => {
  const names: Array<string> = []
  const builtIn = Effect.runSync(Effect.tracer)
  const tracer = Tracer.make({
    span: (name, ...rest) => {
      names.push(name)
      return builtIn.span(name, ...rest)
    },
    context: (f) => f()
  })
  return { tracer, names }
}

/** A login by password whose getter notes the span it runs in. */
const login = Effect.gen(function*() {
  const connection = yield* pair(users)
  let seen: string | undefined
  const source = Password.make({
    username: "alice",
    password: Effect.map(Effect.option(Effect.currentSpan), (span) => {
      seen = Option.match(span, { onNone: () => "none", onSome: (s) => s.name })
      return Redacted.make("s3cret")
    })
  })
  const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(connection.handlerLayer))
  expect(result.succeeded).toBe(true)
  return seen
})

describe("the library's own spans", () => {
  it.scopedLive("under Effect's built-in tracer, none: the password getter sees the caller's span", () =>
    Effect.gen(function*() {
      expect(yield* login.pipe(Effect.withSpan("caller"))).toBe("caller")
    }))

  it.scopedLive("under a tracer of the caller's, all of them: the getter runs in its attempt's span", () =>
    Effect.gen(function*() {
      const { names, tracer } = keeping()
      expect(yield* login.pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))).toBe("AuthStrategy.attempt")
      for (const name of ["Transport.versionExchange", "Transport.keyExchange", "AuthStrategy.authenticate", "AuthStrategy.attempt"]) {
        expect(names).toContain(name)
      }
    }))
})
