/**
 * ML-KEM-768 (FIPS 203, final), in TypeScript: H is SHA3-256, G is SHA3-512, J and PRF are
 * SHAKE256, the matrix XOF is SHAKE128, all on one reused Keccak sponge (`Keccak.ts`, its
 * permutation in WebAssembly). Node 20's OpenSSL has no ML-KEM; its SHA-3 took a hash object
 * per call, which cost more than the hashing.
 *
 * Polynomials are Int32Arrays of 256 coefficients mod q = 3329, in one block. The inner loops
 * (the sponge, SampleNTT's and CBD's sampling, the NTT and the products in the NTT domain)
 * are `MlKemKernel`'s, in WebAssembly where the runtime has it; the encodings, compression
 * and K-PKE's steps are here.
 *
 * The deterministic functions take their randomness as arguments: `keyPairFromSeed(d, z)` is
 * ML-KEM.KeyGen_internal, `encapsulateWith(ek, m)` is ML-KEM.Encaps_internal (with the
 * encapsulation-key check of §7.2; `encapsulate(ek, drawM)` draws m only after that check),
 * `decapsulate(c, dk)` is ML-KEM.Decaps with implicit rejection.
 *
 * @since 0.1.0
 */
import { CurveError } from "./CurveOps.js"
import * as Keccak from "./Keccak.js"
import * as MlKemKernel from "./MlKemKernel.js"
import { barrett, canonical, type Kernel, n, q } from "./MlKemKernel.js"
import { kernel as lazyKernel, type KernelKind } from "./WasmModule.js"

const k = 3
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

// --- The kernel and its block of polynomials -----------------------------------------------

/**
 * Every polynomial of an operation lives in one preallocated block, the kernel's
 * (`MlKemKernel`): a 1 KiB typed array is an off-heap allocation in V8, and allocating and
 * collecting about eighty per key exchange cost more than the arithmetic. The functions here
 * are synchronous and never re-entered, so one block serves every call; none of its
 * polynomials escapes (the results are byte encodings), and each public operation wipes the
 * block (all but the public Â) and the sponge when it is done, secrets (ŝ, e, ŷ) and all.
 * Polynomials are named by their index in the block.
 */
/** Â, row-major: Â[i][j] is polynomial i·k + j. First, so that a wipe can leave it (see `expandMatrix`). */
const MATRIX = 0
/** ŝ in key generation and decryption, ŷ in encryption. */
const SECRET = k * k
/** e in key generation, e1 in encryption. */
const ERROR = SECRET + k
/** t̂ in encryption, the accumulators of key generation and decryption. */
const PUBLIC = ERROR + k
/** u in encryption and decryption. */
const U = PUBLIC + k
const E2 = U + k
const V = E2 + 1
const polyCount = V + 1

/** The kernel (WebAssembly where the runtime has it), made at the first operation. */
const kernels = lazyKernel(() => MlKemKernel.webAssembly(polyCount), () => MlKemKernel.javascript(polyCount))

/**
 * Which kernel the operations use (see `WasmModule.kernel`).
 *
 * @since 0.1.0
 * @category testing
 */
export const useKernel: (kind: KernelKind) => void = kernels.use

/** `result`, once the block and the sponge hold nothing secret of the operation that made it (Â is public, and kept). */
const wiped = <A>(kernel: Kernel, result: A): A => {
  kernel.block.fill(0, (MATRIX + k * k) * n)
  kernel.sponge.wipe()
  return result
}

// --- Hashes and sampling (§4.1, Algorithms 7–8) ---------------------------------------------

/** A fixed-length hash of the parts: SHA3-256 (H), SHA3-512 (G) or SHAKE256 (J), into a new array. */
const hash = (kernel: Kernel, kind: "sha3_256" | "sha3_512" | "shake256", length: number, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  kernel.sponge.absorb(Keccak.rate[kind], kind === "shake256" ? Keccak.domain.shake : Keccak.domain.sha3, ...parts)
  const out = new Uint8Array(length)
  kernel.sponge.squeeze(out, 0, length)
  return out
}

const xofSeed = new Uint8Array(34)

/**
 * Â stays in the block after an operation, with the ρ it was expanded from: a client
 * decapsulates under the key pair it has just made, and decapsulation re-encrypts, which
 * expands the same Â again (nine SHAKE128 outputs, a fifth of the work). Â is public (ρ's
 * expansion, and ρ is in the public key), so keeping it, and comparing ρ to choose it, tells
 * nothing of a secret: the wipe after each operation leaves it.
 */
