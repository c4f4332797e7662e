/**
 * GHASH (NIST SP 800-38D §6.4), the universal hash under AES-GCM's tag, over one hash subkey
 * H for as long as a connection's direction lives.
 *
 * It is here because node:crypto runs GCM only as a whole cipher made anew for every nonce,
 * and for the small packets of a login that set-up costs more than the packet itself
 * (`transport/cipher/AesGcm.ts` says when it uses which).
 *
 * Constant time: no branch and no memory index depends on H or on the data. A product in
 * GF(2^128) is computed as a carry-less multiplication from 32-bit integer ones: each
 * operand split into four words of every fourth bit, so that `Math.imul` of two such words
 * sums at most eight bits per position and the carries land in bits that are masked off.
 * `Math.imul` gives the low half of a product; the high half is the low half of the
 * bit-reversed operands' product, reversed. Karatsuba makes 128 × 128 bits nine 32 × 32 ones.
 *
 * Bit order: GCM reads a block's first bit as the coefficient of x^0. Each 32-bit word is
 * kept bit-reversed, so that bit i of word k is the coefficient of x^(32k+i) and integer
 * shifts are polynomial ones.
 *
 * @since 0.1.0
 */

const M0 = 0x11111111
const M1 = 0x22222222
const M2 = 0x44444444
const M3 = 0x88888888 | 0

const reverse32 = (x: number): number => {
  x = ((x >>> 1) & 0x55555555) | ((x & 0x55555555) << 1)
  x = ((x >>> 2) & 0x33333333) | ((x & 0x33333333) << 2)
  x = ((x >>> 4) & 0x0f0f0f0f) | ((x & 0x0f0f0f0f) << 4)
  x = ((x >>> 8) & 0x00ff00ff) | ((x & 0x00ff00ff) << 8)
  return (x >>> 16) | (x << 16)
}

/** The four bytes at `o`, big-endian, bit-reversed: GCM's order. */
const load = (b: Uint8Array, o: number): number => reverse32((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3])

/** The same for the bytes at `o` before `end`, zeros past it: a last, partial block. */
const loadPadded = (b: Uint8Array, o: number, end: number): number => {
  let w = 0
  for (let i = 0; i < 4; i++) w = (w << 8) | (o + i < end ? b[o + i] : 0)
  return reverse32(w)
}

/** The low 32 bits of the carry-less product of `x` and the operand split at `y[i..i+4]`. */
const clmulLow = (x: number, y: Int32Array, i: number): number => {
  const x0 = x & M0, x1 = x & M1, x2 = x & M2, x3 = x & M3
  const y0 = y[i], y1 = y[i + 1], y2 = y[i + 2], y3 = y[i + 3]
  return ((Math.imul(x0, y0) ^ Math.imul(x1, y3) ^ Math.imul(x2, y2) ^ Math.imul(x3, y1)) & M0) |
    ((Math.imul(x0, y1) ^ Math.imul(x1, y0) ^ Math.imul(x2, y3) ^ Math.imul(x3, y2)) & M1) |
    ((Math.imul(x0, y2) ^ Math.imul(x1, y1) ^ Math.imul(x2, y0) ^ Math.imul(x3, y3)) & M2) |
    ((Math.imul(x0, y3) ^ Math.imul(x1, y2) ^ Math.imul(x2, y1) ^ Math.imul(x3, y0)) & M3)
}

/** The high 32 bits of the same product, from the bit-reversed operands (`r` is reverse32(x)). */
const clmulHigh = (r: number, y: Int32Array, i: number): number => reverse32(clmulLow(r, y, i)) >>> 1

/** A word of the hash back in GCM's order, big-endian, XOR the mask's bytes at `m`. */
const store = (s: number, mask: Uint8Array, m: number, out: Uint8Array, o: number): void => {
  const w = reverse32(s)
  out[o] = (w >>> 24) ^ mask[m]
  out[o + 1] = ((w >>> 16) & 0xff) ^ mask[m + 1]
  out[o + 2] = ((w >>> 8) & 0xff) ^ mask[m + 2]
  out[o + 3] = (w & 0xff) ^ mask[m + 3]
}

