/**
 * `Server.listen` keeps the caller's clock for what it times itself: a failed attempt's
 * floor is a pause on that clock, so under TestClock it passes when the test says, not
 * after 10 real milliseconds.
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
})
