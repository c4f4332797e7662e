/**
 * An auth source: one way to try to log in (paramiko's `AuthSource`). Its `authenticate`
 * is an Effect that needs the `AuthHandler`, and whatever its getters need (`R`: a secrets
 * service, a file system); its secrets are fetched only when that runs.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import { AgentError } from "../agent/AgentError.js"
import { GssError } from "../gssapi/Gssapi.js"
import { AuthError, GssapiServerError, PasswordChangeRequired } from "../handler/AuthError.js"
import type { AuthHandler, AuthOutcome, Requests } from "../handler/AuthHandler.js"
import { KeyFileError, PassphraseRequired, WrongPassphrase } from "../keys/PrivateKeyError.js"
import type * as Conversation from "../transport/Conversation.js"
import { TransportError } from "../transport/TransportError.js"

/**
 * @since 0.1.0
 * @category models
 */
export type AuthMethod = "none" | "password" | "publickey" | "keyboard-interactive" | "gssapi-with-mic"

/**
 * A getter (password, passphrase, prompt) failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CredentialError extends Schema.TaggedError<CredentialError>()("CredentialError", {
  source: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `${this.source}: ${this.detail}`
  }
}

/**
 * Runs a user-supplied getter, responder or callback: its failure, and any throw inside it
 * (an `Effect.sync` whose function throws, say), become this source's `CredentialError`,
 * so the strategy records it and moves on, as paramiko records any exception from a
 * source. Only the library's own bugs stay defects.
 *
 * @since 0.1.0
 * @category combinators
 */
export const userCode = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  source: string,
  what: string
): Effect.Effect<A, CredentialError, R> =>
  self.pipe(
    // A CredentialError already says whose and why (a prompter's refusal): kept as it is.
    Effect.mapError((cause) => cause instanceof CredentialError ? cause : new CredentialError({ source, detail: `${what} failed`, cause })),
    Effect.catchAllDefect((cause) => Effect.fail(new CredentialError({ source, detail: `${what} threw`, cause })))
  )

/**
 * A source that cannot run here (no agent to ask, no terminal to prompt on) says so with
 * this; the strategy records it as skipped and goes on.
 *
 * @since 0.1.0
 * @category errors
 */
export class SourceSkipped extends Schema.TaggedError<SourceSkipped>()("SourceSkipped", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * What one source's attempt can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type SourceError = typeof SourceError.Type

/**
 * The schema of {@link SourceError}: a union of the tagged error classes, so an attempt's
 * error serialises with its tag and fields, and decodes back into its class.
 *
 * @since 0.1.0
 * @category schemas
 */
export const SourceError: Schema.Union<[
  typeof AuthError,
  typeof TransportError,
  typeof PasswordChangeRequired,
  typeof PassphraseRequired,
  typeof WrongPassphrase,
  typeof KeyFileError,
  typeof CredentialError,
  typeof AgentError,
  typeof SourceSkipped,
  typeof GssError,
  typeof GssapiServerError
]> = Schema.Union(
  AuthError,
  TransportError,
  PasswordChangeRequired,
  PassphraseRequired,
  WrongPassphrase,
  KeyFileError,
  CredentialError,
  AgentError,
  SourceSkipped,
  GssError,
  GssapiServerError
)

/**
 * @since 0.1.0
 * @category models
 */
export interface AuthSource<out R = never> {
  readonly _tag: string
  readonly username: string
  readonly method: AuthMethod
  /**
   * Other methods this source can fall back to (a password answering a keyboard-interactive
   * password prompt): the strategy runs it when the server allows one of these, even if it
   * no longer allows `method`.
   */
  readonly fallbackMethods?: ReadonlyArray<AuthMethod> | undefined
  /** A description safe to print: never a secret. */
  readonly description: string
  /** The SHA256 fingerprint of the key, for publickey sources whose key is known. */
  readonly fingerprint?: string | undefined
  readonly authenticate: Effect.Effect<AuthOutcome, SourceError, AuthHandler | R>
  /**
   * The same attempt as conversation steps over the handler's requests, under the attempt's
   * span, for a source whose secret is at hand (a key in memory, `none`): a listed strategy
   * whose every source has them runs as one conversation, in the connection's callbacks.
   * The two must do the same: a subclass that changes `authenticate` changes this too, or
   * sets it to undefined.
   */
  readonly steps?: ((requests: Requests, span: Tracer.AnySpan | undefined) => Conversation.Steps<AuthOutcome, SourceError>) | undefined
  toString(): string
}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace AuthSource {
  /**
   * The services a source's `authenticate` needs, besides the `AuthHandler`.
   *
   * @since 0.1.0
   * @category models
   */
  export type Context<S> = S extends AuthSource<infer R> ? Exclude<R, AuthHandler> : never
}

/**
 * The string, JSON and inspect forms every source shares: `Kind(user=…, …)`, like
 * paramiko's repr, built from the safe description only.
 *
 * @since 0.1.0
 * @category constructors
 */
export abstract class Base {
  /** @since 0.1.0 */
  abstract readonly _tag: string
  /** @since 0.1.0 */
  abstract readonly username: string
  /** @since 0.1.0 */
  abstract readonly method: AuthMethod
  /** @since 0.1.0 */
  abstract readonly description: string

  /** @since 0.1.0 */
  toString(): string {
    return `${this._tag}(${this.description})`
  }

  /** @since 0.1.0 */
  toJSON(): unknown {
    return { _tag: this._tag, username: this.username, method: this.method, description: this.description }
  }

  /** @since 0.1.0 */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}

/**
 * A signer's own failure (a wrong passphrase, a locked agent) reaches a source wrapped in
 * the handler's `SigningFailed`; this lifts the ones `own` recognises back out, so that the
 * result names them instead of a generic signing failure.
 *
 * @since 0.1.0
 * @category combinators
 */
export const surfaceSignerFailure = <A, E extends { readonly _tag: string }, R>(
  self: Effect.Effect<A, E, R>,
  own: (cause: unknown) => SourceError | undefined
): Effect.Effect<A, E | SourceError, R> =>
  Effect.catchAll(self, (e): Effect.Effect<never, E | SourceError> => {
    const cause = e._tag === "AuthError" ? (e as unknown as AuthError).cause : undefined
    const mapped = cause === undefined ? undefined : own(cause)
    return Effect.fail(mapped ?? e)
  })

/**
 * The same source, running `authenticate` instead of its own.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withAuthenticate = <R, R2>(
  source: AuthSource<R>,
  authenticate: Effect.Effect<AuthOutcome, SourceError, R2>
): AuthSource<Exclude<R2, AuthHandler>> => ({
  _tag: source._tag,
  username: source.username,
  method: source.method,
  fallbackMethods: source.fallbackMethods,
  description: source.description,
  fingerprint: source.fingerprint,
  // R2 is AuthHandler | Exclude<R2, AuthHandler>; TypeScript cannot see it.
  authenticate: authenticate as Effect.Effect<AuthOutcome, SourceError, AuthHandler | Exclude<R2, AuthHandler>>,
  toString: () => source.toString()
})

/**
 * The same source, left out: running it only records `reason` as skipped.
 *
 * @since 0.1.0
 * @category combinators
 */
export const skip = <R>(source: AuthSource<R>, reason: string): AuthSource => withAuthenticate(source, Effect.fail(new SourceSkipped({ reason })))
