/**
 * A hostile client against our server with too much: requests near the packet limit and
 * past it, a 200 KB user name, floods of 10,000 key queries, refused queries, IGNOREs and
 * channel opens. Each ends typed (Case.ts), in bounded time, with the socket closed, the
 * policy asked no more than the limits allow, and nothing proven.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { MAX_PACKET_LENGTH } from "../../src/transport/PacketCodec.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { runCase } from "./Case.js"
import { channelOpen, type HostileClient, ignore, keyQuery, noneRequest, parseFailure, passwordRequest } from "./HostileClient.js"
import { aliceKey, strangerKey } from "./Target.js"

/** Room for the packet's own fields (length, padding length, padding, MAC) under the limit. */
const HEADROOM = 256

/** Reads replies until the server closes; how many of each message number it sent. */
const repliesUntilClosed = async (c: HostileClient, ms: number): Promise<Map<number, number>> => {
  const counts = new Map<number, number>()
  const deadline = Date.now() + ms
  for (let i = 0; i < 20_000 && Date.now() < deadline; i++) {
    const payload = await c.next(Math.max(1, deadline - Date.now())).catch(() => undefined)
    if (payload === undefined) break
    counts.set(payload[0], (counts.get(payload[0]) ?? 0) + 1)
  }
  return counts
}

describe("hostile client: oversized messages", () => {
  it.live("a password request just under the packet limit is an ordinary failed attempt", () =>
    runCase(async (c) => {
      await c.login()
      const password = "x".repeat(MAX_PACKET_LENGTH - HEADROOM - 40)
      let offenceAt = Date.now()
      for (let i = 0; i < 6; i++) {
        offenceAt = Date.now()
        c.send(passwordRequest("alice", password))
        if (i < 5) expect(parseFailure(await c.reply())).toBeDefined()
      }
      return { offenceAt }
    }, { reason: "TooManyAttempts", detail: /Too many authentication failures/ }))

  it.live("a packet past the limit is cut at once as a protocol violation", () =>
    runCase(async (c) => {
      await c.login()
      c.send(passwordRequest("alice", "x".repeat(MAX_PACKET_LENGTH + 1024)))
    }, { reason: "ProtocolViolation", detail: /exceeds the limit/ }))

  it.live("a 200 KB user name: FAILURE, the same methods as anyone; the failure names the user cut short", () =>
    Effect.gen(function*() {
      const name = "m".repeat(200 * 1024)
      const server = yield* runCase(async (c) => {
        await c.login()
        c.send(noneRequest(name))
        expect(parseFailure(await c.reply())).toEqual({ methods: ["publickey", "password", "keyboard-interactive"], partial: false })
        let offenceAt = Date.now()
        for (let i = 0; i < 6; i++) {
          offenceAt = Date.now()
          c.send(passwordRequest(name, "guess"))
          if (i < 5) expect(parseFailure(await c.reply())).toBeDefined()
        }
        return { offenceAt }
      }, { reason: "TooManyAttempts" })
      const failure = server.ended[0].failure!
      expect(failure.message.length).toBeLessThan(300)
      expect(String(failure.attempts[0]).length).toBeLessThan(300)
    }))

  it.live("a 200 KB user name in a key query for a known key: never PK_OK", () =>
    runCase(async (c) => {
      await c.login()
      let offenceAt = Date.now()
      for (let i = 0; i < 6; i++) {
        offenceAt = Date.now()
        c.send(keyQuery(`alice${"\u0000".repeat(200 * 1024)}`, "ssh-ed25519", aliceKey.publicKey.blob))
        if (i < 5) expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_FAILURE)
      }
      return { offenceAt }
    }, { reason: "TooManyAttempts" }))
})

describe("hostile client: floods", () => {
  for (
    const flood of [
      {
        name: "10,000 acceptable key queries: cut at the request cap (128)",
        key: aliceKey,
        reply: MessageNumber.USERAUTH_PK_OK,
        answered: 128,
        asked: 128,
        detail: /Too many authentication requests/
      },
      {
        name: "10,000 refused key queries: cut at MaxAuthTries (6)",
        key: strangerKey,
        reply: MessageNumber.USERAUTH_FAILURE,
        answered: 5,
        asked: 6,
        detail: /Too many authentication failures/
      }
    ]
  ) {
    it.live(`${flood.name}, the policy asked no more`, () =>
      Effect.gen(function*() {
        const server = yield* runCase(async (c) => {
          await c.login()
          const query = keyQuery("alice", "ssh-ed25519", flood.key.publicKey.blob)
          await c.sendAll(Array.from({ length: 10_000 }, () => query))
          const replies = await repliesUntilClosed(c, 5_000)
          expect(replies.get(flood.reply)).toBe(flood.answered)
          return { offenceAt: Date.now() }
        }, { reason: "TooManyAttempts", detail: flood.detail, withinMs: 3_000 })
        expect(server.calls.keyAcceptable.length).toBe(flood.asked)
      }), 30_000)
  }

  it.live("10,000 IGNOREs do not stall the server (a password attempt right after is answered) nor extend LoginGraceTime", () =>
    Effect.gen(function*() {
      const graceMs = 2_000
      let loggedInAt = 0
      const server = yield* runCase(
        async (c) => {
          await c.login()
          loggedInAt = Date.now()
          await c.sendAll(Array.from({ length: 10_000 }, (_, i) => ignore(`keepalive ${i}`)))
          const sent = Date.now()
          c.send(passwordRequest("alice", "wrong"))
          expect(parseFailure(await c.reply())).toBeDefined()
          expect(Date.now() - sent).toBeLessThan(1_000)
          return { offenceAt: loggedInAt + graceMs }
        },
        { reason: "LoginGraceTime", withinMs: 700 },
        { auth: { loginGraceTime: `${graceMs} millis` } }
      )
      expect(server.ended[0].at - loggedInAt).toBeGreaterThanOrEqual(graceMs - 100)
    }), 30_000)

  it.live("10,000 CHANNEL_OPENs: cut at the first, nothing else read", () =>
    Effect.gen(function*() {
      const server = yield* runCase(async (c) => {
        await c.login()
        await c.sendAll(Array.from({ length: 10_000 }, () => channelOpen))
        return { offenceAt: Date.now() }
      }, { reason: "ProtocolViolation", detail: /message 90/, withinMs: 3_000 })
      expect(server.calls.methods).toEqual([])
    }), 30_000)
})
