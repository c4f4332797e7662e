/**
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * Malformed SSH wire data. `offset` is where in the buffer reading went wrong, so a bad
 * packet can be located in a capture.
 *
 * @since 0.1.0
 * @category errors
 */
export class WireError extends Data.TaggedError("WireError")<{
  readonly reason: "Truncated" | "Malformed" | "TrailingData"
  /** What was being read: "uint32", "string", "mpint", a message field name… */
  readonly field: string
  readonly offset: number
  readonly detail?: string
}> {
  override get message(): string {
    const what = this.reason === "Truncated"
      ? `truncated while reading ${this.field}`
      : this.reason === "TrailingData"
      ? `unexpected trailing data after ${this.field}`
      : `malformed ${this.field}`
    return `${what} at offset ${this.offset}${this.detail ? `: ${this.detail}` : ""}`
  }
}
