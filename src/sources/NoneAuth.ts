/**
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { AuthHandler } from "../handler/AuthHandler.js"
import { type AuthSource, Base } from "./AuthSource.js"

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
  constructor(readonly username: string) {
    super()
  }
  get description(): string {
    return `user=${this.username}`
  }
  get authenticate() {
    return Effect.flatMap(AuthHandler, (h) => h.none(this.username))
  }
}
