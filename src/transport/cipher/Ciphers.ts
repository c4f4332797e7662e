/**
 * The cipher table: what each negotiated name needs from key derivation, and how to build its
 * sealer and opener.
 *
 * @since 0.1.0
 */
import { ctrOpener, ctrSealer } from "./AesCtr.js"
import { gcmOpener, gcmSealer } from "./AesGcm.js"
import { chachaOpener, chachaSealer } from "./ChaCha20Poly1305.js"
import type { MacAlgorithm } from "./Mac.js"
import type { DirectionKeys, PacketOpener, PacketSealer } from "./PacketCipher.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface CipherAlgorithm {
  readonly name: string
  readonly keyLength: number
  readonly ivLength: number
  /** AEAD ciphers authenticate packets themselves; the negotiated MAC is not used. */
  readonly aead: boolean
  sealer(keys: DirectionKeys, mac: MacAlgorithm | undefined): PacketSealer
  opener(keys: DirectionKeys, mac: MacAlgorithm | undefined): PacketOpener
}

const ctr = (bits: number): CipherAlgorithm => ({
  name: `aes${bits}-ctr`,
  keyLength: bits / 8,
  ivLength: 16,
  aead: false,
  sealer: (keys, mac) => ctrSealer(bits, mac!, keys),
  opener: (keys, mac) => ctrOpener(bits, mac!, keys)
})

const gcm = (bits: 128 | 256): CipherAlgorithm => ({
  name: `aes${bits}-gcm@openssh.com`,
  keyLength: bits / 8,
  ivLength: 12,
  aead: true,
  sealer: (keys) => gcmSealer(bits, keys),
  opener: (keys) => gcmOpener(bits, keys)
})

/**
 * @since 0.1.0
 * @category constants
 */
export const ciphers: ReadonlyMap<string, CipherAlgorithm> = new Map(
  [
    {
      name: "chacha20-poly1305@openssh.com",
      keyLength: 64,
      ivLength: 0,
      aead: true,
      sealer: (keys: DirectionKeys) => chachaSealer(keys),
      opener: (keys: DirectionKeys) => chachaOpener(keys)
    },
    gcm(128),
    gcm(256),
    ctr(128),
    ctr(192),
    ctr(256)
  ].map((c) => [c.name, c])
)
