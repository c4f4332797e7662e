/**
 * Asking a person: passwords, passphrases and keyboard-interactive prompts. The terminal
 * prompter reads through @effect/platform's `Terminal`, without echo for secrets, and every
 * prompt has a timeout and can be interrupted. Without a terminal (or in BatchMode) there
 * is no prompter, and sources that would need one are skipped.
 *
 * @since 0.1.0
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CredentialError } from "./AuthSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Prompter {
  /** Shows `prompt` and reads one answer; `echo` false hides what is typed. */
  ask(prompt: string, echo: boolean): Effect.Effect<Redacted.Redacted<string>, CredentialError>
}

/**
 * A prompter on the terminal. Each answer must come within `timeout` (default 2 minutes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const terminal = (timeout: Duration.DurationInput = "2 minutes"): Effect.Effect<Prompter, never, Terminal.Terminal> =>
  Effect.map(Terminal.Terminal, (term) => ({
    ask: (prompt, echo) =>
      Effect.scoped(Effect.gen(function*() {
        yield* term.display(prompt)
        const input = yield* term.readInput
        let answer = ""
        // Bounded: nobody types a million keys into a password prompt.
        for (let i = 0; i < 1_000_000; i++) {
          const key = yield* input.take
          if (key.key.name === "enter" || key.key.name === "return") break
          if (key.key.ctrl && (key.key.name === "c" || key.key.name === "d")) {
            return yield* new CredentialError({ source: prompt.trim(), detail: "the prompt was cancelled" })
          }
          if (key.key.name === "backspace") answer = answer.slice(0, -1)
          else if (Option.isSome(key.input)) {
            answer += key.input.value
            if (echo) yield* term.display(key.input.value)
          }
        }
        yield* term.display("\n")
        return Redacted.make(answer)
      })).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new CredentialError({ source: prompt.trim(), detail: `no answer within ${Duration.format(Duration.decode(timeout))}` })
        }),
        Effect.catchAll((e) => Effect.fail(e instanceof CredentialError ? e : new CredentialError({ source: prompt.trim(), detail: "cannot read the terminal", cause: e })))
      )
  }))
