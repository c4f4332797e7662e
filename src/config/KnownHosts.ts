/**
 * known_hosts files (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): plain and hashed host names,
 * patterns with negation, `[host]:port`, and the `@cert-authority` and `@revoked` markers.
 * `lookup` answers what ssh's host-key check would conclude; `knownAlgorithms` tells the
 * transport which host key types to prefer, so that negotiation picks one we can check.
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import { nodeCurves } from "../crypto/NodeCurves.js"
import * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as PublicKeyText from "../keys/PublicKeyText.js"
import * as FileProblem from "./internal/FileProblem.js"
import { matchList } from "./Patterns.js"

/**
 * Which hosts an entry is for: a pattern list, or one hashed name (`|1|salt|hash`).
 *
 * @since 0.1.0
 * @category models
 */
export type HostsField =
  | { readonly _tag: "Patterns"; readonly patterns: ReadonlyArray<string> }
  | { readonly _tag: "Hashed"; readonly salt: Uint8Array; readonly hash: Uint8Array }

/**
 * One line of a known_hosts file.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly marker: "none" | "cert-authority" | "revoked"
  readonly hosts: HostsField
  readonly key: PublicKey.PublicKey
  readonly keyType: string
  readonly comment: string
  readonly file: string
  /** 1-based. */
  readonly line: number
}

/**
 * A line that was neither blank, a comment, nor an entry we could read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Skipped {
  /** 1-based. */
  readonly line: number
  readonly reason: string
}

/**
 * A parsed file: its entries, and the lines skipped (as ssh skips them) with the reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface KnownHostsFile {
  readonly entries: ReadonlyArray<Entry>
  readonly skipped: ReadonlyArray<Skipped>
}

/**
 * A known_hosts file could not be read or written.
 *
 * @since 0.1.0
 * @category errors
 */
export class KnownHostsError extends Schema.TaggedError<KnownHostsError>()("KnownHostsError", {
  reason: Schema.Literal("ReadFailed", "WriteFailed"),
  path: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `cannot ${this.reason === "ReadFailed" ? "read" : "write"} known_hosts file ${this.path}: ${this.detail}`
  }
}

/**
 * The name known_hosts stores for a host: `host` on port 22, `[host]:port` otherwise. It is
 * also the string a hashed entry hashes.
 *
 * @since 0.1.0
 * @category names
 */
