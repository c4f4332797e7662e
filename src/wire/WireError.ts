/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Malformed SSH wire data. `offset` is where in the buffer reading went wrong, so a bad
 * packet can be located in a capture.
 *
 * @since 0.1.0
 * @category errors
 */
export class WireError extends Schema.TaggedError<WireError>()("WireError", {
  reason: Schema.Literal("Truncated", "Malformed", "TrailingData"),
  /** What was being read: "uint32", "string", "mpint", a message field name… */
  field: Schema.String,
  offset: Schema.Number,
  detail: Schema.optional(Schema.String)
}) {
  override get message(): string {
    const what = this.reason === "Truncated"
      ? `truncated while reading ${this.field}`
      : this.reason === "TrailingData"
      ? `unexpected trailing data after ${this.field}`
      : `malformed ${this.field}`
    return `${what} at offset ${this.offset}${this.detail ? `: ${this.detail}` : ""}`
  }
}
