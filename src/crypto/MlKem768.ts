/**
 * ML-KEM-768 (FIPS 203, final), in TypeScript: H is SHA3-256, G is SHA3-512, J and PRF are
 * SHAKE256, the matrix XOF is SHAKE128, all on one reused Keccak sponge (`Keccak.ts`, its
 * permutation in WebAssembly). Node 20's OpenSSL has no ML-KEM; its SHA-3 took a hash object
 * per call, which cost more than the hashing.
 *
 * Polynomials are Int32Arrays of 256 coefficients mod q = 3329. Products use Montgomery
 * reduction (R = 2^16) with `Math.imul`; sums are brought back with Barrett reduction. The
 * twiddle factors ζ^BitRev7(i) (ζ = 17) are computed when the module loads.
 *
 * The deterministic functions take their randomness as arguments: `keyPairFromSeed(d, z)` is
 * ML-KEM.KeyGen_internal, `encapsulateWith(ek, m)` is ML-KEM.Encaps_internal (with the
 * encapsulation-key check of §7.2), `decapsulate(c, dk)` is ML-KEM.Decaps with implicit
 * rejection.
 *
 * @since 0.1.0
 */
import { CurveError } from "./CurveOps.js"
import * as Keccak from "./Keccak.js"
import { kernel, type KernelKind } from "./WasmModule.js"

const n = 256
const q = 3329
const k = 3
/** η1 = η2 = 2 for ML-KEM-768. */
const eta = 2
const du = 10
const dv = 4

const polyBytes = 384 // ByteEncode12 of one polynomial
const rhoOffset = k * polyBytes // 1152

/**
 * The length of an encapsulation (public) key, in bytes: 384k + 32.
 *
 * @since 0.1.0
 * @category constants
 */
export const publicKeyLength = k * polyBytes + 32

/**
 * The length of a decapsulation (secret) key, in bytes: 768k + 96.
 *
 * @since 0.1.0
 * @category constants
 */
export const secretKeyLength = 2 * k * polyBytes + 96

/**
 * The length of a ciphertext, in bytes: 32(du·k + dv).
 *
 * @since 0.1.0
 * @category constants
 */
export const ciphertextLength = 32 * (du * k + dv)

/**
 * The length of the shared secret, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const sharedSecretLength = 32

const c1Length = 32 * du * k // 960

// --- Arithmetic mod q ---------------------------------------------------------------------

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

/** round(2^26 / q): x − round(x/q)·q for |x| < 2^31 / 20159 (about 32q), a result in [−q/2, q/2]. */
const barrettV = 20159
const barrett = (x: number): number => x - Math.imul((Math.imul(x, barrettV) + (1 << 25)) >> 26, q)

/** The representative in [0, q) of any x in (−2q, 2q)-ish after Barrett: handles (−q, 2q). */
const canonical = (x: number): number => {
  const r = barrett(x)
  return r + ((r >> 31) & q)
}

/** (a · b) mod q for 0 ≤ a, b < q: exact in a double. */
const mulModPlain = (a: number, b: number): number => (a * b) % q

const R = 65536 % q // 2285
const R2 = mulModPlain(R, R) // 2^32 mod q = 1353

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
 * Every polynomial of an operation lives in this one preallocated block: a 1 KiB typed array
 * is an off-heap allocation in V8, and allocating and collecting about eighty per key exchange
 * cost more than the arithmetic. The functions here are synchronous and never re-entered, so
 * one set serves every call; none of them escapes (the results are byte encodings), and each
 * public operation wipes the block when it is done, secrets (ŝ, e, ŷ) and all.
 */
const scratch = new Int32Array(n * (k * k + 4 * k + 2))
const polys = (first: number, count: number): ReadonlyArray<Int32Array> =>
  Array.from({ length: count }, (_, i) => scratch.subarray((first + i) * n, (first + i + 1) * n))