export const hostName = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`)

const HASH_LENGTH = 20 // SHA-1

const readHosts = (field: string): HostsField | string => {
  if (!field.startsWith("|")) return { _tag: "Patterns", patterns: field.split(",") }
  const m = /^\|1\|([A-Za-z0-9+/]+={0,2})\|([A-Za-z0-9+/]+={0,2})$/.exec(field)
  if (!m) return "bad hashed host name: expected |1|salt|hash"
  const salt = new Uint8Array(Buffer.from(m[1], "base64"))
  const hash = new Uint8Array(Buffer.from(m[2], "base64"))
  if (salt.length !== HASH_LENGTH || hash.length !== HASH_LENGTH) return `bad hashed host name: salt and hash must be ${HASH_LENGTH} bytes`
  return { _tag: "Hashed", salt, hash }
}

const markers: Record<string, Entry["marker"]> = { "@cert-authority": "cert-authority", "@revoked": "revoked" }

/** One non-blank, non-comment line: an entry, or why it is skipped. */
const parseEntry = (text: string, file: string, line: number): Either.Either<Entry, string> => {
  let rest = text
  const field = () => {
    const m = /^(\S+)\s*/.exec(rest)
    rest = m ? rest.slice(m[0].length) : ""
    return m?.[1]
  }
  let first = field()!
  let marker: Entry["marker"] = "none"
  if (first.startsWith("@")) {
    const known = markers[first]
    // ssh treats an unknown marker as an invalid line, not as a host name.
    if (known === undefined) return Either.left(`unknown marker ${first}`)
    marker = known
    const next = field()
    if (next === undefined) return Either.left(`nothing after ${first}`)
    first = next
  }
  const hosts = readHosts(first)
  if (typeof hosts === "string") return Either.left(hosts)
  if (rest === "") return Either.left("no key after the host names")
  const keyLine = PublicKeyText.parseLine(rest)
  if (Either.isLeft(keyLine)) return Either.left(keyLine.left.message)
  const { keyType, blob, comment } = keyLine.right
  const key = PublicKey.fromBlob(blob)
  if (Either.isLeft(key)) return Either.left(key.left.message)
  if (key.right.type !== keyType) return Either.left(`line names ${keyType} but the key is ${key.right.type}`)
  return Either.right({ marker, hosts, key: key.right, keyType, comment, file, line })
}

/**
 * Parses a known_hosts file. Like ssh, lines it cannot read are skipped, not fatal; they are
 * listed with their line numbers. Never throws.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string, file: string): KnownHostsFile => {
  const entries: Array<Entry> = []
  const skipped: Array<Skipped> = []
  text.split("\n").forEach((raw, i) => {
    const trimmed = raw.trim()
    if (trimmed === "" || trimmed.startsWith("#")) return
    const parsed = parseEntry(trimmed, file, i + 1)
    if (Either.isRight(parsed)) entries.push(parsed.right)
    else skipped.push({ line: i + 1, reason: parsed.left })
  })
  return { entries, skipped }
}

const hmac = (salt: Uint8Array, name: string) => crypto.createHmac("sha1", salt).update(name).digest()

const hashMatches = (hosts: { readonly salt: Uint8Array; readonly hash: Uint8Array }, name: string) =>
  crypto.timingSafeEqual(hmac(hosts.salt, name), hosts.hash)

/**
 * Whether an entry is for this host and port, as ssh decides it: the name `hostName` gives
 * (`host` on port 22, `[host]:port` otherwise; ssh looks up nothing else) against the
 * patterns (case-insensitive, `*` `?`, any matching `!pattern` excludes) or the hash.
 *
 * @since 0.1.0
 * @category matching
 */
export const matches = (entry: Entry, host: string, port: number): boolean => {
  const name = hostName(host, port)
  if (entry.hosts._tag === "Patterns") return matchList(name, entry.hosts.patterns) === "match"
  // ssh lowercases host names before hashing them, and `ssh-keygen -H` lowercases what it
  // hashes; a name as given still counts, for a HostKeyAlias that ssh writes unchanged.
  const lower = name.toLowerCase()
  return hashMatches(entry.hosts, lower) || (lower !== name && hashMatches(entry.hosts, name))
}

/**
 * What the known_hosts files say about a presented host key or certificate.
 *
 * @since 0.1.0
 * @category models
 */
export type LookupResult =
  | { readonly _tag: "Known"; readonly entry: Entry }
  | { readonly _tag: "CertifiedBy"; readonly entry: Entry; readonly certificate: Certificate.Certificate }
  | { readonly _tag: "CertificateInvalid"; readonly entry: Entry; readonly error: Certificate.CertificateError }
  | { readonly _tag: "Revoked"; readonly entry: Entry }
  | { readonly _tag: "Mismatch"; readonly expected: ReadonlyArray<Entry> }
  | { readonly _tag: "Unknown"; readonly otherTypes: ReadonlyArray<Entry> }

const isCertificate = (k: PublicKey.PublicKey | Certificate.Certificate): k is Certificate.Certificate => "signatureKey" in k

const revokes = (entry: Entry, keys: ReadonlyArray<PublicKey.PublicKey>) => entry.marker === "revoked" && keys.some((k) => PublicKey.equals(entry.key, k))

/**
 * Looks a host up. `@revoked` wins over everything (for a certificate, a revoked CA or
 * certified key); then a plain entry with the same key (a certificate's certified key
 * counts, as ssh falls back to it); then, for a host certificate, a `@cert-authority`
 * entry holding its CA, and the certificate must be valid `now` (seconds) for `host`; then
 * a mismatch if entries of the same key type exist; else unknown, with the entries of other
 * types.
 *
 * @since 0.1.0
 * @category lookup
 */
export const lookup = (
  entries: ReadonlyArray<Entry>,
  host: string,
  port: number,
  presented: PublicKey.PublicKey | Certificate.Certificate,
  now: number
): LookupResult => {
  const relevant = entries.filter((e) => matches(e, host, port))
  const cert = isCertificate(presented) ? presented : undefined
  const key = cert ? cert.key : (presented as PublicKey.PublicKey)
  const revoked = relevant.find((e) => revokes(e, cert ? [key, cert.signatureKey] : [key]))
  if (revoked) return { _tag: "Revoked", entry: revoked }
  const plain = relevant.filter((e) => e.marker === "none")
  const known = plain.find((e) => PublicKey.equals(e.key, key))
  if (known) return { _tag: "Known", entry: known }
  if (cert) {
    const ca = relevant.find((e) => e.marker === "cert-authority" && PublicKey.equals(e.key, cert.signatureKey))
    if (ca) {
      const checked = Certificate.check(nodeCurves, cert, { now, role: "host", principal: host })
      return Either.isRight(checked)
        ? { _tag: "CertifiedBy", entry: ca, certificate: cert }
        : { _tag: "CertificateInvalid", entry: ca, error: checked.left }
    }
  }
  // The type name carries the curve, so P-256 and P-384 keys are different types, as in ssh.
  const sameType = plain.filter((e) => e.key.type === key.type)
  if (sameType.length > 0) return { _tag: "Mismatch", expected: sameType }
  return { _tag: "Unknown", otherTypes: plain }
}

const algorithmsOf = (key: PublicKey.PublicKey): ReadonlyArray<string> => key._tag === "Rsa" ? ["rsa-sha2-512", "rsa-sha2-256"] : [key.type]

/**
 * The host key algorithms of the keys known for a host, in file order without repeats:
 * plain entries only, leaving out keys a matching `@revoked` entry lists. Certificate
 * algorithms for a `@cert-authority` are the caller's to add.
 *
 * @since 0.1.0
 * @category lookup
 */
export const knownAlgorithms = (entries: ReadonlyArray<Entry>, host: string, port: number): ReadonlyArray<string> => {
  const relevant = entries.filter((e) => matches(e, host, port))
  const revoked = relevant.filter((e) => e.marker === "revoked")
  return [
    ...new Set(
      relevant
        .filter((e) => e.marker === "none" && !revoked.some((r) => PublicKey.equals(r.key, e.key)))
        .flatMap((e) => algorithmsOf(e.key))
    )
  ]
}

/**
 * A known_hosts line for a host, plain (`name keytype base64`) or hashed
 * (`|1|salt|hash keytype base64`, as `ssh-keygen -H` writes it, with a random 20-byte salt
 * unless one is given). The name is lowercased, as ssh lowercases host names.
 *
 * @since 0.1.0
 * @category encoding
 */
export const formatEntry = (
  host: string,
  port: number,
  key: PublicKey.PublicKey,
  options: { readonly hash: boolean; readonly salt?: Uint8Array }
): string => {
  const name = hostName(host, port).toLowerCase()
  if (!options.hash) return `${name} ${PublicKeyText.format(key)}`
  const salt = options.salt ?? crypto.randomBytes(HASH_LENGTH)
  return `|1|${Buffer.from(salt).toString("base64")}|${hmac(salt, name).toString("base64")} ${PublicKeyText.format(key)}`
}

/**
 * Reads and parses a known_hosts file; a missing file is an empty one, as ssh treats it, and
 * one that exists but cannot be read (permissions, a directory) is a `KnownHostsError`.
 *
 * @since 0.1.0
 * @category files
 */
export const readFile: (path: string) => Effect.Effect<KnownHostsFile, KnownHostsError, FileSystem.FileSystem> = Effect.fn("KnownHosts.readFile")(
  function*(path: string) {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs.readFileString(path).pipe(
      Effect.catchAll((error) =>
        FileProblem.isMissing(error)
          ? Effect.succeed("")
          : Effect.fail(new KnownHostsError({ reason: "ReadFailed", path, detail: FileProblem.describe(error), cause: error }))
      )
    )
    return parse(text, path)
  }
)

/**
 * Appends one line, creating the file (0600) and its directory (0700) when missing, and
 * first ending the last line when the file lacks a final newline.
 *
 * @since 0.1.0
 * @category files
 */
export const append: (path: string, line: string) => Effect.Effect<void, KnownHostsError, FileSystem.FileSystem | Path.Path> = Effect.fn(
  "KnownHosts.append"
)(function*(file: string, line: string) {
  const fs = yield* FileSystem.FileSystem
  const path = yield* Path.Path
  const failed = (error: PlatformError) => new KnownHostsError({ reason: "WriteFailed", path: file, detail: FileProblem.describe(error), cause: error })
  yield* fs.makeDirectory(path.dirname(file), { recursive: true, mode: 0o700 }).pipe(Effect.mapError(failed))
  // Only the last byte matters: is the previous line ended?
  const existing = yield* fs.readFile(file).pipe(
    Effect.catchAll((error) => FileProblem.isMissing(error) ? Effect.succeed(new Uint8Array(0)) : Effect.fail(failed(error)))
  )
  const separator = existing.length > 0 && existing[existing.length - 1] !== 0x0a ? "\n" : ""
  yield* fs.writeFileString(file, `${separator}${line.replace(/\n+$/, "")}\n`, { flag: "a", mode: 0o600 }).pipe(Effect.mapError(failed))
})
