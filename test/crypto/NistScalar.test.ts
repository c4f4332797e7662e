import { describe, expect, it } from "@effect/vitest"
import { p256, p384, p521 } from "@noble/curves/nist.js"
import * as crypto from "node:crypto"
import type { NistCurve } from "../../src/crypto/Curves.js"
import { drawScalar } from "../../src/crypto/NistScalar.js"
import { nobleCurves } from "../../src/crypto/NobleCurves.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"

const curves = [["P-256", p256], ["P-384", p384], ["P-521", p521]] as const
const toBigInt = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString("hex")}`)

describe("NistScalar.drawScalar", () => {
  it.each(curves)("%s: one draw of size + 8 bytes, reduced into [1, n − 1] (the order checked against noble's)", (name, curve) => {
    const n = curve.Point.Fn.ORDER
    const size = curve.Point.Fn.BYTES
    // The extremes: all-zero bytes give 1, all-ones give (2^k − 1) mod (n − 1) + 1; then random draws.
    const sources: Array<Uint8Array> = [new Uint8Array(size + 8), new Uint8Array(size + 8).fill(0xff)]
    for (let i = 0; i < 50; i++) sources.push(new Uint8Array(crypto.randomBytes(size + 8)))
    for (const bytes of sources) {
      const draws: Array<number> = []
      const d = drawScalar(name, (k) => (draws.push(k), bytes.slice()))
      expect(draws).toEqual([size + 8])
      expect(d.length).toBe(size)
      expect(toBigInt(d)).toBe(toBigInt(bytes) % (n - 1n) + 1n)
      expect(toBigInt(d) >= 1n && toBigInt(d) < n).toBe(true)
    }
  })

  it.each(curves.map(([name]) => name))("%s: both implementations make the same key pair from the same draw", (name: NistCurve) => {
    const seed = new Uint8Array(crypto.randomBytes(80))
    const a = nodeCurves.ecdh.generateKeyPair(name, (k) => seed.slice(0, k))
    const b = nobleCurves.ecdh.generateKeyPair(name, (k) => seed.slice(0, k))
    expect(Buffer.from(a.privateKey).toString("hex")).toBe(Buffer.from(b.privateKey).toString("hex"))
    expect(Buffer.from(a.publicKey).toString("hex")).toBe(Buffer.from(b.publicKey).toString("hex"))
  })
})
