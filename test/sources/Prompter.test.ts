/**
 * Prompts say where they come from, as a type: a local secret never answers a remote
 * prompt, whatever its words, and a terminal shows a server's words escaped and marked as
 * the server's, as ssh does.
 */
import * as Terminal from "@effect/platform/Terminal"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { describe, expect, it } from "vitest"
import * as Prompter from "../../src/sources/Prompter.js"

const PASSWORD = "the-remote-password"
const PASSPHRASE = "the-local-passphrase"
const secrets = Prompter.fromSecrets({ password: Effect.succeed(Redacted.make(PASSWORD)), passphrase: Effect.succeed(Redacted.make(PASSPHRASE)) })
const answer = (p: Prompter.Prompter, prompt: Prompter.Prompt) =>
  Effect.runPromise(Effect.either(Effect.map(p.ask(prompt), Redacted.value))).then((e) =>
    e._tag === "Right" ? { _tag: "Right" as const, right: e.right } : { _tag: "Left" as const, left: e.left }
  )

/** A keyboard-interactive prompt written to look like our own passphrase prompt. */
const phishing = (echo: boolean) =>
  Prompter.interactive({ user: "u", host: "h", name: "", instruction: "", prompt: "Enter passphrase for key '/home/u/.ssh/id_ed25519': ", echo, index: 0 })

describe("where a prompt comes from decides the answer", () => {
  it("the passphrase answers only a local passphrase prompt; a remote prompt imitating one gets the password or nothing", async () => {
    expect(await answer(secrets, Prompter.passphrase("/home/u/.ssh/id_ed25519"))).toEqual({ _tag: "Right", right: PASSPHRASE })
    expect(await answer(secrets, phishing(false))).toEqual({ _tag: "Right", right: PASSWORD })
    expect(await answer(secrets, Prompter.password("u", "h"))).toEqual({ _tag: "Right", right: PASSWORD })
    const onlyPassphrase = Prompter.fromSecrets({ passphrase: Effect.succeed(Redacted.make(PASSPHRASE)) })
    const refused = await answer(onlyPassphrase, phishing(false))
    expect(refused._tag).toBe("Left")
    expect(refused._tag === "Left" && refused.left.message).toMatch(/keyboard-interactive prompt from h: .*no password was given/)
  })

  it("nothing answers a password change, a prompt that echoes, or a confirmation", async () => {
    const change = await answer(secrets, Prompter.passwordChange("u", "h", "Enter passphrase for key '/k': "))
    expect(change._tag === "Left" && change.left._tag).toBe("CredentialError")
    const echoing = await answer(secrets, phishing(true))
    expect(echoing._tag === "Left" && echoing.left.message).toMatch(/echoes/)
    expect((await answer(secrets, Prompter.confirm("Are you sure?")))._tag).toBe("Left")
  })

  it("remote prompts are remote, local ones local, by type", () => {
    const remote: ReadonlyArray<Prompter.RemotePrompt> = [Prompter.password("u", "h"), phishing(false), Prompter.passwordChange("u", "h", "x")]
    const local: ReadonlyArray<Prompter.LocalPrompt> = [Prompter.passphrase("/k"), Prompter.confirm("ok?")]
    expect(remote.map((p) => p.origin)).toEqual(["remote", "remote", "remote"])
    expect(local.map((p) => p.origin)).toEqual(["local", "local"])
  })

  it("a server's words are shown escaped, cut, and after ssh's (user@host) mark", () => {
    const shown = Prompter.display(Prompter.interactive({
      user: "u",
      host: "h",
      name: "Login\u001b[2J",
      instruction: "line one\nline two\u009b31m",
      prompt: "\rEnter passphrase for key '/k': ",
      echo: false,
      index: 0
    }))
    expect(shown).toBe("Login\\033[2J\nline one\nline two\\23331m\n(u@h) \\015Enter passphrase for key '/k': ")
    // Name and instruction only before the round's first prompt.
    expect(Prompter.display(Prompter.interactive({ user: "u", host: "h", name: "N", instruction: "I", prompt: "P: ", echo: true, index: 1 }))).toBe("(u@h) P: ")
    expect(Prompter.display(Prompter.passwordChange("u", "h", "\u001b]0;pwned\u0007Expired"))).toBe("\\033]0;pwned\\007Expired\nEnter u@h's new password: ")
    expect(Prompter.label(Prompter.interactive({ user: "u", host: "h", name: "", instruction: "", prompt: "x".repeat(500), echo: false, index: 0 })).length)
      .toBeLessThan(150)
  })
})

describe("the terminal prompter", () => {
  /** A Terminal whose user types `typed` and presses Enter; records what was shown. */
  const fakeTerminal = (typed: string, shown: Array<string>) =>
    Layer.succeed(Terminal.Terminal, {
      columns: Effect.succeed(80),
      rows: Effect.succeed(24),
      isTTY: Effect.succeed(true),
      readLine: Effect.succeed(typed),
      display: (text: string) => Effect.sync(() => void shown.push(text)),
      readInput: Effect.gen(function*() {
        const box = yield* Mailbox.make<Terminal.UserInput>()
        for (const ch of typed) yield* box.offer({ input: Option.some(ch), key: { name: ch, ctrl: false, meta: false, shift: false } })
        yield* box.offer({ input: Option.none(), key: { name: "return", ctrl: false, meta: false, shift: false } })
        return box
      })
    } as Terminal.Terminal)

  it("a secret is read without echo, a visible prompt with it", async () => {
    for (const echo of [false, true]) {
      const shown: Array<string> = []
      const answer = await Effect.runPromise(
        Effect.flatMap(
          Prompter.terminal(),
          (p) => p.ask(Prompter.interactive({ user: "u", host: "h", name: "", instruction: "", prompt: "Code: ", echo, index: 0 }))
        ).pipe(
          Effect.provide(fakeTerminal("s3cret", shown))
        )
      )
      expect(Redacted.value(answer)).toBe("s3cret")
      expect(shown.join("").includes("s3cret")).toBe(echo)
    }
  })

  it("a prompt nobody answers times out with a typed error", async () => {
    const silent = Layer.succeed(Terminal.Terminal, {
      display: () => Effect.void,
      readInput: Mailbox.make<Terminal.UserInput>()
    } as unknown as Terminal.Terminal)
    const error = await Effect.runPromise(
      Effect.flatMap(Prompter.terminal("100 millis"), (p) => p.ask(Prompter.password("u", "h"))).pipe(Effect.provide(silent), Effect.flip)
    )
    expect(error._tag).toBe("CredentialError")
    expect(error.message).toMatch(/no answer within/)
  })
})
