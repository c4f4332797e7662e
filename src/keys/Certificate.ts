/**
 * OpenSSH certificates (PROTOCOL.certkeys): a public key, signed by a CA together with who
 * may use it (principals), when (validity window) and how (critical options, extensions).
 * `parse` reads every field; `check` verifies the CA signature, the window and the
 * principal, each failure with its own typed reason; `describe` prints what
 * `ssh-keygen -L` prints.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type { Curves } from "../crypto/Curves.js"
import { decode, type Reader } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { KeyError } from "./KeyError.js"
import * as PublicKey from "./PublicKey.js"
import * as PublicKeyText from "./PublicKeyText.js"

const SUFFIX = "-cert-v01@openssh.com"

/** How many `string` fields each key type puts between the nonce and the serial. */
const keyFieldCounts: Record<string, number> = {
  "ssh-ed25519": 1,
  "ecdsa-sha2-nistp256": 2,
  "ecdsa-sha2-nistp384": 2,
  "ecdsa-sha2-nistp521": 2,
  "ssh-rsa": 2,
  "sk-ssh-ed25519@openssh.com": 2,
  "sk-ecdsa-sha2-nistp256@openssh.com": 3
}

/**
 * Whether a key type name is a certificate type.
 *
 * @since 0.1.0
 * @category guards
 */
export const isCertificateType = (type: string): boolean => type.endsWith(SUFFIX)

/**
 * The signature algorithm behind a certificate algorithm: `rsa-sha2-512-cert-v01@openssh.com`
 * signs with `rsa-sha2-512`, `ssh-ed25519-cert-v01@openssh.com` with `ssh-ed25519`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const signatureAlgorithmOf = (certAlgorithm: string): string => plainType(certAlgorithm)

/**
 * The certificate algorithm for a signature algorithm: `rsa-sha2-512` offers a certificate
 * as `rsa-sha2-512-cert-v01@openssh.com`, `sk-ssh-ed25519@openssh.com` as
 * `sk-ssh-ed25519-cert-v01@openssh.com`.
 *
 * @since 0.1.0
 * @category accessors
 */
export const certificateAlgorithmFor = (signatureAlgorithm: string): string => `${signatureAlgorithm.replace(/@openssh\.com$/, "")}${SUFFIX}`

/** `ssh-ed25519-cert-v01@openssh.com` → `ssh-ed25519`; `sk-…@openssh.com` keeps its domain. */
const plainType = (certType: string) => {
  const base = certType.slice(0, -SUFFIX.length)
  return base.startsWith("sk-") ? `${base}@openssh.com` : base
}

/**
 * A critical option or extension: its name and, if it has one, its value.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertOption {
  readonly name: string
  readonly value?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Certificate {
  readonly type: string
  /** The whole certificate blob, as it goes on the wire in place of a public key. */
  readonly blob: Uint8Array
  readonly nonce: Uint8Array
  /** The certified key. */
  readonly key: PublicKey.PublicKey
  readonly serial: bigint
  readonly certType: "user" | "host"
  readonly keyId: string
  readonly principals: ReadonlyArray<string>
  /** Seconds since the epoch; 0 means always. */
  readonly validAfter: bigint
  /** Seconds since the epoch; 2^64−1 means forever. */
  readonly validBefore: bigint
  readonly criticalOptions: ReadonlyArray<CertOption>
  readonly extensions: ReadonlyArray<CertOption>
  readonly signatureKey: PublicKey.PublicKey
  /** The CA's signature blob. */
  readonly signature: Uint8Array
  /** The signature algorithm the CA used. */
  readonly signatureAlgorithm: string
  /** The bytes the CA signed: everything before the signature. */
  readonly signedBytes: Uint8Array
}

const FOREVER = 0xffffffffffffffffn

/** Inside a parser: a nested field's Left is thrown as itself, for `fromBlob` to catch. */
const orThrow = <A, E>(either: Either.Either<A, E>): A => Either.getOrThrowWith(either, (e) => e)

