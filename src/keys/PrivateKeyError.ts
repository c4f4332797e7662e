/**
 * Why a private key could not be loaded: no passphrase, a wrong one, or a file we cannot
 * use (and then exactly why). None of them ever carries key material or the passphrase.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { KeyError } from "./KeyError.js"
import { PublicKeyFromBase64 } from "./PublicKey.js"

/**
 * The formats a private key file can be in.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyFormat = typeof KeyFormat.Type

/**
 * @since 0.1.0
 * @category schemas
 */
export const KeyFormat = Schema.Literal("openssh-key-v1", "PKCS#1", "SEC1", "PKCS#8", "PEM", "PuTTY v2", "PuTTY v3", "unknown")

/**
 * The key is encrypted and no passphrase was given. `publicKey` is there when the format
 * shows it without decrypting (the openssh-key-v1 header, a PuTTY file) or a `.pub` lies
 * beside the file.
 *
 * @since 0.1.0
 * @category errors
 */
export class PassphraseRequired extends Schema.TaggedError<PassphraseRequired>()("PassphraseRequired", {
  /** A path or a label. */
  source: Schema.String,
  format: KeyFormat,
  /** Serialised as its base64 wire blob. */
  publicKey: Schema.optional(PublicKeyFromBase64)
}) {
  override get message(): string {
    return `key ${this.source} (${this.format}) is encrypted and no passphrase was given`
  }
}

/**
 * A passphrase was given and it does not decrypt the key: told apart from corruption by the
 * check integers of openssh-key-v1, the padding of PEM and the MAC of PuTTY files.
 *
 * @since 0.1.0
 * @category errors
 */
export class WrongPassphrase extends Schema.TaggedError<WrongPassphrase>()("WrongPassphrase", {
  source: Schema.String,
  format: KeyFormat,
  /** Serialised as its base64 wire blob. */
  publicKey: Schema.optional(PublicKeyFromBase64)
}) {
  override get message(): string {
    return `wrong passphrase for key ${this.source} (${this.format})`
  }
}

/**
 * A key file we cannot use, and why.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyFileError extends Schema.TaggedError<KeyFileError>()("KeyFileError", {
  /** `NotFound` and `PermissionDenied` say why a file could not be read; `Unreadable`, any other I/O failure. */
  reason: Schema.Literal("NotFound", "PermissionDenied", "Unreadable", "UnsupportedFormat", "UnsupportedKeyType", "Malformed"),
  source: Schema.String,
  /** The file, when the error is about reading one. */
  path: Schema.optional(Schema.String),
  format: Schema.optional(KeyFormat),
  /** The key type, when known (ssh-dss, sk-ssh-ed25519@openssh.com…). */
  keyType: Schema.optional(Schema.String),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `key ${this.source}${this.format && this.format !== "unknown" ? ` (${this.format})` : ""}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type PrivateKeyError = PassphraseRequired | WrongPassphrase | KeyFileError

/**
 * @since 0.1.0
 * @category schemas
 */
export const PrivateKeyError: Schema.Union<[typeof PassphraseRequired, typeof WrongPassphrase, typeof KeyFileError]> = Schema.Union(
  PassphraseRequired,
  WrongPassphrase,
  KeyFileError
)

/**
 * A KeyError from the key codec, as a KeyFileError about this file.
 *
 * @since 0.1.0
 * @category errors
 */
export const fromKeyError = (source: string, format: KeyFormat, e: KeyError): KeyFileError =>
  new KeyFileError({
    reason: e.reason === "UnsupportedKeyType" ? "UnsupportedKeyType" : "Malformed",
    source,
    format,
    ...(e.keyType ? { keyType: e.keyType } : {}),
    detail: e.detail,
    cause: e
  })
