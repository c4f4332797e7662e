/**
 * ChaCha20 with OpenSSH's 64-bit counter and nonce, against RFC 8439's all-zero vectors,
 * @noble/ciphers' public original-layout ChaCha20 (8-byte nonce, 64-bit counter), and
 * OpenSSL's "chacha20" for every length on both sides of the point where the block function
 * of our own gives way to OpenSSL's.
 */
import { describe, expect, it } from "@effect/vitest"
import { chacha20orig } from "@noble/ciphers/chacha.js"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import { chacha20 } from "../../src/crypto/ChaCha20.js"

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("ChaCha20, OpenSSH's layout", () => {
  it("RFC 8439 A.1 #1 and #2: the key stream of the zero key, blocks 0 and 1", () => {
    const key = new Uint8Array(32)
    expect(toHex(chacha20(key, 0, 0, new Uint8Array(64)))).toBe(
      "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7" +
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    )
    expect(toHex(chacha20(key, 0, 1, new Uint8Array(64)))).toBe(
      "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed" +
        "29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f"
    )
  })

  it("the nonce is the sequence number, big-endian in the low half of 64 bits", () => {
    for (const [seq, counter, length] of [[0, 0, 32], [1, 1, 100], [0xfffffffe, 1, 1500], [123_456, 0, 7]]) {
      const key = crypto.randomBytes(32)
      const data = crypto.randomBytes(length)
      const nonce = new Uint8Array(8)
      new DataView(nonce.buffer).setUint32(4, seq)
      expect(toHex(chacha20(key, seq, counter, data)), `${seq}/${counter}`).toBe(
        toHex(chacha20orig(key, nonce, data, undefined, counter))
      )
    }
  })

  it("encrypting twice gives the data back", () => {
    const key = crypto.randomBytes(32)
    const data = crypto.randomBytes(200)
    expect(toHex(chacha20(key, 9, 1, chacha20(key, 9, 1, data)))).toBe(toHex(data))
  })

  it("OpenSSL's key stream, from the first byte to past 512 (where OpenSSL takes over), any key, nonce and counter", () => {
    const openSsl = (key: Uint8Array, seq: number, counter: number, data: Uint8Array) => {
      const iv = Buffer.alloc(16)
      iv.writeUInt32LE(counter, 0)
      iv.writeUInt32BE(seq, 12)
      return crypto.createCipheriv("chacha20", key, iv).update(data)
    }
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.nat({ max: 0xffffffff }),
        fc.nat({ max: 2 }),
        fc.uint8Array({ maxLength: 600 }),
        (key, seq, counter, data) => {
          expect(toHex(chacha20(key, seq, counter, data))).toBe(toHex(openSsl(key, seq, counter, data)))
        }
      ),
      { numRuns: 500 }
    )
    for (const length of [0, 1, 63, 64, 65, 511, 512, 513, 1024]) {
      const key = crypto.randomBytes(32)
      const data = crypto.randomBytes(length)
      expect(toHex(chacha20(key, 77, 1, data)), `${length} bytes`).toBe(toHex(openSsl(key, 77, 1, data)))
    }
  })
})
