/**
 * The Keccak sponge (FIPS 202) that ML-KEM hashes with: SHA3-256, SHA3-512, SHAKE128 and
 * SHAKE256, over a state that lives in one place and is reused. node:crypto has all four, but
 * a hash object per call (26 per ML-KEM key exchange) cost more than the hashing, in OpenSSL's
 * set-up and in garbage; and its SHAKE cannot be squeezed further once read.
 *
 * Keccak-f[1600] runs in WebAssembly, its 25 lanes in 64-bit locals, with a permutation in
 * JavaScript BigInts for a runtime without WebAssembly (`node --jitless`): slow, and there
 * for correctness; the tests hold both to node:crypto's digests. ML-KEM's kernel holds the
 * WebAssembly permutation (`permutation`) in its own module, beside the loops that read the
 * sponge's output in place.
 *
 * @since 0.1.0
 */
import { blockAndLoop, encode, type ExportedFunction, instantiate, localGet as get, localSet as set, memory8, op, sleb, type } from "./WasmModule.js"

/**
 * One sponge: `absorb` starts a hash of the parts, `squeeze` reads its output, as much as is
 * wanted, in pieces. Not re-entrant: a hash is absorbed and squeezed before the next starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface Sponge {
  /** Starts over: absorbs `parts` at `rate` bytes a block, then pads with `domain` (0x06 SHA-3, 0x1f SHAKE). */
  absorb(rate: number, domain: number, ...parts: ReadonlyArray<Uint8Array>): void
  /** The next `length` bytes of output, into `out` at `offset`. */
  squeeze(out: Uint8Array, offset: number, length: number): void
  /**
   * The next whole block of output (`rate` bytes), read in place: the state itself, valid
   * until the sponge is next used. Only at a block boundary (after `absorb`, or after whole
   * blocks), as SampleNTT reads its XOF.
   */
  squeezeBlock(): Uint8Array
  /** Zeroes the state: the permutation is invertible, so a state left behind gives back what was hashed. */
  wipe(): void
}

/**
 * The rates, in bytes: 200 less twice the output size for SHA-3, and the security level's.
 *
 * @since 0.1.0
 * @category constants
 */
export const rate = { sha3_256: 136, sha3_512: 72, shake128: 168, shake256: 136 } as const

/**
 * The domain-separation bits and the first padding bit, as one byte.
 *
 * @since 0.1.0
 * @category constants
 */
export const domain = { sha3: 0x06, shake: 0x1f } as const

// ----- the permutation's constants, from FIPS 202 §3.2

/** ρ's rotation of lane x + 5y: (t + 1)(t + 2)/2 along the walk (x, y) → (y, 2x + 3y). */
const rotations = (() => {
  const r = new Array<number>(25).fill(0)
  let x = 1
  let y = 0
  for (let t = 0; t < 24; t++) {
    r[x + 5 * y] = (((t + 1) * (t + 2)) / 2) % 64
    ;[x, y] = [y, (2 * x + 3 * y) % 5]
  }
  return r
})()

/** ι's round constants, from the degree-8 LFSR rc(t) (Algorithm 5). */
const roundConstants = (() => {
  let lfsr = 1
  const rc = () => {
    const bit = lfsr & 1
    lfsr = (lfsr << 1) ^ (lfsr & 0x80 ? 0x171 : 0)
    return bit
  }
  const out: Array<bigint> = []
  for (let round = 0; round < 24; round++) {
    let c = 0n
    for (let j = 0; j < 7; j++) if (rc()) c |= 1n << BigInt(2 ** j - 1)
    out.push(c)
  }
  return out
})()

/** π: lane x + 5y moves to lane y + 5((2x + 3y) mod 5). */
const piTarget = (lane: number): number => {
  const x = lane % 5
  const y = (lane - x) / 5
  return y + 5 * ((2 * x + 3 * y) % 5)
}

// ----- the sponge, over a 200-byte state and a permutation of it

/**
 * A sponge over `state` (200 bytes, lanes little-endian) and a permutation of it in place.
 *
 * @since 0.1.0
 * @category constructors
 */
export const sponge = (state: Uint8Array, permute: () => void): Sponge => {
  let spongeRate = 0
  let position = 0
  return {
    absorb(r, d, ...parts) {
      spongeRate = r
      state.fill(0)
      let at = 0
      for (const part of parts) {
        for (let i = 0; i < part.length; i++) {
          state[at] = state[at]! ^ part[i]!
          if (++at === r) {
            permute()
            at = 0
          }
        }
      }
      state[at] = state[at]! ^ d
      state[r - 1] = state[r - 1]! ^ 0x80
      permute()
      position = 0
    },
    squeeze(out, offset, length) {
      for (let done = 0; done < length;) {
        if (position === spongeRate) {
          permute()
          position = 0
        }
        const run = Math.min(length - done, spongeRate - position)
        out.set(state.subarray(position, position + run), offset + done)
        position += run
        done += run
      }
    },
    squeezeBlock() {
      if (position !== 0 && position !== spongeRate) throw new Error("Keccak squeezeBlock: not at a block boundary")
      if (position === spongeRate) permute()
      position = spongeRate
      return state
    },
    wipe() {
      state.fill(0)
      position = spongeRate
    }
  }
}

// ----- Keccak-f[1600] in WebAssembly

const { i32, i64 } = type
/** Where the 24 round constants sit in the module's memory, after the 200-byte state (at 0). */
const ROUND_CONSTANTS = 256

/**
 * The memory the WebAssembly permutation uses: the state at 0, its round constants after it.
 * A module that holds `permutation` keeps its own data from this address on.
 *
 * @since 0.1.0
 * @category constants
 */
