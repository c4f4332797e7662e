/**
 * The interface every curve implementation provides (X25519, Ed25519, NIST ECDH and
 * ECDSA), its value types and its error. `NodeCurves` and `NobleCurves` implement it;
 * `Curves` picks one. Keeping the interface here means neither implementation imports the
 * module that selects it.
 *
 * All keys and points are raw bytes in the encodings SSH puts on the wire:
 * - X25519 and Ed25519 keys are 32 bytes (an Ed25519 private key is its 32-byte seed);
 * - NIST public keys are uncompressed SEC1 points (0x04 || X || Y);
 * - NIST private keys are big-endian scalars, left-padded to the field size (32, 48, 66 bytes);
 * - ECDSA signatures are the two integers r and s as unsigned big-endian bytes with no padding
 *   requirement on input, minimal (no leading zero bytes) on output.
 *
 * Functions that take a peer's public value throw {@link CurveError} on invalid input; `verify`
 * never throws and answers false for any malformed key or signature.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export type NistCurve = "P-256" | "P-384" | "P-521"

/**
 * @since 0.1.0
 * @category models
 */
export interface KeyPair {
  readonly privateKey: Uint8Array
  readonly publicKey: Uint8Array
}

/**
 * An ECDSA signature as its two integers, unsigned big-endian.
 *
 * @since 0.1.0
 * @category models
 */
export interface EcdsaSignature {
  readonly r: Uint8Array
  readonly s: Uint8Array
}

/**
 * A peer's public value or a key was not a valid point or scalar for the curve.
 *
 * @since 0.1.0
 * @category errors
 */
export class CurveError extends Schema.TaggedError<CurveError>()("CurveError", {
  operation: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.operation}: ${this.detail}`
  }
}

/**
 * A key encapsulation mechanism, as the hybrid post-quantum kex methods use one: the client
 * makes a key pair, the server encapsulates a fresh secret to its public key, the client
 * decapsulates it. Randomness comes from the caller, so a handshake replays from a seed.
 *
 * @since 0.1.0
 * @category models
 */
export interface Kem {
  readonly publicKeyLength: number
  readonly ciphertextLength: number
  keyPair(random: (n: number) => Uint8Array): { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array }
  /** Throws CurveError for a malformed public key. */
  encapsulate(publicKey: Uint8Array, random: (n: number) => Uint8Array): { readonly ciphertext: Uint8Array; readonly sharedSecret: Uint8Array }
  /** Throws CurveError for a ciphertext of the wrong length; a forged one gives an unrelated secret (implicit rejection). */
  decapsulate(ciphertext: Uint8Array, secretKey: Uint8Array): Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Curves {
  /** "node:crypto" or "@noble/curves". */
  readonly name: string
  readonly x25519: {
    /**
     * A fresh ephemeral key pair (RFC 7748) whose private key is 32 bytes of `random`, the
     * connection's own source: a seeded one repeats a handshake, the default pool spares an
     * OpenSSL call.
     */
    generateKeyPair(random: (n: number) => Uint8Array): KeyPair
    /** The 32-byte shared secret; throws CurveError for a malformed peer key or an all-zero result. */
    sharedSecret(privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array
  }
  readonly ed25519: {
    /** The 32-byte public key of a 32-byte seed. */
    publicKey(seed: Uint8Array): Uint8Array
    /** A 64-byte RFC 8032 signature. */
    sign(seed: Uint8Array, message: Uint8Array): Uint8Array
    verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  }
  readonly ecdh: {
    /** A fresh ephemeral key pair whose private scalar is drawn from `random` (`NistScalar.drawScalar`). */
    generateKeyPair(curve: NistCurve, random: (n: number) => Uint8Array): KeyPair
    /** The X coordinate of the shared point, left-padded to the field size; throws CurveError for a point not on the curve. */
    sharedSecret(curve: NistCurve, privateKey: Uint8Array, peerPublicKey: Uint8Array): Uint8Array
  }
  readonly ecdsa: {
    /** The uncompressed public point of a private scalar. */
    publicKey(curve: NistCurve, privateKey: Uint8Array): Uint8Array
    /**
     * Signs `message`, hashing it with the curve's SSH hash (RFC 5656 §6.2.1):
     * SHA-256 for P-256, SHA-384 for P-384, SHA-512 for P-521.
     */
    sign(curve: NistCurve, privateKey: Uint8Array, message: Uint8Array): EcdsaSignature
    /** Verifies with the same hash rule; high-S signatures are valid (SSH does not normalise S). */
    verify(curve: NistCurve, publicKey: Uint8Array, message: Uint8Array, signature: EcdsaSignature): boolean
  }
  /** ML-KEM-768 (FIPS 203), for mlkem768x25519-sha256. */
  readonly mlkem768: Kem
  /** Streamlined NTRU Prime 761, for sntrup761x25519-sha512. */
  readonly sntrup761: Kem
}
