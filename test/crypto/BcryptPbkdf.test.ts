/**
 * bcrypt_pbkdf against the `bcrypt-pbkdf` package (a port of OpenBSD's C) as an oracle.
 * Inputs are pseudo-random from a fixed seed so a failure reproduces.
 */
import { pbkdf } from "bcrypt-pbkdf"
import { createHash } from "node:crypto"
import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import { bcryptPbkdf, bcryptPbkdfBlock } from "../../src/crypto/BcryptPbkdf.js"

// The package also exports bcrypt_hash, which its type declarations leave out.
const oracleHash = createRequire(import.meta.url)("bcrypt-pbkdf").hash as (
  sha2pass: Uint8Array,
  sha2salt: Uint8Array,
  out: Uint8Array
) => void

let seed = 0x9e3779b9
const randomBytes = (n: number): Uint8Array => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    // xorshift32: reproducible, unlike crypto.randomBytes.
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    out[i] = seed
  }
  return out
}

const oracle = (pass: Uint8Array, salt: Uint8Array, rounds: number, length: number): Uint8Array => {
  const key = new Uint8Array(length)
  expect(pbkdf(pass, pass.length, salt, salt.length, key, length, rounds)).toBe(0)
  return key
}

const sha512 = (data: Uint8Array) => createHash("sha512").update(data).digest()
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("bcryptPbkdf", () => {
  // [passphrase length, salt length, rounds, key length]; rounds × ceil(length / 32) bounds the cost.
  const cases: ReadonlyArray<readonly [number, number, number, number]> = [
    [1, 16, 1, 1],
    [13, 16, 1, 100],
    [100, 16, 2, 64],
    [64, 7, 2, 32],
    [5, 1, 16, 48],
    [72, 16, 2, 32],
    [33, 24, 1, 48],
    [100, 3, 2, 100],
    [8, 16, 2, 1],
    [20, 16, 1, 1024]
  ]
  for (const [passLength, saltLength, rounds, length] of cases) {
    it(`matches the oracle: passphrase ${passLength} B, salt ${saltLength} B, ${rounds} rounds, ${length} B`, () => {
      const pass = randomBytes(passLength)
      const salt = randomBytes(saltLength)
      expect(hex(bcryptPbkdf(pass, salt, rounds, length))).toBe(hex(oracle(pass, salt, rounds, length)))
    })
  }

  it("accepts an empty passphrase, which the oracle refuses, by the same bcrypt_hash", () => {
    const salt = randomBytes(16)
    expect(pbkdf(new Uint8Array(0), 0, salt, salt.length, new Uint8Array(32), 32, 1)).toBe(-1)
    // One round and at most 32 bytes: the key is bcrypt_hash(SHA-512(""), SHA-512(salt || 00000001)).
    const expected = new Uint8Array(32)
    oracleHash(sha512(new Uint8Array(0)), sha512(new Uint8Array([...salt, 0, 0, 0, 1])), expected)
    expect(hex(bcryptPbkdf(new Uint8Array(0), salt, 1, 32))).toBe(hex(expected))
    expect(hex(bcryptPbkdf(new Uint8Array(0), salt, 1, 5))).toBe(hex(expected.subarray(0, 5)))
  })

  it("interleaves the independent blocks byte by byte", () => {
    const pass = randomBytes(10)
    const salt = randomBytes(16)
    const blocks = [1, 2, 3].map((count) => bcryptPbkdfBlock(pass, salt, 2, count))
    const key = bcryptPbkdf(pass, salt, 2, 70)
    expect(Array.from(key, (_, i) => blocks[i % 3][Math.floor(i / 3)])).toEqual(Array.from(key))
  })

  it("throws RangeError for bad rounds, an empty salt or a length outside 1..1024", () => {
    const pass = randomBytes(8)
    const salt = randomBytes(16)
    for (const rounds of [0, -1, 1.5, Number.NaN]) expect(() => bcryptPbkdf(pass, salt, rounds, 32)).toThrow(RangeError)
    expect(() => bcryptPbkdf(pass, new Uint8Array(0), 16, 32)).toThrow(RangeError)
    for (const length of [0, 1025, 2.5, Number.NaN]) expect(() => bcryptPbkdf(pass, salt, 16, length)).toThrow(RangeError)
    for (const count of [0, 2 ** 32]) expect(() => bcryptPbkdfBlock(pass, salt, 1, count)).toThrow(RangeError)
  })
})
