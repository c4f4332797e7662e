/**
 * Key exchange methods, each with a client half and a server half. The client half makes
 * the ephemeral value of KEXDH_INIT and turns the server's reply into the shared secret K;
 * the server half answers a KEXDH_INIT with its own value and the same K. Everything else
 * (the exchange hash, the host key signature, key derivation) is the same for all of them
 * and lives in the connection core.
 *
 * - curve25519-sha256 and its @libssh.org alias (RFC 8731)
 * - ecdh-sha2-nistp256/384/521 (RFC 5656 §4)
 * - diffie-hellman-group14-sha256 and diffie-hellman-group16-sha512 (RFC 8268, groups of RFC 3526)
 * - mlkem768x25519-sha256: ML-KEM-768 and X25519, hybrid (OpenSSH 9.9,
 *   draft-ietf-sshm-mlkem-hybrid-kex)
 * - sntrup761x25519-sha512 and its older name with @openssh.com: Streamlined NTRU Prime 761
 *   and X25519, the same hybrid with SHA-512 (OpenSSH 9.0; the plain name from 9.9)
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import type { Kem } from "../../crypto/CurveOps.js"
import type { Curves, NistCurve } from "../../crypto/Curves.js"
import { toBigInt } from "../../crypto/FixedWidth.js"
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
 * The server's answer to one KEXDH_INIT.
 *
 * @since 0.1.0
 * @category models
 */
export interface KexResponse {
  /** The client's value as encoded in KEXDH_INIT (and in the exchange hash). */
  readonly clientEncoded: Uint8Array
  /** The server's value, encoded for KEXDH_REPLY and the exchange hash. */
  readonly serverEncoded: Uint8Array
  /** K, unsigned big-endian. */
  readonly sharedSecret: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface KexMethod {
  readonly name: string
  /** The exchange hash and key derivation hash. */
  readonly hash: "sha256" | "sha384" | "sha512"
  /**
   * How K enters the exchange hash and the key derivation: an mpint (RFC 4253 §8), or, for
   * the hybrid post-quantum methods, a string (OpenSSH's kexmlkem768x25519.c).
   */
  readonly secretEncoding: "mpint" | "string"
  /** A hybrid with a post-quantum KEM: what OpenSSH 10 warns about when a connection lacks it. */
  readonly postQuantum: boolean
  /** The client half: a fresh ephemeral value, every secret of it drawn from `random` (the connection's source). */
  start(curves: Curves, random: (n: number) => Uint8Array): KexExchange
  /**
   * The server half: reads the client's value from KEXDH_INIT (after the message number)
   * and answers it, its own secrets drawn from `random`. Throws CurveError or WireError when
   * the value is invalid.
   */
  respond(curves: Curves, random: (n: number) => Uint8Array, r: Reader): KexResponse
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
  secretEncoding: "mpint",
  postQuantum: false,
  start(curves, random) {
    const pair = curves.x25519.generateKeyPair(random)
    return {
      clientPublic: encode((w) => w.string(pair.publicKey), 40),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.string("Q_S"))
        return { encoded, sharedSecret: curves.x25519.sharedSecret(pair.privateKey, value) }
      }
    }
  },
  respond(curves, random, r) {
    const { encoded, value } = consumed(r, () => r.string("Q_C"))
    const pair = curves.x25519.generateKeyPair(random)
    const sharedSecret = curves.x25519.sharedSecret(pair.privateKey, value)
    return { clientEncoded: encoded, serverEncoded: encode((w) => w.string(pair.publicKey), 40), sharedSecret }
  }
})

const ecdh = (name: string, curve: NistCurve, hash: KexMethod["hash"]): KexMethod => ({
  name,
  hash,
  secretEncoding: "mpint",
  postQuantum: false,
  start(curves, random) {
    const pair = curves.ecdh.generateKeyPair(curve, random)
    return {
      clientPublic: encode((w) => w.string(pair.publicKey), 140),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.string("Q_S"))
        return { encoded, sharedSecret: curves.ecdh.sharedSecret(curve, pair.privateKey, value) }
      }
    }
  },
  respond(curves, random, r) {
    const { encoded, value } = consumed(r, () => r.string("Q_C"))
    const pair = curves.ecdh.generateKeyPair(curve, random)
    const sharedSecret = curves.ecdh.sharedSecret(curve, pair.privateKey, value)
    return { clientEncoded: encoded, serverEncoded: encode((w) => w.string(pair.publicKey), 140), sharedSecret }
  }
})

/** A DH key pair in `group` whose private exponent comes from `random`: 2·bits of the group's strength. */
const dhPair = (group: "modp14" | "modp16", random: (n: number) => Uint8Array) => {
  const params = crypto.getDiffieHellman(group)
  const dh = crypto.createDiffieHellman(params.getPrime(), params.getGenerator())
  dh.setPrivateKey(random(group === "modp14" ? 64 : 96))
  dh.generateKeys()
  return { dh, prime: BigInt(`0x${params.getPrime("hex")}`) }
}

