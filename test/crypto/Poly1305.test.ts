/**
 * Poly1305 against RFC 8439's vectors, a BigInt transcription of the RFC's definition, and
 * OpenSSL's Poly1305 as node:crypto runs it inside the RFC 8439 AEAD.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import { poly1305 } from "../../src/crypto/Poly1305.js"

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

/** RFC 8439 §2.5.1, word for word, in BigInt: slow and obviously right. */
const reference = (key: Uint8Array, message: Uint8Array): Uint8Array => {
  const le = (b: Uint8Array) => b.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n)
  const p = (1n << 130n) - 5n
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn
  const s = le(key.subarray(16, 32))
  let acc = 0n
  for (let i = 0; i < message.length; i += 16) {
    const block = message.subarray(i, i + 16)
    acc = ((acc + le(block) + (1n << BigInt(8 * block.length))) * r) % p
  }
  let tag = (acc + s) & ((1n << 128n) - 1n)
  const out = new Uint8Array(16)
  for (let i = 0; i < 16; i++, tag >>= 8n) out[i] = Number(tag & 0xffn)
  return out
}

const zeros = (n: number) => new Uint8Array(n)
const ff = (n: number) => new Uint8Array(n).fill(0xff)
const key = (r: string, s: string) => hex(r.padEnd(32, "0") + s.padEnd(32, "0"))

describe("Poly1305 (RFC 8439 §2.5)", () => {
  it("§2.5.2: the worked example", () => {
    const k = hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    expect(toHex(poly1305(k, Buffer.from("Cryptographic Forum Research Group")))).toBe("a8061dc1305136c6c22b8baf0c0127a9")
  })

  it("Appendix A.3: the vectors that reach the edges of the reduction", () => {
    const cases: ReadonlyArray<readonly [Uint8Array, Uint8Array, string]> = [
      [zeros(32), zeros(64), "00000000000000000000000000000000"],
      // #5: h ends just above p; #6: the carry out of the sum with s is dropped.
      [key("02", ""), ff(16), "03000000000000000000000000000000"],
      [key("02", "ff".repeat(16)), hex("02".padEnd(32, "0")), "03000000000000000000000000000000"],
      // #7 and #8: h = p + 4 and h = p.
      [key("01", ""), Uint8Array.of(...ff(16), 0xf0, ...ff(15), 0x11, ...zeros(15)), "05000000000000000000000000000000"],
      [key("01", ""), Uint8Array.of(...ff(16), 0xfb, ...new Uint8Array(15).fill(0xfe), ...new Uint8Array(16).fill(0x01)), "00000000000000000000000000000000"],
      // #9: h = 2^130 − 6, just below p.
      [key("02", ""), Uint8Array.of(0xfd, ...ff(15)), "faffffffffffffffffffffffffffffff"],
      // #10 and #11: products that carry across limbs.
      [
        key("01000000000000000400000000000000", ""),
        hex(`e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000
             0000000000000000000000000000000001000000000000000000000000000000`),
        "14000000000000005500000000000000"
      ],
      [
        key("01000000000000000400000000000000", ""),
        hex(`e33594d7505e43b900000000000000003394d7505e4379cd0100000000000000
             00000000000000000000000000000000`),
        "13000000000000000000000000000000"
      ]
    ]
    for (const [k, message, tag] of cases) {
      expect(toHex(reference(k, message)), toHex(message)).toBe(tag)
      expect(toHex(poly1305(k, message)), toHex(message)).toBe(tag)
    }
  })

  it("matches the RFC's definition for any key and message, extreme bytes included", () => {
    const bytes = (max: number) =>
      fc.oneof(
        fc.uint8Array({ maxLength: max }),
        fc.nat(max).map(ff),
        fc.nat(max).map(zeros)
      )
    const keys = fc.oneof(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constant(ff(32)), fc.constant(Uint8Array.of(...ff(16), ...zeros(16))))
    fc.assert(
      fc.property(keys, bytes(300), (k, message) => {
        expect(toHex(poly1305(k, message))).toBe(toHex(reference(k, message)))
      }),
      { numRuns: 2000 }
    )
  })

  it("agrees with OpenSSL's Poly1305 inside node:crypto's chacha20-poly1305 AEAD", () => {
    const le64 = (n: number) => {
      const b = Buffer.alloc(8)
      b.writeUInt32LE(n, 0)
      return b
    }
    const pad16 = (n: number) => Buffer.alloc((16 - (n % 16)) % 16)
    for (const [aadLength, length] of [[0, 0], [0, 1], [13, 64], [16, 15], [7, 1000], [0, 32_768 + 3]]) {
      const k = crypto.randomBytes(32)
      const nonce = crypto.randomBytes(12)
      const aad = crypto.randomBytes(aadLength)
      const cipher = crypto.createCipheriv("chacha20-poly1305", k, nonce, { authTagLength: 16 })
      cipher.setAAD(aad, { plaintextLength: length })
      const ciphertext = Buffer.concat([cipher.update(crypto.randomBytes(length)), cipher.final()])
      // §2.6: the one-time key is the first 32 bytes of block 0; §2.8: what the tag covers.
      const oneTimeKey = crypto.createCipheriv("chacha20", k, Buffer.concat([Buffer.alloc(4), nonce])).update(zeros(32))
      const macData = Buffer.concat([aad, pad16(aadLength), ciphertext, pad16(length), le64(aadLength), le64(length)])
      expect(toHex(poly1305(oneTimeKey, macData)), `${aadLength}/${length}`).toBe(toHex(cipher.getAuthTag()))
    }
  })

  it("takes only a 32-byte key", () => {
    expect(() => poly1305(zeros(31), zeros(16))).toThrow(RangeError)
  })
})
