/**
 * ChaCha20 as OpenSSH uses it (D. J. Bernstein's original layout): a 64-bit block counter
 * and a 64-bit nonce, where RFC 8439 has a 32-bit counter and a 96-bit nonce. OpenSSH's
 * chacha20-poly1305 runs on it, for packets (`transport/cipher/ChaCha20Poly1305`) and for
 * encrypted key files (`keys/OpenSshKeyV1`).
 *
 * Long inputs run in node:crypto (OpenSSL). Node's 16-byte "chacha20" IV is the whole state
 * row 12..15, a 32-bit counter then a 96-bit nonce, which covers OpenSSH's layout byte for
 * byte: the counter little-endian in bytes 0..7, the nonce big-endian in bytes 8..15.
 *
 * Short ones (a packet's length, its Poly1305 key, a login's packets) run here: OpenSSL's
 * cipher is made anew for every call, which costs more than the few blocks themselves. The
 * block function is additions, rotations and XORs of 32-bit words only, so it takes the same
 * time whatever the key and the data.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"

/** Inputs up to this many bytes run here (`npm run bench:cipher`). */
const SHORT = 512

const iv = (nonce: number, counter: number): Buffer => {
  const out = Buffer.alloc(16)
  out.writeUInt32LE(counter >>> 0, 0)
  out.writeUInt32BE(nonce >>> 0, 12)
  return out
}

const readLE = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)

const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n))

/**
 * The block function: 20 rounds on the 16 words of `input`, plus `input`, into `stream`.
 * The state lives in locals, not in an array: V8 keeps them in registers (≈ 8× faster).
 */
const block = (input: Int32Array, stream: Int32Array): void => {
  let x0 = input[0], x1 = input[1], x2 = input[2], x3 = input[3]
  let x4 = input[4], x5 = input[5], x6 = input[6], x7 = input[7]
  let x8 = input[8], x9 = input[9], x10 = input[10], x11 = input[11]
  let x12 = input[12], x13 = input[13], x14 = input[14], x15 = input[15]
  for (let round = 0; round < 10; round++) {
    // The quarter round (a += b; d ^= a; d <<<= 16; c += d; b ^= c; b <<<= 12; then 8 and 7)
    // on the four columns, then on the four diagonals.
    x0 = (x0 + x4) | 0
    x12 = rotl(x12 ^ x0, 16)
    x8 = (x8 + x12) | 0
    x4 = rotl(x4 ^ x8, 12)
    x0 = (x0 + x4) | 0
    x12 = rotl(x12 ^ x0, 8)
    x8 = (x8 + x12) | 0
    x4 = rotl(x4 ^ x8, 7)

    x1 = (x1 + x5) | 0
    x13 = rotl(x13 ^ x1, 16)
    x9 = (x9 + x13) | 0
    x5 = rotl(x5 ^ x9, 12)
    x1 = (x1 + x5) | 0
    x13 = rotl(x13 ^ x1, 8)
    x9 = (x9 + x13) | 0
    x5 = rotl(x5 ^ x9, 7)

    x2 = (x2 + x6) | 0
    x14 = rotl(x14 ^ x2, 16)
    x10 = (x10 + x14) | 0
    x6 = rotl(x6 ^ x10, 12)
    x2 = (x2 + x6) | 0
    x14 = rotl(x14 ^ x2, 8)
    x10 = (x10 + x14) | 0
    x6 = rotl(x6 ^ x10, 7)

    x3 = (x3 + x7) | 0
    x15 = rotl(x15 ^ x3, 16)
    x11 = (x11 + x15) | 0
    x7 = rotl(x7 ^ x11, 12)
    x3 = (x3 + x7) | 0
    x15 = rotl(x15 ^ x3, 8)
    x11 = (x11 + x15) | 0
    x7 = rotl(x7 ^ x11, 7)

    x0 = (x0 + x5) | 0
    x15 = rotl(x15 ^ x0, 16)
    x10 = (x10 + x15) | 0
    x5 = rotl(x5 ^ x10, 12)
    x0 = (x0 + x5) | 0
    x15 = rotl(x15 ^ x0, 8)
    x10 = (x10 + x15) | 0
    x5 = rotl(x5 ^ x10, 7)

    x1 = (x1 + x6) | 0
    x12 = rotl(x12 ^ x1, 16)
    x11 = (x11 + x12) | 0
    x6 = rotl(x6 ^ x11, 12)
    x1 = (x1 + x6) | 0
    x12 = rotl(x12 ^ x1, 8)
    x11 = (x11 + x12) | 0
    x6 = rotl(x6 ^ x11, 7)

    x2 = (x2 + x7) | 0
    x13 = rotl(x13 ^ x2, 16)
    x8 = (x8 + x13) | 0
    x7 = rotl(x7 ^ x8, 12)
    x2 = (x2 + x7) | 0
    x13 = rotl(x13 ^ x2, 8)
    x8 = (x8 + x13) | 0
    x7 = rotl(x7 ^ x8, 7)

    x3 = (x3 + x4) | 0
    x14 = rotl(x14 ^ x3, 16)
    x9 = (x9 + x14) | 0
    x4 = rotl(x4 ^ x9, 12)
    x3 = (x3 + x4) | 0
    x14 = rotl(x14 ^ x3, 8)
    x9 = (x9 + x14) | 0
    x4 = rotl(x4 ^ x9, 7)
  }
  stream[0] = (x0 + input[0]) | 0
  stream[1] = (x1 + input[1]) | 0
  stream[2] = (x2 + input[2]) | 0
  stream[3] = (x3 + input[3]) | 0
  stream[4] = (x4 + input[4]) | 0
  stream[5] = (x5 + input[5]) | 0
  stream[6] = (x6 + input[6]) | 0
  stream[7] = (x7 + input[7]) | 0
  stream[8] = (x8 + input[8]) | 0
  stream[9] = (x9 + input[9]) | 0
  stream[10] = (x10 + input[10]) | 0
  stream[11] = (x11 + input[11]) | 0
  stream[12] = (x12 + input[12]) | 0
  stream[13] = (x13 + input[13]) | 0
  stream[14] = (x14 + input[14]) | 0
  stream[15] = (x15 + input[15]) | 0
}

