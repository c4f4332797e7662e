/**
 * GHASH against a BigInt transcription of NIST SP 800-38D's definition, and through AES-GCM
 * against OpenSSL's as node:crypto runs it: the packet sealer and opener on both of their
 * paths (the keystream and `Ghash` for small packets, OpenSSL's GCM for long ones).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import { Ghash } from "../../src/crypto/Ghash.js"
import { gcmOpener, gcmSealer } from "../../src/transport/cipher/AesGcm.js"

/** SP 800-38D §6.3, Algorithm 1, and §6.4: blocks as big-endian integers, bit 0 the top bit. */
const reference = (h: Uint8Array, data: Uint8Array): Uint8Array => {
  const int = (b: Uint8Array) => b.reduce((n, byte) => (n << 8n) | BigInt(byte), 0n)
  const R = 0xe1n << 120n
  const multiply = (x: bigint, y: bigint) => {
    let z = 0n
    let v = y
    for (let i = 127; i >= 0; i--) {
      if ((x >> BigInt(i)) & 1n) z ^= v
      v = v & 1n ? (v >> 1n) ^ R : v >> 1n
    }
    return z
  }
  const hashKey = int(h)
  let y = 0n
  for (let i = 0; i < data.length; i += 16) y = multiply(y ^ int(data.subarray(i, i + 16)), hashKey)
  const out = new Uint8Array(16)
  for (let i = 15; i >= 0; i--, y >>= 8n) out[i] = Number(y & 0xffn)
  return out
}

const hashOf = (h: Uint8Array, data: Uint8Array): Uint8Array => {
  const ghash = new Ghash(h)
  ghash.update(data, 0, data.length)
  const out = new Uint8Array(16)
  ghash.digest(new Uint8Array(16), out, 0)
  return out
}

const padded = (b: Uint8Array) => Buffer.concat([b, Buffer.alloc((16 - (b.length % 16)) % 16)])

describe("GHASH (SP 800-38D §6.4)", () => {
  it("the definition's value, for any key and blocks", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 96 }), (h, blocks) => {
        const data = padded(blocks)
        expect(Buffer.from(hashOf(h, data)).toString("hex")).toBe(Buffer.from(reference(h, data)).toString("hex"))
      }),
      { numRuns: 300 }
    )
  })

  it("the products that wrap past x^128 the most: all-ones blocks and keys, and the top bit alone", () => {
    for (const h of [Buffer.alloc(16, 0xff), Buffer.from("00000000000000000000000000000001", "hex"), Buffer.from("80".padEnd(32, "0"), "hex")]) {
      for (const data of [Buffer.alloc(48, 0xff), Buffer.from("00000000000000000000000000000001", "hex"), Buffer.alloc(16, 0x01)]) {
        expect(Buffer.from(hashOf(h, data)).toString("hex")).toBe(Buffer.from(reference(h, data)).toString("hex"))
      }
    }
  })

  it("a partial last block is padded with zeros, and the state starts over after reset", () => {
    const h = crypto.randomBytes(16)
    const data = crypto.randomBytes(37)
    const ghash = new Ghash(h)
    ghash.update(crypto.randomBytes(50), 0, 50)
    ghash.reset()
    ghash.update(data, 0, 37)
    const out = new Uint8Array(16)
    ghash.digest(new Uint8Array(16), out, 0)
    expect(out).toEqual(reference(h, padded(data)))
  })

  it("the AES-GCM tag OpenSSL makes: GHASH of the AAD, the text and their lengths, masked by E(K, J0)", () => {
    // McGrew and Viega's GCM test case 2: all-zero key, nonce and block.
    const key = Buffer.alloc(16)
    const iv = Buffer.alloc(12)
    const cipher = crypto.createCipheriv("aes-128-gcm", key, iv)
    const text = Buffer.concat([cipher.update(Buffer.alloc(16)), cipher.final()])
    expect(text.toString("hex")).toBe("0388dace60b6a392f328c2b971b2fe78")
    const aes = crypto.createCipheriv("aes-128-ecb", key, null).setAutoPadding(false)
    const h = aes.update(Buffer.alloc(16))
    expect(h.toString("hex")).toBe("66e94bd4ef8a2c3b884cfa59ca342b2e")
    const ghash = new Ghash(h)
    ghash.update(text, 0, 16)
    ghash.lengths(0, 16)
    const tag = new Uint8Array(16)
    ghash.digest(aes.update(Buffer.concat([iv, Buffer.from([0, 0, 0, 1])])), tag, 0)
    expect(Buffer.from(tag)).toEqual(cipher.getAuthTag())
    expect(Buffer.from(tag).toString("hex")).toBe("ab6e47d42cec13bdf53a67b21257bddf")
  })
})