/** Nonzero where a word of the hash XOR the mask differs from the tag's bytes at `o`. */
const differs = (s: number, mask: Uint8Array, m: number, tag: Uint8Array, o: number): number => {
  const w = reverse32(s)
  return ((w >>> 24) ^ mask[m] ^ tag[o]) | (((w >>> 16) & 0xff) ^ mask[m + 1] ^ tag[o + 1]) |
    (((w >>> 8) & 0xff) ^ mask[m + 2] ^ tag[o + 2]) | ((w & 0xff) ^ mask[m + 3] ^ tag[o + 3])
}

/**
 * One running GHASH. Not safe to share between directions: it keeps the running value.
 *
 * @since 0.1.0
 * @category models
 */
export class Ghash {
  /**
   * H's nine Karatsuba operands (its four words, their pairwise sums, the sum of all), then
   * the same bit-reversed, each split into its four words of every fourth bit.
   *
   * @since 0.1.0
   */
  private readonly h = new Int32Array(72)
  private s0 = 0
  private s1 = 0
  private s2 = 0
  private s3 = 0

  /**
   * `hashKey`: H, the block cipher's encryption of the zero block.
   *
   * @since 0.1.0
   */
  constructor(hashKey: Uint8Array) {
    const h0 = load(hashKey, 0), h1 = load(hashKey, 4), h2 = load(hashKey, 8), h3 = load(hashKey, 12)
    const operands = [h0, h1, h0 ^ h1, h2, h3, h2 ^ h3, h0 ^ h2, h1 ^ h3, h0 ^ h1 ^ h2 ^ h3]
    for (let i = 0; i < 9; i++) {
      this.split(4 * i, operands[i])
      this.split(36 + 4 * i, reverse32(operands[i]))
    }
  }

  /**
   * Stores `y` at `h[i..i+4)` as its four words of every fourth bit.
   *
   * @since 0.1.0
   */
  private split(i: number, y: number): void {
    const h = this.h
    h[i] = y & M0
    h[i + 1] = y & M1
    h[i + 2] = y & M2
    h[i + 3] = y & M3
  }

  /**
   * Starts a new message.
   *
   * @since 0.1.0
   */
  reset(): void {
    this.s0 = 0
    this.s1 = 0
    this.s2 = 0
    this.s3 = 0
  }

  /**
   * Hashes `bytes[start..end)`, the last block padded with zeros, as GCM pads AAD and text.
   *
   * @since 0.1.0
   */
  update(bytes: Uint8Array, start: number, end: number): void {
    let o = start
    for (; o + 16 <= end; o += 16) this.block(load(bytes, o), load(bytes, o + 4), load(bytes, o + 8), load(bytes, o + 12))
    if (o < end) this.block(loadPadded(bytes, o, end), loadPadded(bytes, o + 4, end), loadPadded(bytes, o + 8, end), loadPadded(bytes, o + 12, end))
  }

  /**
   * The closing block: the bit lengths of the AAD and of the text (each below 2^32 bits here).
   *
   * @since 0.1.0
   */
  lengths(aadBytes: number, textBytes: number): void {
    this.block(0, reverse32(aadBytes * 8), 0, reverse32(textBytes * 8))
  }

  /**
   * Writes the hash XOR `mask[0..16)` (GCM's E(K, J0)) into `out` at `offset`.
   *
   * @since 0.1.0
   */
  digest(mask: Uint8Array, out: Uint8Array, offset: number): void {
    store(this.s0, mask, 0, out, offset)
    store(this.s1, mask, 4, out, offset + 4)
    store(this.s2, mask, 8, out, offset + 8)
    store(this.s3, mask, 12, out, offset + 12)
  }

