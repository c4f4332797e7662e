/**
 * aes128-gcm@openssh.com and aes256-gcm@openssh.com (RFC 5647 as OpenSSH uses it): the
 * length is additional authenticated data, the nonce is a 4-byte fixed part and an 8-byte
 * invocation counter bumped after every packet.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { Ghash } from "../../crypto/Ghash.js"
import { type DirectionKeys, type PacketOpener, type PacketSealer, readUint32be } from "./PacketCipher.js"

const TAG = 16

const algorithms = { 128: "aes-128-gcm", 256: "aes-256-gcm" } as const
const blockCiphers = { 128: "aes-128-ecb", 256: "aes-256-ecb" } as const

/**
 * Packets whose encrypted part is at most this long are sealed and opened here: AES kept as
 * an ECB context for the connection makes the counter blocks' keystream in one call, and
 * `Ghash` the tag. Longer ones go through OpenSSL's GCM, made anew for the packet: making it
 * costs more than a login's small packets take here, and past this length OpenSSL's own
 * GHASH wins (`npm run bench:cipher`).
 */
const SMALL_PACKET = 176

/**
 * The counter blocks `keystream` encrypts, written in place for each packet: OpenSSL reads
 * them within the call, so every connection can share one buffer. A view per block count,
 * made once, so that no packet allocates one.
 */
const MAX_BLOCKS = 1 + SMALL_PACKET / 16
const counterBlocks = Buffer.alloc(16 * MAX_BLOCKS)
const counterViews = Array.from({ length: MAX_BLOCKS + 1 }, (_, blocks) => counterBlocks.subarray(0, 16 * blocks))

/**
 * One direction's key, nonce, AES context and GHASH. Classes that keep only these: an open
 * connection holds a sealer and an opener for as long as it lives, and closures over `keys`
 * kept the IV and an empty MAC key too (≈ 1 KiB per connection).
 */
class GcmDirection {
  readonly blockSize = 16
  readonly lengthIsAad = true
  protected readonly algorithm: crypto.CipherGCMTypes
  protected readonly key: Uint8Array
  // Buffer.alloc, not Buffer.from: a small Buffer.from is a slice of an 8 KiB pool, which a
  // connection's nonce would keep alive for as long as the connection lives.
  protected readonly nonce = Buffer.alloc(12)
  private readonly aes: crypto.Cipher
  protected readonly ghash: Ghash

  constructor(keyBits: 128 | 256, keys: DirectionKeys) {
    this.algorithm = algorithms[keyBits]
    this.key = keys.key
    this.nonce.set(keys.iv.subarray(0, 12))
    this.aes = crypto.createCipheriv(blockCiphers[keyBits], keys.key, null).setAutoPadding(false)
    this.ghash = new Ghash(this.aes.update(new Uint8Array(16)))
  }

  /** Increments the 64-bit invocation counter (bytes 4..12), wrapping. */
  protected advance(): void {
    const nonce = this.nonce
    for (let i = 11; i >= 4; i--) {
      nonce[i] = (nonce[i] + 1) & 0xff
      if (nonce[i] !== 0) break
    }
  }

  /**
   * The counter blocks nonce‖1, nonce‖2, … encrypted: E(K, J0), the tag's mask, then the
   * keystream for `length` bytes from offset 16.
   */
  protected keystream(length: number): Buffer {
    const blocks = 1 + ((length + 15) >>> 4)
    const counters = counterBlocks
    const nonce = this.nonce
    for (let b = 0; b < blocks; b++) {
      const o = 16 * b
      // Byte by byte: `set` costs more than twelve stores for so few.
      for (let i = 0; i < 12; i++) counters[o + i] = nonce[i]
      counters[o + 12] = 0
      counters[o + 13] = 0
      counters[o + 14] = (b + 1) >>> 8
      counters[o + 15] = (b + 1) & 0xff
    }
    return this.aes.update(counterViews[blocks])
  }

  /** GHASH of a wire packet up to `end`: its length as AAD, the rest as ciphertext. */
  protected hash(wire: Uint8Array, end: number): Ghash {
    const ghash = this.ghash
    ghash.reset()
    ghash.update(wire, 0, 4)
    ghash.update(wire, 4, end)
    ghash.lengths(4, end - 4)
    return ghash
  }
}

class GcmSealer extends GcmDirection implements PacketSealer {
  seal(_seq: number, packet: Uint8Array): Uint8Array {
    const length = packet.length - 4
    if (length > SMALL_PACKET) return this.sealLong(packet)
    const stream = this.keystream(length)
    this.advance()
    const out = Buffer.allocUnsafe(packet.length + TAG)
    out[0] = packet[0]
    out[1] = packet[1]
    out[2] = packet[2]
    out[3] = packet[3]
    for (let i = 0; i < length; i++) out[4 + i] = packet[4 + i] ^ stream[16 + i]
    // The tag: the hash masked with E(K, J0), the keystream's first block.
    this.hash(out, packet.length).digest(stream, out, packet.length)
    return out
  }

  private sealLong(packet: Uint8Array): Uint8Array {
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
    const length = end - 4
    if (length > SMALL_PACKET) return this.openLong(wire)
    const stream = this.keystream(length)
    this.advance()
    if (!this.hash(wire, end).matches(stream, wire, end)) return undefined
    const plain = Buffer.allocUnsafe(length)
    for (let i = 0; i < length; i++) plain[i] = wire[4 + i] ^ stream[16 + i]
    return plain
  }

  private openLong(wire: Uint8Array): Uint8Array | undefined {
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
