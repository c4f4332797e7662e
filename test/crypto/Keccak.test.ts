/**
 * The Keccak sponge ML-KEM hashes with (src/crypto/Keccak.ts), both permutations, held to
 * node:crypto's SHA-3 and SHAKE on random inputs of every length around the block boundaries,
 * squeezed in pieces.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import * as Keccak from "../../src/crypto/Keccak.js"

const functions = [
  { name: "sha3-256", rate: Keccak.rate.sha3_256, domain: Keccak.domain.sha3, length: 32 },
  { name: "sha3-512", rate: Keccak.rate.sha3_512, domain: Keccak.domain.sha3, length: 64 },
  { name: "shake128", rate: Keccak.rate.shake128, domain: Keccak.domain.shake, length: 700 },
  { name: "shake256", rate: Keccak.rate.shake256, domain: Keccak.domain.shake, length: 300 }
] as const

const expected = (name: string, length: number, data: Uint8Array) =>
  crypto.createHash(name, name.startsWith("shake") ? { outputLength: length } : {}).update(data).digest("hex")

const sponges = { webassembly: Keccak.webAssembly(), javascript: Keccak.javascript() }

describe("Keccak", () => {
  it("this runtime has WebAssembly: the fast permutation is the one in use", () => {
    expect(sponges.webassembly).toBeDefined()
  })

  describe.each(Object.keys(sponges))("the %s permutation", (kind) => {
    const sponge = sponges[kind as keyof typeof sponges]!
    it.each(functions)("$name matches node:crypto for every input length up to three blocks, squeezed in pieces", (f) => {
      for (let length = 0; length <= 3 * f.rate + 1; length += kind === "javascript" ? 17 : 1) {
        const data = crypto.randomBytes(length)
        // Absorbed in two parts, split anywhere.
        const at = length === 0 ? 0 : length % 7
        sponge.absorb(f.rate, f.domain, data.subarray(0, at), data.subarray(at))
        const out = new Uint8Array(f.length)
        // Squeezed in uneven pieces, across block boundaries.
        for (let done = 0, piece = 1; done < f.length; piece = piece * 3 % 97 + 1) {
          const n = Math.min(piece, f.length - done)
          sponge.squeeze(out, done, n)
          done += n
        }
        expect(Buffer.from(out).toString("hex"), `${f.name}, ${length} bytes`).toBe(expected(f.name, f.length, data))
      }
    })

    it("squeezeBlock reads SHAKE128 a whole block at a time, in place, as node:crypto's output; refused off a block boundary", () => {
      const data = crypto.randomBytes(34)
      sponge.absorb(Keccak.rate.shake128, Keccak.domain.shake, data)
      const blocks = Array.from({ length: 4 }, () => Buffer.from(sponge.squeezeBlock().subarray(0, Keccak.rate.shake128)).toString("hex"))
      expect(blocks.join("")).toBe(expected("shake128", 4 * Keccak.rate.shake128, data))
      sponge.absorb(Keccak.rate.shake128, Keccak.domain.shake, data)
      sponge.squeeze(new Uint8Array(3), 0, 3)
      expect(() => sponge.squeezeBlock()).toThrow(/block boundary/)
    })

    it("wipe leaves nothing of what was hashed: after it, two different inputs squeeze the same bytes", () => {
      const after = (input: string) => {
        sponge.absorb(Keccak.rate.shake256, Keccak.domain.shake, Buffer.from(input))
        sponge.wipe()
        const out = new Uint8Array(64)
        sponge.squeeze(out, 0, 64)
        return Buffer.from(out).toString("hex")
      }
      expect(after("a secret")).toBe(after("another secret, longer than the first"))
      sponge.absorb(Keccak.rate.shake256, Keccak.domain.shake, Buffer.from("a secret"))
      const unwiped = new Uint8Array(64)
      sponge.squeeze(unwiped, 0, 64)
      expect(Buffer.from(unwiped).toString("hex")).not.toBe(after("a secret"))
    })

    it("agrees with node:crypto's SHAKE256 on random inputs and lengths", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 600 }), (data, length) => {
          sponge.absorb(Keccak.rate.shake256, Keccak.domain.shake, data)
          const out = new Uint8Array(length)
          sponge.squeeze(out, 0, length)
          expect(Buffer.from(out).toString("hex")).toBe(expected("shake256", length, data))
        }),
        { numRuns: kind === "javascript" ? 20 : 300 }
      )
    })
  })
})
