/**
 * ML-KEM's kernel (FIPS 203): the inner loops that are most of a key exchange's time, over one
 * block of polynomials and one Keccak sponge (`Keccak.ts`, for every hash and XOF):
 *
 * - sampling: SampleNTT's rejection loop on the matrix XOF (Algorithm 7) and CBD_2 on the PRF
 *   (Algorithm 8), read from the sponge's state in place;
 * - the arithmetic mod q = 3329 (§4.3): the NTT (Algorithm 9), its inverse on sums of
 *   base-case products (Algorithm 10), those products (Algorithms 11 and 12), and reductions.
 *
 * Two kernels, the same results: one WebAssembly module holding the Keccak permutation, the
 * sampling loops and the arithmetic in 128-bit SIMD, four coefficients at a time, over one
 * memory (the XOF's output is parsed where the permutation leaves it); and JavaScript, a
 * coefficient at a time, on the BigInt Keccak, for a runtime without WebAssembly or its SIMD
 * (Node has had both since 16.4). The tests hold both to NIST's vectors and to each other.
 *
 * Coefficients are 32-bit integers. Products use Montgomery reduction (R = 2^16); sums are
 * brought back with Barrett reduction. The twiddle factors ζ^BitRev7(i) (ζ = 17) are computed
 * when the module loads.
 *
 * @since 0.1.0
 */
import * as Keccak from "./Keccak.js"
import {
  constI32x4,
  encode,
  instantiate,
  localGet as get,
  localSet as set,
  memory1,
  memory16,
  memory4,
  op,
  shuffleI32x4,
  simd,
  simdOp,
  sleb,
  type
} from "./WasmModule.js"

/**
 * The degree of the polynomials, and the modulus.
 *
 * @since 0.1.0
 * @category constants
 */
export const n = 256

/**
 * @since 0.1.0
 * @category constants
 */
export const q = 3329

/** q^-1 mod 2^16, as a signed 16-bit value: 3329 · 62209 ≡ 1 (mod 2^16), 62209 − 65536 = −3327. */
const qInv = -3327

/**
 * a · 2^-16 mod q, for |a| < 2^31 − 2^15·q; the result is in (−q, q) when |a| < 2^15·q.
 * t = a · q^-1 mod 2^16 (signed) makes a − t·q divisible by 2^16.
 */
const montgomery = (a: number): number => {
  const t = (Math.imul(a, qInv) << 16) >> 16
  return (a - Math.imul(t, q)) >> 16
}

/** a · b · 2^-16 mod q. */
const mulMont = (a: number, b: number): number => montgomery(Math.imul(a, b))

/** round(2^26 / q): x − round(x/q)·q while x·20159 + 2^25 fits in 31 bits (|x| < 31q), a result in [−q/2, q/2]. */
const barrettV = 20159

/**
 * x mod q, in [−q/2, q/2], for x within ±31q.
 *
 * @since 0.1.0
 * @category arithmetic
 */
export const barrett = (x: number): number => x - Math.imul((Math.imul(x, barrettV) + (1 << 25)) >> 26, q)

/**
 * The representative in [0, q) of any x in (−2q, 2q)-ish after Barrett: handles (−q, 2q).
 *
 * @since 0.1.0
 * @category arithmetic
 */
export const canonical = (x: number): number => {
  const r = barrett(x)
  return r + ((r >> 31) & q)
}

/** (a · b) mod q for 0 ≤ a, b < q: exact in a double. */
const mulModPlain = (a: number, b: number): number => (a * b) % q

const R = 65536 % q // 2285

/** 2^32 mod q: a Montgomery multiply by it takes out a factor R^-1. */
const R2 = mulModPlain(R, R) // 1353

const powMod = (base: number, exp: number): number => {
  let result = 1
  let b = base % q
  let e = exp
  while (e > 0) {
    if (e & 1) result = mulModPlain(result, b)
    b = mulModPlain(b, b)
    e >>= 1
  }
  return result
}

const bitRev7 = (i: number): number => {
  let r = 0
  for (let b = 0; b < 7; b++) r |= ((i >> b) & 1) << (6 - b)
  return r
}

