/**
 * The record of an authentication run (paramiko's `AuthResult` and `SourceResult`): one
 * entry per source tried or skipped, with its outcome or error and how long it took.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { AuthOutcome } from "./handler/AuthHandler.js"
import { type AuthSource, SourceError } from "./sources/AuthSource.js"
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
 * An attempt's error that is none of the library's tagged errors (a custom source's own),
 * kept in its JSON form: the original tag, as `error`, and the message.
 *
 * @since 0.1.0
 * @category errors
 */
export class OtherSourceError extends Schema.TaggedError<OtherSourceError>()("OtherSourceError", {
  /** The original error's `_tag`. */
  error: Schema.String,
  message: Schema.String
}) {}

/**
 * The typed error of an attempt: one of the tagged errors a source fails with
 * ({@link SourceError}), or an {@link OtherSourceError} for any other. A union of
 * `Schema.TaggedError` classes, so it narrows on `_tag` (`Effect.catchTag`,
 * `Match.tag`) and serialises with its fields.
 *
 * @since 0.1.0
 * @category schemas
 */
export const AttemptError = Schema.Union(...SourceError.members, OtherSourceError)

/**
 * @since 0.1.0
 * @category models
 */
export type AttemptError = typeof AttemptError.Type

/**
 * An attempt's error as an {@link AttemptError}: the error itself when it is one of the
 * tagged error classes, else its tag and message as an {@link OtherSourceError}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const attemptError = (error: Extract<Attempt, { readonly _tag: "Error" }>["error"]): AttemptError =>
  SourceError.members.some((member) => error instanceof member)
    ? error as SourceError
    : new OtherSourceError({ error: error._tag, message: error.message }, true)

/**
 * @since 0.1.0
 * @category models
 */
export interface SourceResult {
  /** The source as it ran; what it needs to run again is not kept in the type. */
  readonly source: AuthSource<unknown>
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
  /**
   * One line per attempt, `Kind(description) -> outcome (ms)`, ending in "-> success" for a success.
   *
   * @since 0.1.0
   */
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

  /** The typed error of each attempt that ended in one, in the order they ran. */
  get errors(): ReadonlyArray<AttemptError> {
    return this.attempts.flatMap((r) => r.attempt._tag === "Error" ? [attemptError(r.attempt.error)] : [])
  }

  /**
   * One line per attempt, as paramiko prints its result: `Source(…) -> outcome`, where a
   * success reads "success"; a failure names the methods the server allows next and
   * whether it was a partial success.
   *
   * @since 0.1.0
   */
  toString(): string {
    return this.toJSON().toString()
  }

  /** @since 0.1.0 */
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
 * (`AuthResultJson`), which prints as the result does: `String(failure.result)`; and,
 * alongside it, the typed error of each attempt that ended in one (`errors`), which
 * narrow on `_tag`:
 *
 * ```ts
 * AuthStrategy.authenticate(strategy).pipe(
 *   // The last attempt's typed error in place of the AuthFailure.
 *   Effect.catchTag("AuthFailure", (failure) => Effect.fail(failure.errors.at(-1) ?? failure)),
 *   Effect.catchTag("WrongPassphrase", (e) => Console.error(`wrong passphrase for ${e.source}`))
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthFailure extends Schema.TaggedError<AuthFailure>()("AuthFailure", {
  result: AuthResultJson,
  reason: Schema.Literal("Exhausted", "Disconnected", "ConnectionLost", "ProtocolViolation", "Deadline"),
  /**
   * The typed error of each attempt whose outcome is "Error", in the order of
   * `result.attempts`. Serialised with the tag and fields of each.
   */
  errors: Schema.optionalWith(Schema.Array(AttemptError), { default: () => [] })
}) {
  /**
   * The typed error of `result.attempts[index]`, when that attempt ended in an error.
   *
   * @since 0.1.0
   */
  errorAt(index: number): AttemptError | undefined {
    const attempts = this.result.attempts
    if (attempts[index]?.attempt._tag !== "Error") return undefined
    let k = 0
    for (let i = 0; i < index; i++) if (attempts[i]!.attempt._tag === "Error") k++
    return this.errors[k]
  }

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
