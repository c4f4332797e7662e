/**
 * HMAC algorithms for packets (RFC 6668), plain and encrypt-then-MAC (OpenSSH's `-etm`).
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { uint32be } from "./PacketCipher.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface MacAlgorithm {
  readonly name: string
  readonly hash: "sha256" | "sha512"
  readonly keyLength: number
  readonly length: number
  /** Encrypt-then-MAC: the MAC covers the ciphertext and the length stays in clear. */
  readonly etm: boolean
}

/**
 * @since 0.1.0
 * @category constants
 */
export const macs: ReadonlyMap<string, MacAlgorithm> = new Map(
  ([
    ["hmac-sha2-256-etm@openssh.com", "sha256", 32, true],
    ["hmac-sha2-512-etm@openssh.com", "sha512", 64, true],
    ["hmac-sha2-256", "sha256", 32, false],
    ["hmac-sha2-512", "sha512", 64, false]
  ] as const).map(([name, hash, len, etm]) => [name, { name, hash, keyLength: len, length: len, etm }])
)

/**
 * MAC over `uint32 seq || data` (RFC 4253 §6.4).
 *
 * @since 0.1.0
 * @category operations
 */
export const computeMac = (mac: MacAlgorithm, key: Uint8Array, seq: number, data: Uint8Array): Buffer =>
  crypto.createHmac(mac.hash, key).update(uint32be(seq)).update(data).digest()

/**
 * Constant-time comparison of a received MAC.
 *
 * @since 0.1.0
 * @category operations
 */
export const macMatches = (expected: Uint8Array, received: Uint8Array): boolean =>
  expected.length === received.length && crypto.timingSafeEqual(expected, received)
