/**
 * OpenSSH `authorized_keys` files (sshd(8), AUTHORIZED_KEYS FILE FORMAT), decided as sshd
 * decides them: which entry, if any, lets a key or a certificate log in as a user from a
 * client, and what the login may then do. Pure: no file, clock or DNS is read here; the
 * caller gives the text, the time and the client's address.
 *
 * - `parse` reads the file as sshd does, line by line: a bad line is skipped and reported,
 *   never fatal.
 * - `match` walks the entries in order. A plain key matches entries without
 *   `cert-authority` whose key is the same; a certificate matches `cert-authority` entries
 *   whose key signed it. An entry whose options refuse the login (`from=`, `expiry-time=`,
 *   `principals=`) is passed over and the search goes on, as sshd's does; the first entry
 *   that accepts wins.
 * - A certificate's critical options and extensions are merged into the entry's
 *   restrictions with `merge`, sshd's `sshauthopt_merge`: `checkCertificate` and `merge`
 *   are shared with `UserCertificates` (sshd's TrustedUserCAKeys).
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import { matchCidrList, matchHostAndAddress, unmapAddress } from "../config/Patterns.js"
import type { Curves } from "../crypto/Curves.js"
import * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as PublicKeyText from "../keys/PublicKeyText.js"
import { show, showList } from "../wire/PeerText.js"
import { type LoginRestrictions, unrestricted } from "./AuthPolicy.js"

/**
 * The longest line read, in characters; a longer one is skipped and reported. sshd read
 * lines into a buffer of this size (SSH_MAX_PUBKEY_BYTES) until 7.8; an RSA-16384 key
 * with a long `from=` list still fits.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LINE_LENGTH = 16 * 1024

/**
 * The most entries read from one file; the lines after the last are ignored, and that is
 * reported once. sshd has no such bound; a real file has tens of entries.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ENTRIES = 10_000

/**
 * The most bad lines reported one by one; the rest are counted in one last report.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_REPORTED_ERRORS = 100

/** sshd's SSH_AUTHOPT_PERMIT_MAX and SSH_AUTHOPT_ENV_MAX, per line. */
const MAX_PERMITS = 4096
const MAX_ENVIRONMENT = 1024
/** SSH_TUNID_MAX: 0x7fffffff is "any", 0x7ffffffe an error. */
const MAX_TUNNEL = 0x7ffffffd

/**
 * One entry of the file.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizedKey {
  /** 1-based line number in the file. */
  readonly line: number
  /** The key; for a `cert-authority` entry, the CA's. */
  readonly key: PublicKey.PublicKey
  readonly comment: string
  /** The options as written, for display. */
  readonly options: ReadonlyArray<PublicKeyText.KeyOption>
  /** `cert-authority`: the key vouches for user certificates, it does not log in itself. */
  readonly certAuthority: boolean
  /** `principals=`: the certificate must list one of these, instead of the user name. */
  readonly principals?: ReadonlyArray<string>
  /** `from=`: patterns the client's address or name must match. */
  readonly from?: ReadonlyArray<string>
  /** `expiry-time=`, seconds since the epoch: the entry refuses logins after it. */
  readonly expiresAt?: number
  /** What the entry lets a login do, before any certificate has its say. */
  readonly restrictions: LoginRestrictions
}

/**
 * A line that was skipped.
 *
 * @since 0.1.0
 * @category models
 */
