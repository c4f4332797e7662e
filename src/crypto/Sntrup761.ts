/**
 * Streamlined NTRU Prime sntrup761, the post-quantum KEM inside OpenSSH's
 * `sntrup761x25519-sha512` key exchange, written from the NTRU Prime specification (the
 * round-3 submission to NIST, "NTRU Prime: round 3", 2020-10-07) and checked against its
 * known-answer tests.
 *
 * Parameters: p = 761, q = 4591, w = 286. The ring is R = Z[x]/(x^p − x − 1); R/q is a field
 * and R/3 is not. Sizes (bytes): public key 1158, secret key 1763, ciphertext 1039 (1007 of
 * rounded polynomial and a 32-byte confirmation hash), shared secret 32.
 *
 * The byte layouts are the specification's:
 * - public key: `Encode(h + (q−1)/2, q)`;
 * - secret key: `f` (191 bytes, four coefficients + 1 per byte, two bits each, low bits
 *   first), `1/g` in R/3 (191), the public key (1158), `rho` (191 random bytes, the
 *   implicit-rejection input), and `Hash4(pk)` (32);
 * - ciphertext: `Encode((c + (q−1)/2)/3, (q+2)/3)` of the rounded `h·r`, then
 *   `Hash2(Hash3(r) || Hash4(pk))`;
 * - HashN(x) is the first 32 bytes of SHA-512(N || x), r is hashed in its secret-key
 *   encoding; the shared secret is `Hash1(Hash3(r) || ciphertext)`, or
 *   `Hash0(Hash3(rho) || ciphertext)` when the ciphertext does not re-encrypt to itself
 *   (implicit rejection: the caller cannot tell).
 *
 * Randomness comes from the caller's `random(n)`, drawn as SUPERCOP's and OpenSSH's current
 * sntrup761 draw it: one `random(3044)` per sampled polynomial, read as 761 little-endian
 * 32-bit words, and `random(191)` for rho, so that the NIST `randombytes` of the known-answer
 * tests gives their bytes. (The round-3 submission's reference drew each word with its own
 * `random(4)`; its KAT is reproduced by a source that splits each 3044-byte read into 761
 * reads of 4.)
 *
 * Constant time, as far as JavaScript lets it be: the arithmetic on secrets (sampling,
 * sorting, inversion, multiplication, the weight check, the ciphertext comparison, the
 * choice between the real and the rejection secret) has no branch and no array index that
 * depends on a secret. A sorting network sorts with exchanges by mask; divsteps invert with
 * swaps by arithmetic selection; polynomials are doubles holding integers, reduced by
 * multiplying and rounding, never by division. What stays visible: how many g were drawn
 * before one was invertible in R/3 (as in the reference; the rejected ones are discarded).
 * And JavaScript promises none of this to the machine: the JIT may compile a selection into
 * a branch, its unoptimized tiers box doubles on the heap, and garbage collection pauses at
 * will. Lengths, the public key and the ciphertext are public and handled plainly.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { CurveError } from "./CurveOps.js"
import * as DivstepLoops from "./DivstepLoops.js"
import { kernel, type KernelKind } from "./WasmModule.js"

const p = 761
const q = 4591
const w = 286
/** (q − 1) / 2: coefficients of R/q are kept in −q12 … q12. */
const q12 = 2295
/** 1/3 mod q, centered: 3 · (−1530) = −4590 ≡ 1. */
const inv3 = -1530

const smallBytes = 191 // ceil(p / 4)
const rqBytes = 1158
const roundedBytes = 1007
const hashBytes = 32

/**
 * The length of a public key, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const publicKeyLength = rqBytes

/**
 * The length of a secret key, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const secretKeyLength = 2 * smallBytes + rqBytes + smallBytes + hashBytes

/**
 * The length of a ciphertext, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const ciphertextLength = roundedBytes + hashBytes

/**
 * The length of the shared secret, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const sharedSecretLength = hashBytes

/**
 * A key pair: the public key goes to the peer, the secret key stays.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyPair {
  readonly publicKey: Uint8Array
  readonly secretKey: Uint8Array
}

/**
 * What the encapsulating side gets: the ciphertext to send and the shared secret.
 *
 * @since 0.1.0
 * @category models
 */