/** Â, row-major, and the same as one block. */
const matrix = polys(0, k * k)
const matrixBlock = scratch.subarray(0, k * k * n)
/** ŝ in key generation and decryption, ŷ in encryption. */
const secretVector = polys(k * k, k)
/** e in key generation, e1 in encryption. */
const errorVector = polys(k * k + k, k)
/** t̂ in encryption, the accumulators of key generation. */
const publicVector = polys(k * k + 2 * k, k)
/** u in encryption and decryption. */
const uVector = polys(k * k + 3 * k, k)
const e2 = scratch.subarray((k * k + 4 * k) * n, (k * k + 4 * k + 1) * n)
const v = scratch.subarray((k * k + 4 * k + 1) * n, (k * k + 4 * k + 2) * n)

/** `result`, once the block and the sponge hold nothing of the operation that made it. */
const wiped = <A>(result: A): A => {
  scratch.fill(0)
  keccak().wipe()
  return result
}

// --- NTT (Algorithms 9–12) ------------------------------------------------------------------

/**
 * Algorithm 9, in place. Input coefficients in (−q, q); output in (−8q, 8q), not reduced: each
 * layer adds less than q to a coefficient's size, so the inputs of the Montgomery multiplies
 * stay below 8q, inside its 2^15 bound (about 9.8q). Products with a reduced polynomial take
 * the output as it is (see `multiplyAccumulate`); `reduce` makes it canonical for an encoding.
 */
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

/** In place: every coefficient (within ±32q) to its representative in [0, q). */
const reduce = (f: Int32Array): void => {
  for (let j = 0; j < n; j++) f[j] = canonical(f[j]!)
}

/**
 * Algorithm 10, in place, on a sum of base-case products (which carry a factor R^-1, taken
 * out by the final scale). Input coefficients within about ±32q; output in (−q, q). The sums
 * double in size each layer; one reduction after the fourth keeps every Montgomery input
 * below 8q.
 */
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

/**
 * Algorithms 11 and 12: acc += f ∘ g in the NTT domain, each product carrying a factor R^-1.
 * f in (−q, q) and g within ±8q (an unreduced NTT output), or the other way round: every
 * product stays below 8q² < 2^15·q, inside the Montgomery bound. Each call adds less than 2q
 * in absolute value to a coefficient.
 */
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

// --- Hashes and sampling (§4.1, Algorithms 7–8) ---------------------------------------------

/** The sponge every hash here runs on (`Keccak`), made at the first hash. */
const sponge = kernel(Keccak.webAssembly, Keccak.javascript)
const keccak = sponge.get

/**
 * Which Keccak permutation the hashes use (see `WasmModule.kernel`).
 *
 * @since 0.1.0
 * @category testing
 */
export const useKeccak: (kind: KernelKind) => void = sponge.use

/** A fixed-length hash of the parts: SHA3-256 (H), SHA3-512 (G) or SHAKE256 (J), into a new array. */
const hash = (kind: "sha3_256" | "sha3_512" | "shake256", length: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const k = keccak()
  k.absorb(Keccak.rate[kind], kind === "shake256" ? Keccak.domain.shake : Keccak.domain.sha3, ...parts)
  const out = new Uint8Array(length)
  k.squeeze(out, 0, length)
  return out
}

/**
 * Algorithm 7, SampleNTT(ρ ‖ j ‖ i): SHAKE128 read a block (168 bytes, 112 candidates) at a
 * time, in place in the sponge's state, until 256 coefficients below q are found.
 */