/** The input block and its key stream, reused: the module runs one call at a time. */
const input = new Int32Array(16)
const stream = new Int32Array(16)

/** `data` XOR the key stream, computed here; `counter` plus the blocks stays below 2^32. */
const xorShort = (key: Uint8Array, nonce: number, counter: number, data: Uint8Array): Buffer => {
  // "expand 32-byte k", the key, the counter (low word, high word), the nonce (its high
  // word zero; the low one big-endian, as OpenSSH writes it).
  input[0] = 0x61707865
  input[1] = 0x3320646e
  input[2] = 0x79622d32
  input[3] = 0x6b206574
  for (let i = 0; i < 8; i++) input[4 + i] = readLE(key, 4 * i)
  input[13] = 0
  input[14] = 0
  input[15] = ((nonce >>> 24) & 0xff) | ((nonce >>> 8) & 0xff00) | ((nonce & 0xff00) << 8) | (nonce << 24)
  const out = Buffer.allocUnsafe(data.length)
  for (let o = 0, counterWord = counter; o < data.length; o += 64, counterWord++) {
    input[12] = counterWord
    block(input, stream)
    const end = Math.min(64, data.length - o)
    for (let i = 0; i < end; i++) out[o + i] = data[o + i] ^ ((stream[i >>> 2] >>> (8 * (i & 3))) & 0xff)
  }
  // The key and the last block of key stream do not stay in module memory.
  input.fill(0)
  stream.fill(0)
  return out
}

/**
 * XORs `data` with the ChaCha20 key stream of a 32-byte `key`, starting at block `counter`.
 * `nonce` is a 32-bit number (the SSH sequence number) written as OpenSSH writes it: as the
 * low half of a 64-bit big-endian nonce. Encryption and decryption are the same operation.
 *
 * @since 0.1.0
 * @category ciphers
 */
export const chacha20 = (key: Uint8Array, nonce: number, counter: number, data: Uint8Array): Buffer =>
  data.length <= SHORT ? xorShort(key, nonce, counter, data) : crypto.createCipheriv("chacha20", key, iv(nonce, counter)).update(data)
