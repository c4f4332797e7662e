/**
 * `Server.listen` keeps the caller's clock for what it times itself: a failed attempt's
 * floor is a pause on that clock, so under TestClock it passes when the test says, not
 * after 10 real milliseconds; so are LoginGraceTime and the wait for the service request.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import { connect, type HostileClient, parseFailure, passwordRequest } from "../hostile-client/HostileClient.js"
import { target } from "../hostile-client/Target.js"

describe("Server.listen on the caller's clock", () => {
  it.scoped("a wrong password's FAILURE waits for the failure floor on TestClock", () =>
    Effect.gen(function*() {
      const server = yield* target({ auth: { failureFloor: "5 seconds" } })
      const c: HostileClient = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ port: server.port })),
        (c) => Effect.sync(() => c.close())
      )
      yield* Effect.promise(() => c.login())
      c.send(passwordRequest("alice", "wrong"))
      // Half a real second: the floor is five seconds of the test's clock, which has not moved.
      const early = yield* Effect.promise(() => c.reply(500).then(() => "answered", () => "waiting"))
      expect(early).toBe("waiting")
      yield* TestClock.adjust("5 seconds")
      const reply = yield* Effect.promise(() => c.reply(3_000))
      expect(parseFailure(reply)?.methods).toContain("password")
      expect(server.calls.password).toEqual(["alice"])
    }), 20_000)

  /**
   * A client that finishes its key exchange and then says nothing: cut when the test's clock
   * passes `seconds`, not before, and well before that many real seconds (≈ 4 s in all).
   */
  const idleAfterKex = (options: Parameters<typeof target>[0], seconds: number, why: RegExp) =>
    Effect.gen(function*() {
      const server = yield* target(options)
      const c: HostileClient = yield* Effect.acquireRelease(
        Effect.promise(() => connect({ port: server.port })),
        (c) => Effect.sync(() => c.close())
      )
      yield* Effect.promise(() => c.handshake())
      // Half a real second: the limit is on the test's clock, which has not moved.
      expect(yield* Effect.promise(() => c.waitClosed(500))).toBe(false)
      yield* TestClock.adjust(`${seconds - 1} seconds`)
      expect(yield* Effect.promise(() => c.waitClosed(300))).toBe(false)
      yield* TestClock.adjust("1 second")
      expect(yield* Effect.promise(() => c.waitClosed(3_000))).toBe(true)
      const ended = yield* Effect.promise(() => server.nextEnd(3_000))
      expect(ended.failure?.reason, String(ended.other)).toBe("LoginGraceTime")
      expect(ended.failure?.message).toMatch(why)
    })

  it.scoped(
    "LoginGraceTime is on TestClock: a client idle after its key exchange is cut when the test's clock passes it",
    () => idleAfterKex({ handshakeTimeout: "30 seconds", auth: { loginGraceTime: "10 seconds" } }, 10, /Timeout before authentication/),
    20_000
  )

  it.scoped(
    "the wait for the service request is on TestClock too (the handshake's step time, shorter than LoginGraceTime here)",
    () => idleAfterKex({ handshakeTimeout: "8 seconds", auth: { loginGraceTime: "60 seconds" } }, 8, /no SERVICE_REQUEST within 8s/),
    20_000
  )
})