/** ζ^BitRev7(i) · R mod q, i = 0 … 127: the NTT's factors, in Montgomery form. */
const zetas = new Int32Array(128)
/** ζ^(2·BitRev7(i) + 1) · R mod q, i = 0 … 127: the base-case multiply's γ, in Montgomery form. */
const gammas = new Int32Array(128)
for (let i = 0; i < 128; i++) {
  zetas[i] = mulModPlain(powMod(17, bitRev7(i)), R)
  gammas[i] = mulModPlain(powMod(17, 2 * bitRev7(i) + 1), R)
}
/** 128^-1 · R^2 mod q: NTT^-1's final scale, which also undoes the base-case multiply's R^-1. */
const invNttScale = mulModPlain(powMod(128, q - 2), R2)

/**
 * One kernel: its sponge, and its block of polynomials, each named by its index in the block.
 *
 * - `sampleNtt`: Algorithm 7's loop. With the sponge just absorbed ρ ‖ j ‖ i (SHAKE128), the
 *   coefficients below q of its output, read a block at a time, into f. Throws if 64 blocks
 *   were not enough (the chance is far below 2^-200).
 * - `sampleCbd`: Algorithm 8 for η = 2. With the sponge just absorbed s ‖ b (SHAKE256), its
 *   first 128 bytes of output into f, coefficients in [−2, 2].
 *
 *   Both leave the sponge where they stopped: its next use is an `absorb` (or a `wipe`).
 * - `ntt`, in place: input coefficients in (−q, q); output within ±8q, not reduced (each layer
 *   adds less than q to a coefficient's size, so the Montgomery inputs stay inside their 2^15
 *   bound). Products with a reduced polynomial take it as it is.
 * - `invNttOfProducts`, in place, on a sum of base-case products (which carry a factor R^-1,
 *   taken out by the final scale): input within ±31q (three calls of `multiplyAccumulate`
 *   give 6q), output in (−q, q).
 * - `multiplyAccumulate`: acc += f ∘ g in the NTT domain, each product carrying a factor R^-1;
 *   f in (−q, q) and g within ±8q, or the other way round. Each call adds less than 2q in
 *   absolute value to a coefficient.
 * - `reduce`, in place: every coefficient (within ±31q) to its representative in [0, q).
 * - `addToProducts`: acc ← acc · R + e, in [0, q): a sum of base-case products (within ±31q)
 *   with their R^-1 taken out (a Montgomery multiply by R^2), plus e (within ±8q).
 *
 * @since 0.1.0
 * @category models
 */
export interface Kernel {
  readonly sponge: Keccak.Sponge
  /** The whole block, to wipe. */
  readonly block: Int32Array
  /** The block's polynomials, as views of n coefficients. */
  readonly polys: ReadonlyArray<Int32Array>
  sampleNtt(f: number): void
  sampleCbd(f: number): void
  ntt(f: number): void
  invNttOfProducts(f: number): void
  multiplyAccumulate(acc: number, f: number, g: number): void
  reduce(f: number): void
  addToProducts(acc: number, e: number): void
}

const views = (block: Int32Array, count: number): ReadonlyArray<Int32Array> => Array.from({ length: count }, (_, i) => block.subarray(i * n, (i + 1) * n))

// ----- JavaScript

/** Algorithm 9, in place. */
const ntt = (f: Int32Array): void => {
  let i = 1
  for (let len = 128; len >= 2; len >>= 1) {
    for (let start = 0; start < n; start += 2 * len) {
      const zeta = zetas[i++]!
      for (let j = start; j < start + len; j++) {
        const t = mulMont(zeta, f[j + len]!)
        const fj = f[j]!
        f[j + len] = fj - t
        f[j] = fj + t
      }
    }
  }
}

/** Algorithm 10, in place. The sums double in size each layer; one reduction after the fourth keeps every Montgomery input below 8q. */
const invNttOfProducts = (f: Int32Array): void => {
  for (let j = 0; j < n; j++) f[j] = barrett(f[j]!)
  let i = 127
  for (let len = 2; len <= 128; len <<= 1) {
    const reduceSums = len === 16
    for (let start = 0; start < n; start += 2 * len) {
      const zeta = zetas[i--]!
      for (let j = start; j < start + len; j++) {
        const t = f[j]!
        const u = f[j + len]!
        f[j] = reduceSums ? barrett(t + u) : t + u
        f[j + len] = mulMont(zeta, u - t)
      }
    }
  }
  for (let j = 0; j < n; j++) f[j] = mulMont(f[j]!, invNttScale)
}

