/**
 * Poly1305 (RFC 8439 §2.5), the one-time authenticator of chacha20-poly1305@openssh.com.
 *
 * It is here because no public API offers it bare: node:crypto has Poly1305 only inside the
 * RFC 8439 AEAD, whose MAC input (padded AAD, padded ciphertext, lengths) is not OpenSSH's
 * (the encrypted length and the ciphertext, unpadded), and @noble/ciphers keeps its Poly1305
 * in an internal module.
 *
 * The arithmetic is done in radix 2^13: the accumulator h and the key half r are ten 13-bit
 * limbs each. A product of two limbs, times 5 where it wraps past 2^130, and the sum of ten
 * such products stay far below 2^53, so plain JavaScript numbers compute every step exactly.
 * No branch or index depends on the key or the message.
 *
 * @since 0.1.0
 */

const LIMB = 8192 // 2^13
const MASK = 0x1fff
const INV = 1 / LIMB // exact: a power of two

/** Sixteen little-endian bytes at `o` as ten 13-bit limbs, into `out`; `absorb` inlines the same. */
const load = (b: Uint8Array, o: number, out: Float64Array): void => {
  const w0 = b[o] | (b[o + 1] << 8)
  const w1 = b[o + 2] | (b[o + 3] << 8)
  const w2 = b[o + 4] | (b[o + 5] << 8)
  const w3 = b[o + 6] | (b[o + 7] << 8)
  const w4 = b[o + 8] | (b[o + 9] << 8)
  const w5 = b[o + 10] | (b[o + 11] << 8)
  const w6 = b[o + 12] | (b[o + 13] << 8)
  const w7 = b[o + 14] | (b[o + 15] << 8)
  // Limb i holds bits 13i .. 13i+12.
  out[0] = w0 & MASK
  out[1] = ((w0 >>> 13) | (w1 << 3)) & MASK
  out[2] = ((w1 >>> 10) | (w2 << 6)) & MASK
  out[3] = ((w2 >>> 7) | (w3 << 9)) & MASK
  out[4] = ((w3 >>> 4) | (w4 << 12)) & MASK
  out[5] = (w4 >>> 1) & MASK
  out[6] = ((w4 >>> 14) | (w5 << 2)) & MASK
  out[7] = ((w5 >>> 11) | (w6 << 5)) & MASK
  out[8] = ((w6 >>> 8) | (w7 << 8)) & MASK
  out[9] = w7 >>> 5
}

/**
 * For each 16-byte block of `msg` from `from` to `to`: h := (h + block + top·2^128) · r mod p,
 * with p = 2^130 − 5. `h` comes in and goes out as limbs below 2^13 (h[1] a little above).
 */
const absorb = (h: Float64Array, r: Float64Array, msg: Uint8Array, from: number, to: number, top: number): void => {
  const hibit = top << 11
  const r0 = r[0], r1 = r[1], r2 = r[2], r3 = r[3], r4 = r[4]
  const r5 = r[5], r6 = r[6], r7 = r[7], r8 = r[8], r9 = r[9]
  // 2^130 ≡ 5 (mod p): a product whose weight passes 2^130 comes back at the bottom, times 5.
  const s1 = r1 * 5, s2 = r2 * 5, s3 = r3 * 5, s4 = r4 * 5, s5 = r5 * 5
  const s6 = r6 * 5, s7 = r7 * 5, s8 = r8 * 5, s9 = r9 * 5
  let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4]
  let h5 = h[5], h6 = h[6], h7 = h[7], h8 = h[8], h9 = h[9]
  for (let o = from; o < to; o += 16) {
    // h += the block, limb i taking bits 13i .. 13i+12.
    const w0 = msg[o] | (msg[o + 1] << 8)
    const w1 = msg[o + 2] | (msg[o + 3] << 8)
    const w2 = msg[o + 4] | (msg[o + 5] << 8)
    const w3 = msg[o + 6] | (msg[o + 7] << 8)
    const w4 = msg[o + 8] | (msg[o + 9] << 8)
    const w5 = msg[o + 10] | (msg[o + 11] << 8)
    const w6 = msg[o + 12] | (msg[o + 13] << 8)
    const w7 = msg[o + 14] | (msg[o + 15] << 8)
    h0 += w0 & MASK
    h1 += ((w0 >>> 13) | (w1 << 3)) & MASK
    h2 += ((w1 >>> 10) | (w2 << 6)) & MASK
    h3 += ((w2 >>> 7) | (w3 << 9)) & MASK
    h4 += ((w3 >>> 4) | (w4 << 12)) & MASK
    h5 += (w4 >>> 1) & MASK
    h6 += ((w4 >>> 14) | (w5 << 2)) & MASK
    h7 += ((w5 >>> 11) | (w6 << 5)) & MASK
    h8 += ((w6 >>> 8) | (w7 << 8)) & MASK
    h9 += (w7 >>> 5) | hibit
    // h *= r: each d_i sums ten products below 2^30, exact as a double; carries go up as we go.
    const d0 = h0 * r0 + h1 * s9 + h2 * s8 + h3 * s7 + h4 * s6 +
      h5 * s5 + h6 * s4 + h7 * s3 + h8 * s2 + h9 * s1
    let c = (d0 * INV) | 0
    const t0 = d0 - c * LIMB
    const d1 = c + h0 * r1 + h1 * r0 + h2 * s9 + h3 * s8 + h4 * s7 +
      h5 * s6 + h6 * s5 + h7 * s4 + h8 * s3 + h9 * s2
    c = (d1 * INV) | 0
    const t1 = d1 - c * LIMB
    const d2 = c + h0 * r2 + h1 * r1 + h2 * r0 + h3 * s9 + h4 * s8 +
      h5 * s7 + h6 * s6 + h7 * s5 + h8 * s4 + h9 * s3
    c = (d2 * INV) | 0
    const t2 = d2 - c * LIMB
    const d3 = c + h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s9 +
      h5 * s8 + h6 * s7 + h7 * s6 + h8 * s5 + h9 * s4
    c = (d3 * INV) | 0
    const t3 = d3 - c * LIMB
    const d4 = c + h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0 +
      h5 * s9 + h6 * s8 + h7 * s7 + h8 * s6 + h9 * s5
    c = (d4 * INV) | 0
    const t4 = d4 - c * LIMB
    const d5 = c + h0 * r5 + h1 * r4 + h2 * r3 + h3 * r2 + h4 * r1 +
      h5 * r0 + h6 * s9 + h7 * s8 + h8 * s7 + h9 * s6
    c = (d5 * INV) | 0
    const t5 = d5 - c * LIMB
    const d6 = c + h0 * r6 + h1 * r5 + h2 * r4 + h3 * r3 + h4 * r2 +
      h5 * r1 + h6 * r0 + h7 * s9 + h8 * s8 + h9 * s7
    c = (d6 * INV) | 0
    const t6 = d6 - c * LIMB
    const d7 = c + h0 * r7 + h1 * r6 + h2 * r5 + h3 * r4 + h4 * r3 +
      h5 * r2 + h6 * r1 + h7 * r0 + h8 * s9 + h9 * s8
    c = (d7 * INV) | 0
    const t7 = d7 - c * LIMB
    const d8 = c + h0 * r8 + h1 * r7 + h2 * r6 + h3 * r5 + h4 * r4 +
      h5 * r3 + h6 * r2 + h7 * r1 + h8 * r0 + h9 * s9
    c = (d8 * INV) | 0
    const t8 = d8 - c * LIMB
    const d9 = c + h0 * r9 + h1 * r8 + h2 * r7 + h3 * r6 + h4 * r5 +
      h5 * r4 + h6 * r3 + h7 * r2 + h8 * r1 + h9 * r0
    c = (d9 * INV) | 0
    const t9 = d9 - c * LIMB
    // The carry out of the top limb has weight 2^130 ≡ 5.
    const u0 = t0 + c * 5
    h0 = u0 & MASK
    h1 = t1 + (u0 >>> 13)
    h2 = t2
    h3 = t3
    h4 = t4
    h5 = t5
    h6 = t6
    h7 = t7
    h8 = t8
    h9 = t9
  }
  h[0] = h0
  h[1] = h1
  h[2] = h2
  h[3] = h3
  h[4] = h4
  h[5] = h5
  h[6] = h6
  h[7] = h7
  h[8] = h8
  h[9] = h9
}

