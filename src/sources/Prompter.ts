/**
 * Asking a person: passphrases, confirmations, passwords and keyboard-interactive prompts.
 *
 * Every question says where it comes from, as a typed field and never as text: a local
 * prompt (a key's passphrase, a confirmation) is asked by this program, a remote prompt (a
 * password, a keyboard-interactive prompt, a password change) on a server's behalf, with
 * words the server may have chosen. An answer to a remote prompt goes to the server, so a
 * local secret must never answer one, whatever it says: a server that asks "Enter
 * passphrase for key …" is phishing.
 *
 * The terminal prompter reads through @effect/platform's `Terminal`, without echo for
 * secrets, shows a server's words escaped and marked as the server's (ssh's "(user@host)"
 * prefix), and every prompt has a timeout and can be interrupted. Without a terminal (or in
 * BatchMode) there is no prompter, and sources that would need one are skipped.
 *
 * @since 0.1.0
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { printable, show } from "../wire/PeerText.js"
import { CredentialError } from "./AuthSource.js"

/**
 * A key's passphrase: a local secret, asked by this program.
 *
 * @since 0.1.0
 * @category models
 */
export interface PassphrasePrompt {
  readonly _tag: "Passphrase"
  readonly origin: "local"
  readonly keyPath: string
}

/**
 * A yes/no question of this program's own, such as accepting an unknown host key.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfirmPrompt {
  readonly _tag: "Confirm"
  readonly origin: "local"
  readonly question: string
}

/**
 * The password for `user@host`, for the `password` method: the server's secret.
 *
 * @since 0.1.0
 * @category models
 */
export interface PasswordPrompt {
  readonly _tag: "Password"
  readonly origin: "remote"
  readonly user: string
  readonly host: string
}

/**
 * One prompt of a keyboard-interactive round (RFC 4256): every word of it is the server's.
 *
 * @since 0.1.0
 * @category models
 */
export interface InteractivePrompt {
  readonly _tag: "KeyboardInteractive"
  readonly origin: "remote"
  readonly user: string
  readonly host: string
  /** The round's name and instruction, shown before its first prompt. */
  readonly name: string
  readonly instruction: string
  readonly prompt: string
  readonly echo: boolean
  /** The prompt's place in its round, from 0: name and instruction are shown once. */
  readonly index: number
}

/**
 * A new password, after the server's SSH_MSG_USERAUTH_PASSWD_CHANGEREQ (its words in `serverPrompt`).
 *
 * @since 0.1.0
 * @category models
 */