/** Algorithms 11 and 12: every product stays below 8q² < 2^15·q, inside the Montgomery bound. */
const multiplyAccumulate = (acc: Int32Array, f: Int32Array, g: Int32Array): void => {
  for (let i = 0; i < 128; i++) {
    const a0 = f[2 * i]!
    const a1 = f[2 * i + 1]!
    const b0 = g[2 * i]!
    const b1 = g[2 * i + 1]!
    acc[2 * i] = acc[2 * i]! + mulMont(a0, b0) + mulMont(mulMont(a1, b1), gammas[i]!)
    acc[2 * i + 1] = acc[2 * i + 1]! + mulMont(a0, b1) + mulMont(a1, b0)
  }
}

const reduce = (f: Int32Array): void => {
  for (let j = 0; j < n; j++) f[j] = canonical(f[j]!)
}

const addToProducts = (acc: Int32Array, e: Int32Array): void => {
  for (let j = 0; j < n; j++) acc[j] = canonical(mulMont(barrett(acc[j]!), R2) + e[j]!)
}

/** The most XOF blocks SampleNTT reads: each yields 112 candidates, about 91 accepted. */
const maxXofBlocks = 64

const xofExhausted = () => new Error(`ML-KEM SampleNTT: ${maxXofBlocks} XOF blocks without ${n} coefficients`)

/** Algorithm 7's loop in JavaScript, on whole blocks of the sponge's state. */
const sampleNtt = (sponge: Keccak.Sponge, a: Int32Array): void => {
  let j = 0
  for (let blocks = 0; j < n && blocks < maxXofBlocks; blocks++) {
    const block = sponge.squeezeBlock()
    for (let p = 0; p < Keccak.rate.shake128 && j < n; p += 3) {
      const b0 = block[p]!
      const b1 = block[p + 1]!
      const b2 = block[p + 2]!
      const d1 = b0 | ((b1 & 0x0f) << 8)
      const d2 = (b1 >> 4) | (b2 << 4)
      if (d1 < q) a[j++] = d1
      if (d2 < q && j < n) a[j++] = d2
    }
  }
  if (j < n) throw xofExhausted()
}

const prfOutput = new Uint8Array(128)

/** Algorithm 8 for η = 2 in JavaScript, on the sponge's first 128 bytes of output. */
const sampleCbd = (sponge: Keccak.Sponge, f: Int32Array): void => {
  sponge.squeeze(prfOutput, 0, prfOutput.length)
  for (let i = 0; i < prfOutput.length; i++) {
    // The bits summed in pairs, all four pairs at once (no table: the noise is secret).
    const x = prfOutput[i]!
    const pairs = (x & 0x55) + ((x >> 1) & 0x55)
    f[2 * i] = (pairs & 3) - ((pairs >> 2) & 3)
    f[2 * i + 1] = ((pairs >> 4) & 3) - (pairs >> 6)
  }
  prfOutput.fill(0)
}

/**
 * The kernel in JavaScript, on the BigInt Keccak, over a block of `count` polynomials.
 *
 * @since 0.1.0
 * @category constructors
 */
export const javascript = (count: number): Kernel => {
  const sponge = Keccak.javascript()
  const block = new Int32Array(count * n)
  const polys = views(block, count)
  return {
    sponge,
    block,
    polys,
    sampleNtt: (f) => sampleNtt(sponge, polys[f]!),
    sampleCbd: (f) => sampleCbd(sponge, polys[f]!),
    ntt: (f) => ntt(polys[f]!),
    invNttOfProducts: (f) => invNttOfProducts(polys[f]!),
    multiplyAccumulate: (acc, f, g) => multiplyAccumulate(polys[acc]!, polys[f]!, polys[g]!),
    reduce: (f) => reduce(polys[f]!),
    addToProducts: (acc, e) => addToProducts(polys[acc]!, polys[e]!)
  }
}

// ----- WebAssembly, four coefficients a vector

