/**
 * The two inner loops of sntrup761's Bernstein–Yang inversions (see `Sntrup761.ts`), in
 * WebAssembly. A client's key exchange runs them 3,042 times over up to 762 coefficients, and
 * most of a fresh process's sntrup761 time went to running them in the JIT's early tiers
 * before it had compiled them; WebAssembly is compiled before its first call. The arithmetic is
 * the JavaScript loops' own, the same IEEE double operations in the same order (WebAssembly
 * never fuses or reorders them), so both give the same bits; the JavaScript loops stay for a
 * runtime without WebAssembly (`node --jitless`), and the tests run both.
 *
 * The module is a few hundred bytes, written out below as its binary encoding rather than
 * shipped as a build artifact. Its four vectors live in its memory:
 * - `f`, `g`: p + 1 coefficients each;
 * - `v`, `r`: p coefficients each.
 *
 * @since 0.1.0
 */
import { blockAndLoop, constF64, encode, instantiate, localGet as get, localSet as set, memory8, op, sleb, type } from "./WasmModule.js"

/** 1.5·2^52: adding then subtracting it rounds a double of magnitude below 2^51 to an integer. */
const rounder = 6755399441055744

/**
 * The vectors of one inversion and its two loops, for a step with swap bit `bit` (0 or 1),
 * signed leading coefficients `sf0`, `sg0`, modulus `m` (with `mInverse` = 1/m), over the
 * first `length` coefficients:
 * - `stepFg`: f ← g where swapping; g ← (sf0·g − sg0·f)/x mod m; g's top coefficient ← 0;
 * - `stepVr`: v ← x·v, swapped with r where swapping; r ← sf0·r − sg0·x·v mod m.
 *
 * @since 0.1.0
 * @category models
 */
export interface DivstepLoops {
  readonly f: Float64Array
  readonly g: Float64Array
  readonly v: Float64Array
  readonly r: Float64Array
  stepFg(bit: number, sf0: number, sg0: number, length: number, m: number, mInverse: number): void
  stepVr(bit: number, sf0: number, sg0: number, length: number, m: number, mInverse: number): void
}

// ----- JavaScript

/**
 * The loops in JavaScript, over vectors of `p` (and p + 1) coefficients.
 *
 * @since 0.1.0
 * @category constructors
 */
export const javascript = (p: number): DivstepLoops => {
  const f = new Float64Array(p + 1)
  const g = new Float64Array(p + 1)
  const v = new Float64Array(p)
  const r = new Float64Array(p)
  return {
    f,
    g,
    v,
    r,
    stepFg(bit, sf0, sg0, length, m, mInverse) {
      for (let i = 0; i < length - 1; i++) {
        const fi = f[i]!
        f[i] = fi + bit * (g[i]! - fi)
        const x = sf0 * g[i + 1]! - sg0 * f[i + 1]!
        g[i] = x - m * ((x * mInverse + rounder) - rounder)
      }
      const last = length - 1
      f[last] = f[last]! + bit * (g[last]! - f[last]!)
      g[last] = 0
    },
    stepVr(bit, sf0, sg0, length, m, mInverse) {
      for (let i = length - 1; i > 0; i--) {
        const shifted = v[i - 1]!
        const ri = r[i]!
        v[i] = shifted + bit * (ri - shifted)
        const x = sf0 * ri - sg0 * shifted
        r[i] = x - m * ((x * mInverse + rounder) - rounder)
      }
      const r0 = r[0]!
      v[0] = bit * r0
      const x = sf0 * r0
      r[0] = x - m * ((x * mInverse + rounder) - rounder)
    }
  }
}

// ----- WebAssembly

const { f64, i32 } = type

/** f64.load / f64.store at a constant byte offset from the address on the stack. */
const load = (offset: number) => memory8(op.f64Load, offset)
const store = (offset: number) => memory8(op.f64Store, offset)

// Both functions: (bit, sf0, sg0: f64, length: i32, m, mInverse: f64), then locals.
const [bit, sf0, sg0, length, m, mInverse] = [0, 1, 2, 3, 4, 5]

/** x − m·round(x·mInverse), with x in local `x`: leaves the result on the stack. */
const reduce = (x: number) => [
  ...get(x),
  ...get(m),
  ...get(x),
  ...get(mInverse),
  op.f64Mul,
  ...constF64(rounder),
  op.f64Add,
  ...constF64(rounder),
  op.f64Sub,
  op.f64Mul,
  op.f64Sub
]

/** (length − minus)·8, a coefficient's byte offset: leaves it on the stack. */
const byteOffsetOf = (minus: number) => [...get(length), op.i32Const, ...sleb(minus), op.i32Sub, op.i32Const, ...sleb(3), op.i32Shl]

/** a + bit·(b − a), with a in local `a` and b's load on the stack after it: leaves the result. */
const select = (a: number, loadB: ReadonlyArray<number>) => [...get(a), ...get(bit), ...loadB, ...get(a), op.f64Sub, op.f64Mul, op.f64Add]

