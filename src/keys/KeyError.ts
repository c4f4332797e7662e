/**
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * A key or signature could not be read or used.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyError extends Data.TaggedError("KeyError")<{
  readonly reason: "UnsupportedKeyType" | "Malformed" | "AlgorithmMismatch"
  /** The key type or signature algorithm involved, when known. */
  readonly keyType?: string
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.keyType ? `${this.keyType}: ` : ""}${this.detail}`
  }
}