/**
 * The module's memory: Keccak's state and round constants (`Keccak.permutationMemory`), then
 * the factors, each as a vector of four lanes: ζ_i in every lane (i = 1 … 127, the NTT's and
 * its inverse's); [ζ_i, ζ_i, −ζ_i, −ζ_i] for the NTT's last layer (i = 64 … 127); γ_i four a
 * vector, as they are read. Then the block.
 */
const ZETAS = Math.ceil(Keccak.permutationMemory / 16) * 16
const LAST_LAYER_ZETAS = ZETAS + 16 * 128
const GAMMAS = LAST_LAYER_ZETAS + 16 * 64
const BLOCK = GAMMAS + 4 * 128
/** The functions' indices in the module: the permutation first, so that SampleNTT can call it. */
const PERMUTE = 0

const { i32, v128 } = type
const polyBytes = 4 * n
const add = simd(simdOp.i32x4Add)
const sub = simd(simdOp.i32x4Sub)
const mul = simd(simdOp.i32x4Mul)
const shiftLeft = (bits: number) => [op.i32Const, ...sleb(bits), ...simd(simdOp.i32x4Shl)]
const shiftRight = (bits: number) => [op.i32Const, ...sleb(bits), ...simd(simdOp.i32x4ShrS)]
const splat = (x: number) => constI32x4([x, x, x, x])
const tee = (local: number) => [op.localTee, local]
const addTo = (local: number, step: number) => [...get(local), op.i32Const, ...sleb(step), op.i32Add, ...set(local)]

/**
 * Every function's locals: its i32 parameters (addresses) first, then i32 cursors (AT the
 * vector in hand, END and GROUP_END where loops stop, FACTOR the next factor's address), then
 * v128s: Q and QINV hold q and q^-1 in every lane, X the value a reduction works on; A, B, C,
 * D and Z operands.
 */
const locals = (params: number) => {
  const at = (k: number) => params + k
  return {
    AT: at(0),
    END: at(1),
    GROUP_END: at(2),
    FACTOR: at(3),
    Q: at(4),
    QINV: at(5),
    X: at(6),
    A: at(7),
    B: at(8),
    C: at(9),
    D: at(10),
    Z: at(11)
  }
}
type Locals = ReturnType<typeof locals>
const localTypes = [i32, i32, i32, i32, v128, v128, v128, v128, v128, v128, v128, v128]

const prologue = (l: Locals) => [...splat(q), ...set(l.Q), ...splat(qInv), ...set(l.QINV)]

/** Montgomery reduction of the four products on the stack, as `montgomery` does each. */
const montgomeryV = (l: Locals) => [
  ...tee(l.X),
  ...get(l.X),
  ...get(l.QINV),
  ...mul,
  ...shiftLeft(16),
  ...shiftRight(16),
  ...get(l.Q),
  ...mul,
  ...sub,
  ...shiftRight(16)
]

/** Barrett reduction of the four values on the stack, as `barrett` does each. */
const barrettV4 = (l: Locals) => [
  ...tee(l.X),
  ...get(l.X),
  ...splat(barrettV),
  ...mul,
  ...splat(1 << 25),
  ...add,
  ...shiftRight(26),
  ...get(l.Q),
  ...mul,
  ...sub
]

/** `canonical` of the four values on the stack: Barrett, then q added where negative. */
const canonicalV4 = (l: Locals) => [...barrettV4(l), ...tee(l.X), ...get(l.X), ...shiftRight(31), ...get(l.Q), ...simd(simdOp.v128And), ...add]

const load = (address: number, offset: number) => [...get(address), ...memory16(simdOp.v128Load, offset)]
const store = (address: number, offset: number, value: ReadonlyArray<number>) => [...get(address), ...value, ...memory16(simdOp.v128Store, offset)]
/** The factor vector at FACTOR into Z, and FACTOR on by `step` bytes (a vector up or down). */
const factor = (l: Locals, step: number) => [...get(l.FACTOR), ...memory16(simdOp.v128Load, 0), ...set(l.Z), ...addTo(l.FACTOR, step)]

/** Local `target` ← local `from` + `bytes`. */
const offsetFrom = (target: number, from: number, bytes: number) => [...get(from), op.i32Const, ...sleb(bytes), op.i32Add, ...set(target)]

