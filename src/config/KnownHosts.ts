/**
 * known_hosts files (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): plain and hashed host names,
 * patterns with negation, `[host]:port`, and the `@cert-authority` and `@revoked` markers.
 * `lookup` answers what ssh's host-key check would conclude; `knownAlgorithms` tells the
 * transport which host key types to prefer, so that negotiation picks one we can check.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as crypto from "node:crypto"
import * as fs from "node:fs/promises"
import * as nodePath from "node:path"
import { nodeCurves } from "../crypto/NodeCurves.js"
import * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as PublicKeyText from "../keys/PublicKeyText.js"
import { matchList } from "./Patterns.js"

/**
 * Which hosts an entry is for.
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
 * A parsed file: its entries, and the lines skipped (as ssh skips them) with the reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface KnownHostsFile {
  readonly entries: ReadonlyArray<Entry>
  readonly skipped: ReadonlyArray<{ readonly line: number; readonly reason: string }>
}

/**
 * A known_hosts file could not be read or written.
 *
 * @since 0.1.0
 * @category errors
 */
export class KnownHostsError extends Data.TaggedError("KnownHostsError")<{
  readonly path: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.path}: ${this.detail}`
  }
}

/**
 * The name known_hosts stores for a host: `host` on port 22, `[host]:port` otherwise.
 *
 * @since 0.1.0
 * @category names
 */
export const hostName = (host: string, port: number): string => (port === 22 ? host : `[${host}]:${port}`)

const readHosts = (field: string): HostsField | undefined => {
  if (!field.startsWith("|")) return { _tag: "Patterns", patterns: field.split(",") }
  const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(field)
  if (!m) return undefined
  const salt = new Uint8Array(Buffer.from(m[1], "base64"))
  const hash = new Uint8Array(Buffer.from(m[2], "base64"))
  return salt.length === 20 && hash.length === 20 ? { _tag: "Hashed", salt, hash } : undefined
}

/**
 * Parses a known_hosts file. Like ssh, lines it cannot read are skipped, not fatal.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string, file: string): KnownHostsFile => {
  const entries: Array<Entry> = []
  const skipped: Array<{ line: number; reason: string }> = []
  for (const [i, raw] of text.split("\n").entries()) {
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === "" || trimmed.startsWith("#")) continue
    let fields = trimmed.split(/\s+/)
    let marker: Entry["marker"] = "none"
    if (fields[0].startsWith("@")) {
      if (fields[0] === "@cert-authority") marker = "cert-authority"
      else if (fields[0] === "@revoked") marker = "revoked"
      else {
        skipped.push({ line, reason: `unknown marker ${fields[0]}` })
        continue
      }
      fields = fields.slice(1)
    }
    const hosts = fields[0] === undefined ? undefined : readHosts(fields[0])
    if (hosts === undefined) {
      skipped.push({ line, reason: "bad host field" })
      continue
    }
    const keyLine = PublicKeyText.parseLine(fields.slice(1).join(" "))
    if (Either.isLeft(keyLine)) {
      skipped.push({ line, reason: keyLine.left.detail })
      continue
    }
    const key = PublicKey.fromBlob(keyLine.right.blob)
    if (Either.isLeft(key)) {
      skipped.push({ line, reason: key.left.message })
      continue
    }
    if (key.right.type !== keyLine.right.keyType) {
      skipped.push({ line, reason: `line names ${keyLine.right.keyType} but the key is ${key.right.type}` })
      continue
    }
    entries.push({ marker, hosts, key: key.right, keyType: keyLine.right.keyType, comment: keyLine.right.comment, file, line })
  }
  return { entries, skipped }
}

const hashName = (salt: Uint8Array, name: string) => crypto.createHmac("sha1", salt).update(name).digest()

/**
 * Whether an entry is for this host and port, as ssh decides it: the `[host]:port` name
 * (or `host` on port 22) against the patterns or the hash.
 *
 * @since 0.1.0
 * @category matching
 */
export const matches = (entry: Entry, host: string, port: number): boolean => {
  const name = hostName(host, port)
  if (entry.hosts._tag === "Hashed") return crypto.timingSafeEqual(hashName(entry.hosts.salt, name), entry.hosts.hash)
  return matchList(name, entry.hosts.patterns) === "match"
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

/**
 * Looks a host up. `@revoked` wins over everything; then a plain entry with the same key;
 * then, for a host certificate, a `@cert-authority` entry holding its CA (and the
 * certificate must be valid now for this host); then a mismatch if entries of the same key
 * type exist; else unknown, with any entries of other types.
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
  const revoked = relevant.find((e) =>
    e.marker === "revoked" && (PublicKey.equals(e.key, key) || (cert !== undefined && PublicKey.equals(e.key, cert.signatureKey)))
  )
  if (revoked) return { _tag: "Revoked", entry: revoked }
  const plain = relevant.filter((e) => e.marker === "none")
  const known = plain.find((e) => PublicKey.equals(e.key, key))
  if (known) return { _tag: "Known", entry: known }
  if (cert) {
    const ca = relevant.find((e) => e.marker === "cert-authority" && PublicKey.equals(e.key, cert.signatureKey))
    if (ca) {
      const checked = Certificate.check(nodeCurves, cert, { now, role: "host", principal: host })
      return Either.isRight(checked) ? { _tag: "CertifiedBy", entry: ca, certificate: cert } : { _tag: "CertificateInvalid", entry: ca, error: checked.left }
    }
  }
  const sameType = plain.filter((e) => e.key.type === key.type)
  if (sameType.length > 0) return { _tag: "Mismatch", expected: sameType }
  return { _tag: "Unknown", otherTypes: plain }
}

const algorithmsOf = (key: PublicKey.PublicKey): ReadonlyArray<string> =>
  key._tag === "Rsa" ? ["rsa-sha2-512", "rsa-sha2-256"] : [key.type]

/**
 * The host key algorithms of the keys known for a host (plain entries only), in file order.
 *
 * @since 0.1.0
 * @category lookup
 */
export const knownAlgorithms = (entries: ReadonlyArray<Entry>, host: string, port: number): ReadonlyArray<string> => [
  ...new Set(entries.filter((e) => e.marker === "none" && matches(e, host, port)).flatMap((e) => algorithmsOf(e.key)))
]

/**
 * A known_hosts line for a host, hashed (`|1|salt|hash`, as `ssh-keygen -H`) or plain.
 *
 * @since 0.1.0
 * @category encoding
 */
export const formatEntry = (host: string, port: number, key: PublicKey.PublicKey, options: { readonly hash: boolean; readonly salt?: Uint8Array }): string => {
  const name = hostName(host, port)
  const field = options.hash
    ? (() => {
      const salt = options.salt ?? crypto.randomBytes(20)
      return `|1|${Buffer.from(salt).toString("base64")}|${hashName(salt, name).toString("base64")}`
    })()
    : name
  return `${field} ${PublicKeyText.format(key)}`
}

/**
 * Reads a known_hosts file; a missing file is an empty one.
 *
 * @since 0.1.0
 * @category files
 */
export const readFile = (path: string): Effect.Effect<KnownHostsFile, KnownHostsError> =>
  Effect.tryPromise({ try: () => fs.readFile(path, "utf8"), catch: (cause) => cause }).pipe(
    Effect.map((text) => parse(text, path)),
    Effect.catchAll((cause) =>
      (cause as NodeJS.ErrnoException).code === "ENOENT"
        ? Effect.succeed<KnownHostsFile>({ entries: [], skipped: [] })
        : Effect.fail(new KnownHostsError({ path, detail: `cannot read: ${(cause as Error).message}`, cause }))
    )
  )

/**
 * Appends a line, creating the file (0600) and its directory (0700) as ssh does.
 *
 * @since 0.1.0
 * @category files
 */
export const append = (path: string, line: string): Effect.Effect<void, KnownHostsError> =>
  Effect.tryPromise({
    try: async () => {
      await fs.mkdir(nodePath.dirname(path), { recursive: true, mode: 0o700 })
      const existing = await fs.readFile(path, "utf8").catch(() => "")
      const separator = existing === "" || existing.endsWith("\n") ? "" : "\n"
      await fs.appendFile(path, `${separator}${line}\n`, { mode: 0o600 })
    },
    catch: (cause) => new KnownHostsError({ path, detail: `cannot write: ${(cause as Error).message}`, cause })
  })