const sampleNtt = (seed: Uint8Array, a: Int32Array): void => {
  const k = keccak()
  k.absorb(Keccak.rate.shake128, Keccak.domain.shake, seed)
  let j = 0
  // Each block yields 112 candidates, about 91 accepted; the bound is never near.
  for (let blocks = 0; j < n && blocks < 64; blocks++) {
    const block = k.squeezeBlock()
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
  if (j < n) throw new Error("ML-KEM SampleNTT: 64 XOF blocks without 256 coefficients")
}

const xofSeed = new Uint8Array(34)

/**
 * The last key pair's Â and its ρ. A client decapsulates under the key pair it has just made,
 * and decapsulation re-encrypts, which expands the same Â again: nine SHAKE128 outputs, a
 * fifth of the work. Â is public (it is ρ's expansion, and ρ is in the public key), so keeping
 * it, and comparing ρ to choose it, tells nothing of a secret.
 */
const keptMatrix = new Int32Array(k * k * n)
const keptRho = new Uint8Array(32)
let matrixKept = false

const sameRho = (rho: Uint8Array): boolean => {
  if (!matrixKept) return false
  for (let i = 0; i < 32; i++) if (rho[i] !== keptRho[i]) return false
  return true
}

/** Â from ρ into `matrix`: Â[i][j] = SampleNTT(ρ ‖ j ‖ i); from `keptMatrix` when ρ is the last key pair's. */
const expandMatrix = (rho: Uint8Array): void => {
  if (sameRho(rho)) {
    matrixBlock.set(keptMatrix)
    return
  }
  xofSeed.set(rho.subarray(0, 32))
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      xofSeed[32] = j
      xofSeed[33] = i
      sampleNtt(xofSeed, matrix[i * k + j]!)
    }
  }
}

const prfInput = new Uint8Array(33)
const prfOutput = new Uint8Array(64 * eta)

/** Algorithm 8 for η = 2 on PRF_η(s, b) = SHAKE256(s ‖ b, 64η bytes): coefficients in [−2, 2]. */
const sampleCbd = (s: Uint8Array, b: number, f: Int32Array): void => {
  prfInput.set(s.subarray(0, 32))
  prfInput[32] = b
  const k = keccak()
  k.absorb(Keccak.rate.shake256, Keccak.domain.shake, prfInput)
  k.squeeze(prfOutput, 0, prfOutput.length)
  for (let i = 0; i < 64 * eta; i++) {
    // The bits summed in pairs, all four pairs at once (no table: the noise is secret).
    const x = prfOutput[i]!
    const pairs = (x & 0x55) + ((x >> 1) & 0x55)
    f[2 * i] = (pairs & 3) - ((pairs >> 2) & 3)
    f[2 * i + 1] = ((pairs >> 4) & 3) - (pairs >> 6)
  }
}

// --- Encodings and compression (§4.2.1, Algorithms 5–6) -------------------------------------

/** ByteEncode12 of a polynomial with coefficients in [0, q). */
const encode12 = (f: Int32Array, out: Uint8Array, offset: number): void => {
  for (let i = 0; i < n / 2; i++) {
    const a = f[2 * i]!
    const b = f[2 * i + 1]!
    out[offset + 3 * i] = a & 0xff
    out[offset + 3 * i + 1] = (a >> 8) | ((b & 0x0f) << 4)
    out[offset + 3 * i + 2] = b >> 4
  }
}

/** ByteDecode12: 12-bit values, not yet reduced (the caller checks or reduces them). */
const decode12 = (bytes: Uint8Array, offset: number, f: Int32Array): void => {
  for (let i = 0; i < n / 2; i++) {
    const b0 = bytes[offset + 3 * i]!
    const b1 = bytes[offset + 3 * i + 1]!
    const b2 = bytes[offset + 3 * i + 2]!
    f[2 * i] = b0 | ((b1 & 0x0f) << 8)
    f[2 * i + 1] = (b1 >> 4) | (b2 << 4)
  }
}

/** Compress_d(x) = round(2^d · x / q) mod 2^d, for x in [0, q), as a table. */
const compressTable = (d: number): Uint16Array => {
  const table = new Uint16Array(q)
  for (let x = 0; x < q; x++) table[x] = Math.floor((x * 2 ** (d + 1) + q) / (2 * q)) % 2 ** d
  return table
}
/** Decompress_d(y) = round(q · y / 2^d), for y in [0, 2^d), as a table. */
const decompressTable = (d: number): Uint16Array => {
  const table = new Uint16Array(2 ** d)
  for (let y = 0; y < 2 ** d; y++) table[y] = Math.floor((2 * q * y + 2 ** d) / 2 ** (d + 1))
  return table
}
const compressU = compressTable(du)
const compressV = compressTable(dv)
const compress1 = compressTable(1)
const decompressU = decompressTable(du)
const decompressV = decompressTable(dv)
const decompress1 = decompressTable(1)