/** `body`, then local `cursor` on by `step`, again while `cursor` < local `end`. */
const loopUntil = (cursor: number, end: number, step: number, body: ReadonlyArray<number>) => [
  op.loop,
  type.voidBlock,
  ...body,
  ...addTo(cursor, step),
  ...get(cursor),
  ...get(end),
  op.i32LtS,
  op.brIf,
  0,
  op.end
]

/** `body` for each vector of the block from `from` (an address local) to `from` + `bytes`, AT each vector's address. */
const eachVector = (l: Locals, from: number, bytes: number, body: ReadonlyArray<number>) => [
  ...get(from),
  ...set(l.AT),
  ...offsetFrom(l.END, from, bytes),
  ...loopUntil(l.AT, l.END, 16, body)
]

/**
 * A layer of butterflies `len` coefficients apart (len ≥ 4, a vector or more) over the
 * polynomial at `f`: for each group of 2·len coefficients, `nextFactor` into Z, then
 * `butterfly` for each vector of the group's low half, at AT and AT + 4·len; after a group's
 * low half, AT steps over its high half.
 */
const layer = (l: Locals, f: number, len: number, nextFactor: ReadonlyArray<number>, butterfly: ReadonlyArray<number>) => {
  const distance = 4 * len
  return [
    ...get(f),
    ...set(l.AT),
    ...offsetFrom(l.END, f, polyBytes),
    ...loopUntil(l.AT, l.END, distance, [...nextFactor, ...offsetFrom(l.GROUP_END, l.AT, distance), ...loopUntil(l.AT, l.GROUP_END, 16, butterfly)])
  ]
}

const nttBody = (): Array<number> => {
  const f = 0
  const l = locals(1)
  const body = [...prologue(l), op.i32Const, ...sleb(ZETAS + 16), ...set(l.FACTOR)]
  for (let len = 128; len >= 4; len >>= 1) {
    const distance = 4 * len
    body.push(...layer(l, f, len, factor(l, 16), [
      ...load(l.AT, distance),
      ...get(l.Z),
      ...mul,
      ...montgomeryV(l),
      ...set(l.B), // t
      ...load(l.AT, 0),
      ...set(l.A),
      ...store(l.AT, distance, [...get(l.A), ...get(l.B), ...sub]),
      ...store(l.AT, 0, [...get(l.A), ...get(l.B), ...add])
    ]))
  }
  // len = 2: each vector is one butterfly pair [f0 f1 | f2 f3]; ζ, ζ, −ζ, −ζ gives f0 + t, f1 + t', f0 − t, f1 − t' at once.
  body.push(op.i32Const, ...sleb(LAST_LAYER_ZETAS), ...set(l.FACTOR))
  body.push(...eachVector(l, f, polyBytes, [
    ...factor(l, 16),
    ...load(l.AT, 0),
    ...set(l.A),
    ...store(l.AT, 0, [
      ...get(l.A),
      ...get(l.A),
      ...shuffleI32x4([0, 1, 0, 1]),
      ...get(l.A),
      ...get(l.A),
      ...shuffleI32x4([2, 3, 2, 3]),
      ...get(l.Z),
      ...mul,
      ...montgomeryV(l),
      ...add
    ])
  ]))
  body.push(op.end)
  return body
}