export interface LineError {
  readonly line: number
  readonly detail: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Parsed {
  readonly keys: ReadonlyArray<AuthorizedKey>
  readonly errors: ReadonlyArray<LineError>
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

interface EntryOptions {
  readonly certAuthority: boolean
  readonly principals?: ReadonlyArray<string>
  readonly from?: ReadonlyArray<string>
  readonly expiresAt?: number
  readonly restrictions: LoginRestrictions
}

/** The flags `no-` turns off, and what each sets. */
const negatable = new Map<string, (r: Mutable<LoginRestrictions>, on: boolean) => void>([
  ["port-forwarding", (r, on) => (r.portForwarding = on)],
  ["agent-forwarding", (r, on) => (r.agentForwarding = on)],
  ["x11-forwarding", (r, on) => (r.x11Forwarding = on)],
  ["touch-required", (r, on) => (r.touchRequired = on)],
  ["verify-required", (r, on) => (r.verifyRequired = on)],
  ["pty", (r, on) => (r.pty = on)],
  ["user-rc", (r, on) => (r.userRc = on)]
])

/** What `restrict` turns off: every permission. */
const restricted = { pty: false, portForwarding: false, agentForwarding: false, x11Forwarding: false, userRc: false } as const

/** The options that take a quoted value. */
const valued = new Set(["command", "principals", "from", "expiry-time", "environment", "permitopen", "permitlisten", "tunnel"])

/**
 * `YYYYMMDD[HHMM[SS]]`, with a trailing `Z` or `UTC` for UTC, else local time, as sshd's
 * `parse_absolute_time`. Local time is read as `mktime` reads a `struct tm` whose
 * `tm_isdst` is 0: as standard time, so in summer an hour later than the wall clock.
 */
const parseTime = (text: string): number | undefined => {
  const zone = /(?:z|utc)$/i.exec(text)?.[0]
  const digits = zone === undefined ? text : text.slice(0, -zone.length)
  if (!/^\d+$/.test(digits) || ![8, 12, 14].includes(digits.length)) return undefined
  const field = (at: number, length = 2) => Number(digits.slice(at, at + length) || "0")
  const [year, month, day, hour, minute, second] = [field(0, 4), field(4), field(6), field(8), field(10), field(12)]
  // strptime's ranges; a day past the month's end rolls over, as mktime rolls it.
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 61) return undefined
  const fields = new Date(0)
  fields.setUTCFullYear(year, month - 1, day)
  fields.setUTCHours(hour, minute, second)
  let seconds = fields.getTime() / 1000
  if (zone === undefined) {
    // The zone's standard offset: DST is the smaller offset west, in either hemisphere.
    const offsets = [0, 6].map((m) => {
      const d = new Date(0)
      d.setFullYear(year, m, 1)
      return d.getTimezoneOffset()
    })
    seconds += Math.max(...offsets) * 60
  }
  // sshd refuses a time before 1970, and 0 ("no expiry").
  return seconds > 0 ? seconds : undefined
}

/** `host:port` (or `[v6]:port`, or `host/port`) as sshd's `handle_permit` checks it. */
const checkPermit = (value: string): string | undefined => {
  let host: string
  let port: string | undefined
  if (value.startsWith("[")) {
    const close = value.indexOf("]")
    if (close < 0 || (close + 1 < value.length && !":/".includes(value[close + 1]))) return "invalid permission hostname"
    host = value.slice(0, close + 1)
    port = close + 1 < value.length ? value.slice(close + 2) : undefined
  } else {
    const at = value.search(/[:/]/)
    host = at < 0 ? value : value.slice(0, at)
    port = at < 0 ? undefined : value.slice(at + 1)
  }
  if (host.length >= 1025) return "invalid permission hostname"
  // sshd also takes service names from /etc/services; this pure reader takes numbers only.
  if (port === undefined || (port !== "*" && !(/^\d{1,5}$/.test(port) && Number(port) > 0 && Number(port) <= 65535))) {
    return "invalid permission port"
  }
  return undefined
}

/** The options of one line, in order, as sshd's `sshauthopt_parse`; Left is why the line is bad. */
const parseOptions = (options: ReadonlyArray<PublicKeyText.KeyOption>): Either.Either<EntryOptions, string> => {
  const r: Mutable<LoginRestrictions> = { ...unrestricted }
  const environment: Array<string> = []
  const permitOpen: Array<string> = []
  const permitListen: Array<string> = []
  let certAuthority = false
  let principals: ReadonlyArray<string> | undefined
  let from: ReadonlyArray<string> | undefined
  let expiresAt: number | undefined
  for (const { name, value } of options) {
    const lower = name.toLowerCase()
    const shown = show(name, 64)
    const flag = negatable.get(lower.replace(/^no-/, ""))
    if (lower === "restrict" || lower === "cert-authority" || flag !== undefined) {
      if (value !== undefined) return Either.left(`option ${shown} takes no value`)
      if (lower === "restrict") Object.assign(r, restricted)
      else if (lower === "cert-authority") certAuthority = true
      else flag!(r, !lower.startsWith("no-"))
      continue
    }
    if (!valued.has(lower)) return Either.left(`unknown option ${shown}`)
    if (value === undefined) return Either.left(`option ${shown} needs a quoted value`)
    switch (lower) {
      case "command":
        if (r.forceCommand !== undefined) return Either.left(`more than one command= option`)
        r.forceCommand = value
        break
      case "principals": {
        if (principals !== undefined) return Either.left(`more than one principals= option`)
        // sshd stops at the first empty name.
        const names = value.split(",")
        const empty = names.indexOf("")
        principals = empty < 0 ? names : names.slice(0, empty)
        break
      }
      case "from":
        if (from !== undefined) return Either.left(`more than one from= option`)
        from = value.split(",")
        break
      case "expiry-time": {
        const at = parseTime(value)
        if (at === undefined) return Either.left(`invalid expiry-time ${show(value, 64)}`)
        // The earliest of several wins.
        if (expiresAt === undefined || at < expiresAt) expiresAt = at
        break
      }
      case "environment": {
        if (environment.length > MAX_ENVIRONMENT) return Either.left("too many environment= options")
        const eq = value.indexOf("=")
        const variable = eq < 0 ? "" : value.slice(0, eq)
        if (!/^[A-Za-z0-9_]+$/.test(variable)) return Either.left(`invalid environment string ${show(value, 64)}`)
        // The first of a name wins.
        if (!environment.some((e) => e.startsWith(`${variable}=`))) environment.push(value)
        break
      }
      case "permitopen":
      case "permitlisten": {
        const list = lower === "permitopen" ? permitOpen : permitListen
        if (list.length > MAX_PERMITS) return Either.left(`too many ${lower}= options`)
        // A bare port in permitlisten listens on any address.
        const permit = lower === "permitlisten" && !value.includes(":") ? `*:${value}` : value
        const bad = checkPermit(permit)
        if (bad !== undefined) return Either.left(`${bad} in ${lower}=${show(value, 64)}`)
        list.push(permit)
        break
      }
      case "tunnel": {
        const any = value.toLowerCase() === "any"
        if (!any && !(/^\d{1,10}$/.test(value) && Number(value) <= MAX_TUNNEL)) return Either.left(`invalid tun device ${show(value, 64)}`)
        r.tunnel = any ? "any" : String(Number(value))
        break
      }
    }
  }
  return Either.right({
    certAuthority,
    restrictions: { ...r, environment, permitOpen, permitListen },
    ...(principals !== undefined ? { principals } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {})
  })
}

/** One non-blank, non-comment line: the entry, or why it is skipped. */
const parseLine = (text: string, line: number): Either.Either<AuthorizedKey, string> => {
  const parsed = PublicKeyText.parseAuthorizedKey(text)
  if (Either.isLeft(parsed)) return Either.left(parsed.left.detail)
  const { blob, comment, keyType, options } = parsed.right
  if (Certificate.isCertificateType(keyType)) {
    return Either.left(`a certificate is not an authorized key: list its CA's key with cert-authority instead`)
  }
  const key = PublicKey.fromBlob(blob)
  if (Either.isLeft(key)) return Either.left(key.left.message)
  if (key.right.type !== keyType) return Either.left(`the line names ${show(keyType, 64)} but the key is ${key.right.type}`)
  return Either.map(parseOptions(options), (o) => ({ line, key: key.right, comment, options, ...o }))
}

/**
 * Parses an `authorized_keys` file as sshd reads it: blank lines and `#` comments skipped,
 * CRLF taken as LF, and a bad line (unknown option, bad quoting, unreadable key, a
 * certificate where a key belongs, a line over {@link MAX_LINE_LENGTH}) skipped and
 * reported with its 1-based number; the rest of the file still counts.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Parsed => {
  const keys: Array<AuthorizedKey> = []
  const errors: Array<LineError> = []
  let unreported = 0
  let firstUnreported = 0
  const report = (line: number, detail: string) => {
    if (errors.length < MAX_REPORTED_ERRORS) errors.push({ line, detail })
    else if (unreported++ === 0) firstUnreported = line
  }
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i]
    const body = raw.replace(/^[ \t]+/, "")
    if (body === "" || body.startsWith("#")) continue
    if (raw.length > MAX_LINE_LENGTH) {
      report(i + 1, `line longer than ${MAX_LINE_LENGTH} characters`)
      continue
    }
    if (keys.length === MAX_ENTRIES) {
      report(i + 1, `more than ${MAX_ENTRIES} entries: this line and those after it are ignored`)
      break
    }
    const entry = parseLine(body, i + 1)
    if (Either.isLeft(entry)) report(i + 1, entry.left)
    else keys.push(entry.right)
  }
  if (unreported > 0) errors.push({ line: firstUnreported, detail: `${unreported} more bad lines from here on` })
  return { keys, errors }
}

/**
 * What a certificate's options ask for: its restrictions, and the addresses it may be
 * used from (`source-address`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateOptions {
  readonly restrictions: LoginRestrictions
  readonly sourceAddress?: string
}

/** A certificate allows nothing it does not name (sshd's `sshauthopt_new`). */
const certificateBase: LoginRestrictions = { ...unrestricted, ...restricted }

const extensionFlags = new Map<string, (r: Mutable<LoginRestrictions>) => void>([
  ["permit-X11-forwarding", (r) => (r.x11Forwarding = true)],
  ["permit-agent-forwarding", (r) => (r.agentForwarding = true)],
  ["permit-port-forwarding", (r) => (r.portForwarding = true)],
  ["permit-pty", (r) => (r.pty = true)],
  ["permit-user-rc", (r) => (r.userRc = true)],
  ["no-touch-required", (r) => (r.touchRequired = false)]
])

/**
 * A user certificate's critical options and extensions, as sshd's `sshauthopt_from_cert`:
 * `force-command`, `source-address` and `verify-required` are the critical options it
 * knows, and any other refuses the certificate; unknown extensions are ignored. Left is
 * why the certificate is refused.
 *
 * @since 0.1.0
 * @category certificates
 */
export const fromCertificate = (cert: Certificate.Certificate): Either.Either<CertificateOptions, string> => {
  const r: Mutable<LoginRestrictions> = { ...certificateBase }
  let sourceAddress: string | undefined
  for (const { name, value } of cert.criticalOptions) {
    if (name === "force-command" || name === "source-address") {
      if (value === undefined) return Either.left(`critical option ${name} has no value`)
      if (name === "force-command") r.forceCommand = value
      else if (matchCidrList("", value) === "invalid") return Either.left(`invalid source-address ${show(value, 128)}`)
      else sourceAddress = value
    } else if (name === "verify-required") {
      if (value !== undefined) return Either.left(`critical option ${name} has extra data`)
      r.verifyRequired = true
    } else return Either.left(`critical option ${show(name, 64)} is not supported`)
  }
  for (const { name, value } of cert.extensions) {
    const set = extensionFlags.get(name)
    if (set === undefined) continue
    if (value !== undefined) return Either.left(`extension ${name} has extra data`)
    set(r)
  }
  return Either.right({ restrictions: r, ...(sourceAddress !== undefined ? { sourceAddress } : {}) })
}

/**
 * Two sets of restrictions as one, as sshd's `sshauthopt_merge` (the entry's or principal
 * line's are `primary`, the certificate's `additional`): a permission needs both, a
 * requirement either; lists, environment and tunnel come from `primary` if it has them;
 * two forced commands must be the same, or Left.
 *
 * @since 0.1.0
 * @category certificates
 */
export const merge = (primary: LoginRestrictions, additional: LoginRestrictions): Either.Either<LoginRestrictions, string> => {
  if (primary.forceCommand !== undefined && additional.forceCommand !== undefined && primary.forceCommand !== additional.forceCommand) {
    return Either.left(`forced commands do not match: ${show(primary.forceCommand, 64)} and ${show(additional.forceCommand, 64)}`)
  }
  const forceCommand = primary.forceCommand ?? additional.forceCommand
  const tunnel = primary.tunnel ?? additional.tunnel
  return Either.right({
    pty: primary.pty && additional.pty,
    portForwarding: primary.portForwarding && additional.portForwarding,
    agentForwarding: primary.agentForwarding && additional.agentForwarding,
    x11Forwarding: primary.x11Forwarding && additional.x11Forwarding,
    userRc: primary.userRc && additional.userRc,
    environment: primary.environment.length > 0 ? primary.environment : additional.environment,
    permitOpen: primary.permitOpen.length > 0 ? primary.permitOpen : additional.permitOpen,
    permitListen: primary.permitListen.length > 0 ? primary.permitListen : additional.permitListen,
    touchRequired: primary.touchRequired || additional.touchRequired,
    verifyRequired: primary.verifyRequired || additional.verifyRequired,
    ...(forceCommand !== undefined ? { forceCommand } : {}),
    ...(tunnel !== undefined ? { tunnel } : {})
  })
}

/**
 * Why a key or certificate may not log in.
 *
 * - `NoMatchingKey`: no entry has the key (for a certificate: no `cert-authority` entry has its CA).
 * - `UntrustedCa`: the certificate's CA is not among the trusted CA keys.
 * - `Expired`: the entry's `expiry-time` has passed.
 * - `FromNotAllowed`: the client does not match the entry's `from=` (or the list is invalid).
 * - `PrincipalsOnPlainKey`: `principals=` on an entry without `cert-authority`, which sshd refuses.
 * - `CertificateRejected`: the certificate itself fails (signature, role, validity window); see `cause`.
 * - `BadCertificateOptions`: a critical option sshd does not know, or one malformed.
 * - `SourceAddressNotAllowed`: the client is outside the certificate's `source-address`.
 * - `PrincipalNotAllowed`: the certificate lists none of the accepted principals, or none at all.
 * - `ForcedCommandConflict`: the entry's `command=` and the certificate's `force-command` differ.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyNotAuthorized extends Data.TaggedError("KeyNotAuthorized")<{
  readonly reason:
    | "NoMatchingKey"
    | "UntrustedCa"
    | "Expired"
    | "FromNotAllowed"
    | "PrincipalsOnPlainKey"
    | "CertificateRejected"
    | "BadCertificateOptions"
    | "SourceAddressNotAllowed"
    | "PrincipalNotAllowed"
    | "ForcedCommandConflict"
  /** Safe to log: what came from the client is escaped and cut. */
  readonly detail: string
  /** The authorized_keys line whose entry refused it, when one did. */
  readonly line?: number
  readonly cause?: Certificate.CertificateError
}> {
  override get message(): string {
    return `${this.detail}${this.line !== undefined ? ` (authorized_keys line ${this.line})` : ""}`
  }
}