/** A plaintext packet of `length` bytes after its length field, as the codec makes one. */
const packet = (length: number) => {
  const p = crypto.randomBytes(4 + length)
  p.writeUInt32BE(length, 0)
  return p
}

/** OpenSSL's AES-GCM of the packet with the nonce `invocation` packets on. */
const openSsl = (bits: 128 | 256, key: Uint8Array, iv: Uint8Array, invocation: number, p: Uint8Array) => {
  const nonce = Buffer.from(iv.subarray(0, 12))
  nonce.writeBigUInt64BE(BigInt.asUintN(64, nonce.readBigUInt64BE(4) + BigInt(invocation)), 4)
  const cipher = crypto.createCipheriv(`aes-${bits}-gcm`, key, nonce)
  cipher.setAAD(p.subarray(0, 4))
  return Buffer.concat([p.subarray(0, 4), cipher.update(p.subarray(4)), cipher.final(), cipher.getAuthTag()])
}

describe("aes-gcm@openssh.com packets", () => {
  // Lengths on both sides of the point where sealing moves to OpenSSL's GCM, as SSH pads them.
  const lengths = [16, 32, 48, 64, 128, 160, 176, 192, 208, 256, 1024, 32768]

  for (const bits of [128, 256] as const) {
    it(`aes${bits}-gcm: OpenSSL's bytes, packet after packet, and opened back`, () => {
      const keys = { key: crypto.randomBytes(bits / 8), iv: crypto.randomBytes(12), macKey: new Uint8Array(0) }
      const sealer = gcmSealer(bits, keys)
      const opener = gcmOpener(bits, keys)
      lengths.forEach((length, invocation) => {
        const p = packet(length)
        const wire = sealer.seal(invocation, Buffer.from(p))
        expect(Buffer.from(wire).toString("hex")).toBe(openSsl(bits, keys.key, keys.iv, invocation, p).toString("hex"))
        expect(Buffer.from(opener.open(invocation, wire)!)).toEqual(p.subarray(4))
      })
    })
  }

  it("the 64-bit invocation counter carries across bytes, on both paths", () => {
    // The counter at 2^64 − 1: the second packet's nonce wraps it to zero.
    const iv = Buffer.from("00000000ffffffffffffffff", "hex")
    const keys = { key: crypto.randomBytes(16), iv, macKey: new Uint8Array(0) }
    const sealer = gcmSealer(128, keys)
    const opener = gcmOpener(128, keys)
    ;[32, 1024, 32].forEach((length, invocation) => {
      const p = packet(length)
      const wire = sealer.seal(invocation, Buffer.from(p))
      expect(Buffer.from(wire)).toEqual(openSsl(128, keys.key, iv, invocation, p))
      expect(opener.open(invocation, wire)).toBeDefined()
    })
  })

  it("any flipped bit in the length, the text or the tag is refused, on both paths", () => {
    for (const length of [48, 1024]) {
      const keys = { key: crypto.randomBytes(16), iv: crypto.randomBytes(12), macKey: new Uint8Array(0) }
      const wire = gcmSealer(128, keys).seal(0, packet(length))
      const positions = [0, 3, 4, 4 + length - 1, 4 + length, wire.length - 1]
      for (const at of positions) {
        const tampered = Buffer.from(wire)
        tampered[at] ^= 0x01
        // A fresh opener each time: one packet, at the nonce it was sealed under.
        expect(gcmOpener(128, keys).open(0, tampered)).toBeUndefined()
      }
      expect(gcmOpener(128, keys).open(0, wire)).toBeDefined()
    }
  })
})