const invNttBody = (): Array<number> => {
  const f = 0
  const l = locals(1)
  const body = prologue(l)
  body.push(...eachVector(l, f, polyBytes, store(l.AT, 0, [...load(l.AT, 0), ...barrettV4(l)])))
  // The factors in reverse, ζ_127 first: FACTOR walks down.
  body.push(op.i32Const, ...sleb(ZETAS + 16 * 127), ...set(l.FACTOR))
  // len = 2: [t0 t1 | u0 u1] becomes [t0 + u0, t1 + u1, ζ(u0 − t0), ζ(u1 − t1)].
  body.push(...eachVector(l, f, polyBytes, [
    ...factor(l, -16),
    ...load(l.AT, 0),
    ...set(l.A),
    ...get(l.A),
    ...get(l.A),
    ...shuffleI32x4([0, 1, 0, 1]),
    ...set(l.B), // t
    ...get(l.A),
    ...get(l.A),
    ...shuffleI32x4([2, 3, 2, 3]),
    ...set(l.C), // u
    ...store(l.AT, 0, [
      ...get(l.B),
      ...get(l.C),
      ...add,
      ...get(l.C),
      ...get(l.B),
      ...sub,
      ...get(l.Z),
      ...mul,
      ...montgomeryV(l),
      ...shuffleI32x4([0, 1, 6, 7])
    ])
  ]))
  for (let len = 4; len <= 128; len <<= 1) {
    const distance = 4 * len
    body.push(...layer(l, f, len, factor(l, -16), [
      ...load(l.AT, 0),
      ...set(l.A), // t
      ...load(l.AT, distance),
      ...set(l.B), // u
      ...store(l.AT, 0, [...get(l.A), ...get(l.B), ...add, ...(len === 16 ? barrettV4(l) : [])]),
      ...store(l.AT, distance, [...get(l.B), ...get(l.A), ...sub, ...get(l.Z), ...mul, ...montgomeryV(l)])
    ]))
  }
  body.push(...eachVector(l, f, polyBytes, store(l.AT, 0, [...load(l.AT, 0), ...splat(invNttScale), ...mul, ...montgomeryV(l)])))
  body.push(op.end)
  return body
}

const multiplyAccumulateBody = (): Array<number> => {
  const [acc, f, g] = [0, 1, 2]
  const l = locals(3)
  const body = [...prologue(l), op.i32Const, ...sleb(GAMMAS), ...set(l.FACTOR)]
  // Four pairs (a0, a1) a turn, 32 bytes of each polynomial: the pairs' halves gathered into
  // vectors, multiplied, and spread back. AT walks acc; f and g are at the same distance from
  // it. Each polynomial's two vectors are loaded once (into the halves' locals), then split.
  const halves = (address: number, low: number, high: number) => [
    ...get(l.AT),
    ...get(acc),
    op.i32Sub,
    ...get(address),
    op.i32Add,
    ...set(l.GROUP_END), // free in this function: the operand's address
    ...load(l.GROUP_END, 0),
    ...set(low),
    ...load(l.GROUP_END, 16),
    ...set(high),
    ...get(low),
    ...get(high),
    ...shuffleI32x4([0, 2, 4, 6]),
    ...get(low),
    ...get(high),
    ...shuffleI32x4([1, 3, 5, 7]),
    ...set(high),
    ...set(low)
  ]
  const product = (x: number, y: number) => [...get(x), ...get(y), ...mul, ...montgomeryV(l)]
  body.push(...get(acc), ...set(l.AT), ...offsetFrom(l.END, acc, polyBytes))
  body.push(
    ...loopUntil(l.AT, l.END, 32, [
      ...halves(f, l.A, l.B), // a0, a1
      ...halves(g, l.C, l.D), // b0, b1
      ...factor(l, 16), // γ, four of them
      // c0 = a0·b0 + a1·b1·γ, into Z; c1 = a0·b1 + a1·b0, into A.
      ...product(l.A, l.C),
      ...product(l.B, l.D),
      ...get(l.Z),
      ...mul,
      ...montgomeryV(l),
      ...add,
      ...product(l.A, l.D),
      ...product(l.B, l.C),
      ...add,
      ...set(l.A),
      ...set(l.Z),
      ...store(l.AT, 0, [...load(l.AT, 0), ...get(l.Z), ...get(l.A), ...shuffleI32x4([0, 4, 1, 5]), ...add]),
      ...store(l.AT, 16, [...load(l.AT, 16), ...get(l.Z), ...get(l.A), ...shuffleI32x4([2, 6, 3, 7]), ...add])
    ]),
    op.end
  )
  return body
}

/** One SampleNTT candidate, in D: stored at J, which moves on only if D < q (no branch on it: the stores of rejected values are overwritten). */
const candidate = (J: number, END: number, D: number) => [
  ...get(J),
  ...get(END),
  op.i32LtU,
  op.if,
  type.voidBlock,
  ...get(J),
  ...get(D),
  ...memory4(op.i32Store, 0),
  ...get(J),
  ...get(D),
  op.i32Const,
  ...sleb(q),
  op.i32LtU,
  op.i32Const,
  ...sleb(2),
  op.i32Shl,
  op.i32Add,
  ...set(J),
  op.end
]

