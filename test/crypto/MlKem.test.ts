/**
 * ML-KEM-768 (FIPS 203) behind the `Kem` interface, against NIST's ACVP vectors (the file
 * test/crypto/vectors/ML-KEM-768.json says where each comes from): key generation from d and
 * z through our injected random source, encapsulation from m, decapsulation (of valid and of
 * modified ciphertexts: implicit rejection), and the encapsulation-key check, with C2SP's
 * keys whose coefficients are not reduced. Then ours against @noble/post-quantum's, on random
 * seeds and messages, and on modified ciphertexts.
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest"
import { CurveError } from "../../src/crypto/CurveOps.js"
import { mlkem768 } from "../../src/crypto/MlKem.js"
import * as MlKem768 from "../../src/crypto/MlKem768.js"

interface Vectors {
  readonly keyGen: ReadonlyArray<{ readonly tcId: number; readonly d: string; readonly z: string; readonly ek: string; readonly dk: string }>
  readonly encapsulation: ReadonlyArray<{ readonly tcId: number; readonly ek: string; readonly m: string; readonly c: string; readonly k: string }>
  readonly decapsulation: ReadonlyArray<{ readonly tcId: number; readonly dk: string; readonly c: string; readonly k: string }>
  readonly encapsulationKeyCheck: ReadonlyArray<{ readonly tcId: number; readonly ek: string; readonly testPassed: boolean }>
  readonly invalidEncapsulationKeys: ReadonlyArray<string>
}
const vectors = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, "vectors/ML-KEM-768.json"), "utf8")) as Vectors
const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex").toUpperCase()

/** A random source that hands out `chunks` in order, and fails if asked for anything else. */
const fixed = (...chunks: ReadonlyArray<Uint8Array>) => {
  const queue = [...chunks]
  return (n: number) => {
    const next = queue.shift()
    if (next === undefined || next.length !== n) throw new Error(`random(${n}) not scripted`)
    return next
  }
}

