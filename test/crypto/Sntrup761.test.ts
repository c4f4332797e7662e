/**
 * sntrup761 against its known-answer tests, in both of the readings of NIST's deterministic
 * `randombytes` that implementations use (see test/crypto/vectors/README.md):
 * - the NTRU Prime round-3 submission's kat_kem.rsp (counts 0 and 1, byte for byte), whose
 *   reference drew each random 32-bit word with its own randombytes(4);
 * - OpenSSH's current sntrup761.c as liboqs runs it (all 100 counts, by the SHA-256 that
 *   liboqs publishes for its KAT output) and PQClean's (count 0, the same way), which draw
 *   761 words with one randombytes(3044).
 * Then properties on random keys: a round trip, implicit rejection of any altered ciphertext
 * (the exact rejection secret, the same every time), inputs of the wrong length refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { CurveError } from "../../src/crypto/Curves.js"
import * as Sntrup761 from "../../src/crypto/Sntrup761.js"
import { NistDrbg } from "../support/NistDrbg.js"

const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex").toUpperCase()
const fromHex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"))
const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex")
/** SUPERCOP's HashN: the first 32 bytes of SHA-512(N || parts). */
const hashPrefix = (n: number, ...parts: ReadonlyArray<Uint8Array>) => {
  const h = crypto.createHash("sha512").update(Uint8Array.of(n))
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest().subarray(0, 32))
}

/** The DRBG as OpenSSH's and SUPERCOP's current code reads it: each request is one randombytes call. */
const batched = (drbg: NistDrbg) => (n: number) => drbg.randomBytes(n)

/** The DRBG as the round-3 reference read it: every 32-bit word of a polynomial is its own randombytes(4). */
const wordByWord = (drbg: NistDrbg) => (n: number) => {
  if (n !== 4 * 761) return drbg.randomBytes(n)
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i += 4) out.set(drbg.randomBytes(4), i)
  return out
}

/** One NIST KAT entry: count, seed, pk, sk, ct, ss, with uppercase hex as PQCgenKAT_kem writes it. */
const katEntry = (count: number, seed: Uint8Array, random: (n: number) => Uint8Array) => {
  const { publicKey, secretKey } = Sntrup761.keyPair(random)
  const { ciphertext, sharedSecret } = Sntrup761.encapsulate(publicKey, random)
  expect(toHex(Sntrup761.decapsulate(ciphertext, secretKey)), `count ${count}`).toBe(toHex(sharedSecret))
  return `count = ${count}\nseed = ${toHex(seed)}\npk = ${toHex(publicKey)}\nsk = ${toHex(secretKey)}\nct = ${toHex(ciphertext)}\nss = ${toHex(sharedSecret)}\n`
}

/** A random source for properties: NIST's DRBG from a 48-byte seed. */
const seeded = (seed: Uint8Array) => batched(new NistDrbg(seed))
const seeds = fc.uint8Array({ minLength: 48, maxLength: 48 })

const thrown = (f: () => unknown): unknown => {
  try {
    f()
  } catch (e) {
    return e
  }
  throw new Error("expected a throw")
}