export interface PasswordChangePrompt {
  readonly _tag: "PasswordChange"
  readonly origin: "remote"
  readonly user: string
  readonly host: string
  readonly serverPrompt: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type LocalPrompt = PassphrasePrompt | ConfirmPrompt

/**
 * @since 0.1.0
 * @category models
 */
export type RemotePrompt = PasswordPrompt | InteractivePrompt | PasswordChangePrompt

/**
 * @since 0.1.0
 * @category models
 */
export type Prompt = LocalPrompt | RemotePrompt

/**
 * @since 0.1.0
 * @category constructors
 */
export const passphrase = (keyPath: string): PassphrasePrompt => ({ _tag: "Passphrase", origin: "local", keyPath })

/**
 * @since 0.1.0
 * @category constructors
 */
export const confirm = (question: string): ConfirmPrompt => ({ _tag: "Confirm", origin: "local", question })

/**
 * @since 0.1.0
 * @category constructors
 */
export const password = (user: string, host: string): PasswordPrompt => ({ _tag: "Password", origin: "remote", user, host })

/**
 * @since 0.1.0
 * @category constructors
 */
export const interactive = (fields: Omit<InteractivePrompt, "_tag" | "origin">): InteractivePrompt => ({
  _tag: "KeyboardInteractive",
  origin: "remote",
  ...fields
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const passwordChange = (user: string, host: string, serverPrompt: string): PasswordChangePrompt => ({
  _tag: "PasswordChange",
  origin: "remote",
  user,
  host,
  serverPrompt
})

/**
 * Whether a server's prompt reads like one of ours (a key's passphrase, a PIN, a host-key
 * question). Such a prompt is never answered automatically: it can only be phishing. This
 * only ever refuses; the words of a prompt never choose which secret to send.
 *
 * @since 0.1.0
 * @category accessors
 */
export const imitatesLocalPrompt = (text: string): boolean =>
  /pass\s*phrase|\bPIN\b|security key|authenticator|authenticity of host|continue connecting|ssh-agent|\bidentity\b/i.test(text)

/**
 * Whether what is typed may be shown.
 *
 * @since 0.1.0
 * @category accessors
 */
export const echoes = (prompt: Prompt): boolean => prompt._tag === "Confirm" || (prompt._tag === "KeyboardInteractive" && prompt.echo)

/**
 * What the prompt says, on one line, safe to print and to put in an error. A server's
 * words are escaped, cut, and marked as the server's.
 *
 * @since 0.1.0
 * @category accessors
 */
export const label = (prompt: Prompt): string => {
  switch (prompt._tag) {
    case "Passphrase":
      return `passphrase for key '${prompt.keyPath}'`
    case "Confirm":
      return "confirmation"
    case "Password":
      return `${prompt.user}@${prompt.host}'s password`
    case "KeyboardInteractive":
      return `keyboard-interactive prompt from ${prompt.host}: "${show(prompt.prompt.trim(), 64)}"`
    case "PasswordChange":
      return `new password for ${prompt.user}@${prompt.host}`
  }
}

/**
 * What a terminal shows for the prompt, as ssh words it. Remote text is escaped (newlines
 * kept in a name or an instruction) and every keyboard-interactive prompt carries ssh's
 * "(user@host)" prefix, so a server cannot pass its prompt off as ours.
 *
 * @since 0.1.0
 * @category accessors
 */
export const display = (prompt: Prompt): string => {
  switch (prompt._tag) {
    case "Passphrase":
      return `Enter passphrase for key '${prompt.keyPath}': `
    case "Confirm":
      return prompt.question
    case "Password":
      return `${prompt.user}@${prompt.host}'s password: `
    case "KeyboardInteractive": {
      const head = prompt.index === 0
        ? [prompt.name, prompt.instruction].filter((s) => s.length > 0).map((s) => `${show(s, 4096, { multiline: true })}\n`).join("")
        : ""
      return `${head}(${prompt.user}@${prompt.host}) ${show(prompt.prompt, 1024)}`
    }
    case "PasswordChange":
      return `${show(prompt.serverPrompt, 4096, { multiline: true })}\nEnter ${prompt.user}@${prompt.host}'s new password: `
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Prompter {
  /** Shows the prompt and reads one answer; prompts that do not echo hide what is typed. */
  ask(prompt: Prompt): Effect.Effect<Redacted.Redacted<string>, CredentialError>
  /**
   * `false` when the answers come from no person (`fromSecrets`): BatchMode, which forbids
   * asking anyone, still lets these answer. Unset counts as a person.
   */
  readonly interactive?: boolean
}

/**
 * A prompter on the terminal. Each answer must come within `timeout` (default 2 minutes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const terminal = (timeout: Duration.DurationInput = "2 minutes"): Effect.Effect<Prompter, never, Terminal.Terminal> =>
  Effect.map(Terminal.Terminal, (term) => ({
    ask: (prompt) => {
      const source = label(prompt)
      const echo = echoes(prompt)
      return Effect.scoped(Effect.gen(function*() {
        yield* term.display(display(prompt))
        const input = yield* term.readInput
        let answer = ""
        // Bounded: nobody types a million keys into a password prompt.
        for (let i = 0; i < 1_000_000; i++) {
          const key = yield* input.take
          if (key.key.name === "enter" || key.key.name === "return") break
          if (key.key.ctrl && (key.key.name === "c" || key.key.name === "d")) {
            return yield* new CredentialError({ source, detail: "the prompt was cancelled" })
          }
          if (key.key.name === "backspace") answer = answer.slice(0, -1)
          else if (Option.isSome(key.input)) {
            answer += key.input.value
            if (echo) yield* term.display(printable(key.input.value))
          }
        }
        yield* term.display("\n")
        return Redacted.make(answer)
      })).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new CredentialError({ source, detail: `no answer within ${Duration.format(Duration.decode(timeout))}` })
        }),
        Effect.catchAll((e) => Effect.fail(e instanceof CredentialError ? e : new CredentialError({ source, detail: "cannot read the terminal", cause: e })))
      )
    }
  }))

/**
 * Answers from fixed secrets, by where the prompt comes from, never by its words: the
 * passphrase answers only local passphrase prompts; the password answers the `password`
 * method and keyboard-interactive prompts that do not echo. Nothing else is answered (a
 * password change, a confirmation, a prompt that echoes). For `--password-env` and
 * `--passphrase-env`, and for programs that hold the secrets themselves. It asks no one, so
 * BatchMode keeps it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSecrets = (secrets: {
  readonly password?: Effect.Effect<Redacted.Redacted<string>, CredentialError> | undefined
  readonly passphrase?: Effect.Effect<Redacted.Redacted<string>, CredentialError> | undefined
}): Prompter => ({
  interactive: false,
  ask: (prompt) => {
    const refuse = (detail: string) => Effect.fail(new CredentialError({ source: label(prompt), detail }))
    switch (prompt._tag) {
      case "Passphrase":
        return secrets.passphrase ?? refuse("no passphrase was given")
      case "Password":
        return secrets.password ?? refuse("no password was given")
      case "KeyboardInteractive":
        if (prompt.echo) return refuse("a prompt that echoes is not answered with the password")
        return secrets.password ?? refuse("no password was given")
      case "PasswordChange":
        return refuse("a new password is not answered without a terminal")
      case "Confirm":
        return refuse("nobody to confirm without a terminal")
    }
  }
})