describe("ML-KEM-768", () => {
  // The kernel (the hashes' Keccak, the sampling and the NTT arithmetic) comes in
  // WebAssembly (the default) and JavaScript: both must give every ACVP byte.
  describe.each(["webassembly", "javascript"] as const)("with the %s kernel", (kind) => {
    beforeAll(() => MlKem768.useKernel(kind))
    afterAll(() => MlKem768.useKernel("default"))

    it.each(vectors.keyGen)("ACVP keyGen $tcId: d and z (64 bytes of our random source, d first) make ek and dk", (v) => {
      const pair = mlkem768.keyPair(fixed(new Uint8Array(Buffer.concat([hex(v.d), hex(v.z)]))))
      expect(toHex(pair.publicKey)).toBe(v.ek.toUpperCase())
      expect(toHex(pair.secretKey)).toBe(v.dk.toUpperCase())
    })

    it.each(vectors.encapsulation)("ACVP encapsulation $tcId: m makes c and K", (v) => {
      const sent = mlkem768.encapsulate(hex(v.ek), fixed(hex(v.m)))
      expect(toHex(sent.ciphertext)).toBe(v.c.toUpperCase())
      expect(toHex(sent.sharedSecret)).toBe(v.k.toUpperCase())
    })

    it.each(vectors.decapsulation)("ACVP decapsulation $tcId (a modified ciphertext gives the implicit-rejection secret)", (v) => {
      expect(toHex(mlkem768.decapsulate(hex(v.c), hex(v.dk)))).toBe(v.k.toUpperCase())
    })
  })

  it("Compress_d without a table: round(2^d·x/q) mod 2^d for every x below q, for d = 1, 4 (v), 10 (u) and 11", () => {
    const q = 3329n
    for (const d of [1, 4, 10, 11]) {
      for (let x = 0; x < 3329; x++) {
        // Rounding to the nearest, ties up, in exact integers: ⌊(2^(d+1)·x + q) / 2q⌋.
        const expected = Number(((2n ** BigInt(d + 1) * BigInt(x) + q) / (2n * q)) % 2n ** BigInt(d))
        if (MlKem768.compress(d, x) !== expected) expect.fail(`Compress_${d}(${x}) = ${MlKem768.compress(d, x)}, not ${expected}`)
      }
    }
  })

  it("ACVP's encapsulation-key check, and keys with a coefficient of q or more: refused with a CurveError; wrong lengths too", () => {
    expect(vectors.encapsulationKeyCheck.some((v) => !v.testPassed)).toBe(true)
    for (const v of vectors.encapsulationKeyCheck) {
      const encapsulate = () => mlkem768.encapsulate(hex(v.ek), () => new Uint8Array(32))
      if (v.testPassed) expect(encapsulate).not.toThrow()
      else expect(encapsulate, `tcId ${v.tcId}`).toThrow(CurveError)
    }
    for (const ek of vectors.invalidEncapsulationKeys) {
      expect(() => mlkem768.encapsulate(hex(ek), () => new Uint8Array(32))).toThrow(CurveError)
    }
    expect(() => mlkem768.encapsulate(new Uint8Array(1183), () => new Uint8Array(32))).toThrow(/1183 bytes, not 1184/)
    expect(() => mlkem768.decapsulate(new Uint8Array(1089), new Uint8Array(2400))).toThrow(/1089 bytes, not 1088/)
  })

  it.each(["webassembly", "javascript"] as const)(
    "agrees with @noble/post-quantum on random seeds, with the %s kernel: keys, ciphertext, secret, and decapsulation of a modified ciphertext",
    (kind) => {
      MlKem768.useKernel(kind)
      onTestFinished(() => MlKem768.useKernel("default"))
      const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length })
      fc.assert(
        fc.property(bytes(64), bytes(32), fc.nat(1087), fc.integer({ min: 1, max: 255 }), (seed, m, at, flip) => {
          const ours = mlkem768.keyPair(fixed(seed))
          const theirs = ml_kem768.keygen(seed)
          expect(toHex(ours.publicKey)).toBe(toHex(theirs.publicKey))
          expect(toHex(ours.secretKey)).toBe(toHex(theirs.secretKey))
          const sent = mlkem768.encapsulate(ours.publicKey, fixed(m))
          const expected = ml_kem768.encapsulate(theirs.publicKey, m)
          expect(toHex(sent.ciphertext)).toBe(toHex(expected.cipherText))
          expect(toHex(sent.sharedSecret)).toBe(toHex(expected.sharedSecret))
          expect(toHex(mlkem768.decapsulate(sent.ciphertext, ours.secretKey))).toBe(toHex(sent.sharedSecret))
          const forged = Uint8Array.from(sent.ciphertext)
          forged[at] = forged[at]! ^ flip
          const rejected = mlkem768.decapsulate(forged, ours.secretKey)
          expect(toHex(rejected)).toBe(toHex(ml_kem768.decapsulate(forged, theirs.secretKey)))
          expect(toHex(rejected)).not.toBe(toHex(sent.sharedSecret))
        }),
        // The JavaScript kernel's Keccak is BigInts: fewer runs.
        { numRuns: kind === "webassembly" ? 200 : 40 }
      )
    }
  )

  it("decapsulates under older key pairs after newer ones were made (the block keeps the last expanded Â only), as noble does", () => {
    // Several connections' key exchanges interleave: pair A, then B, then both decapsulate.
    const bytes = (length: number) => fc.uint8Array({ minLength: length, maxLength: length })
    fc.assert(
      fc.property(bytes(64), bytes(64), bytes(32), (seedA, seedB, m) => {
        const a = mlkem768.keyPair(fixed(seedA))
        const sentToA = ml_kem768.encapsulate(a.publicKey, m)
        const b = mlkem768.keyPair(fixed(seedB))
        const sentToB = ml_kem768.encapsulate(b.publicKey, m)
        expect(toHex(mlkem768.decapsulate(sentToA.cipherText, a.secretKey))).toBe(toHex(sentToA.sharedSecret))
        expect(toHex(mlkem768.decapsulate(sentToB.cipherText, b.secretKey))).toBe(toHex(sentToB.sharedSecret))
        // A ciphertext for B under A's key is rejected, as noble rejects it.
        expect(toHex(mlkem768.decapsulate(sentToB.cipherText, a.secretKey))).toBe(toHex(ml_kem768.decapsulate(sentToB.cipherText, a.secretKey)))
      }),
      { numRuns: 50 }
    )
  })
})
