/**
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Gssapi from "../gssapi/Gssapi.js"
import type { GssapiServerError } from "../handler/AuthError.js"
import type { AuthOutcome } from "../handler/AuthHandler.js"
import { AuthHandler, type AuthHandlerError } from "../handler/AuthHandler.js"
import { type AuthSource, Base, SourceSkipped } from "./AuthSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface GssapiWithMicOptions {
  readonly username: string
  /** The server's host name, as the user gave it: the service is `host@<host>`. */
  readonly host: string
  /** ssh's GSSAPIServerIdentity: the host name to use in the service name instead of `host`. */
  readonly serverIdentity?: string
  /** Forward the ticket-granting ticket (ssh's GSSAPIDelegateCredentials). Default false. */
  readonly delegate?: boolean
  /** A credentials cache (`FILE:/tmp/krb5cc_1000`) instead of the default (`KRB5CCNAME`). */
  readonly ccache?: string
}

/**
 * gssapi-with-mic (RFC 4462 §3), Kerberos V5: a login with the user's Kerberos ticket and
 * no key or password, as `ssh -K` makes it. Where no GSS-API can be loaded the source is
 * recorded as skipped with the reason; without a ticket, or with an expired one, it fails
 * with the library's `GssError` before anything is sent, and the strategy goes on.
 *
 * @since 0.1.0
 * @category sources
 */
export class GssapiWithMic extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "GssapiWithMic"
  /** @since 0.1.0 */
  readonly method = "gssapi-with-mic"
  /** @since 0.1.0 */
  readonly username: string
  /**
   * The GSS-API service name: `host@<host>`.
   *
   * @since 0.1.0
   */
  readonly target: string
  /** @since 0.1.0 */
  readonly delegate: boolean
  private readonly ccache: string | undefined
  constructor(options: GssapiWithMicOptions) {
    super()
    this.username = options.username
    this.target = `host@${options.serverIdentity ?? options.host}`
    this.delegate = options.delegate ?? false
    this.ccache = options.ccache
  }
  get description(): string {
    return `user=${this.username}, service=${this.target}${this.delegate ? ", delegate" : ""}`
  }
  get authenticate(): Effect.Effect<
    AuthOutcome,
    AuthHandlerError | Gssapi.GssError | GssapiServerError | SourceSkipped,
    AuthHandler
  > {
    const options = { target: this.target, delegate: this.delegate, ...(this.ccache !== undefined ? { ccache: this.ccache } : {}) }
    return Effect.scoped(Effect.gen(this, function*() {
      const gss = yield* Effect.mapError(Gssapi.current, (e) => new SourceSkipped({ reason: e.message }))
      const initiator = yield* gss.initiator(options)
      const handler = yield* AuthHandler
      return yield* handler.gssapiWithMic(this.username, initiator)
    }))
  }
}

/**
 * A gssapi-with-mic source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: GssapiWithMicOptions): GssapiWithMic => new GssapiWithMic(options)
