/**
 * Slow clients held to LoginGraceTime, counted from the connection, as sshd counts it: one
 * that says nothing, one that drips its version line or its whole key exchange a byte at a
 * time, one idle after the service request, one that keeps the connection busy with
 * IGNOREs, one that drips a userauth request. The server here has a 2 s LoginGraceTime and
 * its default 10 s handshake step timeout, so a cut near 2 s is the grace time's doing.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { runCase } from "./Case.js"
import { type HostileClient, ignore, passwordRequest, VERSION } from "./HostileClient.js"
import type { TargetOptions } from "./Target.js"

const GRACE_MS = 2_000
/** How late the cut may come after the grace time, on a busy machine. */
const SLACK_MS = 800
const options: TargetOptions = { auth: { loginGraceTime: `${GRACE_MS} millis` } }

/** A slow client: `script` runs from the connection; the server must cut it at LoginGraceTime. */
const heldToGrace = (name: string, script: (c: HostileClient) => Promise<void>) =>
  it.live(name, () =>
    Effect.gen(function*() {
      let connectedAt = 0
      const server = yield* runCase(
        async (c) => {
          connectedAt = Date.now()
          await script(c).catch(() => {})
          await c.waitClosed(GRACE_MS + SLACK_MS + 2_000)
          return { offenceAt: connectedAt + GRACE_MS }
        },
        { reason: "LoginGraceTime", withinMs: SLACK_MS },
        options
      )
      expect(server.ended[0].at - connectedAt, "cut before LoginGraceTime").toBeGreaterThanOrEqual(GRACE_MS - 50)
    }), 20_000)

describe("hostile client: slowloris, held to LoginGraceTime", () => {
  heldToGrace("connects and sends nothing", async () => {})

  heldToGrace("sends its version line, then nothing", async (c) => {
    c.write(`${VERSION}\r\n`)
  })

  heldToGrace("drips its version line a byte every 300 ms", async (c) => {
    await c.drip(`${VERSION}\r\n`, 300)
  })

  heldToGrace("drips its whole key exchange a byte every 5 ms", async (c) => {
    await c.handshake({ dripMs: 5, timeoutMs: GRACE_MS + SLACK_MS })
  })

  heldToGrace("is idle after the service request", async (c) => {
    await c.login()
  })

  heldToGrace("sends an IGNORE every 100 ms after the service request", async (c) => {
    await c.login()
    for (let i = 0; i < 100 && !c.closed; i++) {
      c.send(ignore())
      await c.waitClosed(100)
    }
  })

  heldToGrace("drips a password request a byte every 50 ms", async (c) => {
    await c.login()
    await c.sendDripped(passwordRequest("alice", "a password that takes its time"), 50)
  })

  heldToGrace("fails once, then dawdles", async (c) => {
    await c.login()
    c.send(passwordRequest("alice", "wrong"))
    await c.reply()
  })
})
