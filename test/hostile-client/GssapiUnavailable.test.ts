/**
 * A server configured for gssapi-with-mic where the GSS-API cannot be loaded (here the
 * optional `koffi` package is mocked away; on a machine without libgssapi_krb5 it is the
 * library): the method is still offered, fails with `GssapiUnavailable`'s reason in the
 * attempt's record, is not counted against MaxAuthTries, and the connection goes on.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { vi } from "vitest"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import type { ServerAttempt } from "../../src/server/ServerAuthResult.js"
import * as UserTable from "../../src/server/UserTable.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { connect, parseFailure, passwordRequest } from "./HostileClient.js"
import { PASSWORD, target } from "./Target.js"

vi.mock("koffi", () => {
  throw new Error("koffi is mocked away")
})

describe("gssapi-with-mic where the GSS-API cannot be loaded", () => {
  it.scopedLive("the method fails with GssapiUnavailable's reason, uncounted, and the password still logs in", () =>
    Effect.gen(function*() {
      const unavailable = yield* Effect.flip(Gssapi.current)
      expect(unavailable._tag).toBe("GssapiUnavailable")
      const attempts: Array<ServerAttempt> = []
      const t = yield* target({
        policy: UserTable.make({ alice: { password: Redacted.make(PASSWORD) } }, { methods: [["gssapi-with-mic"], ["password"]] }),
        auth: { gssapi: {}, maxAuthTries: 1, failureFloor: "1 millis", onAttempt: (a) => Effect.sync(() => void attempts.push(a)) }
      })
      const client = yield* Effect.acquireRelease(Effect.promise(() => connect({ port: t.port })), (c) => Effect.sync(() => c.close()))
      yield* Effect.promise(() => client.login())
      for (let i = 0; i < 2; i++) {
        client.send(
          encode((w) =>
            w.byte(MessageNumber.USERAUTH_REQUEST).string("alice").string("ssh-connection").string("gssapi-with-mic").uint32(1).string(
              Gssapi.krb5MechanismDer
            )
          )
        )
        const failure = parseFailure(yield* Effect.promise(() => client.reply()))
        expect(failure?.methods).toEqual(["gssapi-with-mic", "password"])
      }
      expect(attempts.map((a) => a.detail)).toEqual(Array(2).fill(unavailable.message))
      expect(unavailable.message).toMatch(/^GSSAPI is not available: the optional package koffi is not installed/)
      client.send(passwordRequest("alice", PASSWORD))
      expect((yield* Effect.promise(() => client.reply()))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
    }))
})