/** SampleNTT on the state (at 0) into the polynomial at f; the number of coefficients it found (n, unless the blocks ran out). */
const sampleNttBody = (): Array<number> => {
  const f = 0
  const [J, END, P, B1, D, BLOCKS] = [1, 2, 3, 4, 5, 6]
  const byte = (offset: number) => [...get(P), ...memory1(op.i32Load8U, offset)]
  return [
    ...get(f),
    ...set(J),
    ...offsetFrom(END, f, polyBytes),
    op.i32Const,
    ...sleb(1), // the block the absorb left
    ...set(BLOCKS),
    op.loop,
    type.voidBlock,
    op.i32Const,
    ...sleb(0),
    ...set(P),
    op.loop,
    type.voidBlock,
    // d1 = b0 | (b1 & 0x0f) << 8, d2 = b1 >> 4 | b2 << 4
    ...byte(1),
    ...set(B1),
    ...byte(0),
    ...get(B1),
    op.i32Const,
    ...sleb(0x0f),
    op.i32And,
    op.i32Const,
    ...sleb(8),
    op.i32Shl,
    op.i32Or,
    ...set(D),
    ...candidate(J, END, D),
    ...get(B1),
    op.i32Const,
    ...sleb(4),
    op.i32ShrU,
    ...byte(2),
    op.i32Const,
    ...sleb(4),
    op.i32Shl,
    op.i32Or,
    ...set(D),
    ...candidate(J, END, D),
    ...get(P),
    op.i32Const,
    ...sleb(3),
    op.i32Add,
    ...tee(P),
    op.i32Const,
    ...sleb(Keccak.rate.shake128),
    op.i32LtS,
    op.brIf,
    0,
    op.end,
    // Another block while coefficients are missing and the bound allows.
    ...get(J),
    ...get(END),
    op.i32LtU,
    ...get(BLOCKS),
    op.i32Const,
    ...sleb(maxXofBlocks),
    op.i32LtS,
    op.i32And,
    op.if,
    type.voidBlock,
    op.call,
    PERMUTE,
    ...addTo(BLOCKS, 1),
    op.br,
    1,
    op.end,
    op.end,
    ...get(J),
    ...get(f),
    op.i32Sub,
    op.i32Const,
    ...sleb(2),
    op.i32ShrU,
    op.end
  ]
}

/** CBD_2 of the state's first 128 bytes (at 0) into the polynomial at f, a 32-bit word (eight coefficients) a turn. */
const sampleCbdBody = (): Array<number> => {
  const f = 0
  const [W, X] = [1, 2]
  const pairs = 0x55555555
  const body = [op.i32Const, ...sleb(0), ...set(W), op.loop, type.voidBlock]
  // The bits summed in pairs, all sixteen pairs at once (no table: the noise is secret).
  body.push(...get(W), ...memory4(op.i32Load, 0), ...tee(X), op.i32Const, ...sleb(pairs), op.i32And)
  body.push(...get(X), op.i32Const, ...sleb(1), op.i32ShrU, op.i32Const, ...sleb(pairs), op.i32And, op.i32Add, ...set(X))
  const field = (shift: number) => [...get(X), op.i32Const, ...sleb(shift), op.i32ShrU, op.i32Const, ...sleb(3), op.i32And]
  for (let c = 0; c < 8; c++) {
    // Coefficient c of the word: nibble c, its low pair less its high pair, at f + 8W + 4c.
    body.push(...get(f), ...get(W), op.i32Const, ...sleb(3), op.i32Shl, op.i32Add)
    body.push(...field(4 * c), ...field(4 * c + 2), op.i32Sub, ...memory4(op.i32Store, 4 * c))
  }
  body.push(...addTo(W, 4), ...get(W), op.i32Const, ...sleb(128), op.i32LtS, op.brIf, 0, op.end, op.end)
  return body
}

const reduceBody = (): Array<number> => {
  const l = locals(1)
  return [...prologue(l), ...eachVector(l, 0, polyBytes, store(l.AT, 0, [...load(l.AT, 0), ...canonicalV4(l)])), op.end]
}

