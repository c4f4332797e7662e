import { describe, expect, it } from "@effect/vitest"
import { randomBytes } from "../../src/crypto/RandomPool.js"

describe("RandomPool", () => {
  it("hands out copies of the requested length, never the same bytes twice, across refills", () => {
    const seen = new Set<string>()
    // 3,000 draws of 16 bytes cross the 4 KiB pool about a dozen times.
    for (let i = 0; i < 3000; i++) {
      const bytes = randomBytes(16)
      expect(bytes.length).toBe(16)
      seen.add(Buffer.from(bytes).toString("hex"))
    }
    expect(seen.size).toBe(3000)
  })

  it("a draw is the caller's own: changing it changes no later draw", () => {
    const a = randomBytes(32)
    a.fill(0)
    expect(randomBytes(32).every((b) => b === 0)).toBe(false)
    expect(a.buffer.byteLength).toBe(32)
  })

  it("large draws bypass the pool", () => {
    expect(randomBytes(5000).length).toBe(5000)
    expect(randomBytes(0).length).toBe(0)
  })
})
