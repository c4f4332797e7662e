/**
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type { AuthOutcome } from "../handler/AuthHandler.js"
import { AuthHandler, type AuthHandlerError, type Responder } from "../handler/AuthHandler.js"
import { type AuthSource, Base, type CredentialError, userCode } from "./AuthSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface KeyboardInteractiveOptions<E = never, R = never> {
  readonly username: string
  /** Answers each round, one response per prompt. */
  readonly responder: Responder<E, R>
  /** RFC 4256's submethods hint. Default "". */
  readonly submethods?: string
}

/**
 * Keyboard-interactive authentication (RFC 4256, paramiko's `auth_interactive`). The
 * responder sees each round's name, instruction and prompts (with their echo flags) and
 * answers one response per prompt; rounds with zero prompts are answered too.
 *
 * @since 0.1.0
 * @category sources
 */
export class KeyboardInteractive<E = never, R = never> extends Base implements AuthSource<R> {
  /** @since 0.1.0 */
  readonly _tag = "KeyboardInteractive"
  /** @since 0.1.0 */
  readonly method = "keyboard-interactive"
  /** @since 0.1.0 */
  readonly username: string
  /** @since 0.1.0 */
  readonly submethods: string
  private readonly responder: Responder<E, R>
  constructor(options: KeyboardInteractiveOptions<E, R>) {
    super()
    this.username = options.username
    this.responder = options.responder
    this.submethods = options.submethods ?? ""
  }
  get description(): string {
    return `user=${this.username}`
  }
  get authenticate(): Effect.Effect<AuthOutcome, AuthHandlerError | CredentialError, AuthHandler | R> {
    return Effect.flatMap(
      AuthHandler,
      (h) => h.keyboardInteractive(this.username, (request) => userCode(this.responder(request), this.toString(), "the responder"), this.submethods)
    )
  }
}

/**
 * A keyboard-interactive source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = never, R = never>(options: KeyboardInteractiveOptions<E, R>): KeyboardInteractive<E, R> => new KeyboardInteractive(options)