const refuse = (reason: KeyNotAuthorized["reason"], detail: string, extra: { readonly line?: number; readonly cause?: Certificate.CertificateError } = {}) =>
  Either.left(new KeyNotAuthorized({ reason, detail, ...extra }))

const describeKey = (key: PublicKey.PublicKey) => `${PublicKey.typeLabel(key)} ${PublicKey.fingerprintSha256(key)}`
const describeCertificate = (cert: Certificate.Certificate) => `certificate "${show(cert.keyId, 128)}" (serial ${cert.serial})`

/**
 * What a certificate checked with {@link checkCertificate} allows.
 *
 * @since 0.1.0
 * @category models
 */
export interface CertificateGrant {
  readonly restrictions: LoginRestrictions
  /** The accepted principal the certificate lists. */
  readonly principal: string
}

/**
 * The checks a user certificate passes whichever way it is trusted, as sshd makes them:
 * the CA signature, the role (user), the validity window, a principal list that is not
 * empty and holds one of `principals` (the first of them it holds is the one granted), its
 * options (see {@link fromCertificate}) and its `source-address` against the client. Which
 * CA may sign is the caller's question.
 *
 * @since 0.1.0
 * @category certificates
 */
export const checkCertificate = (
  cert: Certificate.Certificate,
  options: {
    readonly now: number
    readonly curves: Curves
    readonly clientAddress: string
    /** The principals accepted: the user name, `principals=`, or AuthorizedPrincipalsFile's names. */
    readonly principals: ReadonlyArray<string>
  }
): Either.Either<CertificateGrant, KeyNotAuthorized> => {
  const checked = Certificate.check(options.curves, cert, { now: options.now, role: "user" })
  if (Either.isLeft(checked)) {
    return refuse("CertificateRejected", `${describeCertificate(cert)}: ${show(checked.left.detail, 256)}`, { cause: checked.left })
  }
  if (cert.principals.length === 0) return refuse("PrincipalNotAllowed", `${describeCertificate(cert)} lists no principals`)
  const certOptions = fromCertificate(cert)
  if (Either.isLeft(certOptions)) return refuse("BadCertificateOptions", `${describeCertificate(cert)}: ${certOptions.left}`)
  const { restrictions, sourceAddress } = certOptions.right
  const address = unmapAddress(options.clientAddress)
  if (sourceAddress !== undefined && matchCidrList(address, sourceAddress) !== "match") {
    return refuse(
      "SourceAddressNotAllowed",
      `${describeCertificate(cert)} may not be used from ${show(address, 64)} (source-address ${show(sourceAddress, 128)})`
    )
  }
  const principal = options.principals.find((p) => cert.principals.includes(p))
  if (principal === undefined) {
    return refuse(
      "PrincipalNotAllowed",
      `${describeCertificate(cert)} lists none of ${showList(options.principals, 8, 128)} among its principals (${showList(cert.principals, 8, 128)})`
    )
  }
  return Either.right({ restrictions, principal })
}

