/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A configuration that ssh would refuse, with the file and line as ssh names them
 * ("~/.ssh/config line 12: Bad configuration option: foo"), or a config file (or a directory
 * an `Include` lists) that exists but cannot be read: `Unreadable`, the path in `file`.
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  reason: Schema.Literal("BadOption", "BadValue", "BadMatch", "IncludeDepth", "Unreadable"),
  /** The file, or "command-line" for `-o` options. */
  file: Schema.String,
  /** 1-based; 0 when the error is about the file as a whole. */
  line: Schema.Number,
  detail: Schema.String,
  /** The file system's error, for `Unreadable`. */
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return this.line > 0 ? `${this.file} line ${this.line}: ${this.detail}` : `${this.file}: ${this.detail}`
  }
}