/** ByteEncode10(Compress10(f)), f in (−q, q). */
const encodeU = (f: Int32Array, out: Uint8Array, offset: number): void => {
  for (let i = 0; i < n / 4; i++) {
    const a0 = compressU[canonical(f[4 * i]!)]!
    const a1 = compressU[canonical(f[4 * i + 1]!)]!
    const a2 = compressU[canonical(f[4 * i + 2]!)]!
    const a3 = compressU[canonical(f[4 * i + 3]!)]!
    const o = offset + 5 * i
    out[o] = a0 & 0xff
    out[o + 1] = (a0 >> 8) | ((a1 << 2) & 0xff)
    out[o + 2] = (a1 >> 6) | ((a2 << 4) & 0xff)
    out[o + 3] = (a2 >> 4) | ((a3 << 6) & 0xff)
    out[o + 4] = a3 >> 2
  }
}

/** Decompress10(ByteDecode10(bytes)). */
const decodeU = (bytes: Uint8Array, offset: number, f: Int32Array): void => {
  for (let i = 0; i < n / 4; i++) {
    const o = offset + 5 * i
    const b0 = bytes[o]!
    const b1 = bytes[o + 1]!
    const b2 = bytes[o + 2]!
    const b3 = bytes[o + 3]!
    const b4 = bytes[o + 4]!
    f[4 * i] = decompressU[b0 | ((b1 & 0x03) << 8)]!
    f[4 * i + 1] = decompressU[(b1 >> 2) | ((b2 & 0x0f) << 6)]!
    f[4 * i + 2] = decompressU[(b2 >> 4) | ((b3 & 0x3f) << 4)]!
    f[4 * i + 3] = decompressU[(b3 >> 6) | (b4 << 2)]!
  }
}

/** ByteEncode4(Compress4(f)), f in (−q, q). */
const encodeV = (f: Int32Array, out: Uint8Array, offset: number): void => {
  for (let i = 0; i < n / 2; i++) {
    out[offset + i] = compressV[canonical(f[2 * i]!)]! | (compressV[canonical(f[2 * i + 1]!)]! << 4)
  }
}

/** Decompress4(ByteDecode4(bytes)). */
const decodeV = (bytes: Uint8Array, offset: number, f: Int32Array): void => {
  for (let i = 0; i < n / 2; i++) {
    const b = bytes[offset + i]!
    f[2 * i] = decompressV[b & 0x0f]!
    f[2 * i + 1] = decompressV[b >> 4]!
  }
}

// --- K-PKE (Algorithms 13–15) ---------------------------------------------------------------

/** Algorithm 13: ek_PKE (1184 bytes) and dk_PKE (1152 bytes) from d. */
const pkeKeyGen = (d: Uint8Array): { readonly ek: Uint8Array; readonly dk: Uint8Array } => {
  const g = hash("sha3_512", 64, d, Uint8Array.of(k))
  const rho = g.subarray(0, 32)
  const sigma = g.subarray(32, 64)
  expandMatrix(rho)
  keptMatrix.set(matrixBlock)
  keptRho.set(rho.subarray(0, 32))
  matrixKept = true
  const s = secretVector
  const e = errorVector
  for (let i = 0; i < k; i++) sampleCbd(sigma, i, s[i]!)
  for (let i = 0; i < k; i++) sampleCbd(sigma, k + i, e[i]!)
  for (const p of s) {
    ntt(p)
    reduce(p)
  }
  for (const p of e) ntt(p)
  const ek = new Uint8Array(publicKeyLength)
  const dk = new Uint8Array(k * polyBytes)
  for (let i = 0; i < k; i++) {
    // t̂[i] = Σ_j Â[i][j] ∘ ŝ[j] + ê[i]: the products' R^-1 taken out by a Montgomery multiply by R^2.
    const acc = publicVector[i]!.fill(0)
    for (let j = 0; j < k; j++) multiplyAccumulate(acc, matrix[i * k + j]!, s[j]!)
    const ei = e[i]!
    for (let c = 0; c < n; c++) acc[c] = canonical(mulMont(barrett(acc[c]!), R2) + ei[c]!)
    encode12(acc, ek, i * polyBytes)
    encode12(s[i]!, dk, i * polyBytes)
  }
  ek.set(rho, rhoOffset)
  return { ek, dk }
}