/**
 * Who is logging in, from where and when.
 *
 * @since 0.1.0
 * @category models
 */
export interface MatchContext {
  readonly user: string
  /** The client's IP address; an IPv4-mapped IPv6 address counts as the IPv4 one, as in sshd. */
  readonly clientAddress: string
  /** The client's host name, when the application resolved one (sshd's UseDNS); else its address stands in. */
  readonly clientName?: string
  /** Seconds since the epoch. */
  readonly now: number
  readonly curves: Curves
}

/**
 * An entry's yes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Authorized {
  readonly entry: AuthorizedKey
  /** What the login may do: the entry's, merged with the certificate's. */
  readonly restrictions: LoginRestrictions
  readonly via: "key" | "cert-authority"
  readonly certificate?: Certificate.Certificate
  /** For a certificate: the principal that matched. */
  readonly principal?: string
}

/** The checks of the entry's own options that sshd's `auth_authorise_keyopts` makes. */
const checkEntry = (entry: AuthorizedKey, context: MatchContext, address: string): Either.Either<void, KeyNotAuthorized> => {
  const at = { line: entry.line }
  if (entry.expiresAt !== undefined && entry.expiresAt < Math.floor(context.now)) {
    return refuse("Expired", `the entry expired at ${new Date(entry.expiresAt * 1000).toISOString()}`, at)
  }
  if (entry.principals !== undefined && !entry.certAuthority) return refuse("PrincipalsOnPlainKey", "principals= on an entry without cert-authority", at)
  if (entry.from !== undefined) {
    const verdict = matchHostAndAddress(context.clientName ?? address, address, entry.from)
    if (verdict !== "match") {
      const client = context.clientName === undefined ? show(address, 64) : `${show(context.clientName, 128)} (${show(address, 64)})`
      return refuse(
        "FromNotAllowed",
        verdict === "invalid" ? `invalid from= list ${show(entry.from.join(","), 128)}` : `${client} is not allowed by from=${show(entry.from.join(","), 128)}`,
        at
      )
    }
  }
  return Either.void
}

