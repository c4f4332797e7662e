/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { show } from "../wire/PeerText.js"

/**
 * A key or signature could not be read or used.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyError extends Schema.TaggedError<KeyError>()("KeyError", {
  reason: Schema.Literal("UnsupportedKeyType", "Malformed", "AlgorithmMismatch"),
  /** The key type or signature algorithm involved, when known. */
  keyType: Schema.optional(Schema.String),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    // Key types and algorithm names may be a peer's words: escaped and cut.
    return show(`${this.keyType ? `${this.keyType}: ` : ""}${this.detail}`, 512)
  }
}

/**
 * The error for a key type we do not load, with the reason a user needs.
 *
 * @since 0.1.0
 * @category errors
 */
export const unsupportedKeyType = (keyType: string): KeyError =>
  new KeyError({
    reason: "UnsupportedKeyType",
    keyType,
    detail: keyType === "ssh-dss"
      ? "DSA keys are not supported: they are limited to 1024 bits and SHA-1, and OpenSSH removed them in 9.8"
      : keyType.startsWith("sk-")
      ? "a FIDO security-key handle: signing needs the hardware token, so use it through ssh-agent"
      : `unsupported key type ${keyType}`
  })
