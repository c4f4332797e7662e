/**
 * Key exchange methods. Each one contributes the client's ephemeral public value to
 * KEXDH_INIT and turns the server's reply into the shared secret K. Everything else (the
 * exchange hash, the host key signature, key derivation) is the same for all of them and
 * lives in the handshake.
 *
 * - curve25519-sha256 and its @libssh.org alias (RFC 8731)
 * - ecdh-sha2-nistp256/384/521 (RFC 5656 §4)
 * - diffie-hellman-group14-sha256 and diffie-hellman-group16-sha512 (RFC 8268, groups of RFC 3526)
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import type { Curves, NistCurve } from "../../crypto/Curves.js"
import type { Reader } from "../../wire/Reader.js"
import { encode } from "../../wire/Writer.js"

/**
 * One run of a kex method on the client side.
 *
 * @since 0.1.0
 * @category models
 */
export interface KexExchange {
  /** The client's public value exactly as encoded in KEXDH_INIT and in the exchange hash. */
  readonly clientPublic: Uint8Array
  /**
   * Reads the server's public value from KEXDH_REPLY. Returns its encoding (for the exchange
   * hash) and the shared secret K as an unsigned big-endian number. Throws CurveError or
   * WireError when the value is invalid.
   */
  readServerPublic(r: Reader): { readonly encoded: Uint8Array; readonly sharedSecret: Uint8Array }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface KexMethod {
  readonly name: string
  /** The exchange hash and key derivation hash. */
  readonly hash: "sha256" | "sha384" | "sha512"
  start(curves: Curves): KexExchange
}

/** Copies the bytes a reader consumed while `f` ran: the field's wire encoding. */
const consumed = <A>(r: Reader, f: () => A): { readonly value: A; readonly encoded: Uint8Array } => {
  const from = r.offset
  const value = f()
  return { value, encoded: r.bytes.slice(from, r.offset) }
}

const curve25519 = (name: string): KexMethod => ({
  name,
  hash: "sha256",
  start(curves) {
    const pair = curves.x25519.generateKeyPair()
    return {
      clientPublic: encode((w) => w.string(pair.publicKey), 40),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.string("Q_S"))
        return { encoded, sharedSecret: curves.x25519.sharedSecret(pair.privateKey, value) }
      }
    }
  }
})

const ecdh = (name: string, curve: NistCurve, hash: KexMethod["hash"]): KexMethod => ({
  name,
  hash,
  start(curves) {
    const pair = curves.ecdh.generateKeyPair(curve)
    return {
      clientPublic: encode((w) => w.string(pair.publicKey), 140),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.string("Q_S"))
        return { encoded, sharedSecret: curves.ecdh.sharedSecret(curve, pair.privateKey, value) }
      }
    }
  }
})

const modp = (name: string, group: "modp14" | "modp16", hash: KexMethod["hash"]): KexMethod => ({
  name,
  hash,
  start() {
    const dh = crypto.getDiffieHellman(group)
    dh.generateKeys()
    const prime = BigInt(`0x${dh.getPrime("hex")}`)
    return {
      clientPublic: encode((w) => w.mpintUnsigned(dh.getPublicKey()), 600),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.mpintUnsigned("f"))
        // RFC 4253 §8: 1 < f < p-1, or the secret is predictable.
        const f = value.length === 0 ? 0n : BigInt(`0x${Buffer.from(value).toString("hex")}`)
        if (f <= 1n || f >= prime - 1n) r.fail("f", "server DH value out of range")
        return { encoded, sharedSecret: dh.computeSecret(value) }
      }
    }
  }
})

/**
 * Every supported kex method, by name.
 *
 * @since 0.1.0
 * @category constants
 */
export const kexMethods: ReadonlyMap<string, KexMethod> = new Map(
  [
    curve25519("curve25519-sha256"),
    curve25519("curve25519-sha256@libssh.org"),
    ecdh("ecdh-sha2-nistp256", "P-256", "sha256"),
    ecdh("ecdh-sha2-nistp384", "P-384", "sha384"),
    ecdh("ecdh-sha2-nistp521", "P-521", "sha512"),
    modp("diffie-hellman-group16-sha512", "modp16", "sha512"),
    modp("diffie-hellman-group14-sha256", "modp14", "sha256")
  ].map((m) => [m.name, m])
)