export interface Encapsulation {
  readonly ciphertext: Uint8Array
  readonly sharedSecret: Uint8Array
}

// ----- arithmetic in Z/q and Z/3
//
// Polynomials are Float64Arrays of integers: a double holds any integer below 2^53 exactly,
// and multiplication, addition and rounding of doubles take the same time whatever the
// (normal) values. Selection by a secret bit m ∈ {0, 1} is arithmetic: x + m·(y − x).

/** 1.5·2^52: adding then subtracting it rounds a double of magnitude below 2^51 to an integer. */
const rounder = 6755399441055744
const qInverse = 1 / q

/**
 * x mod m in −(m−1)/2 … (m−1)/2, for an odd m and an integer |x| < 2^50: x − m·round(x/m).
 * x/m is never a half-integer (m is odd), so it is at least 1/(2m) from one, and the
 * computed product x·(1/m) is within |x/m|·2^-52 < 1/(4m) of it: the rounding is exact.
 * Loops write the expression out rather than call this, so that no tier of the JIT has to.
 */
const freeze = (x: number, m: number, mInverse: number): number => x - m * ((x * mInverse + rounder) - rounder)

/** −1 when x ≠ 0, 0 when x = 0, for a 32-bit x. */
const nonzeroMask = (x: number): number => (x | -x) >> 31

// ----- multiplication
//
// a·b for a with |a_i| ≤ q12 and b small (|b_i| ≤ 2, 2 only in a non-canonical secret key):
// every coefficient of the product is below 761·2295·2 < 2^22 in magnitude, so two
// neighbouring coefficients share one double, S[k] + 2^23·S[k+1]. Packing a the same way,
// A[j] = a[j] + 2^23·a[j+1], gives Σ_i b[i]·A[k−i] = S[k] + 2^23·S[k+1]: one multiply-add
// does the work of two, and only the even k are computed.

const lane = 8388608 // 2^23
const half = (p + 1) >> 1 // 381 packed values of each parity
/** A[2u−1] (u = 0 … 380; A[−1] = 2^23·a[0]). */
const packedOdd = new Float64Array(half)
/** A[2u] (u = 0 … 380; A[p−1] = a[p−1]). */
const packedEven = new Float64Array(half)
/** Σ_i b[i]·A[2t−i], t = 0 … p−1. */
const packedProduct = new Float64Array(p)
/** The product's 2p coefficients, then reduced by x^p = x + 1 into the first p. */
const product = new Float64Array(2 * p)

/** Adds b_i·source[0 … half−1] into packedProduct[from …]: one row of the schoolbook product. */
const multiplyRow = (bi: number, source: Float64Array, from: number): void => {
  const acc = packedProduct
  for (let u = 0; u < half; u++) acc[from + u] += bi * source[u]
}

// The O(p) passes around the rows stay small separate functions: run a few times per key
// exchange they are cheap as they are, and the JIT leaves them alone instead of spending more
// compiling them than they cost.

/** packedOdd, packedEven ← a. */
const pack = (a: Float64Array): void => {
  for (let u = 0; u < half; u++) {
    const even = 2 * u
    packedOdd[u] = (even > 0 ? a[even - 1] : 0) + lane * a[even]
    packedEven[u] = a[even] + (even + 1 < p ? lane * a[even + 1] : 0)
  }
}

/** product ← the two coefficients in each packed sum; packedProduct ← 0. */
const unpack = (): void => {
  for (let t = 0; t < p; t++) {
    const x = packedProduct[t]
    const high = (x * (1 / lane) + rounder) - rounder
    product[2 * t] = x - lane * high
    product[2 * t + 1] = high
    packedProduct[t] = 0
  }
}

/** product[0 … p−1] ← product mod x^p − x − 1: x^i = x^(i−p+1) + x^(i−p) for i ≥ p, from the top down. */
const fold = (): void => {
  for (let i = 2 * p - 2; i >= p; i--) {
    const top = product[i]
    product[i - p + 1] += top
    product[i - p] += top
  }
}

