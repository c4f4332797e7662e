/**
 * ChaCha20 as OpenSSH uses it (D. J. Bernstein's original layout): a 64-bit block counter
 * and a 64-bit nonce, where RFC 8439 has a 32-bit counter and a 96-bit nonce. OpenSSH's
 * chacha20-poly1305 runs on it, for packets (`transport/cipher/ChaCha20Poly1305`) and for
 * encrypted key files (`keys/OpenSshKeyV1`).
 *
 * It runs in node:crypto (OpenSSL). Node's 16-byte "chacha20" IV is the whole state row
 * 12..15, a 32-bit counter then a 96-bit nonce, which covers OpenSSH's layout byte for byte:
 * the counter little-endian in bytes 0..7, the nonce big-endian in bytes 8..15.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"

const iv = (nonce: number, counter: number): Buffer => {
  const out = Buffer.alloc(16)
  out.writeUInt32LE(counter >>> 0, 0)
  out.writeUInt32BE(nonce >>> 0, 12)
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
  crypto.createCipheriv("chacha20", key, iv(nonce, counter)).update(data)
