/**
 * aes128-ctr, aes192-ctr and aes256-ctr (RFC 4344) with a separate HMAC, plain or
 * encrypt-then-MAC. The CTR keystream runs on across packets, so one node:crypto cipher
 * object lives for the whole key epoch.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { computeMac, type MacAlgorithm, macMatches } from "./Mac.js"
import { type DirectionKeys, type PacketOpener, type PacketSealer, readUint32be } from "./PacketCipher.js"

const BLOCK = 16

/**
 * @since 0.1.0
 * @category constructors
 */
export const ctrSealer = (keyBits: number, mac: MacAlgorithm, keys: DirectionKeys): PacketSealer => {
  const cipher = crypto.createCipheriv(`aes-${keyBits}-ctr`, keys.key, keys.iv)
  return {
    blockSize: BLOCK,
    lengthIsAad: mac.etm,
    seal(seq, packet) {
      if (mac.etm) {
        const body = cipher.update(packet.subarray(4))
        const out = Buffer.allocUnsafe(packet.length + mac.length)
        out.set(packet.subarray(0, 4), 0)
        out.set(body, 4)
        computeMac(mac, keys.macKey, seq, out.subarray(0, packet.length)).copy(out, packet.length)
        return out
      }
      const tag = computeMac(mac, keys.macKey, seq, packet)
      return Buffer.concat([cipher.update(packet), tag])
    }
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const ctrOpener = (keyBits: number, mac: MacAlgorithm, keys: DirectionKeys): PacketOpener => {
  const decipher = crypto.createDecipheriv(`aes-${keyBits}-ctr`, keys.key, keys.iv)
  // Without etm the first block is decrypted to learn the length; keep it for `open`.
  let firstBlock: Uint8Array | undefined
  return {
    blockSize: BLOCK,
    lengthIsAad: mac.etm,
    headerLength: mac.etm ? 4 : BLOCK,
    macLength: mac.length,
    packetLength(_seq, header) {
      if (mac.etm) return readUint32be(header)
      firstBlock = decipher.update(header)
      return readUint32be(firstBlock)
    },
    open(seq, wire) {
      const end = wire.length - mac.length
      const received = wire.subarray(end)
      if (mac.etm) {
        if (!macMatches(computeMac(mac, keys.macKey, seq, wire.subarray(0, end)), received)) return undefined
        const plain = decipher.update(wire.subarray(4, end))
        return plain
      }
      const head = firstBlock!
      firstBlock = undefined
      const plain = Buffer.concat([head, decipher.update(wire.subarray(BLOCK, end))])
      if (!macMatches(computeMac(mac, keys.macKey, seq, plain), received)) return undefined
      return plain.subarray(4)
    }
  }
}