/** out ← product[0 … p−1] mod m, centered (see {@link freeze}); product ← 0. */
const freezeProduct = (out: Float64Array, m: number, mInverse: number): void => {
  for (let i = 0; i < p; i++) {
    const x = product[i]
    out[i] = x - m * ((x * mInverse + rounder) - rounder)
  }
  product.fill(0)
}

/** product[0 … p−1] = a·b in Z[x]/(x^p − x − 1), unreduced mod q or 3. */
const multiply = (a: Float64Array, b: Float64Array): void => {
  pack(a)
  // b[2h] meets A[2(t−h)], b[2h+1] meets A[2(t−h)−1].
  for (let h = 0; h < half; h++) {
    multiplyRow(b[2 * h], packedEven, h)
    if (2 * h + 1 < p) multiplyRow(b[2 * h + 1], packedOdd, h)
  }
  unpack()
  fold()
  packedOdd.fill(0)
  packedEven.fill(0)
}

/** out = a·b in R/q, for b small. */
const multiplyRq = (out: Float64Array, a: Float64Array, b: Float64Array): void => {
  multiply(a, b)
  freezeProduct(out, q, qInverse)
}

/** out = a·b in R/3, for a and b small. */
const multiplyR3 = (out: Float64Array, a: Float64Array, b: Float64Array): void => {
  multiply(a, b)
  freezeProduct(out, 3, 1 / 3)
}

// ----- reciprocals
//
// Bernstein–Yang divsteps ("Fast constant-time gcd computation and modular inversion",
// 2019), on polynomials over Z/m for the prime m = q or 3. f starts as the reversal of
// x^p − x − 1, g as the reversal of s (degree < p). Each of 2p − 1 steps:
//   swap f and g (and v and r) when δ > 0 and g(0) ≠ 0, negating δ; then δ ← δ + 1;
//   g ← (f(0)·g − g(0)·f)/x, r ← f(0)·r − g(0)·x·v, v ← x·v.
// At the end s is invertible exactly when δ = 0, and the reversal of v, over f(0), is 1/s
// times the starting r. With the swap written as g ← ±(f0·g − g0·f)/x (minus when swapped,
// f0 and g0 taken before the swap), one pass per vector does both. Step k needs f and g only
// up to degree 2p − 2 − k (the steps left), and v and r have degree at most k: the loops
// shrink with these public bounds. Both moduli run the same loops, so one compiled pair
// serves both inversions.

/** The step loops over f, g, v and r (`DivstepLoops`), made at the first inversion. */
const loops = kernel(() => DivstepLoops.webAssembly(p), () => DivstepLoops.javascript(p))

/**
 * Which loops the inversions use (see `WasmModule.kernel`).
 *
 * @since 0.1.0
 * @category testing
 */
export const useDivstepLoops: (kind: KernelKind) => void = loops.use

/**
 * out = r0/s in (Z/m)[x]/(x^p − x − 1) for a small s; returns 0 when s is invertible and −1
 * when it is not (out is then meaningless).
 */
const reciprocal = (out: Float64Array, s: Float64Array, m: number, r0: number): number => {
  const mInverse = 1 / m
  const { f, g, r, stepFg, stepVr, v } = loops.get()
  f[0] = 1
  f[p - 1] = -1
  f[p] = -1
  for (let i = 0; i < p; i++) g[i] = s[p - 1 - i]
  r[0] = r0
  let delta = 1
  for (let k = 0; k < 2 * p - 1; k++) {
    const f0 = f[0]
    const g0 = g[0]
    const swap = (-delta >> 31) & nonzeroMask(g0)
    delta = ((delta ^ (swap & (delta ^ -delta))) + 1) | 0
    const sign = 1 + 2 * swap // −1 when swapping
    stepFg(swap & 1, sign * f0, sign * g0, Math.min(p + 1, 2 * p - 1 - k), m, mInverse)
    stepVr(swap & 1, sign * f0, sign * g0, Math.min(p, k + 1), m, mInverse)
  }
  // 1/f(0) = f(0)^(m−2), by a fixed chain of squarings and multiplications.
  let scale = 1
  let base = f[0]
  for (let e = m - 2; e > 0; e >>= 1) {
    if (e & 1) scale = freeze(scale * base, m, mInverse)
    base = freeze(base * base, m, mInverse)
  }
  for (let i = 0; i < p; i++) {
    const x = scale * v[p - 1 - i]
    out[i] = x - m * ((x * mInverse + rounder) - rounder)
  }
  for (const a of [f, g, v, r]) a.fill(0)
  return nonzeroMask(delta)
}

