/**
 * chacha20-poly1305@openssh.com (OpenSSH's PROTOCOL.chacha20poly1305). The 64-byte key is
 * two ChaCha20 keys: the second encrypts the length, the first the payload and, at block 0,
 * yields the one-time Poly1305 key. The nonce is the sequence number.
 *
 * ChaCha20 runs in node:crypto (OpenSSL). Its 16-byte IV is the whole ChaCha state row
 * 12..15 (32-bit counter then 96-bit nonce), which lines up with OpenSSH's layout of a
 * 64-bit counter and a 64-bit nonce: counter in bytes 0..7 (little-endian), sequence number
 * big-endian in bytes 8..15. node:crypto has no bare Poly1305, so that comes from
 * @noble/ciphers.
 *
 * @since 0.1.0
 */
import { poly1305 } from "@noble/ciphers/_poly1305.js"
import * as crypto from "node:crypto"
import { type DirectionKeys, type PacketOpener, type PacketSealer, readUint32be } from "./PacketCipher.js"

const TAG = 16
const ZEROS = new Uint8Array(32)

const chachaIv = (seq: number, counter: number): Buffer => {
  const iv = Buffer.alloc(16)
  iv[0] = counter
  iv.writeUInt32BE(seq >>> 0, 12)
  return iv
}

/**
 * ChaCha20 with OpenSSH's 64-bit counter and 64-bit nonce (the sequence number). Key files
 * encrypted with this cipher use it too.
 *
 * @since 0.1.0
 * @category internal
 */
export const chacha = (key: Uint8Array, seq: number, counter: number, data: Uint8Array): Buffer =>
  crypto.createCipheriv("chacha20", key, chachaIv(seq, counter)).update(data)

const split = (keys: DirectionKeys) => ({
  main: keys.key.subarray(0, 32),
  header: keys.key.subarray(32, 64)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const chachaSealer = (keys: DirectionKeys): PacketSealer => {
  const { header, main } = split(keys)
  return {
    blockSize: 8,
    lengthIsAad: true,
    seal(seq, packet) {
      const out = Buffer.allocUnsafe(packet.length + TAG)
      chacha(header, seq, 0, packet.subarray(0, 4)).copy(out, 0)
      chacha(main, seq, 1, packet.subarray(4)).copy(out, 4)
      const polyKey = chacha(main, seq, 0, ZEROS)
      out.set(poly1305(out.subarray(0, packet.length), polyKey), packet.length)
      return out
    }
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const chachaOpener = (keys: DirectionKeys): PacketOpener => {
  const { header, main } = split(keys)
  return {
    blockSize: 8,
    lengthIsAad: true,
    headerLength: 4,
    macLength: TAG,
    packetLength: (seq, head) => readUint32be(chacha(header, seq, 0, head)),
    open(seq, wire) {
      const end = wire.length - TAG
      const polyKey = chacha(main, seq, 0, ZEROS)
      const expected = poly1305(wire.subarray(0, end), polyKey)
      if (!crypto.timingSafeEqual(expected, wire.subarray(end))) return undefined
      return chacha(main, seq, 1, wire.subarray(4, end))
    }
  }
}