/** Options and extensions: `string name, string data`, where a non-empty data is itself a string. */
const readOptions = (bytes: Uint8Array, field: string): Array<CertOption> =>
  orThrow(decode(bytes, (r) => {
    const out: Array<CertOption> = []
    let previous = ""
    while (r.remaining > 0) {
      const name = r.text(`${field} name`)
      // PROTOCOL.certkeys: names are unique and sorted.
      if (name <= previous) r.fail(field, `${name} is out of order or repeated`)
      previous = name
      const data = r.string(`${field} data`)
      if (data.length === 0) out.push({ name })
      else {out.push({
          name,
          value: orThrow(decode(data, (d) => {
            const v = d.text(`${name} value`)
            d.end(name)
            return v
          }))
        })}
    }
    return out
  }))

const readBody = (r: Reader, blob: Uint8Array): Certificate => {
  const type = r.text("certificate type")
  if (!isCertificateType(type)) r.fail("certificate type", `${type} is not a certificate type`)
  const base = plainType(type)
  const fields = keyFieldCounts[base]
  if (fields === undefined) throw new KeyError({ reason: "UnsupportedKeyType", keyType: type, detail: `unsupported certificate type ${type}` })
  const nonce = r.string("nonce")
  const keyFields: Array<Uint8Array> = []
  for (let i = 0; i < fields; i++) keyFields.push(r.string("key field"))
  const serial = r.uint64("serial")
  const kind = r.uint32("certificate role")
  if (kind !== 1 && kind !== 2) r.fail("certificate role", `expected 1 (user) or 2 (host), got ${kind}`)
  const keyId = r.text("key id")
  const principalBytes = r.string("valid principals")
  const validAfter = r.uint64("valid after")
  const validBefore = r.uint64("valid before")
  const criticalBytes = r.string("critical options")
  const extensionBytes = r.string("extensions")
  r.string("reserved")
  const signatureKeyBlob = r.string("signature key")
  const signedLength = r.offset
  const signature = r.string("signature")
  r.end("certificate")

  const keyBlob = encode((w) => {
    w.string(base)
    for (const f of keyFields) w.string(f)
  })
  const key = orThrow(PublicKey.fromBlob(keyBlob))
  const signatureKey = orThrow(PublicKey.fromBlob(signatureKeyBlob))
  const principals = orThrow(decode(principalBytes, (p) => {
    const out: Array<string> = []
    while (p.remaining > 0) out.push(p.text("principal"))
    return out
  }))
  const signatureAlgorithm = orThrow(PublicKey.parseSignature(signature)).algorithm
  return {
    type,
    blob,
    nonce: nonce.slice(),
    key,
    serial,
    certType: kind === 1 ? "user" : "host",
    keyId,
    principals,
    validAfter,
    validBefore,
    criticalOptions: readOptions(criticalBytes, "critical option"),
    extensions: readOptions(extensionBytes, "extension"),
    signatureKey,
    signature: signature.slice(),
    signatureAlgorithm,
    signedBytes: blob.slice(0, signedLength)
  }
}

/**
 * Parses a certificate blob. The CA signature is not checked here: see {@link check}.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromBlob = (blob: Uint8Array): Either.Either<Certificate, KeyError> => {
  const copy = Uint8Array.from(blob)
  try {
    return Either.mapLeft(
      decode(copy, (r) => readBody(r, copy)),
      (cause) => new KeyError({ reason: "Malformed", detail: `malformed certificate: ${cause.message}`, cause })
    )
  } catch (e) {
    // A nested key (the certified one, the CA's) failed.
    if (e instanceof KeyError) return Either.left(e)
    throw e
  }
}

/**
 * Parses a certificate `.pub` line (`ssh-ed25519-cert-v01@openssh.com AAAA… comment`).
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromLine = (line: string): Either.Either<Certificate, KeyError> =>
  Either.flatMap(PublicKeyText.parseLine(line), (l) =>
    Either.flatMap(fromBlob(l.blob), (cert) =>
      cert.type === l.keyType
        ? Either.right(cert)
        : Either.left(new KeyError({ reason: "Malformed", keyType: l.keyType, detail: `line names ${l.keyType} but the blob is ${cert.type}` }))))

/**
 * Why a certificate is not acceptable.
 *
 * @since 0.1.0
 * @category errors
 */
