/**
 * User enumeration by timing: over loopback, two connections to our server take turns,
 * one for a known user and one for an unknown one, each request timed on the client from
 * its send to the server's USERAUTH_FAILURE. Across 200 attempts of each, interleaved, the
 * medians differ by less than 10%: for a wrong password, and for a key query refused.
 *
 * The server runs with its default failure floor (10 ms) and MaxAuthTries/request cap
 * raised so that one connection holds all the attempts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { connect, type HostileClient, keyQuery, parseFailure, passwordRequest } from "./HostileClient.js"
import { strangerKey, target } from "./Target.js"

const ATTEMPTS = 200

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** Milliseconds from sending `payload` to the FAILURE that answers it. */
const timed = async (c: HostileClient, payload: Uint8Array): Promise<number> => {
  const start = process.hrtime.bigint()
  c.send(payload)
  const reply = await c.reply()
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (parseFailure(reply) === undefined) throw new Error(`message ${reply[0]} where a USERAUTH_FAILURE belongs`)
  return ms
}

/** Interleaved: known, unknown, known, unknown… (who goes first alternates too). */
const compare = (request: (user: string, i: number) => Uint8Array) =>
  Effect.gen(function*() {
    const server = yield* target({ auth: { maxAuthTries: 10 * ATTEMPTS, maxRequests: 10 * ATTEMPTS, loginGraceTime: "5 minutes" } })
    const { known, unknown } = yield* Effect.promise(async () => {
      const a = await connect({ port: server.port })
      const b = await connect({ port: server.port })
      await a.login()
      await b.login()
      // Warm-up, not counted: the first requests pay for the policy's first call and the JIT.
      for (let i = 0; i < 10; i++) {
        await timed(a, request("alice", i))
        await timed(b, request("mallory", i))
      }
      const known: Array<number> = []
      const unknown: Array<number> = []
      for (let i = 0; i < ATTEMPTS; i++) {
        if (i % 2 === 0) {
          known.push(await timed(a, request("alice", i)))
          unknown.push(await timed(b, request("mallory", i)))
        } else {
          unknown.push(await timed(b, request("mallory", i)))
          known.push(await timed(a, request("alice", i)))
        }
      }
      a.close()
      b.close()
      return { known, unknown }
    })
    expect(server.authenticated).toEqual([])
    return { known: median(known), unknown: median(unknown) }
  }).pipe(Effect.scoped)

const check = (label: string, m: { known: number; unknown: number }) => {
  const difference = Math.abs(m.known - m.unknown) / Math.min(m.known, m.unknown)
  console.log(`${label}: median known ${m.known.toFixed(2)} ms, unknown ${m.unknown.toFixed(2)} ms, difference ${(100 * difference).toFixed(1)}%`)
  // The floor holds: no failure is answered sooner than 10 ms.
  expect(Math.min(m.known, m.unknown)).toBeGreaterThanOrEqual(10)
  expect(difference, `${label}: known ${m.known} ms, unknown ${m.unknown} ms`).toBeLessThan(0.1)
}

describe("hostile client: user enumeration by timing", () => {
  it.live(
    "a wrong password: known and unknown users answered in the same median time (within 10%)",
    () => Effect.map(compare((user, i) => passwordRequest(user, `guess ${i}`)), (m) => check("password", m)),
    60_000
  )

  it.live(
    "a key query refused: known and unknown users answered in the same median time (within 10%)",
    () => Effect.map(compare((user) => keyQuery(user, "ssh-ed25519", strangerKey.publicKey.blob)), (m) => check("key query", m)),
    60_000
  )
})