/** Algorithm 14: the ciphertext of the 32-byte m with randomness r, under ek (already checked). */
const pkeEncrypt = (ek: Uint8Array, m: Uint8Array, r: Uint8Array): Uint8Array => {
  const t = publicVector
  for (let i = 0; i < k; i++) decode12(ek, i * polyBytes, t[i]!)
  expandMatrix(ek.subarray(rhoOffset, rhoOffset + 32))
  const y = secretVector
  const e1 = errorVector
  for (let i = 0; i < k; i++) sampleCbd(r, i, y[i]!)
  for (let i = 0; i < k; i++) sampleCbd(r, k + i, e1[i]!)
  sampleCbd(r, 2 * k, e2)
  for (const p of y) ntt(p)
  const c = new Uint8Array(ciphertextLength)
  for (let i = 0; i < k; i++) {
    // u[i] = NTT^-1(Σ_j Â[j][i] ∘ ŷ[j]) + e1[i]: Âᵀ.
    const u = uVector[i]!.fill(0)
    for (let j = 0; j < k; j++) multiplyAccumulate(u, matrix[j * k + i]!, y[j]!)
    invNttOfProducts(u)
    const e = e1[i]!
    for (let x = 0; x < n; x++) u[x] = u[x]! + e[x]!
    encodeU(u, c, i * 32 * du)
  }
  // v = NTT^-1(t̂ᵀ ∘ ŷ) + e2 + Decompress1(ByteDecode1(m)).
  v.fill(0)
  for (let j = 0; j < k; j++) multiplyAccumulate(v, t[j]!, y[j]!)
  invNttOfProducts(v)
  for (let x = 0; x < n; x++) {
    const bit = (m[x >> 3]! >> (x & 7)) & 1
    v[x] = barrett(v[x]! + e2[x]! + decompress1[bit]!)
  }
  encodeV(v, c, c1Length)
  return c
}

/** Algorithm 15: the 32-byte message of c under dk_PKE (the first 1152 bytes of dk). */
const pkeDecrypt = (dk: Uint8Array, c: Uint8Array): Uint8Array => {
  const acc = publicVector[0]!.fill(0)
  for (let i = 0; i < k; i++) {
    const u = uVector[i]!
    decodeU(c, i * 32 * du, u)
    ntt(u)
    const s = secretVector[i]!
    decode12(dk, i * polyBytes, s)
    for (let x = 0; x < n; x++) s[x] = canonical(s[x]!)
    multiplyAccumulate(acc, s, u)
  }
  invNttOfProducts(acc)
  decodeV(c, c1Length, v)
  const m = new Uint8Array(32)
  for (let x = 0; x < n; x++) {
    const w = canonical(v[x]! - acc[x]!)
    m[x >> 3] = m[x >> 3]! | (compress1[w]! << (x & 7))
  }
  return m
}

// --- ML-KEM (Algorithms 16–18) --------------------------------------------------------------

const copy = (bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(bytes.length)
  out.set(bytes)
  return out
}

/**
 * ML-KEM.KeyGen_internal (Algorithm 16): the encapsulation key (1184 bytes) and the
 * decapsulation key dk_PKE ‖ ek ‖ H(ek) ‖ z (2400 bytes), from the 32-byte seeds d and z.
 *
 * @since 0.1.0
 * @category key generation
 */
export const keyPairFromSeed = (d: Uint8Array, z: Uint8Array): { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array } => {
  if (d.length !== 32 || z.length !== 32) throw new RangeError("ML-KEM-768 key generation: d and z must be 32 bytes each")
  const { dk: dkPke, ek } = pkeKeyGen(d)
  const dk = new Uint8Array(secretKeyLength)
  dk.set(dkPke, 0)
  dk.set(ek, dkPke.length)
  dk.set(hash("sha3_256", 32, ek), dkPke.length + ek.length)
  dk.set(z, dkPke.length + ek.length + 32)
  return wiped({ publicKey: ek, secretKey: dk })
}

