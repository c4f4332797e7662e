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
const SHORT = 192

const iv = (nonce: number, counter: number): Buffer => {
  const out = Buffer.alloc(16)
  out.writeUInt32LE(counter >>> 0, 0)
  out.writeUInt32BE(nonce >>> 0, 12)
  return out
}

const readLE = (b: Uint8Array, o: number): number => b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)

const rotl = (v: number, n: number): number => (v << n) | (v >>> (32 - n))

/** The quarter round on words a, b, c, d of `x`. */
const quarter = (x: Int32Array, a: number, b: number, c: number, d: number): void => {
  x[a] = (x[a] + x[b]) | 0
  x[d] = rotl(x[d] ^ x[a], 16)
  x[c] = (x[c] + x[d]) | 0
  x[b] = rotl(x[b] ^ x[c], 12)
  x[a] = (x[a] + x[b]) | 0
  x[d] = rotl(x[d] ^ x[a], 8)
  x[c] = (x[c] + x[d]) | 0
  x[b] = rotl(x[b] ^ x[c], 7)
}

/** The input block and the working block, reused: the module runs one call at a time. */
const input = new Int32Array(16)
const working = new Int32Array(16)

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
  for (let o = 0, block = counter; o < data.length; o += 64, block++) {
    input[12] = block
    working.set(input)
    for (let round = 0; round < 10; round++) {
      quarter(working, 0, 4, 8, 12)
      quarter(working, 1, 5, 9, 13)
      quarter(working, 2, 6, 10, 14)
      quarter(working, 3, 7, 11, 15)
      quarter(working, 0, 5, 10, 15)
      quarter(working, 1, 6, 11, 12)
      quarter(working, 2, 7, 8, 13)
      quarter(working, 3, 4, 9, 14)
    }
    const end = Math.min(64, data.length - o)
    for (let i = 0; i < end; i++) {
      const word = (working[i >>> 2] + input[i >>> 2]) | 0
      out[o + i] = data[o + i] ^ ((word >>> (8 * (i & 3))) & 0xff)
    }
  }
  // The key and the last block of key stream do not stay in module memory.
  input.fill(0)
  working.fill(0)
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