/** out = 1/(3·s) in R/q for a small nonzero s (R/q is a field: it always exists). */
const reciprocal3Rq = (out: Float64Array, s: Float64Array): void => {
  reciprocal(out, s, q, inv3)
}

/** out = 1/s in R/3; 0 when s is invertible, −1 when it is not. */
const reciprocalR3 = (out: Float64Array, s: Float64Array): number => reciprocal(out, s, 3, 1)

// ----- sampling

/**
 * p little-endian 32-bit words from one random(4p), as SUPERCOP's and OpenSSH's current
 * sntrup761 draw them (the round-3 reference drew each word with its own random(4): the same
 * distribution from a different reading of a deterministic source).
 */
const randomWords = (random: (n: number) => Uint8Array): Int32Array => {
  const bytes = random(4 * p)
  if (bytes.length !== 4 * p) throw new RangeError(`the random source returned ${bytes.length} bytes where ${4 * p} were asked for`)
  const list = new Int32Array(p)
  for (let i = 0; i < p; i++) {
    list[i] = bytes[4 * i] | (bytes[4 * i + 1] << 8) | (bytes[4 * i + 2] << 16) | (bytes[4 * i + 3] << 24)
  }
  bytes.fill(0)
  return list
}

/** A uniform small polynomial: each coefficient ⌊3·(u mod 2^30)/2^30⌋ − 1. */
const smallRandom = (out: Float64Array, random: (n: number) => Uint8Array): void => {
  const list = randomWords(random)
  for (let i = 0; i < p; i++) out[i] = Math.floor((list[i] & 0x3fffffff) * 3 / 1073741824) - 1
  list.fill(0)
}

/**
 * A random polynomial with exactly w nonzero coefficients, all ±1: p random words, the
 * first w tagged nonzero and the rest zero in their two low bits, sorted by a sorting
 * network, and the tags read off in sorted order.
 */
const shortRandom = (out: Float64Array, random: (n: number) => Uint8Array): void => {
  const list = randomWords(random)
  for (let i = 0; i < w; i++) list[i] &= -2
  for (let i = w; i < p; i++) list[i] = (list[i] & -3) | 1
  // Unsigned order as signed order: flip the top bit.
  for (let i = 0; i < p; i++) list[i] ^= 0x80000000
  sortInt32(list)
  for (let i = 0; i < p; i++) out[i] = (list[i] & 3) - 1
  list.fill(0)
}

/** Puts the smaller of x[i] and x[i + d] first, by mask, for i = from … to − 1. */
const compareExchanges = (x: Int32Array, from: number, to: number, d: number): void => {
  for (let i = from; i < to; i++) {
    const a = x[i]
    const b = x[i + d]
    // b < a, from the sign of b − a corrected for overflow.
    const diff = (b - a) | 0
    const mask = (diff ^ ((b ^ a) & (diff ^ b))) >> 31
    const swap = (a ^ b) & mask
    x[i] = a ^ swap
    x[i + d] = b ^ swap
  }
}

/**
 * Batcher's merge-exchange sort (Knuth, TAOCP vol. 3, 5.2.2, Algorithm M): which pairs are
 * compared depends only on the length, and each comparison exchanges by mask.
 */
const sortInt32 = (x: Int32Array): void => {
  const n = x.length
  let t = 0
  while ((1 << t) < n) t++
  for (let pp = 1 << (t - 1); pp > 0; pp >>= 1) {
    let qq = 1 << (t - 1)
    let rr = 0
    let d = pp
    for (;;) {
      // The i < n − d with i & pp = rr: blocks of pp starting at rr, 2·pp apart.
      for (let from = rr; from < n - d; from += 2 * pp) compareExchanges(x, from, Math.min(from + pp, n - d), d)
      if (qq === pp) break
      d = qq - pp
      qq >>= 1
      rr = pp
    }
  }
}

