/**
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { AuthHandler, type Responder } from "../handler/AuthHandler.js"
import { type AuthSource, Base, userCode } from "./AuthSource.js"

/**
 * Keyboard-interactive authentication (RFC 4256, paramiko's `auth_interactive`). The
 * responder sees each round's name, instruction and prompts (with their echo flags) and
 * answers one response per prompt; rounds with zero prompts are answered too.
 *
 * @since 0.1.0
 * @category sources
 */
export class KeyboardInteractive<E = never> extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "KeyboardInteractive"
  /** @since 0.1.0 */
  readonly method = "keyboard-interactive"
  constructor(readonly username: string, private readonly responder: Responder<E>, readonly submethods = "") {
    super()
  }
  get description(): string {
    return `user=${this.username}`
  }
  get authenticate() {
    return Effect.flatMap(AuthHandler, (h) =>
      h.keyboardInteractive(this.username, (request) => userCode(this.responder(request), this.toString(), "the responder"), this.submethods))
  }
}
