/**
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * A configuration that ssh would refuse, with the file and line as ssh names them
 * ("~/.ssh/config line 12: Bad configuration option: foo").
 *
 * @since 0.1.0
 * @category errors
 */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly reason: "BadOption" | "BadValue" | "BadMatch" | "IncludeDepth" | "Unreadable"
  /** The file, or "command-line" for `-o` options. */
  readonly file: string
  /** 1-based; 0 when the error is about the file as a whole. */
  readonly line: number
  readonly detail: string
}> {
  override get message(): string {
    return this.line > 0 ? `${this.file} line ${this.line}: ${this.detail}` : `${this.file}: ${this.detail}`
  }
}
