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

/** Unsigned LEB128. */
const uleb = (value: number): Array<number> => {
  const out: Array<number> = []
  let x = value
  do {
    const byte = x & 0x7f
    x >>>= 7
    out.push(x === 0 ? byte : byte | 0x80)
  } while (x !== 0)
  return out
}

/** Signed LEB128, for i32.const. */
const sleb = (value: number): Array<number> => {
  const out: Array<number> = []
  let x = value | 0
  for (;;) {
    const byte = x & 0x7f
    x >>= 7
    const done = (x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0)
    out.push(done ? byte : byte | 0x80)
    if (done) return out
  }
}

const f64Bytes = (value: number): Array<number> => Array.from(new Uint8Array(new Float64Array([value]).buffer))
const vector = (items: ReadonlyArray<ReadonlyArray<number>>): Array<number> => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: ReadonlyArray<number>): Array<number> => [id, ...uleb(body.length), ...body]
const name = (text: string): Array<number> => vector([...new TextEncoder().encode(text)].map((b) => [b]))

// The opcodes used (WebAssembly core specification, §5.4).
const op = {
  block: 0x02,
  loop: 0x03,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  localGet: 0x20,
  localSet: 0x21,
  i32Const: 0x41,
  f64Const: 0x44,
  i32LtS: 0x48,
  i32GeS: 0x4e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Shl: 0x74,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  f64Load: 0x2b,
  f64Store: 0x39
} as const
const i32 = 0x7f
const f64 = 0x7c
const voidBlock = 0x40

/** f64.load / f64.store at a constant byte offset from the address on the stack (8-byte aligned). */
const load = (offset: number) => [op.f64Load, 3, ...uleb(offset)]
const store = (offset: number) => [op.f64Store, 3, ...uleb(offset)]
const get = (local: number) => [op.localGet, local]
const set = (local: number) => [op.localSet, local]
const constF64 = (value: number) => [op.f64Const, ...f64Bytes(value)]

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

/** a + bit·(b − a), with a in local `a` and b's load on the stack after it: leaves the result. */
const select = (a: number, loadB: ReadonlyArray<number>) => [...get(a), ...get(bit), ...loadB, ...get(a), op.f64Sub, op.f64Mul, op.f64Add]

const stepFgBody = (F: number, G: number): Array<number> => {
  // locals: 6 address (i32), 7 end (i32), 8 fi (f64), 9 x (f64)
  const [address, end, fi, x] = [6, 7, 8, 9]
  return [
    ...vector([[2, i32], [2, f64]]),
    // end = (length − 1)·8, the last coefficient's byte offset; address = 0.
    ...get(length),
    op.i32Const,
    ...sleb(1),
    op.i32Sub,
    op.i32Const,
    ...sleb(3),
    op.i32Shl,
    ...set(end),
    op.block,
    voidBlock,
    op.loop,
    voidBlock,
    ...get(address),
    ...get(end),
    op.i32GeS,
    op.brIf,
    1,
    // f[i] = fi + bit·(g[i] − fi)
    ...get(address),
    ...get(address),
    ...load(F),
    ...set(fi),
    ...select(fi, [...get(address), ...load(G)]),
    ...store(F),
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
    // f[last] = f[last] + bit·(g[last] − f[last]); g[last] = 0
    ...get(address),
    ...get(address),
    ...load(F),
    ...set(fi),
    ...select(fi, [...get(address), ...load(G)]),
    ...store(F),
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
    ...vector([[1, i32], [3, f64]]),
    // address = (length − 2)·8, v[length−2]'s byte offset, down to 0.
    ...get(length),
    op.i32Const,
    ...sleb(2),
    op.i32Sub,
    op.i32Const,
    ...sleb(3),
    op.i32Shl,
    ...set(address),
    op.block,
    voidBlock,
    op.loop,
    voidBlock,
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
  const F = 0
  const G = 8 * (p + 1)
  const V = 16 * (p + 1)
  const R = V + 8 * p
  const pages = Math.ceil((R + 8 * p) / 65536)
  const params = [f64, f64, f64, i32, f64, f64]
  const code = (body: ReadonlyArray<number>) => [...uleb(body.length), ...body]
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([[0x60, ...vector(params.map((t) => [t])), ...vector([])]])),
    ...section(3, vector([[0], [0]])),
    ...section(5, vector([[0x00, ...uleb(pages)]])),
    ...section(7, vector([[...name("memory"), 0x02, 0], [...name("stepFg"), 0x00, 0], [...name("stepVr"), 0x00, 1]])),
    ...section(10, vector([code(stepFgBody(F, G)), code(stepVrBody(V, R))]))
  ])
}

/**
 * The loops in WebAssembly, over vectors of `p` (and p + 1) coefficients; `undefined` where
 * this runtime has no WebAssembly or will not compile it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const webAssembly = (p: number): DivstepLoops | undefined => {
  // The global, typed here as far as it is used: the project's lib has no WebAssembly types.
  const wasm = (globalThis as { readonly WebAssembly?: WebAssemblyApi }).WebAssembly
  if (wasm === undefined) return undefined
  let exports: LoopExports
  try {
    exports = new wasm.Instance(new wasm.Module(moduleBytes(p))).exports as unknown as LoopExports
  } catch {
    return undefined
  }
  const buffer = exports.memory.buffer
  return {
    f: new Float64Array(buffer, 0, p + 1),
    g: new Float64Array(buffer, 8 * (p + 1), p + 1),
    v: new Float64Array(buffer, 16 * (p + 1), p),
    r: new Float64Array(buffer, 16 * (p + 1) + 8 * p, p),
    stepFg: exports.stepFg,
    stepVr: exports.stepVr
  }
}

interface WebAssemblyApi {
  readonly Module: new(bytes: Uint8Array) => object
  readonly Instance: new(module: object) => { readonly exports: object }
}

interface LoopExports {
  readonly memory: { readonly buffer: ArrayBuffer }
  readonly stepFg: DivstepLoops["stepFg"]
  readonly stepVr: DivstepLoops["stepVr"]
}