// ----- encodings
//
// The specification's Encode turns integers 0 ≤ R[i] < M[i] into bytes: neighbours merge
// pairwise (r = R[2j] + M[2j]·R[2j+1] below M[2j]·M[2j+1]), and a merged value gives up its
// low bytes while its range is at least 2^14; the merged list is encoded the same way, down
// to one value. Where the bytes go depends only on the M, so a plan computed once per
// modulus drives both directions. Only public values go through it.

interface Level {
  readonly n: number
  readonly M: Int32Array
  /** Where pair j's low bytes start, and how many there are. */
  readonly start: Int32Array
  readonly count: Int32Array
}

interface Plan {
  readonly levels: ReadonlyArray<Level>
  readonly lastM: number
  readonly lastStart: number
  readonly bytes: number
}

const makePlan = (modulus: number): Plan => {
  const levels: Array<Level> = []
  let M = new Int32Array(p).fill(modulus)
  let position = 0
  while (M.length > 1) {
    const n = M.length
    const next = new Int32Array((n + 1) >> 1)
    const start = new Int32Array(n >> 1)
    const count = new Int32Array(n >> 1)
    for (let j = 0; 2 * j + 1 < n; j++) {
      let m = M[2 * j] * M[2 * j + 1]
      start[j] = position
      while (m >= 16384) {
        position++
        m = (m + 255) >>> 8
      }
      count[j] = position - start[j]
      next[j] = m
    }
    if (n & 1) next[next.length - 1] = M[n - 1]
    levels.push({ n, M, start, count })
    M = next
  }
  const lastStart = position
  for (let m = M[0]; m > 1; m = (m + 255) >>> 8) position++
  return { levels, lastM: M[0], lastStart, bytes: position }
}

const rqPlan = makePlan(q)
const roundedPlan = makePlan((q + 2) / 3)

const encodeWith = (plan: Plan, values: Int32Array): Uint8Array => {
  const out = new Uint8Array(plan.bytes)
  let R = values
  for (const { M, count, n, start } of plan.levels) {
    const next = new Int32Array((n + 1) >> 1)
    for (let j = 0; 2 * j + 1 < n; j++) {
      let r = R[2 * j] + M[2 * j] * R[2 * j + 1]
      for (let k = 0; k < count[j]; k++) {
        out[start[j] + k] = r & 255
        r >>>= 8
      }
      next[j] = r
    }
    if (n & 1) next[next.length - 1] = R[n - 1]
    R = next
  }
  let r = R[0]
  for (let k = plan.lastStart; k < plan.bytes; k++) {
    out[k] = r & 255
    r >>>= 8
  }
  return out
}

/** The inverse of {@link encodeWith}; every value comes out reduced into its range. */
const decodeWith = (plan: Plan, bytes: Uint8Array): Int32Array => {
  let r = 0
  for (let k = plan.bytes - 1; k >= plan.lastStart; k--) r = r * 256 + bytes[k]
  let R = Int32Array.of(r % plan.lastM)
  for (let level = plan.levels.length - 1; level >= 0; level--) {
    const { M, count, n, start } = plan.levels[level]
    const out = new Int32Array(n)
    for (let j = 0; 2 * j + 1 < n; j++) {
      let low = 0
      let scale = 1
      for (let k = 0; k < count[j]; k++) {
        low += bytes[start[j] + k] * scale
        scale *= 256
      }
      const merged = low + scale * R[j]
      const first = merged % M[2 * j]
      out[2 * j] = first
      out[2 * j + 1] = ((merged - first) / M[2 * j]) % M[2 * j + 1]
    }
    if (n & 1) out[n - 1] = R[R.length - 1]
    R = out
  }
  return R
}

const encodeRq = (h: Float64Array): Uint8Array => encodeWith(rqPlan, Int32Array.from(h, (c) => c + q12))

const decodeRq = (bytes: Uint8Array): Float64Array => Float64Array.from(decodeWith(rqPlan, bytes), (c) => c - q12)