const addToProductsBody = (): Array<number> => {
  const [acc, e] = [0, 1]
  const l = locals(2)
  // AT walks acc; e's vector is at the same distance from e.
  const ofE = [...get(l.AT), ...get(acc), op.i32Sub, ...get(e), op.i32Add, ...memory16(simdOp.v128Load, 0)]
  return [
    ...prologue(l),
    ...eachVector(
      l,
      acc,
      polyBytes,
      store(l.AT, 0, [...load(l.AT, 0), ...barrettV4(l), ...splat(R2), ...mul, ...montgomeryV(l), ...ofE, ...add, ...canonicalV4(l)])
    ),
    op.end
  ]
}

/** The module's memory: one page of 64 KiB. */
const PAGES = 1

let bytes: Uint8Array | undefined

/**
 * The WebAssembly module's bytes, made at the first call and kept: writing them takes a cold
 * process about 10 ms, compiling them under 2. A V8 startup snapshot cannot hold a module
 * instance but can hold these bytes: the CLI's rehearsal calls this before its snapshot is
 * taken, so that its processes only compile them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const moduleBytes = (): Uint8Array =>
  bytes ??= encode([
    Keccak.permutation(), // PERMUTE
    { name: "sampleNtt", params: [i32], locals: [i32, i32, i32, i32, i32, i32], body: sampleNttBody(), results: [i32] },
    { name: "sampleCbd", params: [i32], locals: [i32, i32], body: sampleCbdBody() },
    { name: "ntt", params: [i32], locals: localTypes, body: nttBody() },
    { name: "invNttOfProducts", params: [i32], locals: localTypes, body: invNttBody() },
    { name: "multiplyAccumulate", params: [i32, i32, i32], locals: localTypes, body: multiplyAccumulateBody() },
    { name: "reduce", params: [i32], locals: localTypes, body: reduceBody() },
    { name: "addToProducts", params: [i32, i32], locals: localTypes, body: addToProductsBody() }
  ], PAGES)

/**
 * The kernel in WebAssembly, SIMD for the arithmetic, over a block of `count` polynomials in
 * the module's memory; `undefined` where this runtime has no WebAssembly or no SIMD.
 *
 * @since 0.1.0
 * @category constructors
 */
export const webAssembly = (count: number): Kernel | undefined => {
  if (BLOCK + count * polyBytes > PAGES * 65536) throw new RangeError(`ML-KEM kernel: ${count} polynomials do not fit in its memory`)
  const module = instantiate(moduleBytes())
  if (module === undefined) return undefined
  Keccak.placeRoundConstants(module.memory)
  const factors = new Int32Array(module.memory, 0, BLOCK / 4)
  for (let i = 0; i < 128; i++) factors.fill(zetas[i]!, (ZETAS >> 2) + 4 * i, (ZETAS >> 2) + 4 * i + 4)
  for (let i = 0; i < 64; i++) {
    const zeta = zetas[64 + i]!
    factors.set([zeta, zeta, -zeta, -zeta], (LAST_LAYER_ZETAS >> 2) + 4 * i)
  }
  factors.set(gammas, GAMMAS >> 2)
  const block = new Int32Array(module.memory, BLOCK, count * n)
  const exported = module.exports as {
    readonly permute: () => void
    readonly sampleNtt: (f: number) => number
    readonly sampleCbd: (f: number) => void
    readonly ntt: (f: number) => void
    readonly invNttOfProducts: (f: number) => void
    readonly multiplyAccumulate: (acc: number, f: number, g: number) => void
    readonly reduce: (f: number) => void
    readonly addToProducts: (acc: number, e: number) => void
  }
  const address = (f: number) => BLOCK + f * polyBytes
  return {
    sponge: Keccak.sponge(new Uint8Array(module.memory, 0, 200), exported.permute),
    block,
    polys: views(block, count),
    sampleNtt: (f) => {
      if (exported.sampleNtt(address(f)) < n) throw xofExhausted()
    },
    sampleCbd: (f) => exported.sampleCbd(address(f)),
    ntt: (f) => exported.ntt(address(f)),
    invNttOfProducts: (f) => exported.invNttOfProducts(address(f)),
    multiplyAccumulate: (acc, f, g) => exported.multiplyAccumulate(address(acc), address(f), address(g)),
    reduce: (f) => exported.reduce(address(f)),
    addToProducts: (acc, e) => exported.addToProducts(address(acc), address(e))
  }
}