/** RFC 4253 §8: a peer value outside 1 < v < p-1 makes the secret predictable. */
const checkRange = (r: Reader, field: string, value: Uint8Array, prime: bigint) => {
  const v = toBigInt(value)
  if (v <= 1n || v >= prime - 1n) r.fail(field, "DH value out of range")
}

const modp = (name: string, group: "modp14" | "modp16", hash: KexMethod["hash"]): KexMethod => ({
  name,
  hash,
  secretEncoding: "mpint",
  postQuantum: false,
  start(_curves, random) {
    const { dh, prime } = dhPair(group, random)
    return {
      clientPublic: encode((w) => w.mpintUnsigned(dh.getPublicKey()), 600),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.mpintUnsigned("f"))
        checkRange(r, "f", value, prime)
        return { encoded, sharedSecret: dh.computeSecret(value) }
      }
    }
  },
  respond(_curves, random, r) {
    const { encoded, value } = consumed(r, () => r.mpintUnsigned("e"))
    const { dh, prime } = dhPair(group, random)
    checkRange(r, "e", value, prime)
    return {
      clientEncoded: encoded,
      serverEncoded: encode((w) => w.mpintUnsigned(dh.getPublicKey()), 600),
      sharedSecret: dh.computeSecret(value)
    }
  }
})

/**
 * A hybrid of a KEM and X25519, as OpenSSH runs it: the client sends its KEM public key and
 * X25519 key in one string, the server its ciphertext and X25519 key, and K is the hash of
 * the KEM's secret followed by the raw X25519 secret, encoded as a string.
 */
const hybrid = (name: string, kemOf: (curves: Curves) => Kem, hash: KexMethod["hash"]): KexMethod => ({
  name,
  hash,
  secretEncoding: "string",
  postQuantum: true,
  start(curves, random) {
    const kem = kemOf(curves)
    const pq = kem.keyPair(random)
    const classical = curves.x25519.generateKeyPair(random)
    return {
      clientPublic: encode((w) => w.string(concat([pq.publicKey, classical.publicKey])), kem.publicKeyLength + 40),
      readServerPublic(r) {
        const { encoded, value } = consumed(r, () => r.string("S_REPLY"))
        if (value.length !== kem.ciphertextLength + 32) r.fail("S_REPLY", `${value.length} bytes, not ${kem.ciphertextLength + 32}`)
        const pqSecret = kem.decapsulate(value.subarray(0, kem.ciphertextLength), pq.secretKey)
        const classicalSecret = curves.x25519.sharedSecret(classical.privateKey, value.subarray(kem.ciphertextLength))
        return { encoded, sharedSecret: digest(hash, pqSecret, classicalSecret) }
      }
    }
  },
  respond(curves, random, r) {
    const kem = kemOf(curves)
    const { encoded, value } = consumed(r, () => r.string("C_INIT"))
    if (value.length !== kem.publicKeyLength + 32) r.fail("C_INIT", `${value.length} bytes, not ${kem.publicKeyLength + 32}`)
    const { ciphertext, sharedSecret: pqSecret } = kem.encapsulate(value.subarray(0, kem.publicKeyLength), random)
    const classical = curves.x25519.generateKeyPair(random)
    const classicalSecret = curves.x25519.sharedSecret(classical.privateKey, value.subarray(kem.publicKeyLength))
    return {
      clientEncoded: encoded,
      serverEncoded: encode((w) => w.string(concat([ciphertext, classical.publicKey])), kem.ciphertextLength + 40),
      sharedSecret: digest(hash, pqSecret, classicalSecret)
    }
  }
})

const concat = (parts: ReadonlyArray<Uint8Array>) => new Uint8Array(Buffer.concat(parts))
const digest = (hash: KexMethod["hash"], ...parts: ReadonlyArray<Uint8Array>) => {
  const h = crypto.createHash(hash)
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

/**
 * Every supported kex method, by name.
 *
 * @since 0.1.0
 * @category constants
 */
export const kexMethods: ReadonlyMap<string, KexMethod> = new Map(
  [
    hybrid("mlkem768x25519-sha256", (curves) => curves.mlkem768, "sha256"),
    hybrid("sntrup761x25519-sha512", (curves) => curves.sntrup761, "sha512"),
    hybrid("sntrup761x25519-sha512@openssh.com", (curves) => curves.sntrup761, "sha512"),
    curve25519("curve25519-sha256"),
    curve25519("curve25519-sha256@libssh.org"),
    ecdh("ecdh-sha2-nistp256", "P-256", "sha256"),
    ecdh("ecdh-sha2-nistp384", "P-384", "sha384"),
    ecdh("ecdh-sha2-nistp521", "P-521", "sha512"),
    modp("diffie-hellman-group16-sha512", "modp16", "sha512"),
    modp("diffie-hellman-group14-sha256", "modp14", "sha256")
  ].map((m) => [m.name, m])
)
