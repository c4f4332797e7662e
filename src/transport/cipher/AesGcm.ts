/**
 * aes128-gcm@openssh.com and aes256-gcm@openssh.com (RFC 5647 as OpenSSH uses it): the
 * length is additional authenticated data, the nonce is a 4-byte fixed part and an 8-byte
 * invocation counter bumped after every packet.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { type DirectionKeys, type PacketOpener, type PacketSealer, readUint32be } from "./PacketCipher.js"

const TAG = 16

const makeNonce = (iv: Uint8Array) => {
  // Buffer.alloc, not Buffer.from: a small Buffer.from is a slice of an 8 KiB pool, which a
  // connection's nonce would keep alive for as long as the connection lives.
  const nonce = Buffer.alloc(12)
  nonce.set(iv.subarray(0, 12))
  return {
    current: nonce,
    /** Increments the 64-bit invocation counter (bytes 4..12), wrapping. */
    advance() {
      for (let i = 11; i >= 4; i--) {
        nonce[i] = (nonce[i] + 1) & 0xff
        if (nonce[i] !== 0) break
      }
    }
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const gcmSealer = (keyBits: number, keys: DirectionKeys): PacketSealer => {
  const nonce = makeNonce(keys.iv)
  const algorithm = `aes-${keyBits}-gcm` as crypto.CipherGCMTypes
  return {
    blockSize: 16,
    lengthIsAad: true,
    seal(_seq, packet) {
      const cipher = crypto.createCipheriv(algorithm, keys.key, nonce.current)
      nonce.advance()
      const aad = packet.subarray(0, 4)
      cipher.setAAD(aad)
      const out = Buffer.allocUnsafe(packet.length + TAG)
      out.set(aad, 0)
      const body = cipher.update(packet.subarray(4))
      body.copy(out, 4)
      cipher.final()
      cipher.getAuthTag().copy(out, packet.length)
      return out
    }
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const gcmOpener = (keyBits: number, keys: DirectionKeys): PacketOpener => {
  const nonce = makeNonce(keys.iv)
  const algorithm = `aes-${keyBits}-gcm` as crypto.CipherGCMTypes
  return {
    blockSize: 16,
    lengthIsAad: true,
    headerLength: 4,
    macLength: TAG,
    packetLength: (_seq, header) => readUint32be(header),
    open(_seq, wire) {
      const end = wire.length - TAG
      const decipher = crypto.createDecipheriv(algorithm, keys.key, nonce.current)
      nonce.advance()
      decipher.setAAD(wire.subarray(0, 4))
      decipher.setAuthTag(wire.subarray(end))
      const plain = decipher.update(wire.subarray(4, end))
      try {
        decipher.final()
      } catch {
        return undefined
      }
      return plain
    }
  }
}
