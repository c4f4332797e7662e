/**
 * ML-KEM's NTT arithmetic (src/crypto/MlKemArithmetic.ts): the WebAssembly SIMD kernel against
 * the JavaScript one on random polynomials at the edges of each function's input bounds. Both
 * must agree mod q and keep the output bounds the callers rely on; where the output is
 * canonical, they must agree exactly. (ML-KEM's own tests hold both to NIST's vectors.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import * as Arithmetic from "../../src/crypto/MlKemArithmetic.js"

const { n, q } = Arithmetic
const kernels = { webassembly: Arithmetic.webAssembly(4)!, javascript: Arithmetic.javascript(4) }
const mod = (x: number) => ((x % q) + q) % q
const poly = (bound: number) => fc.array(fc.integer({ min: -bound, max: bound }), { minLength: n, maxLength: n })
const within = (f: Int32Array, bound: number) => f.every((x) => Math.abs(x) < bound)

/** Runs `op` on both kernels from the same polynomials 0–3; the kernels' blocks after. */
const both = (inputs: ReadonlyArray<ReadonlyArray<number>>, op: (a: Arithmetic.Arithmetic) => void) =>
  Object.values(kernels).map((a) => {
    inputs.forEach((p, i) => a.polys[i]!.set(p))
    op(a)
    return a.polys.map((p) => Array.from(p))
  })

describe("ML-KEM arithmetic", () => {
  it("this runtime has WebAssembly SIMD: the fast kernel is made", () => {
    expect(kernels.webassembly).toBeDefined()
  })

  it("ntt: the kernels agree mod q on inputs in (−q, q), and the output stays within ±8q", () => {
    fc.assert(
      fc.property(poly(q - 1), (f) => {
        const [wasm, js] = both([f], (a) => a.ntt(0))
        expect(wasm![0]!.map(mod)).toEqual(js![0]!.map(mod))
        expect(within(Int32Array.from(wasm![0]!), 8 * q)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("multiplyAccumulate then invNttOfProducts: the kernels agree mod q at the bounds (f in (−q, q), g within ±8q, three products), the output in (−q, q)", () => {
    fc.assert(
      fc.property(poly(q - 1), poly(8 * q - 1), poly(q - 1), poly(8 * q - 1), (f, g, h, k) => {
        const [wasm, js] = both([f, g, h, k], (a) => {
          a.polys[2]!.fill(0)
          a.multiplyAccumulate(2, 0, 1)
          a.multiplyAccumulate(2, 1, 0)
          a.multiplyAccumulate(2, 0, 3)
          a.invNttOfProducts(2)
        })
        expect(wasm![2]!.map(mod)).toEqual(js![2]!.map(mod))
        expect(within(Int32Array.from(wasm![2]!), q)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })

  it("reduce and addToProducts: canonical outputs, the same from both kernels", () => {
    fc.assert(
      fc.property(poly(31 * q), poly(8 * q), (f, e) => {
        const [wasm, js] = both([f, e, f], (a) => {
          a.reduce(0)
          a.addToProducts(2, 1)
        })
        expect(wasm![0]).toEqual(js![0])
        expect(wasm![0]).toEqual(f.map(mod))
        expect(wasm![2]).toEqual(js![2])
        expect(wasm![2]!.every((x) => x >= 0 && x < q)).toBe(true)
      }),
      { numRuns: 300 }
    )
  })
})