/** Rounded coefficients are multiples of 3 in −q12 … q12, sent as (c + q12)/3. */
const encodeRounded = (c: Float64Array): Uint8Array => encodeWith(roundedPlan, Int32Array.from(c, (x) => (x + q12) / 3))

const decodeRounded = (bytes: Uint8Array): Float64Array => Float64Array.from(decodeWith(roundedPlan, bytes), (c) => 3 * c - q12)

/** Four coefficients per byte, each + 1 in two bits, the lowest first; the last byte holds one. */
const encodeSmall = (out: Uint8Array, offset: number, f: Float64Array): void => {
  for (let i = 0; i < p >> 2; i++) {
    out[offset + i] = (f[4 * i] + 1) | ((f[4 * i + 1] + 1) << 2) | ((f[4 * i + 2] + 1) << 4) | ((f[4 * i + 3] + 1) << 6)
  }
  out[offset + (p >> 2)] = f[p - 1] + 1
}

const decodeSmall = (bytes: Uint8Array, offset: number): Float64Array => {
  const f = new Float64Array(p)
  for (let i = 0; i < p >> 2; i++) {
    const x = bytes[offset + i]
    f[4 * i] = (x & 3) - 1
    f[4 * i + 1] = ((x >> 2) & 3) - 1
    f[4 * i + 2] = ((x >> 4) & 3) - 1
    f[4 * i + 3] = ((x >> 6) & 3) - 1
  }
  f[p - 1] = (bytes[offset + (p >> 2)] & 3) - 1
  return f
}

// ----- hashing

/** The first 32 bytes of SHA-512(prefix || parts…). */
const hashPrefix = (prefix: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const h = crypto.createHash("sha512").update(Uint8Array.of(prefix))
  for (const part of parts) h.update(part)
  return new Uint8Array(h.digest().subarray(0, hashBytes))
}

// ----- the scheme

/** h·r rounded to the nearest multiples of 3, encoded; with the confirmation hash. */
const hide = (r: Float64Array, publicKey: Uint8Array, cache: Uint8Array): { readonly rEncoded: Uint8Array; readonly ciphertext: Uint8Array } => {
  const rEncoded = new Uint8Array(smallBytes)
  encodeSmall(rEncoded, 0, r)
  const h = decodeRq(publicKey)
  const c = new Float64Array(p)
  multiplyRq(c, h, r)
  // Each coefficient to the nearest multiple of 3: c − (c mod 3).
  for (let i = 0; i < p; i++) {
    const x = c[i]
    c[i] = 3 * ((x * (1 / 3) + rounder) - rounder)
  }
  const ciphertext = new Uint8Array(ciphertextLength)
  ciphertext.set(encodeRounded(c), 0)
  ciphertext.set(hashPrefix(2, hashPrefix(3, rEncoded), cache), roundedBytes)
  return { rEncoded, ciphertext }
}

/**
 * A fresh key pair. Draws, in the reference's order: 4p bytes per attempt at an invertible
 * g (usually one attempt), 4p bytes for f, then 191 bytes of rho.
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyPair = (random: (n: number) => Uint8Array): KeyPair => {
  const g = new Float64Array(p)
  const gInverse = new Float64Array(p)
  for (;;) {
    smallRandom(g, random)
    if (reciprocalR3(gInverse, g) === 0) break
  }
  const f = new Float64Array(p)
  shortRandom(f, random)
  const fInverse = new Float64Array(p)
  reciprocal3Rq(fInverse, f)
  const h = new Float64Array(p)
  multiplyRq(h, fInverse, g)
  const publicKey = encodeRq(h)

  const secretKey = new Uint8Array(secretKeyLength)
  encodeSmall(secretKey, 0, f)
  encodeSmall(secretKey, smallBytes, gInverse)
  secretKey.set(publicKey, 2 * smallBytes)
  const rho = random(smallBytes)
  if (rho.length !== smallBytes) throw new RangeError(`the random source returned ${rho.length} bytes where ${smallBytes} were asked for`)
  secretKey.set(rho, 2 * smallBytes + rqBytes)
  rho.fill(0)
  secretKey.set(hashPrefix(4, publicKey), 2 * smallBytes + rqBytes + smallBytes)
  for (const secret of [g, gInverse, f, fInverse]) secret.fill(0)
  return { publicKey, secretKey }
}

const checkLength = (operation: string, what: string, bytes: Uint8Array, length: number): void => {
  if (bytes.length !== length) {
    throw new CurveError({ operation: `sntrup761 ${operation}`, detail: `${what} is ${bytes.length} bytes, expected ${length}` })
  }
}

/**
 * Encapsulates to a peer's public key: a fresh ciphertext and the 32-byte shared secret.
 * Draws 4p random bytes. Throws {@link CurveError} when the public key is not 1158 bytes;
 * any 1158 bytes are a usable key (decoding reduces every coefficient into range).
 *
 * @since 0.1.0
 * @category operations
 */
