/**
 * The password source: the `Password` class, a username and a lazy getter of the password.
 *
 * @example
 * ```ts
 * import { Config, Effect } from "effect"
 * import * as AuthStrategy from "effect-ssh-auth/AuthStrategy"
 * import * as Password from "effect-ssh-auth/sources/Password"
 *
 * // The getter runs only if the server gets as far as asking: here, from the environment,
 * // so a missing DEPLOY_PW is this source's CredentialError, recorded, and the strategy goes on.
 * const password = Password.make({ username: "deploy", password: Config.redacted("DEPLOY_PW") })
 *
 * assert.strictEqual(password.method, "password")
 * assert.strictEqual(String(password), "Password(user=deploy)")
 *
 * // Any getter will do, a secrets service's included.
 * const fromVault = Password.make({ username: "deploy", password: Effect.tryPromise(() => fetchSecret("deploy")) })
 * declare function fetchSecret(name: string): Promise<import("effect").Redacted.Redacted<string>>
 *
 * export const strategy = AuthStrategy.sequence(AuthStrategy.make(password), AuthStrategy.make(fromVault))
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { PasswordChangeRequired } from "../handler/AuthError.js"
import { AuthHandler, type AuthHandlerError, type AuthOutcome, type InteractiveRequest } from "../handler/AuthHandler.js"
import { type AuthMethod, type AuthSource, Base, CredentialError, userCode } from "./AuthSource.js"
import { imitatesLocalPrompt } from "./Prompter.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface PasswordOptions<E = never, R = never> {
  readonly username: string
  /** The password, fetched only when this source is tried: `Config.redacted("PW")`, a secrets service's call. */
  readonly password: Effect.Effect<Redacted.Redacted<string>, E, R>
  /** Answers SSH_MSG_USERAUTH_PASSWD_CHANGEREQ with a new password. */
  readonly changePassword?: (prompt: string) => Effect.Effect<Redacted.Redacted<string>, E, R>
  /** Answer a keyboard-interactive password prompt when the server does not allow `password`. Default true. */
  readonly keyboardInteractiveFallback?: boolean
}

/**
 * Password authentication (RFC 4252 §8). The getter is lazy: it runs only when this source
 * is tried, so a password that is never needed is never asked for. The getter may need
 * services (`R`); they show in the strategy's requirements.
 *
 * Many servers turn `password` off and ask for the password through keyboard-interactive
 * (PAM) instead. As paramiko does, this source then answers that way: when the server
 * allows keyboard-interactive and not password, it answers a round whose single prompt
 * does not echo with the password, once. Rounds with no prompts get empty answers; any
 * other round (several prompts, an echoing one, a second password prompt, or one that
 * reads like a local prompt, "Enter passphrase for key …") ends the attempt unanswered.
 * `keyboardInteractiveFallback: false` turns this off.
 *
 * @since 0.1.0
 * @category sources
 */
export class Password<E = never, R = never> extends Base implements AuthSource<R> {
  /** @since 0.1.0 */
  readonly _tag = "Password"
  /** @since 0.1.0 */
  readonly method = "password"
  /** @since 0.1.0 */
  readonly username: string
  constructor(private readonly options: PasswordOptions<E, R>) {
    super()
    this.username = options.username
  }
  get fallbackMethods(): ReadonlyArray<AuthMethod> {
    return this.options.keyboardInteractiveFallback === false ? [] : ["keyboard-interactive"]
  }
  get description(): string {
    return `user=${this.username}`
  }
  get authenticate(): Effect.Effect<AuthOutcome, AuthHandlerError | CredentialError | PasswordChangeRequired, AuthHandler | R> {
    const change = this.options.changePassword
    const fallback = this.fallbackMethods.length > 0
    // The server wants keyboard-interactive, and not password.
    const onlyInteractive = (methods: ReadonlyArray<string>) => fallback && !methods.includes("password") && methods.includes("keyboard-interactive")
    return Effect.gen(this, function*() {
      const handler = yield* AuthHandler
      const password = yield* userCode(this.options.password, this.toString(), "the password getter")
      const known = handler.allowedMethods
      if (Option.isSome(known) && onlyInteractive(known.value)) return yield* this.interactive(password)
      const outcome = yield* handler.password(
        this.username,
        password,
        change ? (prompt: string) => userCode(change(prompt), this.toString(), "the change-password callback") : undefined
      )
      if (outcome._tag === "Failure" && !outcome.partialSuccess && onlyInteractive(outcome.allowedMethods)) {
        return yield* this.interactive(password)
      }
      return outcome
    })
  }

  /**
   * The password through keyboard-interactive: one non-echoing prompt, answered once.
   *
   * @since 0.1.0
   */
  private interactive(password: Redacted.Redacted<string>): Effect.Effect<AuthOutcome, CredentialError | AuthHandlerError, AuthHandler> {
    let answered = false
    const refuse = (detail: string) => Effect.fail(new CredentialError({ source: this.toString(), detail }))
    const respond = (request: InteractiveRequest) => {
      if (request.prompts.length === 0) return Effect.succeed([])
      const [only] = request.prompts
      if (request.prompts.length > 1 || only.echo) {
        return refuse(`keyboard-interactive asked ${request.prompts.length} prompt(s), not one hidden password prompt`)
      }
      if (imitatesLocalPrompt(only.prompt)) return refuse("the server's prompt reads like a local one: not answered")
      if (answered) return refuse("the server asked for the password a second time")
      answered = true
      return Effect.succeed([password])
    }
    return Effect.flatMap(AuthHandler, (h) => h.keyboardInteractive(this.username, respond))
  }
}

/**
 * A password source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = never, R = never>(options: PasswordOptions<E, R>): Password<E, R> => new Password(options)
