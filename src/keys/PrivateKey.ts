/**
 * Private keys and signers. A `Signer` is anything that can produce an SSH signature blob
 * for a public key: a loaded key here, an agent key elsewhere.
 *
 * The key body codec here (`string type` and the type's private fields) is the one
 * openssh-key-v1 files and the agent protocol both carry. The file formats live in their
 * own modules: `OpenSshKeyV1`, `Pem`, `Putty`, and `KeyFile` picks between them.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as crypto from "node:crypto"
import { type Curves, CurvesImpl, type NistCurve } from "../crypto/Curves.js"
import { fromBigInt, leftPad, toBigInt } from "../crypto/FixedWidth.js"
import type { Reader } from "../wire/Reader.js"
import { encode, type Writer } from "../wire/Writer.js"
import type { Certificate } from "./Certificate.js"
import { KeyError, unsupportedKeyType } from "./KeyError.js"
import * as PublicKey from "./PublicKey.js"

/**
 * Signs data for one public key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Signer<E extends SignerFailure = KeyError> {
  /** The key that signs. */
  readonly publicKey: PublicKey.PublicKey
  /** When set, this certificate of the key is offered instead of the bare key. */
  readonly certificate?: Certificate
  /**
   * For agent keys: binds the agent to the server's host key (session-bind), after which
   * the handler authenticates with publickey-hostbound-v00@openssh.com.
   */
  readonly bindToHost?: (proof: HostProof) => Effect.Effect<void, E>
  /**
   * A signature blob (`string algorithm, string signature`) over `data`, with the plain signature algorithm.
   *
   * @since 0.1.0
   */
  sign(algorithm: string, data: Uint8Array): Effect.Effect<Uint8Array, E>
}

/**
 * What a signer may fail with: a tagged error a person can read.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignerFailure {
  readonly _tag: string
  readonly message: string
}

/**
 * What a server proved about its host key in the key exchange.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostProof {
  readonly hostKeyBlob: Uint8Array
  readonly sessionId: Uint8Array
  readonly signature: Uint8Array
}

type Material =
  | { readonly _tag: "Ed25519"; readonly seed: Uint8Array }
  | { readonly _tag: "Ecdsa"; readonly d: Uint8Array }
  | { readonly _tag: "Rsa"; readonly key: crypto.KeyObject }

/**
 * A decrypted private key. Its string and JSON forms show the public half only.
 *
 * @since 0.1.0
 * @category models
 */
export class PrivateKey implements Signer {
  /** @internal */
  constructor(
    readonly publicKey: PublicKey.PublicKey,
    readonly comment: string,
    /** @internal */
    readonly material: Material
  ) {}

  /** @since 0.1.0 */
  sign(algorithm: string, data: Uint8Array): Effect.Effect<Uint8Array, KeyError> {
    return Effect.flatMap(CurvesImpl, (curves) => this.signWith(curves, algorithm, data))
  }

  /**
   * `sign` on the given curves, at once: for a caller that holds them and is not a fiber
   * (the handler's requests in the connection's callbacks).
   *
   * @since 0.1.0
   */
  signWith(curves: Curves, algorithm: string, data: Uint8Array): Exit.Exit<Uint8Array, KeyError> {
    try {
      return Exit.succeed(signSync(curves, this, algorithm, data))
    } catch (cause) {
      return Exit.fail(
        cause instanceof KeyError ? cause : new KeyError({ reason: "Malformed", keyType: this.publicKey.type, detail: "signing failed", cause })
      )
    }
  }

  /**
   * The same key with another comment.
   *
   * @since 0.1.0
   */
  withComment(comment: string): PrivateKey {
    return new PrivateKey(this.publicKey, comment, this.material)
  }

  /** @since 0.1.0 */
  toString(): string {
    return `PrivateKey(${this.publicKey.type} ${PublicKey.fingerprintSha256(this.publicKey)})`
  }

  /** @since 0.1.0 */
  toJSON(): unknown {
    return { _tag: "PrivateKey", type: this.publicKey.type, fingerprint: PublicKey.fingerprintSha256(this.publicKey) }
  }

  /** @since 0.1.0 */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}

const rsaHash: Record<string, string> = { "rsa-sha2-512": "sha512", "rsa-sha2-256": "sha256", "ssh-rsa": "sha1" }