export const encapsulate = (publicKey: Uint8Array, random: (n: number) => Uint8Array): Encapsulation => {
  checkLength("encapsulate", "public key", publicKey, publicKeyLength)
  const cache = hashPrefix(4, publicKey)
  const r = new Float64Array(p)
  shortRandom(r, random)
  const { ciphertext, rEncoded } = hide(r, publicKey, cache)
  const sharedSecret = hashPrefix(1, hashPrefix(3, rEncoded), ciphertext)
  r.fill(0)
  rEncoded.fill(0)
  return { ciphertext, sharedSecret }
}

/**
 * The shared secret of a ciphertext, with the secret key of {@link keyPair}. A ciphertext
 * that was not made for this key (or was altered) gives a pseudorandom secret derived from
 * the key's rho and the ciphertext, the same each time and by the same operations as a valid
 * one (implicit rejection): the key exchange then fails later, when the exchange hash and
 * the host's signature over it do not match.
 * Throws {@link CurveError} when either input has the wrong length.
 *
 * @since 0.1.0
 * @category operations
 */
export const decapsulate = (ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array => {
  checkLength("decapsulate", "ciphertext", ciphertext, ciphertextLength)
  checkLength("decapsulate", "secret key", secretKey, secretKeyLength)
  const publicKey = secretKey.subarray(2 * smallBytes, 2 * smallBytes + rqBytes)
  const rho = secretKey.subarray(2 * smallBytes + rqBytes, 2 * smallBytes + rqBytes + smallBytes)
  const cache = secretKey.subarray(2 * smallBytes + rqBytes + smallBytes)

  // r = (3·f·c mod q, lifted, mod 3) · (1/g) in R/3, forced to weight w if it is not.
  const c = decodeRounded(ciphertext.subarray(0, roundedBytes))
  const f = decodeSmall(secretKey, 0)
  const cf = new Float64Array(p)
  multiplyRq(cf, c, f)
  const e = new Float64Array(p)
  for (let i = 0; i < p; i++) {
    const x = 3 * cf[i]
    const y = x - q * ((x * qInverse + rounder) - rounder)
    e[i] = y - 3 * ((y * (1 / 3) + rounder) - rounder)
  }
  const gInverse = decodeSmall(secretKey, smallBytes)
  const r = new Float64Array(p)
  multiplyR3(r, e, gInverse)
  let weight = 0
  for (let i = 0; i < p; i++) weight += r[i] & 1
  const wrongWeight = nonzeroMask(weight - w) & 1
  // Weight w or not, the same arithmetic: r, or 1 … 1 0 … 0 (w ones).
  for (let i = 0; i < p; i++) r[i] = r[i] + wrongWeight * ((i < w ? 1 : 0) - r[i])

  // Re-encrypt; on any difference, rho stands in for r.
  const { ciphertext: expected, rEncoded } = hide(r, publicKey, cache)
  let difference = 0
  for (let i = 0; i < ciphertextLength; i++) difference |= ciphertext[i] ^ expected[i]
  const reject = nonzeroMask(difference)
  for (let i = 0; i < smallBytes; i++) rEncoded[i] ^= reject & (rEncoded[i] ^ rho[i])
  const sharedSecret = hashPrefix(1 + reject, hashPrefix(3, rEncoded), ciphertext)
  for (const secret of [f, cf, e, gInverse, r, rEncoded]) secret.fill(0)
  return sharedSecret
}