/** One pass of carries through all limbs, wrapping the carry out of the top as ×5. */
const carryAll = (h: Float64Array): void => {
  let carry = 0
  for (let i = 0; i < 10; i++) {
    const v = h[i] + carry
    carry = v >>> 13
    h[i] = v & MASK
  }
  h[0] += carry * 5
}

/**
 * The 16-byte Poly1305 tag of `message` under a 32-byte one-time `key` (r, then s).
 *
 * @since 0.1.0
 * @category macs
 */
export const poly1305 = (key: Uint8Array, message: Uint8Array): Uint8Array => {
  if (key.length !== 32) throw new RangeError(`Poly1305 needs a 32-byte key, got ${key.length} bytes`)
  // r, clamped (§2.5.1): the top four bits of bytes 3, 7, 11, 15 and the low two of 4, 8, 12.
  const clamped = key.slice(0, 16)
  clamped[3] &= 15
  clamped[7] &= 15
  clamped[11] &= 15
  clamped[15] &= 15
  clamped[4] &= 252
  clamped[8] &= 252
  clamped[12] &= 252
  const r = new Float64Array(10)
  load(clamped, 0, r)
  const h = new Float64Array(10)

  const full = message.length - (message.length % 16)
  absorb(h, r, message, 0, full, 1)
  if (full < message.length) {
    // A short last block: its bytes, then 1, then zeros; no bit 128 (§2.5.1).
    const last = new Uint8Array(16)
    last.set(message.subarray(full))
    last[message.length - full] = 1
    absorb(h, r, last, 0, 16, 0)
  }

  // Fully reduce: two passes leave h < 2^130 in limbs below 2^13; then h − p if h ≥ p.
  carryAll(h)
  carryAll(h)
  const g = new Float64Array(10)
  let carry = 5
  for (let i = 0; i < 10; i++) {
    const v = h[i] + carry
    carry = v >>> 13
    g[i] = v & MASK
  }
  // carry is 1 exactly when h + 5 ≥ 2^130, that is h ≥ p, and g then holds h − p. Chosen by
  // mask, not by branch.
  const useG = -carry
  for (let i = 0; i < 10; i++) h[i] = (g[i] & useG) | (h[i] & ~useG)

  // (h + s) mod 2^128, little-endian, sixteen bits at a time.
  const tag = new Uint8Array(16)
  let bits = 0
  let acc = 0
  let sum = 0
  let limb = 0
  for (let w = 0; w < 8; w++) {
    while (bits < 16) {
      acc |= h[limb++] << bits
      bits += 13
    }
    sum += (acc & 0xffff) + (key[16 + 2 * w] | (key[17 + 2 * w] << 8))
    acc >>>= 16
    bits -= 16
    tag[2 * w] = sum & 0xff
    tag[2 * w + 1] = (sum >>> 8) & 0xff
    sum >>>= 16
  }
  return tag
}