/** The raw signature of `data`, without the blob around it. */
const rawSignature = (curves: Curves, key: PrivateKey, algorithm: string, data: Uint8Array): Uint8Array => {
  const { material } = key
  switch (material._tag) {
    case "Ed25519":
      return curves.ed25519.sign(material.seed, data)
    case "Ecdsa": {
      const sig = curves.ecdsa.sign((key.publicKey as PublicKey.EcdsaPublicKey).curve, material.d, data)
      return encode((i) => i.mpintUnsigned(sig.r).mpintUnsigned(sig.s))
    }
    case "Rsa":
      return crypto.sign(rsaHash[algorithm], data, material.key)
  }
}

/**
 * A signature blob (`string algorithm, string signature`), synchronously, for callers that
 * cannot wait: the connection core signing its exchange hash with a host key. Throws
 * KeyError for an algorithm the key cannot sign with.
 *
 * @since 0.1.0
 * @category signing
 */
export const signSync = (curves: Curves, key: PrivateKey, algorithm: string, data: Uint8Array): Uint8Array => {
  if (!PublicKey.algorithmsFor(key.publicKey).includes(algorithm)) {
    throw new KeyError({ reason: "AlgorithmMismatch", keyType: key.publicKey.type, detail: `cannot sign with ${algorithm}` })
  }
  return encode((w) => w.string(algorithm).string(rawSignature(curves, key, algorithm, data)))
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url")
const fromB64url = (s: string | undefined) => new Uint8Array(Buffer.from(s ?? "", "base64url"))

const publicKeyOf = (blob: Uint8Array): PublicKey.PublicKey => {
  const parsed = PublicKey.fromBlob(blob)
  if (parsed._tag === "Left") throw parsed.left
  return parsed.right
}

const ecdsaTypes: Record<NistCurve, PublicKey.EcdsaKeyType> = {
  "P-256": "ecdsa-sha2-nistp256",
  "P-384": "ecdsa-sha2-nistp384",
  "P-521": "ecdsa-sha2-nistp521"
}
const curveIds: Record<NistCurve, string> = { "P-256": "nistp256", "P-384": "nistp384", "P-521": "nistp521" }
const curveSizes: Record<NistCurve, number> = { "P-256": 32, "P-384": 48, "P-521": 66 }

/**
 * An Ed25519 key from its 32-byte seed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEd25519Seed = (curves: Curves, seed: Uint8Array, comment = ""): PrivateKey => {
  const pub = curves.ed25519.publicKey(seed)
  return new PrivateKey(publicKeyOf(encode((w) => w.string("ssh-ed25519").string(pub))), comment, { _tag: "Ed25519", seed: seed.slice() })
}

/**
 * An ECDSA key from its curve and private scalar.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEcdsaScalar = (curves: Curves, curve: NistCurve, d: Uint8Array, comment = ""): PrivateKey => {
  const point = curves.ecdsa.publicKey(curve, d)
  const blob = encode((w) => w.string(ecdsaTypes[curve]).string(curveIds[curve]).string(point))
  return new PrivateKey(publicKeyOf(blob), comment, { _tag: "Ecdsa", d: leftPad(d, curveSizes[curve]) })
}

/**
 * An RSA key from its node:crypto KeyObject.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromRsaKeyObject = (key: crypto.KeyObject, comment = ""): PrivateKey => {
  const jwk = key.export({ format: "jwk" })
  const blob = encode((w) => w.string("ssh-rsa").mpintUnsigned(fromB64url(jwk.e)).mpintUnsigned(fromB64url(jwk.n)))
  return new PrivateKey(publicKeyOf(blob), comment, { _tag: "Rsa", key })
}

/**
 * Any private key node:crypto can hold: Ed25519, NIST EC or RSA. DSA and other types
 * throw KeyError with reason "UnsupportedKeyType".
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromKeyObject = (curves: Curves, key: crypto.KeyObject, comment = ""): PrivateKey => {
  switch (key.asymmetricKeyType) {
    case "ed25519":
      return fromEd25519Seed(curves, fromB64url(key.export({ format: "jwk" }).d), comment)
    case "ec": {
      const jwk = key.export({ format: "jwk" })
      const curve = jwk.crv as NistCurve
      if (!(curve in curveSizes)) {
        throw new KeyError({
          reason: "UnsupportedKeyType",
          keyType: `ec ${jwk.crv}`,
          detail: `elliptic curve ${jwk.crv} is not one SSH uses (P-256, P-384, P-521)`
        })
      }
      return fromEcdsaScalar(curves, curve, fromB64url(jwk.d), comment)
    }
    case "rsa":
      return fromRsaKeyObject(key, comment)
    default:
      throw unsupportedKeyType(key.asymmetricKeyType === "dsa" ? "ssh-dss" : String(key.asymmetricKeyType))
  }
}

/**
 * Reads the private body of a key: `string type` then the type's fields, as openssh-key-v1
 * and the agent protocol (draft-miller-ssh-agent §3.2) carry it. The comment that follows
 * it is the caller's to read. Throws WireError or KeyError.
 *
 * @since 0.1.0
 * @category codec
 */
export const readBody = (r: Reader, comment = ""): PrivateKey => {
  const type = r.text("key type")
  switch (type) {
    case "ssh-ed25519": {
      const pub = r.string("ed25519 public key")
      const secret = r.string("ed25519 private key")
      if (secret.length !== 64) r.fail("ed25519 private key", "expected 64 bytes")
      return new PrivateKey(publicKeyOf(encode((w) => w.string(type).string(pub))), comment, { _tag: "Ed25519", seed: secret.slice(0, 32) })
    }
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const id = r.text("curve")
      const point = r.string("ecdsa public point")
      const d = r.mpintUnsigned("ecdsa private scalar")
      const pub = publicKeyOf(encode((w) => w.string(type).string(id).string(point))) as PublicKey.EcdsaPublicKey
      return new PrivateKey(pub, comment, { _tag: "Ecdsa", d: leftPad(d, curveSizes[pub.curve]) })
    }
    case "ssh-rsa": {
      const n = r.mpintUnsigned("rsa n")
      const e = r.mpintUnsigned("rsa e")
      const d = r.mpintUnsigned("rsa d")
      const iqmp = r.mpintUnsigned("rsa iqmp")
      const p = r.mpintUnsigned("rsa p")
      const q = r.mpintUnsigned("rsa q")
      return fromRsaKeyObject(rsaKeyObject({ n, e, d, p, q, iqmp }), comment)
    }
    default:
      throw unsupportedKeyType(type)
  }
}