export class CertificateError extends Schema.TaggedError<CertificateError>()("CertificateError", {
  reason: Schema.Literal("BadSignature", "NotYetValid", "Expired", "WrongRole", "PrincipalNotAllowed", "CaIsCertificate"),
  keyId: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `certificate "${this.keyId}": ${this.detail}`
  }
}

/**
 * What to check a certificate against.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckOptions {
  /** Seconds since the epoch. */
  readonly now: number
  readonly role?: "user" | "host"
  /** The user name (user certificates) or host name (host certificates) it must list. */
  readonly principal?: string
}

/**
 * Verifies the CA signature, then the role, the validity window and the principal.
 *
 * @since 0.1.0
 * @category verification
 */
export const check = (curves: Curves, cert: Certificate, options: CheckOptions): Either.Either<Certificate, CertificateError> => {
  const fail = (reason: CertificateError["reason"], detail: string) => Either.left(new CertificateError({ reason, keyId: cert.keyId, detail }))
  // As OpenSSH's default CASignatureAlgorithms: no SHA-1 RSA signatures.
  const allowed = cert.signatureKey._tag === "Rsa" ? ["rsa-sha2-512", "rsa-sha2-256"] : undefined
  const verified = PublicKey.verify(curves, cert.signatureKey, cert.signature, cert.signedBytes, allowed)
  if (Either.isLeft(verified)) return fail("BadSignature", verified.left.message)
  if (!verified.right) return fail("BadSignature", "the CA signature does not verify")
  if (options.role && cert.certType !== options.role) return fail("WrongRole", `a ${cert.certType} certificate where a ${options.role} certificate is needed`)
  const now = BigInt(Math.floor(options.now))
  if (now < cert.validAfter) return fail("NotYetValid", `not valid before ${formatTime(cert.validAfter)}`)
  if (now >= cert.validBefore) return fail("Expired", `expired at ${formatTime(cert.validBefore)}`)
  if (options.principal !== undefined && !cert.principals.includes(options.principal)) {
    return fail("PrincipalNotAllowed", `${options.principal} is not among its principals (${cert.principals.join(", ") || "none"})`)
  }
  return Either.right(cert)
}

const pad = (n: number) => String(n).padStart(2, "0")
/** Local time as ssh-keygen prints it: 2026-01-01T00:00:00. */
const formatTime = (seconds: bigint) => {
  const d = new Date(Number(seconds) * 1000)
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
}

const validity = (cert: Certificate) =>
  cert.validAfter === 0n && cert.validBefore === FOREVER
    ? "forever"
    : cert.validAfter === 0n
    ? `before ${formatTime(cert.validBefore)}`
    : cert.validBefore === FOREVER
    ? `after ${formatTime(cert.validAfter)}`
    : `from ${formatTime(cert.validAfter)} to ${formatTime(cert.validBefore)}`

const list = (items: ReadonlyArray<string>) => items.length === 0 ? " (none)" : ` \n${items.map((i) => `                ${i}`).join("\n")}`

/**
 * The text `ssh-keygen -L -f` prints for the certificate, after its first line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (cert: Certificate): string =>
  [
    `        Type: ${cert.type} ${cert.certType} certificate`,
    `        Public key: ${PublicKey.typeLabel(cert.key)}-CERT ${PublicKey.fingerprintSha256(cert.key)}`,
    `        Signing CA: ${PublicKey.typeLabel(cert.signatureKey)} ${PublicKey.fingerprintSha256(cert.signatureKey)} (using ${cert.signatureAlgorithm})`,
    `        Key ID: "${cert.keyId}"`,
    `        Serial: ${cert.serial}`,
    `        Valid: ${validity(cert)}`,
    `        Principals:${list(cert.principals)}`,
    `        Critical Options:${list(cert.criticalOptions.map((o) => o.value === undefined ? o.name : `${o.name} ${o.value}`))}`,
    `        Extensions:${list(cert.extensions.map((o) => o.value === undefined ? o.name : `${o.name} ${o.value}`))}`
  ].join("\n")
