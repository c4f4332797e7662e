/**
 * The record of an authentication run (paramiko's `AuthResult` and `SourceResult`): one
 * entry per source tried or skipped, with its outcome or error and how long it took.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AuthOutcome } from "./handler/AuthHandler.js"
import type { AuthSource, SourceError } from "./sources/AuthSource.js"
import { printable, show, showList } from "./wire/PeerText.js"

/**
 * What happened to one source.
 *
 * @since 0.1.0
 * @category models
 */
export type Attempt =
  | AuthOutcome
  | { readonly _tag: "Skipped"; readonly reason: string }
  | { readonly _tag: "Error"; readonly error: SourceError | { readonly _tag: string; readonly message: string } }

/**
 * @since 0.1.0
 * @category models
 */
export interface SourceResult {
  readonly source: AuthSource
  readonly attempt: Attempt
  readonly durationMillis: number
}

const SourceJson = Schema.Struct({
  kind: Schema.String,
  username: Schema.String,
  method: Schema.String,
  description: Schema.String
})

const AttemptJson = Schema.Union(
  Schema.TaggedStruct("Success", {}),
  Schema.TaggedStruct("Failure", { allowedMethods: Schema.Array(Schema.String), partialSuccess: Schema.Boolean }),
  Schema.TaggedStruct("Disconnected", { code: Schema.Number, description: Schema.String }),
  Schema.TaggedStruct("Skipped", { reason: Schema.String }),
  Schema.TaggedStruct("Error", { error: Schema.String, message: Schema.String })
)

/**
 * One attempt's line, as paramiko prints a `SourceResult`: `Source(…) -> what happened`,
 * with "success" for a success. Peer text in it is escaped and cut.
 */
const describeAttempt = (a: typeof AttemptJson.Type): string => {
  switch (a._tag) {
    case "Success":
      return "success"
    case "Failure":
      return `${a.partialSuccess ? "partial success" : "failure"}; can continue: ${showList(a.allowedMethods) || "(none)"}`
    case "Disconnected":
      return `disconnected (${a.code}): ${show(a.description)}`
    case "Skipped":
      return `skipped: ${printable(a.reason)}`
    case "Error":
      return `error ${a.error}: ${printable(a.message)}`
  }
}

/**
 * The serialisable form of an `AuthResult`: descriptions and messages only, never
 * secrets. It prints as the result does, one line per attempt, so an `AuthFailure`'s
 * result reads the same as a success's. The live sources themselves, and the strategy
 * that produced them, stay with the `AuthResult`: a strategy is a Stream, not data.
 *
 * @since 0.1.0
 * @category schemas
 */
export class AuthResultJson extends Schema.Class<AuthResultJson>("AuthResultJson")({
  succeeded: Schema.Boolean,
  /** USERAUTH_BANNER texts, in the order they came, as far as the banner budget kept them. */
  banners: Schema.Array(Schema.String),
  /** Banners over the budget: counted, not kept. */
  bannersDropped: Schema.optionalWith(Schema.Struct({ count: Schema.Number, bytes: Schema.Number }), {
    default: () => ({ count: 0, bytes: 0 })
  }),
  attempts: Schema.Array(Schema.Struct({ source: SourceJson, attempt: AttemptJson, durationMillis: Schema.Number }))
}) {
  /** One line per attempt, `Kind(description) -> outcome (ms)`, ending in "-> success" for a success. */
  override toString(): string {
    if (this.attempts.length === 0) return "no sources were tried"
    return this.attempts
      .map((r) => `${r.source.kind}(${r.source.description}) -> ${describeAttempt(r.attempt)} (${r.durationMillis.toFixed(1)} ms)`)
      .join("\n")
  }
}

const attemptJson = (a: Attempt): typeof AttemptJson.Type => {
  switch (a._tag) {
    case "Success":
      return { _tag: "Success" }
    case "Failure":
      return { _tag: "Failure", allowedMethods: [...a.allowedMethods], partialSuccess: a.partialSuccess }
    case "Disconnected":
      return { _tag: "Disconnected", code: a.code, description: a.description }
    case "Skipped":
      return { _tag: "Skipped", reason: a.reason }
    case "Error":
      return { _tag: "Error", error: a.error._tag, message: a.error.message }
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export class AuthResult {
  constructor(
    readonly attempts: ReadonlyArray<SourceResult>,
    /** USERAUTH_BANNER texts the server sent during the run, in order, as far as the budget kept them. */
    readonly banners: ReadonlyArray<string> = [],
    /** Banners over the budget, counted and not kept. */
    readonly bannersDropped: { readonly count: number; readonly bytes: number } = { count: 0, bytes: 0 }
  ) {}

  /** True when the last attempt fully succeeded. */
  get succeeded(): boolean {
    return this.attempts.at(-1)?.attempt._tag === "Success"
  }

  /**
   * One line per attempt, as paramiko prints its result: `Source(…) -> outcome`, where a
   * success reads "success"; a failure names the methods the server allows next and
   * whether it was a partial success.
   */
  toString(): string {
    return this.toJSON().toString()
  }

  toJSON(): AuthResultJson {
    return new AuthResultJson({
      succeeded: this.succeeded,
      banners: [...this.banners],
      bannersDropped: { ...this.bannersDropped },
      attempts: this.attempts.map((r) => ({
        source: { kind: r.source._tag, username: r.source.username, method: r.source.method, description: r.source.description },
        attempt: attemptJson(r.attempt),
        durationMillis: r.durationMillis
      }))
    }, { disableValidation: true })
  }
}

/**
 * The sources ran out, the connection died, the server broke the protocol or the deadline
 * passed, before full success. Carries the whole result in its serialisable form
 * (`AuthResultJson`), which prints as the result does: `String(failure.result)`.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthFailure extends Schema.TaggedError<AuthFailure>()("AuthFailure", {
  result: AuthResultJson,
  reason: Schema.Literal("Exhausted", "Disconnected", "ConnectionLost", "ProtocolViolation", "Deadline")
}) {
  override get message(): string {
    const lines = this.result.attempts.length === 0 ? [] : String(this.result).split("\n").map((line) => `  ${line}`)
    const why = {
      Exhausted: "no more sources to try",
      Disconnected: "the server disconnected",
      ConnectionLost: "the connection was lost",
      ProtocolViolation: "the server broke the protocol, and the connection was closed",
      Deadline: "the deadline passed"
    }[this.reason]
    return [`authentication failed: ${why}`, ...lines].join("\n")
  }
}