/**
 * An RSA KeyObject from its SSH components (CRT exponents are derived).
 *
 * @since 0.1.0
 * @category constructors
 */
export const rsaKeyObject = (c: {
  readonly n: Uint8Array
  readonly e: Uint8Array
  readonly d: Uint8Array
  readonly p: Uint8Array
  readonly q: Uint8Array
  readonly iqmp: Uint8Array
}): crypto.KeyObject => {
  const d = toBigInt(c.d)
  return crypto.createPrivateKey({
    key: {
      kty: "RSA",
      n: b64url(c.n),
      e: b64url(c.e),
      d: b64url(c.d),
      p: b64url(c.p),
      q: b64url(c.q),
      dp: b64url(fromBigInt(d % (toBigInt(c.p) - 1n))),
      dq: b64url(fromBigInt(d % (toBigInt(c.q) - 1n))),
      qi: b64url(c.iqmp)
    },
    format: "jwk"
  })
}

/**
 * Writes the private body that {@link readBody} reads.
 *
 * @since 0.1.0
 * @category codec
 */
export const writeBody = (w: Writer, key: PrivateKey): Writer => {
  const pub = key.publicKey
  const { material } = key
  switch (material._tag) {
    case "Ed25519": {
      const pk = (pub as PublicKey.Ed25519PublicKey).key
      const secret = new Uint8Array(64)
      secret.set(material.seed)
      secret.set(pk, 32)
      w.string(pub.type).string(pk).string(secret)
      secret.fill(0)
      return w
    }
    case "Ecdsa": {
      const ec = pub as PublicKey.EcdsaPublicKey
      return w.string(ec.type).string(curveIds[ec.curve]).string(ec.point).mpintUnsigned(material.d)
    }
    case "Rsa": {
      const jwk = material.key.export({ format: "jwk" })
      const part = fromB64url
      return w.string("ssh-rsa").mpintUnsigned(part(jwk.n)).mpintUnsigned(part(jwk.e)).mpintUnsigned(part(jwk.d))
        .mpintUnsigned(part(jwk.qi)).mpintUnsigned(part(jwk.p)).mpintUnsigned(part(jwk.q))
    }
  }
}
