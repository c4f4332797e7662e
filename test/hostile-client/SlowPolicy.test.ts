/**
 * A policy whose calls take real time, as one backed by a database or a directory does.
 * `Server.listen` runs each login in the connection's callbacks and enters Effect only for
 * the policy's calls: a call that does not finish at once must resume the login when it
 * does, and one whose client is gone, or whose login outlived LoginGraceTime, must be
 * interrupted rather than left running.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { AuthPolicyService } from "../../src/server/AuthPolicy.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { runCase } from "./Case.js"
import { connect, parseFailure, passwordRequest } from "./HostileClient.js"
import { PASSWORD, table, target } from "./Target.js"

/** `table`, each password check taking `millis` first; `interrupted` counts the checks cut short. */
const slowPasswords = (millis: number) => {
  const record = { started: 0, interrupted: 0, finished: 0 }
  const policy: AuthPolicyService = {
    ...table,
    password: (user, password, client) =>
      Effect.suspend(() => {
        record.started++
        return Effect.sleep(millis).pipe(
          Effect.zipRight(table.password!(user, password, client)),
          Effect.tap(() => Effect.sync(() => void record.finished++)),
          Effect.onInterrupt(() => Effect.sync(() => void record.interrupted++))
        )
      })
  }
  return { policy, record }
}

/** Polls `done` every 10 ms, at most `ms`. */
const eventually = async (done: () => boolean, ms: number) => {
  for (let waited = 0; !done() && waited < ms; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10))
  return done()
}

describe("our server: policy calls that wait", () => {
  it.live("a wrong password, then the right one, each checked in 100 ms: FAILURE, then SUCCESS", () =>
    Effect.scoped(Effect.gen(function*() {
      const slow = slowPasswords(100)
      const server = yield* target({ policy: slow.policy })
      const outcome = yield* Effect.promise(async () => {
        const c = await connect({ port: server.port })
        try {
          await c.login()
          const sent = Date.now()
          c.send(passwordRequest("alice", "wrong"))
          const failure = parseFailure(await c.reply(3_000))
          const tookMs = Date.now() - sent
          c.send(passwordRequest("alice", PASSWORD))
          const success = await c.reply(3_000)
          return { failure, tookMs, success: success[0] }
        } finally {
          c.close()
        }
      })
      expect(outcome.failure?.methods).toContain("password")
      expect(outcome.tookMs).toBeGreaterThanOrEqual(100)
      expect(outcome.success).toBe(MessageNumber.USERAUTH_SUCCESS)
      expect(server.authenticated.map((a) => a.user)).toEqual(["alice"])
      expect(slow.record).toEqual({ started: 2, interrupted: 0, finished: 2 })
    })), 20_000)

  it.live("the client leaves during a 10 s password check: the connection ends at once and the check is interrupted", () =>
    Effect.gen(function*() {
      const slow = slowPasswords(10_000)
      yield* runCase(
        async (c) => {
          await c.login()
          c.send(passwordRequest("alice", PASSWORD))
          expect(await eventually(() => slow.record.started === 1, 2_000)).toBe(true)
          c.close()
          return { offenceAt: Date.now() }
        },
        { reason: "ConnectionLost", withinMs: 1_500 },
        { policy: slow.policy }
      )
      expect(yield* Effect.promise(() => eventually(() => slow.record.interrupted === 1, 2_000))).toBe(true)
      expect(slow.record.finished).toBe(0)
    }), 20_000)

  it.live("LoginGraceTime (1 s) passes during a 10 s password check: cut as sshd cuts it, the check interrupted", () =>
    Effect.gen(function*() {
      const slow = slowPasswords(10_000)
      let graceEndsAt = 0
      yield* runCase(
        async (c) => {
          graceEndsAt = Date.now() + 1_000
          await c.login()
          c.send(passwordRequest("alice", PASSWORD))
          expect(await c.waitClosed(5_000)).toBe(true)
          expect(c.disconnect?.description).toBe("Timeout before authentication")
          return { offenceAt: graceEndsAt }
        },
        { reason: "LoginGraceTime", detail: /Timeout before authentication/, withinMs: 1_500 },
        {
          policy: slow.policy,
          auth: { loginGraceTime: "1 second" }
        }
      )
      expect(yield* Effect.promise(() => eventually(() => slow.record.interrupted === 1, 2_000))).toBe(true)
      expect(slow.record.finished).toBe(0)
    }), 20_000)
})
