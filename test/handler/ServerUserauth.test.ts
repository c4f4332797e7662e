/**
 * The server's userauth conversation with no driver at all: the test steps the generator
 * itself, on a clock it sets, and answers each step by hand (the policy's calls are run as
 * plain values). What it yields, in order, is the whole of what it does: so the same input
 * gives the same steps, and nothing happens between them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import { verifiedAlgorithms } from "../../src/handler/ServerAuthHandler.js"
import { start, type Userauth, type UserauthOutcome, type UserauthSettings } from "../../src/handler/ServerUserauth.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import type { ConversationStep } from "../../src/transport/Conversation.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { keyQuery, noneRequest, parseFailure, passwordRequest, signedRequest, success } from "../hostile-client/HostileClient.js"
import { aliceKey, hostKey, PASSWORD, table } from "../hostile-client/Target.js"

const sessionId = new Uint8Array(crypto.createHash("sha256").update("a session").digest())

const settings: UserauthSettings = {
  maxAuthTries: 6,
  maxRequests: 128,
  maxInteractiveRounds: 16,
  failureFloorMillis: 10,
  graceMillis: 120_000,
  acceptedAlgorithms: verifiedAlgorithms
}

/** A conversation on a clock the test moves, and a log of its steps as short words. */
const conversation = () => {
  let now = 1_000_000
  const run: Userauth = start({
    policy: table,
    curves: nodeCurves,
    client: { address: "192.0.2.7", port: 50_000, clientIdentification: "SSH-2.0-test", sessionId },
    hostKeys: [hostKey.publicKey],
    now: () => now
  }, settings)
  const log: Array<string> = []
  let pending: ConversationStep | undefined
  let outcome: UserauthOutcome | undefined
  let lastSent: Uint8Array | undefined
  /** Steps until the conversation waits for the client (or ends), answering the rest itself. */
  const advance = (input: unknown) => {
    let next = input
    while (true) {
      const step = run.steps.next(next)
      next = undefined
      if (step.done) {
        outcome = step.value
        log.push(`end ${outcome._tag}`)
        return
      }
      pending = step.value
      switch (pending._tag) {
        case "Send":
          log.push(`send ${pending.payload[0]}`)
          lastSent = pending.payload
          continue
        case "Call":
          log.push("call")
          next = Effect.runSync(pending.effect as Effect.Effect<unknown>)
          continue
        case "Poll":
          log.push("poll")
          return
        case "Sleep":
          log.push(`sleep ${pending.millis}`)
          now += pending.millis
          continue
        case "Receive":
          log.push(`receive by ${pending.deadline - 1_000_000}`)
          return
      }
    }
  }
  advance(undefined)
  return {
    run,
    log,
    outcome: () => outcome,
    /** The client's message; what the conversation did with it, as log words. */
    give: (message: Uint8Array) => {
      const from = log.length
      advance(message)
      return log.slice(from)
    },
    /** The last message it sent. */
    sent: () => lastSent
  }
}

describe("the userauth conversation, stepped by hand", () => {
  it("waits for the first request, with LoginGraceTime as its deadline", () => {
    const c = conversation()
    expect(c.log).toEqual(["receive by 120000"])
  })

  it("none: the policy is asked for the methods once, then FAILURE naming them; no pause for none", () => {
    const c = conversation()
    expect(c.give(noneRequest("alice"))).toEqual(["call", `send ${MessageNumber.USERAUTH_FAILURE}`, "receive by 120000"])
    expect(c.run.attempts.map((a) => [a.method, a.outcome])).toEqual([["none", "Failed"]])
    expect(c.run.user).toBe("alice")
  })

  it("a wrong password pauses for the failure floor before its FAILURE; the right one ends in SUCCESS", () => {
    const c = conversation()
    expect(c.give(passwordRequest("alice", "wrong"))).toEqual(["call", "call", "sleep 10", `send ${MessageNumber.USERAUTH_FAILURE}`, "receive by 120000"])
    expect(c.give(passwordRequest("alice", PASSWORD))).toEqual(["call", `send ${MessageNumber.USERAUTH_SUCCESS}`, "end Authenticated"])
    const outcome = c.outcome()
    expect(outcome?._tag === "Authenticated" && outcome.result.methods).toEqual(["password"])
  })

  it("a key query gets PK_OK; the signed request over this session names exactly that key", () => {
    const c = conversation()
    expect(c.give(keyQuery("alice", "ssh-ed25519", aliceKey.publicKey.blob))).toEqual([
      "call",
      "call",
      `send ${MessageNumber.USERAUTH_PK_OK}`,
      "receive by 120000"
    ])
    expect(c.give(signedRequest({ user: "alice", offered: aliceKey, sessionId }))).toEqual([
      "call",
      `send ${MessageNumber.USERAUTH_SUCCESS}`,
      "end Authenticated"
    ])
    const outcome = c.outcome()
    expect(outcome?._tag === "Authenticated" && outcome.result.credentials).toMatchObject([
      { _tag: "PublicKey", key: { fingerprint: PublicKey.fingerprintSha256(aliceKey.publicKey) } }
    ])
  })

  it("a signature over another session: the policy is never told the key is proven", () => {
    const c = conversation()
    const other = new Uint8Array(32).fill(7)
    const steps = c.give(signedRequest({ user: "alice", offered: aliceKey, sessionId: other }))
    // The methods call only: no keyProven call after a signature that does not verify.
    expect(steps).toEqual(["call", "sleep 10", `send ${MessageNumber.USERAUTH_FAILURE}`, "receive by 120000"])
    expect(c.run.attempts[0].detail).toMatch(/does not verify/)
  })

  it("a USERAUTH_SUCCESS from the client ends the conversation with a cut, nothing sent", () => {
    const c = conversation()
    expect(c.give(success)).toEqual(["end Cut"])
    expect(c.outcome()).toMatchObject({ _tag: "Cut", reason: "ProtocolViolation", detail: "a client may not send USERAUTH_SUCCESS" })
  })

  it("the same requests give the same steps and the same bytes", () => {
    const replies = () => {
      const c = conversation()
      c.give(noneRequest("bob"))
      const failure = c.sent()
      c.give(passwordRequest("bob", "nope"))
      return { log: c.log, failure: failure && parseFailure(failure), again: c.sent() }
    }
    expect(replies()).toEqual(replies())
  })
})