const matrixRho = new Uint8Array(32)
/** The kernel whose block holds the Â of `matrixRho`, if any. */
let matrixHeldBy: Kernel | undefined

const holdsMatrixOf = (kernel: Kernel, rho: Uint8Array): boolean => {
  if (matrixHeldBy !== kernel) return false
  for (let i = 0; i < 32; i++) if (rho[i] !== matrixRho[i]) return false
  return true
}

/** Â from ρ into the block, unless it is there: Â[i][j] = SampleNTT(ρ ‖ j ‖ i) (Algorithm 7, on SHAKE128). */
const expandMatrix = (kernel: Kernel, rho: Uint8Array): void => {
  if (holdsMatrixOf(kernel, rho)) return
  matrixHeldBy = undefined
  xofSeed.set(rho.subarray(0, 32))
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      xofSeed[32] = j
      xofSeed[33] = i
      kernel.sponge.absorb(Keccak.rate.shake128, Keccak.domain.shake, xofSeed)
      kernel.sampleNtt(MATRIX + i * k + j)
    }
  }
  matrixRho.set(rho.subarray(0, 32))
  matrixHeldBy = kernel
}

const prfInput = new Uint8Array(33)

/** Algorithm 8 for η = 2 on PRF_η(s, b) = SHAKE256(s ‖ b, 64η bytes), into polynomial f: coefficients in [−2, 2]. */
const sampleCbd = (kernel: Kernel, s: Uint8Array, b: number, f: number): void => {
  prfInput.set(s.subarray(0, 32))
  prfInput[32] = b
  kernel.sponge.absorb(Keccak.rate.shake256, Keccak.domain.shake, prfInput)
  kernel.sampleCbd(f)
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

/** ⌈2^37 / 2q⌉: `compress`'s multiplier. */
const compressFactor = Math.ceil(2 ** 37 / (2 * q))

/**
 * Compress_d(x) = round(2^d · x / q) mod 2^d, for x in [0, q) and d ≤ 11, without a table or
 * a division: the values compressed are secret (u and v of an encryption, w of a decryption),
 * and a table indexed by them is a cache-timing channel. round(2^d·x/q) is
 * ⌊N / 2q⌋ for N = 2^(d+1)·x + q < 2^24, and ⌊N / 2q⌋ = ⌊N · ⌈2^37/2q⌉ / 2^37⌋ for every such
 * N (a multiplier of 24 + 13 bits); the product stays below 2^53, exact in a double. The tests
 * check every x.
 *
 * @since 0.1.0
 * @category testing
 */
export const compress = (d: number, x: number): number => Math.floor(((x * 2 ** (d + 1) + q) * compressFactor) / 2 ** 37) & ((1 << d) - 1)

/** Decompress_d(y) = round(q · y / 2^d), for y in [0, 2^d), as a table. */
const decompressTable = (d: number): Uint16Array => {
  const table = new Uint16Array(2 ** d)
  for (let y = 0; y < 2 ** d; y++) table[y] = Math.floor((2 * q * y + 2 ** d) / 2 ** (d + 1))
  return table
}
const decompressU = decompressTable(du)
const decompressV = decompressTable(dv)

/** ByteEncode10(Compress10(f)), f in (−q, q). */
const encodeU = (f: Int32Array, out: Uint8Array, offset: number): void => {
  for (let i = 0; i < n / 4; i++) {
    const a0 = compress(du, canonical(f[4 * i]!))
    const a1 = compress(du, canonical(f[4 * i + 1]!))
    const a2 = compress(du, canonical(f[4 * i + 2]!))
    const a3 = compress(du, canonical(f[4 * i + 3]!))
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
    out[offset + i] = compress(dv, canonical(f[2 * i]!)) | (compress(dv, canonical(f[2 * i + 1]!)) << 4)
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
const pkeKeyGen = (kernel: Kernel, d: Uint8Array): { readonly ek: Uint8Array; readonly dk: Uint8Array } => {
  const g = hash(kernel, "sha3_512", 64, d, Uint8Array.of(k))
  const rho = g.subarray(0, 32)
  const sigma = g.subarray(32, 64)
  expandMatrix(kernel, rho)
  const p = kernel.polys
  for (let i = 0; i < k; i++) sampleCbd(kernel, sigma, i, SECRET + i)
  for (let i = 0; i < k; i++) sampleCbd(kernel, sigma, k + i, ERROR + i)
  for (let i = 0; i < k; i++) {
    kernel.ntt(SECRET + i)
    kernel.reduce(SECRET + i)
    kernel.ntt(ERROR + i)
  }
  const ek = new Uint8Array(publicKeyLength)
  const dk = new Uint8Array(k * polyBytes)
  for (let i = 0; i < k; i++) {
    // t̂[i] = Σ_j Â[i][j] ∘ ŝ[j] + ê[i]: the products' R^-1 taken out by a Montgomery multiply by R^2.
    p[PUBLIC + i]!.fill(0)
    for (let j = 0; j < k; j++) kernel.multiplyAccumulate(PUBLIC + i, MATRIX + i * k + j, SECRET + j)
    kernel.addToProducts(PUBLIC + i, ERROR + i)
    encode12(p[PUBLIC + i]!, ek, i * polyBytes)
    encode12(p[SECRET + i]!, dk, i * polyBytes)
  }
  ek.set(rho, rhoOffset)
  return { ek, dk }
}

/** Puts t̂, ByteDecode12 of ek's first 1152 bytes, in PUBLIC, where K-PKE's encryption reads it. */
const loadPublicKey = (kernel: Kernel, ek: Uint8Array): void => {
  for (let i = 0; i < k; i++) decode12(ek, i * polyBytes, kernel.polys[PUBLIC + i]!)
}

/**
 * Algorithm 14: the ciphertext of the 32-byte m with randomness r, under ek, whose t̂ the
 * caller has put in PUBLIC (`loadPublicKey`) with nothing in between that uses PUBLIC.
 */
const pkeEncrypt = (kernel: Kernel, ek: Uint8Array, m: Uint8Array, r: Uint8Array): Uint8Array => {
  const p = kernel.polys
  expandMatrix(kernel, ek.subarray(rhoOffset, rhoOffset + 32))
  // ŷ in SECRET, e1 in ERROR.
  for (let i = 0; i < k; i++) sampleCbd(kernel, r, i, SECRET + i)
  for (let i = 0; i < k; i++) sampleCbd(kernel, r, k + i, ERROR + i)
  sampleCbd(kernel, r, 2 * k, E2)
  const e2 = p[E2]!
  for (let i = 0; i < k; i++) kernel.ntt(SECRET + i)
  const c = new Uint8Array(ciphertextLength)
  for (let i = 0; i < k; i++) {
    // u[i] = NTT^-1(Σ_j Â[j][i] ∘ ŷ[j]) + e1[i]: Âᵀ.
    const u = p[U + i]!.fill(0)
    for (let j = 0; j < k; j++) kernel.multiplyAccumulate(U + i, MATRIX + j * k + i, SECRET + j)
    kernel.invNttOfProducts(U + i)
    const e = p[ERROR + i]!
    for (let x = 0; x < n; x++) u[x] = u[x]! + e[x]!
    encodeU(u, c, i * 32 * du)
  }
  // v = NTT^-1(t̂ᵀ ∘ ŷ) + e2 + Decompress1(ByteDecode1(m)).
  const v = p[V]!.fill(0)
  for (let j = 0; j < k; j++) kernel.multiplyAccumulate(V, PUBLIC + j, SECRET + j)
  kernel.invNttOfProducts(V)
  for (let x = 0; x < n; x++) {
    // Decompress1 of m's bit: 0 or ⌈q/2⌋ = 1665, by a mask (m is secret: no table).
    const bit = (m[x >> 3]! >> (x & 7)) & 1
    v[x] = barrett(v[x]! + e2[x]! + (-bit & 1665))
  }
  encodeV(v, c, c1Length)
  return c
}

/** Algorithm 15: the 32-byte message of c under dk_PKE (the first 1152 bytes of dk). */
const pkeDecrypt = (kernel: Kernel, dk: Uint8Array, c: Uint8Array): Uint8Array => {
  const p = kernel.polys
  const acc = p[PUBLIC]!.fill(0)
  for (let i = 0; i < k; i++) {
    decodeU(c, i * 32 * du, p[U + i]!)
    kernel.ntt(U + i)
    decode12(dk, i * polyBytes, p[SECRET + i]!)
    kernel.reduce(SECRET + i)
    kernel.multiplyAccumulate(PUBLIC, SECRET + i, U + i)
  }
  kernel.invNttOfProducts(PUBLIC)
  const v = p[V]!
  decodeV(c, c1Length, v)
  const m = new Uint8Array(32)
  for (let x = 0; x < n; x++) {
    const w = canonical(v[x]! - acc[x]!)
    m[x >> 3] = m[x >> 3]! | (compress(1, w) << (x & 7))
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
  const kernel = kernels.get()
  const { dk: dkPke, ek } = pkeKeyGen(kernel, d)
  const dk = new Uint8Array(secretKeyLength)
  dk.set(dkPke, 0)
  dk.set(ek, dkPke.length)
  dk.set(hash(kernel, "sha3_256", 32, ek), dkPke.length + ek.length)
  dk.set(z, dkPke.length + ek.length + 32)
  return wiped(kernel, { publicKey: ek, secretKey: dk })
}

/**
 * FIPS 203 §7.2's encapsulation-key check: the length, and ByteEncode12(ByteDecode12(ek)) = ek,
 * that is every 12-bit value below q (as multiplyAccumulate needs them). Throws `CurveError`.
 * It leaves t̂ in PUBLIC, where encryption reads it (public data: nothing to wipe).
 */
const checkPublicKey = (kernel: Kernel, publicKey: Uint8Array): void => {
  if (publicKey.length !== publicKeyLength) {
    throw new CurveError({ operation: "mlkem768", detail: `public key of ${publicKey.length} bytes, not ${publicKeyLength}` })
  }
  loadPublicKey(kernel, publicKey)
  let bad = 0
  for (let i = 0; i < k; i++) {
    const t = kernel.polys[PUBLIC + i]!
    for (let x = 0; x < n; x++) bad |= (q - 1 - t[x]!) >> 31
  }
  if (bad !== 0) throw new CurveError({ operation: "mlkem768", detail: "invalid public key: a coefficient is not below q" })
}

/**
 * ML-KEM.Encaps (Algorithm 20): the key checked (§7.2) before `drawM` is asked for the 32-byte
 * message, so a malformed key draws nothing from the random source; then Encaps_internal.
 * Throws `CurveError` for a key of the wrong length or with a coefficient of q or more.
 *
 * @since 0.1.0
 * @category encapsulation
 */
export const encapsulate = (
  publicKey: Uint8Array,
  drawM: () => Uint8Array
): { readonly ciphertext: Uint8Array; readonly sharedSecret: Uint8Array } => {
  const kernel = kernels.get()
  checkPublicKey(kernel, publicKey)
  const m = drawM()
  if (m.length !== 32) throw new RangeError("ML-KEM-768 encapsulation: m must be 32 bytes")
  // t̂ stays in PUBLIC from the check: hashing and sampling use other parts of the kernel.
  const g = hash(kernel, "sha3_512", 64, m, hash(kernel, "sha3_256", 32, publicKey))
  const ciphertext = pkeEncrypt(kernel, publicKey, m, g.subarray(32, 64))
  return wiped(kernel, { ciphertext, sharedSecret: copy(g.subarray(0, 32)) })
}

/**
 * ML-KEM.Encaps_internal (Algorithm 17) with the encapsulation-key check of FIPS 203 §7.2:
 * the ciphertext and shared secret for the 32-byte message m. Throws `CurveError` for a key of
 * the wrong length or with a coefficient of q or more.
 *
 * @since 0.1.0
 * @category encapsulation
 */
export const encapsulateWith = (publicKey: Uint8Array, m: Uint8Array): { readonly ciphertext: Uint8Array; readonly sharedSecret: Uint8Array } =>
  encapsulate(publicKey, () => m)

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
  const kernel = kernels.get()
  const m = pkeDecrypt(kernel, dkPke, ciphertext)
  const g = hash(kernel, "sha3_512", 64, m, h)
  const rejected = hash(kernel, "shake256", 32, z, ciphertext)
  // Decryption used PUBLIC as its accumulator: the re-encryption reads t̂ of dk's ek, loaded again.
  loadPublicKey(kernel, ek)
  const reencrypted = pkeEncrypt(kernel, ek, m, g.subarray(32, 64))
  // Compare c and c′, and choose between K′ and K̄, without a data-dependent branch.
  let diff = 0
  for (let i = 0; i < ciphertextLength; i++) diff |= ciphertext[i]! ^ reencrypted[i]!
  const keep = ((diff - 1) >> 31) & 0xff // 0xff when c = c′, else 0
  const out = new Uint8Array(sharedSecretLength)
  for (let i = 0; i < sharedSecretLength; i++) out[i] = (g[i]! & keep) | (rejected[i]! & ~keep & 0xff)
  return wiped(kernel, out)
}