/**
 * FIPS 203 §7.2's encapsulation-key check: the length, and ByteEncode12(ByteDecode12(ek)) = ek,
 * that is every 12-bit value below q. Throws `CurveError`.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkPublicKey = (publicKey: Uint8Array): void => {
  if (publicKey.length !== publicKeyLength) {
    throw new CurveError({ operation: "mlkem768", detail: `public key of ${publicKey.length} bytes, not ${publicKeyLength}` })
  }
  let bad = 0
  const t = publicVector[0]!
  for (let i = 0; i < k; i++) {
    decode12(publicKey, i * polyBytes, t)
    for (let x = 0; x < n; x++) bad |= (q - 1 - t[x]!) >> 31
  }
  if (bad !== 0) throw new CurveError({ operation: "mlkem768", detail: "invalid public key: a coefficient is not below q" })
}

/**
 * ML-KEM.Encaps_internal (Algorithm 17) with the encapsulation-key check of FIPS 203 §7.2:
 * the ciphertext and shared secret for the 32-byte message m. Throws `CurveError` for a key of
 * the wrong length or with a coefficient of q or more.
 *
 * @since 0.1.0
 * @category encapsulation
 */
export const encapsulateWith = (publicKey: Uint8Array, m: Uint8Array): { readonly ciphertext: Uint8Array; readonly sharedSecret: Uint8Array } => {
  checkPublicKey(publicKey)
  if (m.length !== 32) throw new RangeError("ML-KEM-768 encapsulation: m must be 32 bytes")
  const g = hash("sha3_512", 64, m, hash("sha3_256", 32, publicKey))
  const ciphertext = pkeEncrypt(publicKey, m, g.subarray(32, 64))
  return wiped({ ciphertext, sharedSecret: copy(g.subarray(0, 32)) })
}

/**
 * ML-KEM.Decaps (Algorithm 18): the shared secret of a ciphertext, or, for a ciphertext that
 * does not re-encrypt to itself, the implicit-rejection secret J(z ‖ c). Throws `CurveError`
 * for a ciphertext of the wrong length.
 *
 * @since 0.1.0
 * @category decapsulation
 */
export const decapsulate = (ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array => {
  if (ciphertext.length !== ciphertextLength) {
    throw new CurveError({ operation: "mlkem768", detail: `ciphertext of ${ciphertext.length} bytes, not ${ciphertextLength}` })
  }
  if (secretKey.length !== secretKeyLength) {
    throw new CurveError({ operation: "mlkem768", detail: `secret key of ${secretKey.length} bytes, not ${secretKeyLength}` })
  }
  const pkeLength = k * polyBytes
  const dkPke = secretKey.subarray(0, pkeLength)
  const ek = secretKey.subarray(pkeLength, pkeLength + publicKeyLength)
  const h = secretKey.subarray(pkeLength + publicKeyLength, pkeLength + publicKeyLength + 32)
  const z = secretKey.subarray(pkeLength + publicKeyLength + 32, secretKeyLength)
  const m = pkeDecrypt(dkPke, ciphertext)
  const g = hash("sha3_512", 64, m, h)
  const rejected = hash("shake256", 32, z, ciphertext)
  const reencrypted = pkeEncrypt(ek, m, g.subarray(32, 64))
  // Compare c and c′, and choose between K′ and K̄, without a data-dependent branch.
  let diff = 0
  for (let i = 0; i < ciphertextLength; i++) diff |= ciphertext[i]! ^ reencrypted[i]!
  const keep = ((diff - 1) >> 31) & 0xff // 0xff when c = c′, else 0
  const out = new Uint8Array(sharedSecretLength)
  for (let i = 0; i < sharedSecretLength; i++) out[i] = (g[i]! & keep) | (rejected[i]! & ~keep & 0xff)
  return wiped(out)
}
