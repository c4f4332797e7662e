/**
 * Public keys as text: `.pub` lines (`type base64 comment`) and `authorized_keys` lines,
 * which may start with options (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { KeyError } from "./KeyError.js"
import * as PublicKey from "./PublicKey.js"

/**
 * One key line.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyLine {
  /** The type named on the line, which must match the blob's. */
  readonly keyType: string
  readonly blob: Uint8Array
  readonly comment: string
}

/**
 * An `authorized_keys` option: `name` or `name="value"`.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyOption {
  readonly name: string
  readonly value?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AuthorizedKeyLine extends KeyLine {
  readonly options: ReadonlyArray<KeyOption>
}

const malformed = (detail: string) => new KeyError({ reason: "Malformed", detail })

/** Key type names look like this; an options field never does (it has `=` or `,` or is a known option). */
const looksLikeKeyType = (token: string) =>
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)(-cert-v01@openssh\.com)?$/.test(token) ||
  /^[a-z0-9-]+-cert-v01@openssh\.com$/.test(token)

/** `type base64 [comment]` after any options are gone. */
const readKeyFields = (rest: string): Either.Either<KeyLine, KeyError> => {
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(rest.trim())
  if (!m) return Either.left(malformed("expected `type base64 [comment]`"))
  const [, keyType, b64, comment] = m
  const blob = new Uint8Array(Buffer.from(b64, "base64"))
  if (blob.length === 0) return Either.left(malformed("empty key blob"))
  return Either.right({ keyType, blob, comment: (comment ?? "").trim() })
}

/**
 * Parses a `.pub` line.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseLine = (line: string): Either.Either<KeyLine, KeyError> => readKeyFields(line)

/**
 * Parses a `.pub` line into a public key, checking that the named type matches the blob.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parsePublicKey = (line: string): Either.Either<PublicKey.PublicKey & { readonly comment: string }, KeyError> =>
  Either.flatMap(readKeyFields(line), (l) =>
    Either.flatMap(PublicKey.fromBlob(l.blob), (key) =>
      key.type === l.keyType
        ? Either.right({ ...key, comment: l.comment })
        : Either.left(new KeyError({ reason: "Malformed", keyType: l.keyType, detail: `line names ${l.keyType} but the blob is ${key.type}` }))))

/** Splits the options field at the first unquoted whitespace; quotes may hold spaces and `\"`. */
const splitOptions = (line: string): Either.Either<{ readonly options: ReadonlyArray<KeyOption>; readonly rest: string }, KeyError> => {
  const options: Array<KeyOption> = []
  let i = 0
  while (i < line.length && !/\s/.test(line[i])) {
    const name = /^[A-Za-z0-9-]+/.exec(line.slice(i))?.[0]
    if (!name) return Either.left(malformed(`bad option at column ${i + 1}`))
    i += name.length
    let value: string | undefined
    if (line[i] === "=") {
      if (line[++i] !== "\"") return Either.left(malformed(`option ${name} needs a double-quoted value`))
      value = ""
      for (i++;; i++) {
        if (i >= line.length) return Either.left(malformed(`unterminated quote in option ${name}`))
        if (line[i] === "\\" && line[i + 1] === "\"") value += line[++i]
        else if (line[i] === "\"") break
        else value += line[i]
      }
      i++
    }
    options.push(value === undefined ? { name } : { name, value })
    if (line[i] === ",") i++
    else if (i < line.length && !/\s/.test(line[i])) return Either.left(malformed(`expected , or a space after option ${name}`))
  }
  return Either.right({ options, rest: line.slice(i) })
}

/**
 * Parses an `authorized_keys` line: optional options, then the key fields. Blank lines and
 * comments are the caller's to skip.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseAuthorizedKey = (line: string): Either.Either<AuthorizedKeyLine, KeyError> => {
  const trimmed = line.trim()
  const first = trimmed.split(/\s/, 1)[0]
  if (looksLikeKeyType(first)) return Either.map(readKeyFields(trimmed), (k) => ({ ...k, options: [] }))
  return Either.flatMap(splitOptions(trimmed), ({ options, rest }) => Either.map(readKeyFields(rest), (k) => ({ ...k, options })))
}

/**
 * The `.pub` line of a key, as `ssh-keygen -y` prints it.
 *
 * @since 0.1.0
 * @category encoding
 */
export const format = (key: PublicKey.PublicKey, comment = ""): string =>
  `${key.type} ${Buffer.from(key.blob).toString("base64")}${comment ? ` ${comment}` : ""}`