const stepFgBody = (F: number, G: number): Array<number> => {
  // locals: 6 address (i32), 7 end (i32), 8 fi (f64), 9 x (f64)
  const [address, end, fi, x] = [6, 7, 8, 9]
  // f[i] = fi + bit·(g[i] − fi), at the address's coefficient
  const swapF = [...get(address), ...get(address), ...load(F), ...set(fi), ...select(fi, [...get(address), ...load(G)]), ...store(F)]
  return [
    // end = the last coefficient's byte offset; address = 0.
    ...byteOffsetOf(1),
    ...set(end),
    ...blockAndLoop,
    ...get(address),
    ...get(end),
    op.i32GeS,
    op.brIf,
    1,
    ...swapF,
    // x = sf0·g[i+1] − sg0·f[i+1]; g[i] = x mod m
    ...get(sf0),
    ...get(address),
    ...load(G + 8),
    op.f64Mul,
    ...get(sg0),
    ...get(address),
    ...load(F + 8),
    op.f64Mul,
    op.f64Sub,
    ...set(x),
    ...get(address),
    ...reduce(x),
    ...store(G),
    ...get(address),
    op.i32Const,
    ...sleb(8),
    op.i32Add,
    ...set(address),
    op.br,
    0,
    op.end,
    op.end,
    // f[last] as every f[i]; g[last] = 0
    ...swapF,
    ...get(address),
    ...constF64(0),
    ...store(G),
    op.end
  ]
}

const stepVrBody = (V: number, R: number): Array<number> => {
  // locals: 6 address of v[i−1] (i32), 7 shifted (f64), 8 ri (f64), 9 x (f64)
  const [address, shifted, ri, x] = [6, 7, 8, 9]
  return [
    // address = v[length−2]'s byte offset, down to 0.
    ...byteOffsetOf(2),
    ...set(address),
    ...blockAndLoop,
    ...get(address),
    op.i32Const,
    ...sleb(0),
    op.i32LtS,
    op.brIf,
    1,
    ...get(address),
    ...load(V),
    ...set(shifted),
    ...get(address),
    ...load(R + 8),
    ...set(ri),
    // v[i] = shifted + bit·(ri − shifted)
    ...get(address),
    ...select(shifted, get(ri)),
    ...store(V + 8),
    // x = sf0·ri − sg0·shifted; r[i] = x mod m
    ...get(sf0),
    ...get(ri),
    op.f64Mul,
    ...get(sg0),
    ...get(shifted),
    op.f64Mul,
    op.f64Sub,
    ...set(x),
    ...get(address),
    ...reduce(x),
    ...store(R + 8),
    ...get(address),
    op.i32Const,
    ...sleb(8),
    op.i32Sub,
    ...set(address),
    op.br,
    0,
    op.end,
    op.end,
    // v[0] = bit·r[0]; r[0] = sf0·r[0] mod m
    op.i32Const,
    ...sleb(0),
    ...get(bit),
    op.i32Const,
    ...sleb(0),
    ...load(R),
    op.f64Mul,
    ...store(V),
    op.i32Const,
    ...sleb(0),
    ...load(R),
    ...get(sf0),
    op.f64Mul,
    ...set(x),
    op.i32Const,
    ...sleb(0),
    ...reduce(x),
    ...store(R),
    op.end
  ]
}

/** The module's bytes, for vectors of `p` coefficients laid out f, g, v, r from address 0. */
const moduleBytes = (p: number): Uint8Array => {
  const G = 8 * (p + 1)
  const V = 16 * (p + 1)
  const R = V + 8 * p
  const params = [f64, f64, f64, i32, f64, f64]
  return encode([
    // locals: address, end (i32), fi, x (f64)
    { name: "stepFg", params, locals: [i32, i32, f64, f64], body: stepFgBody(0, G) },
    // locals: address (i32), shifted, ri, x (f64)
    { name: "stepVr", params, locals: [i32, f64, f64, f64], body: stepVrBody(V, R) }
  ], Math.ceil((R + 8 * p) / 65536))
}

/**
 * The loops in WebAssembly, over vectors of `p` (and p + 1) coefficients; `undefined` where
 * this runtime has no WebAssembly or will not compile it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const webAssembly = (p: number): DivstepLoops | undefined => {
  const module = instantiate(moduleBytes(p))
  if (module === undefined) return undefined
  const buffer = module.memory
  return {
    f: new Float64Array(buffer, 0, p + 1),
    g: new Float64Array(buffer, 8 * (p + 1), p + 1),
    v: new Float64Array(buffer, 16 * (p + 1), p),
    r: new Float64Array(buffer, 16 * (p + 1) + 8 * p, p),
    stepFg: module.exports.stepFg as DivstepLoops["stepFg"],
    stepVr: module.exports.stepVr as DivstepLoops["stepVr"]
  }
}