  /**
   * Whether the hash XOR `mask[0..16)` equals `tag[at..at+16)`, every byte compared whatever
   * differs first.
   *
   * @since 0.1.0
   */
  matches(mask: Uint8Array, tag: Uint8Array, at: number): boolean {
    const differ = (differs(this.s0, mask, 0, tag, at) | differs(this.s1, mask, 4, tag, at + 4)) |
      (differs(this.s2, mask, 8, tag, at + 8) | differs(this.s3, mask, 12, tag, at + 12))
    return differ === 0
  }

  /**
   * s = (s + a) · H, a given as four words in the hash's bit order.
   *
   * @since 0.1.0
   */
  private block(a0: number, a1: number, a2: number, a3: number): void {
    const h = this.h
    a0 ^= this.s0
    a1 ^= this.s1
    a2 ^= this.s2
    a3 ^= this.s3
    const r0 = reverse32(a0), r1 = reverse32(a1), r2 = reverse32(a2), r3 = reverse32(a3)
    // The nine 32 × 32 products, low and high halves, in the order of H's operands.
    const l0 = clmulLow(a0, h, 0), g0 = clmulHigh(r0, h, 36)
    const l1 = clmulLow(a1, h, 4), g1 = clmulHigh(r1, h, 40)
    const l2 = clmulLow(a0 ^ a1, h, 8), g2 = clmulHigh(r0 ^ r1, h, 44)
    const l3 = clmulLow(a2, h, 12), g3 = clmulHigh(r2, h, 48)
    const l4 = clmulLow(a3, h, 16), g4 = clmulHigh(r3, h, 52)
    const l5 = clmulLow(a2 ^ a3, h, 20), g5 = clmulHigh(r2 ^ r3, h, 56)
    const l6 = clmulLow(a0 ^ a2, h, 24), g6 = clmulHigh(r0 ^ r2, h, 60)
    const l7 = clmulLow(a1 ^ a3, h, 28), g7 = clmulHigh(r1 ^ r3, h, 64)
    const l8 = clmulLow(a0 ^ a1 ^ a2 ^ a3, h, 32), g8 = clmulHigh(r0 ^ r1 ^ r2 ^ r3, h, 68)
    // 64 × 64 products of the low halves (L), the high halves (U) and their sums (X).
    const L1 = g0 ^ l2 ^ l0 ^ l1, L2 = l1 ^ g2 ^ g0 ^ g1
    const U1 = g3 ^ l5 ^ l3 ^ l4, U2 = l4 ^ g5 ^ g3 ^ g4
    const X0 = l6 ^ l0 ^ l3, X1 = g6 ^ l8 ^ l6 ^ l7 ^ L1 ^ U1, X2 = l7 ^ g8 ^ g6 ^ g7 ^ L2 ^ U2, X3 = g7 ^ g1 ^ g4
    // The 256-bit product p0..p7, reduced modulo x^128 + x^7 + x^2 + x + 1: x^128 = x^7 + x^2 + x + 1.
    const p0 = l0, p1 = L1, p2 = L2 ^ X0, p3 = g1 ^ X1, p4 = l3 ^ X2, p5 = U1 ^ X3, p6 = U2, p7 = g4
    const over = (p7 >>> 31) ^ (p7 >>> 30) ^ (p7 >>> 25)
    this.s0 = p0 ^ p4 ^ (p4 << 1) ^ (p4 << 2) ^ (p4 << 7) ^ over ^ (over << 1) ^ (over << 2) ^ (over << 7)
    this.s1 = p1 ^ p5 ^ (p5 << 1) ^ (p5 << 2) ^ (p5 << 7) ^ (p4 >>> 31) ^ (p4 >>> 30) ^ (p4 >>> 25)
    this.s2 = p2 ^ p6 ^ (p6 << 1) ^ (p6 << 2) ^ (p6 << 7) ^ (p5 >>> 31) ^ (p5 >>> 30) ^ (p5 >>> 25)
    this.s3 = p3 ^ p7 ^ (p7 << 1) ^ (p7 << 2) ^ (p7 << 7) ^ (p6 >>> 31) ^ (p6 >>> 30) ^ (p6 >>> 25)
  }
}
