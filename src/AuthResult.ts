/**
 * The record of an authentication run (paramiko's `AuthResult` and `SourceResult`): one
 * entry per source tried or skipped, with its outcome or error and how long it took.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AuthOutcome } from "./handler/AuthHandler.js"
import type { AuthSource, SourceError } from "./sources/AuthSource.js"
import { printable, show } from "./wire/PeerText.js"

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
 * The JSON form of an AuthResult. It holds descriptions and messages only, never secrets.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AuthResultJson = Schema.Struct({
  succeeded: Schema.Boolean,
  /** USERAUTH_BANNER texts, in the order they came, as far as the banner budget kept them. */
  banners: Schema.Array(Schema.String),
  /** Banners over the budget: counted, not kept. */
  bannersDropped: Schema.optionalWith(Schema.Struct({ count: Schema.Number, bytes: Schema.Number }), {
    default: () => ({ count: 0, bytes: 0 })
  }),
  attempts: Schema.Array(Schema.Struct({ source: SourceJson, attempt: AttemptJson, durationMillis: Schema.Number }))
})

/**
 * @since 0.1.0
 * @category schemas
 */
export type AuthResultJson = typeof AuthResultJson.Type

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

const describeAttempt = (a: Attempt): string => {
  switch (a._tag) {
    case "Success":
      return "success"
    case "Failure":
      return `${a.partialSuccess ? "partial success" : "failure"}; can continue: ${a.allowedMethods.join(",") || "(none)"}`
    case "Disconnected":
      return `disconnected (${a.code}): ${show(a.description)}`
    case "Skipped":
      return `skipped: ${printable(a.reason)}`
    case "Error":
      return `error ${a.error._tag}: ${printable(a.error.message)}`
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

  /** `success`, as paramiko prints it, or one line per attempt. */
  toString(): string {
    if (this.succeeded) return "success"
    if (this.attempts.length === 0) return "no sources were tried"
    return this.attempts
      .map((r) => `${r.source.toString()} -> ${describeAttempt(r.attempt)} (${r.durationMillis.toFixed(1)} ms)`)
      .join("\n")
  }

  toJSON(): AuthResultJson {
    return {
      succeeded: this.succeeded,
      banners: [...this.banners],
      bannersDropped: { ...this.bannersDropped },
      attempts: this.attempts.map((r) => ({
        source: { kind: r.source._tag, username: r.source.username, method: r.source.method, description: r.source.description },
        attempt: attemptJson(r.attempt),
        durationMillis: r.durationMillis
      }))
    }
  }
}

/**
 * The sources ran out, or the connection died, before full success. Carries the whole
 * result, in its JSON form, so it serialises.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthFailure extends Schema.TaggedError<AuthFailure>()("AuthFailure", {
  result: AuthResultJson,
  reason: Schema.Literal("Exhausted", "Disconnected", "ConnectionLost", "ProtocolViolation", "Deadline")
}) {
  override get message(): string {
    const lines = this.result.attempts.map((a) => `  ${a.source.kind}(${a.source.description}): ${a.attempt._tag}${
      a.attempt._tag === "Disconnected" ? ` ${show(a.attempt.description)}` : a.attempt._tag === "Error" ? ` ${printable(a.attempt.message)}` : ""
    }`)
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
