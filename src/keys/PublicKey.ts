/**
 * SSH public keys: parsing wire blobs (RFC 4253 §6.6, RFC 5656 §3.1, RFC 8709), signature
 * verification (RFC 8332, RFC 5656 §3.1.2, RFC 8709 §6) and fingerprints as `ssh-keygen -l`
 * prints them.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import type { Curves, NistCurve } from "../crypto/Curves.js"
import { verifyingKey } from "../crypto/KeyObjects.js"
import { decode, type Reader } from "../wire/Reader.js"
import { KeyError, unsupportedKeyType } from "./KeyError.js"

/**
 * @since 0.1.0
 * @category models
 */
export type PublicKey = Ed25519PublicKey | EcdsaPublicKey | RsaPublicKey | SkEd25519PublicKey | SkEcdsaPublicKey

interface Common {
  /** The key's type name as it appears at the start of its blob. */
  readonly type: string
  /** The wire blob (RFC 4253 §6.6). */
  readonly blob: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Ed25519PublicKey extends Common {
  readonly _tag: "Ed25519"
  readonly type: "ssh-ed25519"
  readonly key: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EcdsaPublicKey extends Common {
  readonly _tag: "Ecdsa"
  readonly type: EcdsaKeyType
  readonly curve: NistCurve
  /** Uncompressed SEC1 point. */
  readonly point: Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RsaPublicKey extends Common {
  readonly _tag: "Rsa"
  readonly type: "ssh-rsa"
  readonly e: Uint8Array
  readonly n: Uint8Array
  /** Modulus size in bits. */
  readonly bits: number
}

/**
 * A FIDO security-key Ed25519 key (PROTOCOL.u2f): usable through an agent, never from a file.
 *
 * @since 0.1.0
 * @category models
 */
export interface SkEd25519PublicKey extends Common {
  readonly _tag: "SkEd25519"
  readonly type: "sk-ssh-ed25519@openssh.com"
  readonly key: Uint8Array
  /** The FIDO application string, usually "ssh:". */
  readonly application: string
}

/**
 * A FIDO security-key ECDSA P-256 key (PROTOCOL.u2f).
 *
 * @since 0.1.0
 * @category models
 */
export interface SkEcdsaPublicKey extends Common {
  readonly _tag: "SkEcdsa"
  readonly type: "sk-ecdsa-sha2-nistp256@openssh.com"
  readonly curve: "P-256"
  readonly point: Uint8Array
  readonly application: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type EcdsaKeyType = "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521"

const ecdsaCurves: Record<EcdsaKeyType, { readonly id: string; readonly curve: NistCurve; readonly size: number }> = {
  "ecdsa-sha2-nistp256": { id: "nistp256", curve: "P-256", size: 32 },
  "ecdsa-sha2-nistp384": { id: "nistp384", curve: "P-384", size: 48 },
  "ecdsa-sha2-nistp521": { id: "nistp521", curve: "P-521", size: 66 }
}

/** Signature algorithms each key type can verify. */
const signatureAlgorithms: Record<PublicKey["_tag"], (key: PublicKey) => ReadonlyArray<string>> = {
  Ed25519: () => ["ssh-ed25519"],
  Ecdsa: (key) => [key.type],
  Rsa: () => ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
  SkEd25519: (key) => [key.type],
  SkEcdsa: (key) => [key.type]
}

/**
 * The signature algorithms a key can make or verify, strongest first.
 *
 * @since 0.1.0
 * @category accessors
 */
export const algorithmsFor = (key: PublicKey): ReadonlyArray<string> => signatureAlgorithms[key._tag](key)

const rsaHashes: Record<string, string> = {
  "rsa-sha2-512": "sha512",
  "rsa-sha2-256": "sha256",
  "ssh-rsa": "sha1"
}

const RSA_MIN_BITS = 1024

const readBody = (r: Reader, blob: Uint8Array): PublicKey => {
  const type = r.text("key type")
  switch (type) {
    case "ssh-ed25519": {
      const key = r.string("ed25519 public key")
      if (key.length !== 32) r.fail("ed25519 public key", `expected 32 bytes, got ${key.length}`)
      r.end("ssh-ed25519 key")
      return { _tag: "Ed25519", type, blob, key: key.slice() }
    }
    case "ecdsa-sha2-nistp256":
    case "ecdsa-sha2-nistp384":
    case "ecdsa-sha2-nistp521": {
      const info = ecdsaCurves[type]
      const id = r.text("curve identifier")
      if (id !== info.id) r.fail("curve identifier", `${type} key names curve ${id}`)
      const point = r.string("ecdsa point")
      if (point.length !== 1 + 2 * info.size || point[0] !== 4) {
        r.fail("ecdsa point", "expected an uncompressed point")
      }
      r.end(`${type} key`)
      return { _tag: "Ecdsa", type, blob, curve: info.curve, point: point.slice() }
    }
    case "ssh-rsa": {
      const e = r.mpintUnsigned("rsa e").slice()
      const n = r.mpintUnsigned("rsa n").slice()
      r.end("ssh-rsa key")
      const bits = n.length === 0 ? 0 : (n.length - 1) * 8 + (32 - Math.clz32(n[0]))
      if (bits < RSA_MIN_BITS) {
        throw new KeyError({
          reason: "UnsupportedKeyType",
          keyType: type,
          detail: `a ${bits}-bit RSA key: keys under ${RSA_MIN_BITS} bits are refused, as OpenSSH refuses them`
        })
      }
      return { _tag: "Rsa", type, blob, e, n, bits }
    }
    case "sk-ssh-ed25519@openssh.com": {
      const key = r.string("ed25519 public key")
      if (key.length !== 32) r.fail("ed25519 public key", `expected 32 bytes, got ${key.length}`)
      const application = r.text("application")
      r.end(`${type} key`)
      return { _tag: "SkEd25519", type, blob, key: key.slice(), application }
    }
    case "sk-ecdsa-sha2-nistp256@openssh.com": {
      const id = r.text("curve identifier")
      if (id !== "nistp256") r.fail("curve identifier", `${type} key names curve ${id}`)
      const point = r.string("ecdsa point")
      if (point.length !== 65 || point[0] !== 4) r.fail("ecdsa point", "expected an uncompressed point")
      const application = r.text("application")
      r.end(`${type} key`)
      return { _tag: "SkEcdsa", type, blob, curve: "P-256", point: point.slice(), application }
    }
    default:
      throw unsupportedKeyType(type)
  }
}

/**
 * Parses a public key wire blob.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromBlob = (blob: Uint8Array): Either.Either<PublicKey, KeyError> => {
  const copy = Uint8Array.from(blob)
  try {
    return Either.mapLeft(
      decode(copy, (r) => readBody(r, copy)),
      (cause) => new KeyError({ reason: "Malformed", detail: `malformed public key blob: ${cause.message}`, cause })
    )
  } catch (e) {
    if (e instanceof KeyError) return Either.left(e)
    throw e
  }
}

const typeLabels: Record<PublicKey["_tag"], string> = {
  Ed25519: "ED25519",
  Ecdsa: "ECDSA",
  Rsa: "RSA",
  SkEd25519: "ED25519-SK",
  SkEcdsa: "ECDSA-SK"
}

/**
 * Whether a value is a parsed public key.
 *
 * @since 0.1.0
 * @category guards
 */
export const isPublicKey = (u: unknown): u is PublicKey =>
  Predicate.hasProperty(u, "_tag") && typeof u._tag === "string" && Object.hasOwn(typeLabels, u._tag) &&
  Predicate.hasProperty(u, "blob") && u.blob instanceof Uint8Array

/**
 * A parsed public key, as a Schema type: the type side of {@link PublicKeyFromBase64}.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PublicKeyFromSelf: Schema.Schema<PublicKey> = Schema.declare(isPublicKey, {
  identifier: "PublicKey",
  pretty: () => (key) => `PublicKey(${key.type})`,
  equivalence: () => equals
})

/**
 * A public key encoded as its wire blob in base64, the middle field of an authorized_keys
 * line; decoding parses the blob, so a malformed or unsupported key fails to decode.
 *
 * @since 0.1.0
 * @category schemas
 */
export const PublicKeyFromBase64: Schema.Schema<PublicKey, string> = Schema.transformOrFail(
  Schema.Uint8ArrayFromBase64,
  PublicKeyFromSelf,
  {
    strict: true,
    decode: (blob, _, ast) => Either.mapLeft(fromBlob(blob), (e) => new ParseResult.Type(ast, blob, e.message)),
    encode: (key) => ParseResult.succeed(key.blob)
  }
).annotations({ identifier: "PublicKeyFromBase64" })

/**
 * The type as `ssh-keygen -l` names it: ED25519, ECDSA, RSA, ED25519-SK, ECDSA-SK.
 *
 * @since 0.1.0
 * @category accessors
 */
export const typeLabel = (key: PublicKey): string => typeLabels[key._tag]

/**
 * The key size `ssh-keygen -l` prints: the modulus for RSA, the curve for ECDSA, 256 for Ed25519.
 *
 * @since 0.1.0
 * @category accessors
 */
export const bits = (key: PublicKey): number => {
  switch (key._tag) {
    case "Rsa":
      return key.bits
    case "Ecdsa":
      return key.curve === "P-521" ? 521 : Number(key.curve.slice(2))
    default:
      return 256
  }
}

/**
 * Whether two public keys are the same key (same blob).
 *
 * @since 0.1.0
 * @category comparisons
 */
export const equals = (a: PublicKey, b: PublicKey): boolean => a.blob.length === b.blob.length && a.blob.every((x, i) => x === b.blob[i])

const digest = (algorithm: string, data: Uint8Array): Buffer => crypto.createHash(algorithm).update(data).digest()

/**
 * `SHA256:` fingerprint, base64 without padding, exactly as `ssh-keygen -l` prints it.
 *
 * @since 0.1.0
 * @category fingerprints
 */
export const fingerprintSha256 = (key: PublicKey): string => {
  // Logs, spans and descriptions ask for it on every attempt: hash each key once.
  let fingerprint = fingerprints.get(key.blob)
  if (fingerprint === undefined) {
    fingerprint = `SHA256:${digest("sha256", key.blob).toString("base64").replace(/=+$/, "")}`
    fingerprints.set(key.blob, fingerprint)
  }
  return fingerprint
}

const fingerprints = new WeakMap<Uint8Array, string>()

/**
 * `MD5:` fingerprint, colon-separated hex, as `ssh-keygen -l -E md5` prints it.
 *
 * @since 0.1.0
 * @category fingerprints
 */
export const fingerprintMd5 = (key: PublicKey): string => `MD5:${digest("md5", key.blob).toString("hex").replace(/(..)(?!$)/g, "$1:")}`

/**
 * A parsed signature blob: `string algorithm, string signature` (RFC 4253 §6.6).
 *
 * @since 0.1.0
 * @category models
 */
export interface SignatureBlob {
  readonly algorithm: string
  readonly signature: Uint8Array
  /** Security-key signatures (PROTOCOL.u2f) also carry the authenticator's flags and counter. */
  readonly sk?: { readonly flags: number; readonly counter: number }
}

/**
 * @since 0.1.0
 * @category parsing
 */
export const parseSignature = (blob: Uint8Array): Either.Either<SignatureBlob, KeyError> =>
  Either.mapLeft(
    decode(blob, (r) => {
      const algorithm = r.text("signature algorithm")
      const signature = r.string("signature")
      const sk = algorithm.startsWith("sk-") ? { flags: r.byte("sk flags"), counter: r.uint32("sk counter") } : undefined
      r.end("signature blob")
      return sk ? { algorithm, signature, sk } : { algorithm, signature }
    }),
    (cause) => new KeyError({ reason: "Malformed", detail: `malformed signature blob: ${cause.message}`, cause })
  )

/** What a FIDO authenticator signs (PROTOCOL.u2f): hashes of the application and the data around its flags and counter. */
const skSignedData = (application: string, sk: { readonly flags: number; readonly counter: number }, data: Uint8Array) => {
  const out = Buffer.alloc(32 + 1 + 4 + 32)
  digest("sha256", Buffer.from(application, "utf8")).copy(out, 0)
  out[32] = sk.flags
  out.writeUInt32BE(sk.counter, 33)
  digest("sha256", data).copy(out, 37)
  return out
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url")

const rsaKeyObject = (key: RsaPublicKey): crypto.KeyObject =>
  verifyingKey("rsa", key.blob, () => crypto.createPublicKey({ key: { kty: "RSA", n: b64url(key.n), e: b64url(key.e) }, format: "jwk" }))

/**
 * Verifies a signature blob over `data`. `allowed`, when given, restricts the signature
 * algorithms accepted (for example to the negotiated host key algorithm). Answers a
 * KeyError when the blob is malformed or names an algorithm the key cannot make; `false`
 * when the signature simply does not verify.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (
  curves: Curves,
  key: PublicKey,
  signatureBlob: Uint8Array,
  data: Uint8Array,
  allowed?: ReadonlyArray<string>
): Either.Either<boolean, KeyError> =>
  Either.flatMap(parseSignature(signatureBlob), ({ algorithm, signature, sk }) => {
    if (!algorithmsFor(key).includes(algorithm) || (allowed && !allowed.includes(algorithm))) {
      return Either.left(
        new KeyError({
          reason: "AlgorithmMismatch",
          keyType: key.type,
          detail: `signature algorithm ${algorithm} does not match${allowed ? ` the expected ${allowed.join(" or ")}` : ""}`
        })
      )
    }
    const ecdsa = (curve: NistCurve, point: Uint8Array, signed: Uint8Array) =>
      decode(signature, (r) => {
        const rr = r.mpintUnsigned("ecdsa r")
        const s = r.mpintUnsigned("ecdsa s")
        r.end("ecdsa signature")
        return { r: rr, s }
      }).pipe(
        Either.map((sig) => curves.ecdsa.verify(curve, point, signed, sig)),
        Either.orElse(() => Either.right(false))
      )
    switch (key._tag) {
      case "Ed25519":
        return Either.right(curves.ed25519.verify(key.key, data, signature))
      case "Ecdsa":
        return ecdsa(key.curve, key.point, data)
      case "SkEd25519":
        return Either.right(curves.ed25519.verify(key.key, skSignedData(key.application, sk!, data), signature))
      case "SkEcdsa":
        return ecdsa(key.curve, key.point, skSignedData(key.application, sk!, data))
      case "Rsa": {
        // RFC 8332 requires the signature to be exactly the modulus length; OpenSSL agrees.
        const modulusBytes = Math.ceil(key.bits / 8)
        if (signature.length > modulusBytes) return Either.right(false)
        const padded = new Uint8Array(modulusBytes)
        padded.set(signature, modulusBytes - signature.length)
        try {
          return Either.right(crypto.verify(rsaHashes[algorithm], data, rsaKeyObject(key), padded))
        } catch {
          return Either.right(false)
        }
      }
    }
  })
