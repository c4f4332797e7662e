/**
 * `allowed_signers` files (ssh-keygen(1), ALLOWED SIGNERS): which keys may sign as which
 * identities, for which namespaces and when. `ssh-keygen -Y verify` reads them, and so does
 * `ssh-auth key verify`.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { KeyError } from "./KeyError.js"
import * as PublicKey from "./PublicKey.js"
import * as PublicKeyText from "./PublicKeyText.js"

/**
 * One line of the file.
 *
 * @since 0.1.0
 * @category models
 */
export interface AllowedSigner {
  readonly principals: ReadonlyArray<string>
  readonly publicKey: PublicKey.PublicKey
  /** Namespace patterns; empty means any. */
  readonly namespaces: ReadonlyArray<string>
  /** The key is a CA: it vouches for certificates, it does not sign itself. */
  readonly certAuthority: boolean
  /** Seconds since the epoch. */
  readonly validAfter?: number
  readonly validBefore?: number
}

/** OpenSSH's `match_pattern`: `*` and `?` wildcards, `!` negation in lists. */
const matchPattern = (value: string, pattern: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`).test(value)

const matchList = (value: string, patterns: ReadonlyArray<string>) => {
  let matched = false
  for (const p of patterns) {
    if (p.startsWith("!")) {
      if (matchPattern(value, p.slice(1))) return false
    } else if (matchPattern(value, p)) matched = true
  }
  return matched
}

/** `YYYYMMDD[HHMM[SS]]`, in UTC with a trailing Z, else local time, as ssh-keygen reads it. */
const parseTime = (text: string): number | undefined => {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z)?$/.exec(text)
  if (!m) return undefined
  const [, y, mo, d, h = "0", mi = "0", s = "0", z] = m
  const args = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const
  return (z ? Date.UTC(...args) : new Date(...args).getTime()) / 1000
}

/**
 * Parses the file. Blank lines and `#` comments are skipped; a bad line is an error naming it.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (text: string): Either.Either<ReadonlyArray<AllowedSigner>, KeyError> => {
  const out: Array<AllowedSigner> = []
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim()
    if (line === "" || line.startsWith("#")) continue
    const bad = (detail: string) => Either.left(new KeyError({ reason: "Malformed", detail: `allowed_signers line ${i + 1}: ${detail}` }))
    const space = line.search(/\s/)
    if (space < 0) return bad("expected principals and a key")
    const principals = line.slice(0, space).split(",")
    const rest = PublicKeyText.parseAuthorizedKey(line.slice(space).trim())
    if (Either.isLeft(rest)) return bad(rest.left.detail)
    const key = PublicKey.fromBlob(rest.right.blob)
    if (Either.isLeft(key)) return bad(key.left.message)
    let signer: AllowedSigner = { principals, publicKey: key.right, namespaces: [], certAuthority: false }
    for (const option of rest.right.options) {
      const name = option.name.toLowerCase()
      if (name === "cert-authority") signer = { ...signer, certAuthority: true }
      else if (name === "namespaces" && option.value !== undefined) signer = { ...signer, namespaces: option.value.split(",") }
      else if ((name === "valid-after" || name === "valid-before") && option.value !== undefined) {
        const at = parseTime(option.value)
        if (at === undefined) return bad(`bad time ${option.value} in ${name}`)
        signer = name === "valid-after" ? { ...signer, validAfter: at } : { ...signer, validBefore: at }
      } else return bad(`unknown option ${option.name}`)
    }
    out.push(signer)
  }
  return Either.right(out)
}

/**
 * Whether `key` may sign as `identity` for `namespace` at `now` (seconds).
 *
 * @since 0.1.0
 * @category verification
 */
export const allows = (
  signers: ReadonlyArray<AllowedSigner>,
  identity: string,
  key: PublicKey.PublicKey,
  namespace: string,
  now: number
): boolean =>
  signers.some((s) =>
    !s.certAuthority &&
    PublicKey.equals(s.publicKey, key) &&
    matchList(identity, s.principals) &&
    (s.namespaces.length === 0 || matchList(namespace, s.namespaces)) &&
    (s.validAfter === undefined || now >= s.validAfter) &&
    (s.validBefore === undefined || now < s.validBefore)
  )
