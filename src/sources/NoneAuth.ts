/**
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import { AuthHandler, type Requests } from "../handler/AuthHandler.js"
import { type AuthSource, Base } from "./AuthSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface NoneAuthOptions {
  readonly username: string
}

/**
 * The "none" method (RFC 4252 §5.2): succeeds only on servers that need no credentials,
 * and otherwise tells which methods the server allows.
 *
 * @since 0.1.0
 * @category sources
 */
export class NoneAuth extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "NoneAuth"
  /** @since 0.1.0 */
  readonly method = "none"
  /** @since 0.1.0 */
  readonly username: string
  constructor(options: NoneAuthOptions) {
    super()
    this.username = options.username
  }
  get description(): string {
    return `user=${this.username}`
  }
  get authenticate() {
    return Effect.flatMap(AuthHandler, (h) => h.none(this.username))
  }
  /** @since 0.1.0 */
  readonly steps: AuthSource["steps"] = (requests: Requests, span: Tracer.AnySpan | undefined) => requests.none(span, this.username)
}

/**
 * The "none" method for `username`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: NoneAuthOptions): NoneAuth => new NoneAuth(options)