const isCertificate = (offered: PublicKey.PublicKey | Certificate.Certificate): offered is Certificate.Certificate => "signatureKey" in offered

/**
 * Whether the file lets `offered` (a plain key, or a certificate) log in as `context.user`,
 * as sshd decides it: the first entry that accepts wins, and an entry whose options refuse
 * is passed over. When candidates exist but all refuse, the first one's refusal is told.
 *
 * Call it for a key the client proved (its signature verified), or for a query, which
 * must grant nothing.
 *
 * @since 0.1.0
 * @category matching
 */
export const match = (
  keys: ReadonlyArray<AuthorizedKey>,
  offered: PublicKey.PublicKey | Certificate.Certificate,
  context: MatchContext
): Either.Either<Authorized, KeyNotAuthorized> => {
  const address = unmapAddress(context.clientAddress)
  const certificate = isCertificate(offered) ? offered : undefined
  const wanted = isCertificate(offered) ? offered.signatureKey : offered
  const refusals: Array<Fields> = []
  for (const entry of keys) {
    if (entry.certAuthority !== (certificate !== undefined) || !PublicKey.equals(entry.key, wanted)) continue
    const checked = checkEntry(entry, context, address)
    if (Either.isLeft(checked)) {
      refusals.push(fields(checked.left))
      continue
    }
    if (certificate === undefined) return Either.right({ entry, restrictions: entry.restrictions, via: "key" })
    const granted = Either.flatMap(
      checkCertificate(certificate, { ...context, clientAddress: address, principals: entry.principals ?? [context.user] }),
      (grant) =>
        Either.map(
          Either.mapLeft(merge(entry.restrictions, grant.restrictions), (detail) => new KeyNotAuthorized({ reason: "ForcedCommandConflict", detail })),
          (restrictions) => ({ restrictions, principal: grant.principal })
        )
    )
    if (Either.isRight(granted)) return Either.right({ entry, via: "cert-authority", certificate, ...granted.right })
    refusals.push({ ...fields(granted.left), line: entry.line })
  }
  const [first, ...others] = refusals
  if (first === undefined) {
    return certificate
      ? refuse("NoMatchingKey", `no cert-authority entry for the CA ${describeKey(certificate.signatureKey)} of ${describeCertificate(certificate)}`)
      : refuse("NoMatchingKey", `no entry for ${describeKey(wanted)}`)
  }
  return Either.left(new KeyNotAuthorized(others.length === 0 ? first : { ...first, detail: `${first.detail}; ${others.length} more entries refused it too` }))
}

type Fields = ConstructorParameters<typeof KeyNotAuthorized>[0]

const fields = (e: KeyNotAuthorized): Fields => ({
  reason: e.reason,
  detail: e.detail,
  ...(e.line !== undefined ? { line: e.line } : {}),
  ...(e.cause !== undefined ? { cause: e.cause } : {})
})
