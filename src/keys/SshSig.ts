/**
 * SSHSIG signatures (OpenSSH's PROTOCOL.sshsig): what `ssh-keygen -Y sign` makes and
 * `ssh-keygen -Y verify` checks, used for git commit signing and file signatures. The
 * signature covers a namespace and a hash of the message, so a signature made for one
 * purpose ("git", "file") cannot be replayed for another.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import { CurvesImpl } from "../crypto/Curves.js"
import { decode } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import type { KeyError } from "./KeyError.js"
import type { Signer } from "./PrivateKey.js"
import * as PublicKey from "./PublicKey.js"

const MAGIC = "SSHSIG"
const LABEL = "SSH SIGNATURE"

/**
 * @since 0.1.0
 * @category models
 */
export type HashAlgorithm = "sha512" | "sha256"

/**
 * Why a signature was not accepted.
 *
 * @since 0.1.0
 * @category errors
 */
export class SshSigError extends Schema.TaggedError<SshSigError>()("SshSigError", {
  reason: Schema.Literal("Malformed", "UnsupportedVersion", "UnsupportedHash", "NamespaceMismatch", "BadSignature"),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.detail
  }
}

/**
 * A verified signature: who signed, for what namespace.
 *
 * @since 0.1.0
 * @category models
 */
export interface Verified {
  readonly publicKey: PublicKey.PublicKey
  readonly namespace: string
  readonly hashAlgorithm: HashAlgorithm
}

/** The bytes the key signs. */
const signedData = (namespace: string, hashAlgorithm: HashAlgorithm, message: Uint8Array) =>
  encode((w) =>
    w.raw(new TextEncoder().encode(MAGIC))
      .string(namespace)
      .string("")
      .string(hashAlgorithm)
      .string(crypto.createHash(hashAlgorithm).update(message).digest())
  )

/** ssh-keygen signs with rsa-sha2-512 for RSA keys, and the key's own algorithm otherwise. */
const signatureAlgorithm = (key: PublicKey.PublicKey) => key._tag === "Rsa" ? "rsa-sha2-512" : PublicKey.algorithmsFor(key)[0]

/**
 * Signs `message` for `namespace`; answers the armoured text `ssh-keygen -Y sign` writes.
 *
 * @since 0.1.0
 * @category signing
 */
export const sign = (
  signer: Signer,
  namespace: string,
  message: Uint8Array,
  hashAlgorithm: HashAlgorithm = "sha512"
): Effect.Effect<string, KeyError> =>
  Effect.map(signer.sign(signatureAlgorithm(signer.publicKey), signedData(namespace, hashAlgorithm, message)), (signature) => {
    const blob = encode((w) =>
      w.raw(new TextEncoder().encode(MAGIC))
        .uint32(1)
        .string(signer.publicKey.blob)
        .string(namespace)
        .string("")
        .string(hashAlgorithm)
        .string(signature)
    )
    const b64 = Buffer.from(blob).toString("base64").replace(/.{70}/g, "$&\n").replace(/\n$/, "")
    return `-----BEGIN ${LABEL}-----\n${b64}\n-----END ${LABEL}-----\n`
  })

interface Parsed {
  readonly publicKey: PublicKey.PublicKey
  readonly namespace: string
  readonly hashAlgorithm: string
  readonly signature: Uint8Array
}

const parse = (armoured: string): Either.Either<Parsed, SshSigError> => {
  const malformed = (detail: string, cause?: unknown) => new SshSigError({ reason: "Malformed", detail, ...(cause ? { cause } : {}) })
  const m = new RegExp(`-----BEGIN ${LABEL}-----([\\s\\S]*?)-----END ${LABEL}-----`).exec(armoured)
  if (!m) return Either.left(malformed("no BEGIN/END SSH SIGNATURE armour"))
  const body = m[1].replace(/\s+/g, "")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return Either.left(malformed("the armoured body is not base64"))
  const bytes = new Uint8Array(Buffer.from(body, "base64"))
  return decode(bytes, (r) => {
    const magic = new TextDecoder().decode(r.raw(6, "magic"))
    if (magic !== MAGIC) r.fail("magic", "not an SSHSIG blob")
    const version = r.uint32("version")
    const publicBlob = r.string("public key")
    const namespace = r.text("namespace")
    r.string("reserved")
    const hashAlgorithm = r.text("hash algorithm")
    const signature = r.string("signature")
    r.end("SSHSIG blob")
    return { version, publicBlob, namespace, hashAlgorithm, signature }
  }).pipe(
    Either.mapLeft((e) => malformed(e.message, e)),
    Either.flatMap((p) =>
      p.version !== 1
        ? Either.left(new SshSigError({ reason: "UnsupportedVersion", detail: `SSHSIG version ${p.version} (only 1 is defined)` }))
        : Either.map(
          Either.mapLeft(PublicKey.fromBlob(p.publicBlob), (e) => malformed(`signer's key: ${e.message}`, e)),
          (publicKey) => ({ publicKey, namespace: p.namespace, hashAlgorithm: p.hashAlgorithm, signature: p.signature })
        )
    )
  )
}

/**
 * Checks an armoured signature over `message` for `namespace`. Which keys may sign is the
 * caller's decision (an allowed_signers file, a pinned key): compare `publicKey`.
 *
 * @since 0.1.0
 * @category verification
 */
export const verify = (armoured: string, message: Uint8Array, namespace: string): Effect.Effect<Verified, SshSigError> =>
  Effect.gen(function*() {
    const sig = yield* parse(armoured)
    if (sig.namespace !== namespace) {
      return yield* new SshSigError({ reason: "NamespaceMismatch", detail: `signature is for namespace "${sig.namespace}", not "${namespace}"` })
    }
    if (sig.hashAlgorithm !== "sha512" && sig.hashAlgorithm !== "sha256") {
      return yield* new SshSigError({ reason: "UnsupportedHash", detail: `unsupported hash algorithm ${sig.hashAlgorithm}` })
    }
    const curves = yield* CurvesImpl
    // As OpenSSH: no SHA-1 (ssh-rsa) signatures here.
    const allowed = sig.publicKey._tag === "Rsa" ? ["rsa-sha2-512", "rsa-sha2-256"] : undefined
    const good = PublicKey.verify(curves, sig.publicKey, sig.signature, signedData(namespace, sig.hashAlgorithm, message), allowed)
    if (Either.isLeft(good)) return yield* new SshSigError({ reason: "BadSignature", detail: good.left.message, cause: good.left })
    if (!good.right) return yield* new SshSigError({ reason: "BadSignature", detail: "the signature does not verify" })
    return { publicKey: sig.publicKey, namespace, hashAlgorithm: sig.hashAlgorithm }
  })