export const permutationMemory = ROUND_CONSTANTS + 8 * 24

/** The permutation's body: lanes in locals 0–24, C in 25–29, D in 30–34, B in 35–59, the round's offset in 60. */
const permutationBody = (): Array<number> => {
  const A = (lane: number) => lane
  const C = (x: number) => 25 + x
  const D = (x: number) => 30 + x
  const B = (lane: number) => 35 + lane
  const round = 60
  const body: Array<number> = []
  for (let l = 0; l < 25; l++) body.push(op.i32Const, ...sleb(0), ...memory8(op.i64Load, 8 * l), ...set(A(l)))
  body.push(op.i32Const, ...sleb(0), ...set(round), ...blockAndLoop)
  // θ
  for (let x = 0; x < 5; x++) {
    body.push(...get(A(x)))
    for (let y = 1; y < 5; y++) body.push(...get(A(x + 5 * y)), op.i64Xor)
    body.push(...set(C(x)))
  }
  for (let x = 0; x < 5; x++) {
    body.push(...get(C((x + 4) % 5)), ...get(C((x + 1) % 5)), op.i64Const, ...sleb(1), op.i64Rotl, op.i64Xor, ...set(D(x)))
  }
  for (let l = 0; l < 25; l++) body.push(...get(A(l)), ...get(D(l % 5)), op.i64Xor, ...set(A(l)))
  // ρ and π
  for (let l = 0; l < 25; l++) body.push(...get(A(l)), op.i64Const, ...sleb(rotations[l]!), op.i64Rotl, ...set(B(piTarget(l))))
  // χ: ¬b is b xor −1
  for (let y = 0; y < 5; y++) {
    for (let x = 0; x < 5; x++) {
      const l = x + 5 * y
      body.push(
        ...get(B(l)),
        ...get(B((x + 1) % 5 + 5 * y)),
        op.i64Const,
        ...sleb(-1),
        op.i64Xor,
        ...get(B((x + 2) % 5 + 5 * y)),
        op.i64And,
        op.i64Xor,
        ...set(A(l))
      )
    }
  }
  // ι, and the next round
  body.push(...get(A(0)), ...get(round), ...memory8(op.i64Load, ROUND_CONSTANTS), op.i64Xor, ...set(A(0)))
  body.push(...get(round), op.i32Const, ...sleb(8), op.i32Add, ...set(round))
  body.push(...get(round), op.i32Const, ...sleb(8 * 24), op.i32LtS, op.brIf, 0, op.end, op.end)
  for (let l = 0; l < 25; l++) body.push(op.i32Const, ...sleb(0), ...get(A(l)), ...memory8(op.i64Store, 8 * l))
  body.push(op.end)
  return body
}

/**
 * Keccak-f[1600] as a WebAssembly function, "permute", of a module whose memory holds the
 * state at 0 and the round constants (`placeRoundConstants`) at `ROUND_CONSTANTS`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const permutation = (): ExportedFunction => ({
  name: "permute",
  params: [],
  locals: [...new Array<number>(60).fill(i64), i32],
  body: permutationBody()
})

/**
 * Writes the round constants where `permutation` reads them, in a module's memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const placeRoundConstants = (memory: ArrayBuffer): void => {
  new BigUint64Array(memory, ROUND_CONSTANTS, 24).set(roundConstants)
}

/**
 * A sponge whose permutation is WebAssembly; `undefined` where this runtime has none.
 *
 * @since 0.1.0
 * @category constructors
 */
export const webAssembly = (): Sponge | undefined => {
  const module = instantiate(encode([permutation()], 1))
  if (module === undefined) return undefined
  placeRoundConstants(module.memory)
  return sponge(new Uint8Array(module.memory, 0, 200), module.exports.permute as () => void)
}

// ----- Keccak-f[1600] in BigInts

const mask64 = (1n << 64n) - 1n
const rotl = (v: bigint, r: number): bigint => r === 0 ? v : ((v << BigInt(r)) | (v >> BigInt(64 - r))) & mask64

/**
 * A sponge whose permutation is JavaScript BigInts: for a runtime without WebAssembly.
 *
 * @since 0.1.0
 * @category constructors
 */
export const javascript = (): Sponge => {
  const state = new Uint8Array(200)
  // Lanes are little-endian (FIPS 202 §B.1), whatever the machine's order.
  const lanes = new DataView(state.buffer)
  const a = new Array<bigint>(25).fill(0n)
  const b = new Array<bigint>(25).fill(0n)
  const c = new Array<bigint>(5).fill(0n)
  const permute = () => {
    for (let l = 0; l < 25; l++) a[l] = lanes.getBigUint64(8 * l, true)
    for (let round = 0; round < 24; round++) {
      for (let x = 0; x < 5; x++) c[x] = a[x]! ^ a[x + 5]! ^ a[x + 10]! ^ a[x + 15]! ^ a[x + 20]!
      for (let l = 0; l < 25; l++) a[l] = a[l]! ^ c[(l + 4) % 5]! ^ rotl(c[(l + 1) % 5]!, 1)
      for (let l = 0; l < 25; l++) b[piTarget(l)] = rotl(a[l]!, rotations[l]!)
      for (let l = 0; l < 25; l++) {
        const x = l % 5
        const row = l - x
        a[l] = b[l]! ^ (~b[row + (x + 1) % 5]! & mask64 & b[row + (x + 2) % 5]!)
      }
      a[0] = a[0]! ^ roundConstants[round]!
    }
    for (let l = 0; l < 25; l++) lanes.setBigUint64(8 * l, a[l]!, true)
  }
  return sponge(state, permute)
}
