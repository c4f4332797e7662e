/**
 * ML-KEM's kernel (src/crypto/MlKemKernel.ts): the WebAssembly one against the JavaScript one,
 * on random inputs at the edges of each function's bounds. The arithmetic must agree mod q and
 * keep the output bounds the callers rely on; where an output is canonical, and for the
 * sampling, the two must agree exactly. (ML-KEM's own tests hold both to NIST's vectors.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Keccak from "../../src/crypto/Keccak.js"
import * as MlKemKernel from "../../src/crypto/MlKemKernel.js"

const { n, q } = MlKemKernel
const kernels = { webassembly: MlKemKernel.webAssembly(4)!, javascript: MlKemKernel.javascript(4) }
const mod = (x: number) => ((x % q) + q) % q
const poly = (bound: number) => fc.array(fc.integer({ min: -bound, max: bound }), { minLength: n, maxLength: n })
const within = (f: ReadonlyArray<number>, bound: number) => f.every((x) => Math.abs(x) < bound)

/** Runs `op` on both kernels from the same polynomials; each kernel's polynomials after. */
const both = (inputs: ReadonlyArray<ReadonlyArray<number>>, op: (kernel: MlKemKernel.Kernel) => void) =>
  Object.values(kernels).map((kernel) => {
    inputs.forEach((p, i) => kernel.polys[i]!.set(p))
    op(kernel)
    return kernel.polys.map((p) => Array.from(p))
  }) as [Array<Array<number>>, Array<Array<number>>]

describe("ML-KEM kernel", () => {
  it("this runtime has WebAssembly SIMD: the fast kernel is made", () => {
    expect(kernels.webassembly).toBeDefined()
  })

  it("sampleNtt: the same 256 coefficients below q from SHAKE128 of random seeds", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 34, maxLength: 34 }), (seed) => {
        const [wasm, js] = both([], (kernel) => {
          kernel.sponge.absorb(Keccak.rate.shake128, Keccak.domain.shake, seed)
          kernel.sampleNtt(0)
        })
        expect(wasm[0]).toEqual(js[0])
        expect(wasm[0]!.every((x) => x >= 0 && x < q)).toBe(true)
      }),
      { numRuns: 100 }
    )
  })

  it("sampleCbd: the same coefficients in [−2, 2] from SHAKE256 of random keys, every value seen", () => {
    const seen = new Set<number>()
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 33, maxLength: 33 }), (input) => {
        const [wasm, js] = both([], (kernel) => {
          kernel.sponge.absorb(Keccak.rate.shake256, Keccak.domain.shake, input)
          kernel.sampleCbd(1)
        })
        expect(wasm[1]).toEqual(js[1])
        for (const x of wasm[1]!) seen.add(x)
      }),
      { numRuns: 100 }
    )
    expect([...seen].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2])
  })

  it("ntt: the kernels agree mod q on inputs in (−q, q), and the output stays within ±8q", () => {
    fc.assert(
      fc.property(poly(q - 1), (f) => {
        const [wasm, js] = both([f], (kernel) => kernel.ntt(0))
        expect(wasm[0]!.map(mod)).toEqual(js[0]!.map(mod))
        expect(within(wasm[0]!, 8 * q)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("multiplyAccumulate then invNttOfProducts: the kernels agree mod q at the bounds (f in (−q, q), g within ±8q, three products), the output in (−q, q)", () => {
    fc.assert(
      fc.property(poly(q - 1), poly(8 * q - 1), poly(8 * q - 1), (f, g, h) => {
        const [wasm, js] = both([f, g, [], h], (kernel) => {
          kernel.polys[2]!.fill(0)
          kernel.multiplyAccumulate(2, 0, 1)
          kernel.multiplyAccumulate(2, 1, 0)
          kernel.multiplyAccumulate(2, 0, 3)
          kernel.invNttOfProducts(2)
        })
        expect(wasm[2]!.map(mod)).toEqual(js[2]!.map(mod))
        expect(within(wasm[2]!, q)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("reduce and addToProducts: canonical outputs, the same from both kernels", () => {
    fc.assert(
      fc.property(poly(31 * q), poly(8 * q), (f, e) => {
        const [wasm, js] = both([f, e, f], (kernel) => {
          kernel.reduce(0)
          kernel.addToProducts(2, 1)
        })
        expect(wasm[0]).toEqual(js[0])
        expect(wasm[0]).toEqual(f.map(mod))
        expect(wasm[2]).toEqual(js[2])
        expect(wasm[2]!.every((x) => x >= 0 && x < q)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})
