/**
 * chacha20-poly1305@openssh.com (OpenSSH's PROTOCOL.chacha20poly1305). The 64-byte key is
 * two ChaCha20 keys: the second encrypts the length, the first the payload and, at block 0,
 * yields the one-time Poly1305 key. The nonce is the sequence number.
 *
 * The primitives live in `crypto/`: ChaCha20 with OpenSSH's 64-bit counter and nonce
 * (`ChaCha20`, on node:crypto) and Poly1305 (`Poly1305`). This module frames packets with them.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { chacha20 } from "../../crypto/ChaCha20.js"
import { poly1305 } from "../../crypto/Poly1305.js"
import { type DirectionKeys, type PacketOpener, type PacketSealer, readUint32be } from "./PacketCipher.js"

const TAG = 16
const ZEROS = new Uint8Array(32)

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
      chacha20(header, seq, 0, packet.subarray(0, 4)).copy(out, 0)
      chacha20(main, seq, 1, packet.subarray(4)).copy(out, 4)
      const polyKey = chacha20(main, seq, 0, ZEROS)
      out.set(poly1305(polyKey, out.subarray(0, packet.length)), packet.length)
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
    packetLength: (seq, head) => readUint32be(chacha20(header, seq, 0, head)),
    open(seq, wire) {
      const end = wire.length - TAG
      const polyKey = chacha20(main, seq, 0, ZEROS)
      const expected = poly1305(polyKey, wire.subarray(0, end))
      if (!crypto.timingSafeEqual(expected, wire.subarray(end))) return undefined
      return chacha20(main, seq, 1, wire.subarray(4, end))
    }
  }
}