describe("sntrup761", () => {
  it("has the specification's sizes", () => {
    expect([Sntrup761.publicKeyLength, Sntrup761.secretKeyLength, Sntrup761.ciphertextLength, Sntrup761.sharedSecretLength]).toEqual([
      1158,
      1763,
      1039,
      32
    ])
    const random = seeded(new Uint8Array(48))
    const { publicKey, secretKey } = Sntrup761.keyPair(random)
    const { ciphertext, sharedSecret } = Sntrup761.encapsulate(publicKey, random)
    expect([publicKey.length, secretKey.length, ciphertext.length, sharedSecret.length]).toEqual([1158, 1763, 1039, 32])
  })

  // The inversions' step loops come in WebAssembly (the default) and JavaScript: both must give every KAT byte.
  describe.each(["webassembly", "javascript"] as const)("with the %s step loops", (kind) => {
    beforeAll(() => Sntrup761.useDivstepLoops(kind))
    afterAll(() => Sntrup761.useDivstepLoops("default"))

    it("the round-3 submission's KAT, counts 0 and 1, byte for byte: key pair, ciphertext, shared secret, decapsulation", () => {
      const text = fs.readFileSync(path.resolve(import.meta.dirname, "vectors/sntrup761-kat_kem-0-1.rsp"), "utf8")
      const entries = text.trim().split(/\n\n/).map((block) => Object.fromEntries(block.split("\n").map((line) => line.split(" = ") as [string, string])))
      expect(entries.map((e) => e.count)).toEqual(["0", "1"])
      for (const e of entries) {
        const random = wordByWord(new NistDrbg(fromHex(e.seed)))
        const { publicKey, secretKey } = Sntrup761.keyPair(random)
        expect(toHex(publicKey), `pk ${e.count}`).toBe(e.pk)
        expect(toHex(secretKey), `sk ${e.count}`).toBe(e.sk)
        const { ciphertext, sharedSecret } = Sntrup761.encapsulate(publicKey, random)
        expect(toHex(ciphertext), `ct ${e.count}`).toBe(e.ct)
        expect(toHex(sharedSecret), `ss ${e.count}`).toBe(e.ss)
        // And from the file's own bytes, not ours.
        expect(toHex(Sntrup761.decapsulate(fromHex(e.ct), fromHex(e.sk))), `dec ${e.count}`).toBe(e.ss)
      }
    })

    it("OpenSSH's sntrup761.c as liboqs tests it: all 100 KAT counts hash to liboqs's digest, count 0 to PQClean's", () => {
      // liboqs's tests/kat_kem.c: one DRBG seeded with the bytes 0 … 47 gives each count's seed;
      // the count's keypair, enc and dec run on a DRBG seeded with it; entries are separated by
      // a blank line. tests/KATs/kem/kats.json holds the SHA-256 of that text ("all") and of
      // count 0 alone ("single", also PQClean's nistkat-sha256 in crypto_kem/sntrup761/META.yml).
      const master = new NistDrbg(Uint8Array.from({ length: 48 }, (_, i) => i))
      const entries: Array<string> = []
      for (let count = 0; count < 100; count++) {
        const seed = master.randomBytes(48)
        entries.push(katEntry(count, seed, batched(new NistDrbg(seed))))
      }
      expect(sha256(entries[0])).toBe("afc42c3a5b10f4ef69654250097ebda9b9564570f4086744b24a6daf2bd1f89a")
      expect(sha256(entries.join("\n"))).toBe("36e1e53d4e6e295e8fb804449958ad9a3719aa350e91933c65791b9117382d57")
    })
  })

  it("draws a new g when the last is not invertible in R/3, and keeps none of it", () => {
    // x^761 − x − 1 factors mod 3 into irreducibles of degrees 19, 60 and 682; this is the
    // one of degree 19 (coefficients from x^0 up), which no g that is a multiple of it can
    // be inverted past. Checked here by long division.
    const factor = [-1, -1, 0, -1, -1, -1, 1, -1, 1, -1, 0, -1, 1, 1, 1, 1, -1, 0, 1, 1]
    const remainder: Array<number> = Array.from({ length: 762 }, (_, i) => (i === 761 ? 1 : i === 1 || i === 0 ? -1 : 0))
    for (let i = 761; i >= 19; i--) {
      const c = remainder[i]
      for (let j = 0; j <= 19; j++) remainder[i - 19 + j] = (((remainder[i - 19 + j] - c * factor[j]) % 3) + 3) % 3
    }
    expect(remainder.every((c) => c === 0)).toBe(true)

    // Each coefficient of g is ⌊3·(u mod 2^30)/2^30⌋ − 1 of a little-endian word u.
    const wordsFor = (g: ReadonlyArray<number>) => {
      const bytes = new Uint8Array(4 * 761)
      const view = new DataView(bytes.buffer)
      for (let i = 0; i < 761; i++) view.setUint32(4 * i, [0, 0x20000000, 0x3fffffff][(g[i] ?? 0) + 1], true)
      return bytes
    }
    const multiple = Array.from({ length: 761 }, (_, i) => (i >= 5 && i < 25 ? factor[i - 5] : 0)) // x^5 · factor
    for (const bad of [factor, multiple, []]) {
      const seed = crypto.randomBytes(48)
      const expected = Sntrup761.keyPair(seeded(seed))
      const drbg = new NistDrbg(seed)
      let first = true
      let draws = 0
      const pair = Sntrup761.keyPair((n) => {
        if (n === 4 * 761) draws++
        if (n === 4 * 761 && first) {
          first = false
          return wordsFor(bad)
        }
        return drbg.randomBytes(n)
      })
      expect(draws).toBe(3)
      expect(toHex(pair.publicKey)).toBe(toHex(expected.publicKey))
      expect(toHex(pair.secretKey)).toBe(toHex(expected.secretKey))
    }
  })

  it("a round trip on random keys: decapsulation gives the encapsulated secret", () => {
    fc.assert(
      fc.property(seeds, seeds, (keySeed, encapsulationSeed) => {
        const { publicKey, secretKey } = Sntrup761.keyPair(seeded(keySeed))
        const { ciphertext, sharedSecret } = Sntrup761.encapsulate(publicKey, seeded(encapsulationSeed))
        expect(toHex(Sntrup761.decapsulate(ciphertext, secretKey))).toBe(toHex(sharedSecret))
      }),
      { numRuns: 25 }
    )
  })

  it("an altered ciphertext gives the implicit-rejection secret Hash0(Hash3(rho) || ciphertext), the same each time", () => {
    const { publicKey, secretKey } = Sntrup761.keyPair(seeded(crypto.randomBytes(48)))
    const rho = secretKey.subarray(2 * 191 + 1158, 3 * 191 + 1158)
    fc.assert(
      fc.property(seeds, fc.nat(1039 * 8 - 1), fc.integer({ min: 1, max: 255 }), (seed, bit, garbage) => {
        const { ciphertext, sharedSecret } = Sntrup761.encapsulate(publicKey, seeded(seed))
        const flipped = Uint8Array.from(ciphertext)
        flipped[bit >> 3] ^= 1 << (bit & 7)
        // And a byte replaced outright, anywhere, in the rounded part or the confirmation.
        const overwritten = Uint8Array.from(ciphertext)
        overwritten[(bit * 7) % 1039] ^= garbage
        for (const altered of [flipped, overwritten]) {
          const rejected = Sntrup761.decapsulate(altered, secretKey)
          expect(toHex(rejected)).not.toBe(toHex(sharedSecret))
          expect(toHex(rejected)).toBe(toHex(hashPrefix(0, hashPrefix(3, rho), altered)))
          expect(toHex(Sntrup761.decapsulate(altered, secretKey))).toBe(toHex(rejected))
        }
      }),
      { numRuns: 25 }
    )
  })

  it("a ciphertext for another key is rejected the same way", () => {
    const a = Sntrup761.keyPair(seeded(crypto.randomBytes(48)))
    const b = Sntrup761.keyPair(seeded(crypto.randomBytes(48)))
    const { ciphertext, sharedSecret } = Sntrup761.encapsulate(a.publicKey, seeded(crypto.randomBytes(48)))
    const rho = b.secretKey.subarray(2 * 191 + 1158, 3 * 191 + 1158)
    const rejected = Sntrup761.decapsulate(ciphertext, b.secretKey)
    expect(toHex(rejected)).not.toBe(toHex(sharedSecret))
    expect(toHex(rejected)).toBe(toHex(hashPrefix(0, hashPrefix(3, rho), ciphertext)))
  })

  it("any 1158 bytes are a public key to encapsulate to (decoding reduces every coefficient)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1158, maxLength: 1158 }), seeds, (publicKey, seed) => {
        const { ciphertext, sharedSecret } = Sntrup761.encapsulate(publicKey, seeded(seed))
        expect([ciphertext.length, sharedSecret.length]).toEqual([1039, 32])
      }),
      { numRuns: 10 }
    )
    expect(Sntrup761.encapsulate(new Uint8Array(1158).fill(0xff), seeded(new Uint8Array(48))).ciphertext.length).toBe(1039)
  })

  it("refuses inputs of the wrong length with a CurveError, never a crash", () => {
    const { publicKey, secretKey } = Sntrup761.keyPair(seeded(new Uint8Array(48)))
    const { ciphertext } = Sntrup761.encapsulate(publicKey, seeded(new Uint8Array(48)))
    const wrong = (length: number) => fc.nat(2 * length).filter((n) => n !== length).map((n) => new Uint8Array(n))
    fc.assert(
      fc.property(wrong(1158), wrong(1039), wrong(1763), (badPublicKey, badCiphertext, badSecretKey) => {
        const cases: ReadonlyArray<[() => unknown, string, string]> = [
          [() => Sntrup761.encapsulate(badPublicKey, seeded(new Uint8Array(48))), "sntrup761 encapsulate", "public key"],
          [() => Sntrup761.decapsulate(badCiphertext, secretKey), "sntrup761 decapsulate", "ciphertext"],
          [() => Sntrup761.decapsulate(ciphertext, badSecretKey), "sntrup761 decapsulate", "secret key"]
        ]
        for (const [f, operation, what] of cases) {
          const e = thrown(f)
          expect(e).toBeInstanceOf(CurveError)
          expect((e as CurveError)._tag).toBe("CurveError")
          expect((e as CurveError).operation).toBe(operation)
          expect((e as CurveError).message).toMatch(new RegExp(`^${operation}: ${what} is \\d+ bytes, expected \\d+$`))
        }
      }),
      { numRuns: 50 }
    )
  })

  it("a random source that returns the wrong number of bytes is a defect (RangeError), not silence", () => {
    expect(thrown(() => Sntrup761.keyPair((n) => new Uint8Array(n - 1)))).toBeInstanceOf(RangeError)
    const { publicKey } = Sntrup761.keyPair(seeded(new Uint8Array(48)))
    expect(thrown(() => Sntrup761.encapsulate(publicKey, () => new Uint8Array(0)))).toBeInstanceOf(RangeError)
  })
})
