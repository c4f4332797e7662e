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

const algorithms = { 128: "aes-128-gcm", 256: "aes-256-gcm" } as const

/**
 * One direction's key and nonce. Classes that keep only these: an open connection holds a
 * sealer and an opener for as long as it lives, and closures over `keys` kept the IV and an
 * empty MAC key too (≈ 1 KiB per connection).
 */
class GcmDirection {
  readonly blockSize = 16
  readonly lengthIsAad = true
  protected readonly algorithm: crypto.CipherGCMTypes
  protected readonly key: Uint8Array
  // Buffer.alloc, not Buffer.from: a small Buffer.from is a slice of an 8 KiB pool, which a
  // connection's nonce would keep alive for as long as the connection lives.
  protected readonly nonce = Buffer.alloc(12)

  constructor(keyBits: 128 | 256, keys: DirectionKeys) {
    this.algorithm = algorithms[keyBits]
    this.key = keys.key
    this.nonce.set(keys.iv.subarray(0, 12))
  }

  /** Increments the 64-bit invocation counter (bytes 4..12), wrapping. */
  protected advance(): void {
    const nonce = this.nonce
    for (let i = 11; i >= 4; i--) {
      nonce[i] = (nonce[i] + 1) & 0xff
      if (nonce[i] !== 0) break
    }
  }
}

class GcmSealer extends GcmDirection implements PacketSealer {
  seal(_seq: number, packet: Uint8Array): Uint8Array {
    const cipher = crypto.createCipheriv(this.algorithm, this.key, this.nonce)
    this.advance()
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

class GcmOpener extends GcmDirection implements PacketOpener {
  readonly headerLength = 4
  readonly macLength = TAG

  packetLength(_seq: number, header: Uint8Array): number {
    return readUint32be(header)
  }

  open(_seq: number, wire: Uint8Array): Uint8Array | undefined {
    const end = wire.length - TAG
    const decipher = crypto.createDecipheriv(this.algorithm, this.key, this.nonce)
    this.advance()
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

/**
 * @since 0.1.0
 * @category constructors
 */
export const gcmSealer = (keyBits: 128 | 256, keys: DirectionKeys): PacketSealer => new GcmSealer(keyBits, keys)

/**
 * @since 0.1.0
 * @category constructors
 */
export const gcmOpener = (keyBits: 128 | 256, keys: DirectionKeys): PacketOpener => new GcmOpener(keyBits, keys)
