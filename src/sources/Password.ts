/**
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import { AuthHandler } from "../handler/AuthHandler.js"
import { type AuthSource, Base, userCode } from "./AuthSource.js"

/**
 * Password authentication (RFC 4252 §8). The getter is lazy: it runs only when this source
 * is tried, so a password that is never needed is never asked for.
 *
 * @since 0.1.0
 * @category sources
 */
export class Password<E = never> extends Base implements AuthSource {
  readonly _tag = "Password"
  readonly method = "password"
  constructor(
    readonly username: string,
    private readonly getter: Effect.Effect<Redacted.Redacted<string>, E>,
    private readonly options: {
      /** Answers SSH_MSG_USERAUTH_PASSWD_CHANGEREQ with a new password. */
      readonly changePassword?: (prompt: string) => Effect.Effect<Redacted.Redacted<string>, E>
    } = {}
  ) {
    super()
  }
  get description(): string {
    return `user=${this.username}`
  }
  get authenticate() {
    const change = this.options.changePassword
    return Effect.gen(this, function*() {
      const handler = yield* AuthHandler
      const password = yield* userCode(this.getter, this.toString(), "the password getter")
      return yield* handler.password(
        this.username,
        password,
        change ? (prompt: string) => userCode(change(prompt), this.toString(), "the change-password callback") : undefined
      )
    })
  }
}
