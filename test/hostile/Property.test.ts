/**
 * A fast-check property over the whole CLI process: after an honest key exchange the
 * server does random things (banners, FAILURE with random methods, SUCCESS, DISCONNECT,
 * INFO_REQUEST with random prompts, PK_OK with random blobs, PASSWD_CHANGEREQ, garbage,
 * IGNORE, short sleeps, waiting for the client, closing), with text full of control
 * characters and fake local prompts. Whatever it does, the CLI exits 0 (a correct success)
 * or 255 with a `ssh-auth: ` line, within its bound and under 200 MB, prints no secret and
 * no control character, and never sends the passphrase; the password only where a password
 * prompt asked for it (the rules of Checks.ts, as in every case).
 *
 * Each run spawns a CLI (about a second), so the run count is small. On a failure the
 * property stops at once, without shrinking: the problems name what went wrong.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import { hasTool } from "../support/Tools.js"
import { checkRun, describeRun, excerpt, type Outcome, type Seen } from "./Checks.js"
import { type Fixture, getFixture, removeFixture, runCli } from "./Cli.js"
import {
  banner,
  ClientGone,
  type Conn,
  disconnect,
  failure,
  hostileServer,
  ignore,
  infoRequest,
  passwordChangeRequest,
  pkOk,
  success
} from "./HostileServer.js"

/** Stands for the key's real path in a generated text. */
const KEY = "\u0000KEY\u0000"

type Action =
  | { readonly _tag: "await" }
  | { readonly _tag: "banner"; readonly text: string }
  | { readonly _tag: "failure"; readonly methods: ReadonlyArray<string>; readonly partial: boolean }
  | { readonly _tag: "success" }
  | { readonly _tag: "disconnect"; readonly code: number; readonly text: string }
  | {
    readonly _tag: "info"
    readonly name: string
    readonly instruction: string
    readonly prompts: ReadonlyArray<{ readonly prompt: string; readonly echo: boolean }>
  }
  | { readonly _tag: "pkOk"; readonly ours: boolean; readonly algorithm: string; readonly blob: Uint8Array }
  | { readonly _tag: "changeRequest"; readonly prompt: string }
  | { readonly _tag: "garbage"; readonly bytes: Uint8Array }
  | { readonly _tag: "ignore" }
  | { readonly _tag: "sleep"; readonly ms: number }
  | { readonly _tag: "close" }

const piece = fc.oneof(
  { arbitrary: fc.string({ maxLength: 12 }), weight: 1 },
  {
    arbitrary: fc.constantFrom(
      "\x1b[2J",
      "\x1b]0;owned\x07",
      "\u009b31m",
      "\r",
      "\x7f",
      "\n",
      "\t",
      "\x00",
      "\u202e",
      "Password: ",
      `Enter passphrase for key '${KEY}': `
    ),
    weight: 3
  },
  { arbitrary: fc.string({ unit: "binary", maxLength: 8 }), weight: 1 }
)
/** Mostly short, sometimes a few KB. */
const text = fc.tuple(fc.array(piece, { maxLength: 5 }), fc.constantFrom(1, 1, 1, 400)).map(([parts, times]) => parts.join("").repeat(times))
const method = fc.constantFrom("publickey", "password", "keyboard-interactive", "none", "hostbased", "gssapi-with-mic", "x-custom@example.com")

/** Weighted so that a run gets somewhere: more replies that keep the client going than ones that end it. */
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.constant<Action>({ _tag: "await" }), weight: 5 },
  { arbitrary: text.map((t): Action => ({ _tag: "banner", text: t })), weight: 2 },
  {
    arbitrary: fc.record({ methods: fc.array(method, { maxLength: 4 }), partial: fc.boolean() }).map((r): Action => ({ _tag: "failure", ...r })),
    weight: 3
  },
  { arbitrary: fc.constant<Action>({ _tag: "success" }), weight: 1 },
  { arbitrary: fc.record({ code: fc.integer({ min: 0, max: 20 }), text }).map((r): Action => ({ _tag: "disconnect", ...r })), weight: 2 },
  {
    arbitrary: fc.record({ name: text, instruction: text, prompts: fc.array(fc.record({ prompt: text, echo: fc.boolean() }), { maxLength: 3 }) })
      .map((r): Action => ({ _tag: "info", ...r })),
    weight: 3
  },
  {
    arbitrary: fc.record({ ours: fc.boolean(), algorithm: fc.constantFrom("ssh-ed25519", "rsa-sha2-256", ""), blob: fc.uint8Array({ maxLength: 60 }) })
      .map((r): Action => ({ _tag: "pkOk", ...r })),
    weight: 2
  },
  { arbitrary: text.map((t): Action => ({ _tag: "changeRequest", prompt: t })), weight: 2 },
  {
    arbitrary: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.tuple(fc.integer({ min: 50, max: 127 }), fc.uint8Array({ maxLength: 40 })).map(([n, body]) => Uint8Array.of(n, ...body))
    ).map((bytes): Action => ({ _tag: "garbage", bytes })),
    weight: 1
  },
  { arbitrary: fc.constant<Action>({ _tag: "ignore" }), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 200 }).map((ms): Action => ({ _tag: "sleep", ms })), weight: 1 },
  { arbitrary: fc.constant<Action>({ _tag: "close" }), weight: 1 }
)

const actions = fc.array(action, { minLength: 1, maxLength: 10 })

/** Plays the actions after an honest key exchange and service request, then closes. */
const play = (list: ReadonlyArray<Action>, f: Fixture) => async (c: Conn): Promise<void> => {
  const t = (s: string) => s.split(KEY).join(f.keyPath)
  await c.login()
  for (const a of list) {
    switch (a._tag) {
      case "await":
        await c.next(700).catch((e) => {
          if (e instanceof ClientGone) throw e
        })
        break
      case "banner":
        c.send(banner(t(a.text)))
        break
      case "failure":
        c.send(failure(a.methods, a.partial))
        break
      case "success":
        c.send(success)
        break
      case "disconnect":
        c.send(disconnect(a.code, t(a.text)))
        break
      case "info":
        c.send(infoRequest({ name: t(a.name), instruction: t(a.instruction), prompts: a.prompts.map((p) => ({ prompt: t(p.prompt), echo: p.echo })) }))
        break
      case "pkOk":
        c.send(pkOk(a.algorithm, a.ours ? f.publicBlob : a.blob))
        break
      case "changeRequest":
        c.send(passwordChangeRequest(t(a.prompt)))
        break
      case "garbage":
        c.send(a.bytes)
        break
      case "ignore":
        c.send(ignore("x"))
        break
      case "sleep":
        await c.sleep(a.ms)
        break
      case "close":
        return
    }
  }
}

/** One action in a line, its texts cut short. */
const summarize = (a: Action): string => {
  const cut = (s: string) => excerpt(s.split(KEY).join("<key path>"), 40)
  switch (a._tag) {
    case "banner":
      return `banner ${cut(a.text)}`
    case "failure":
      return `failure ${a.methods.join(",")}${a.partial ? " partial" : ""}`
    case "disconnect":
      return `disconnect ${a.code} ${cut(a.text)}`
    case "info":
      return `info name=${cut(a.name)} instruction=${cut(a.instruction)} prompts=[${a.prompts.map((p) => `${cut(p.prompt)} echo=${p.echo}`).join(", ")}]`
    case "pkOk":
      return `pkOk ${a.ours ? "our key" : `${a.blob.length} random bytes`} ${JSON.stringify(a.algorithm)}`
    case "changeRequest":
      return `changeRequest ${cut(a.prompt)}`
    case "garbage":
      return `garbage [${a.bytes.slice(0, 8).join(",")}${a.bytes.length > 8 ? ",…" : ""}]`
    case "sleep":
      return `sleep ${a.ms}`
    default:
      return a._tag
  }
}

/** Any failure text will do: the property is about the form, not the words. */
const anything: Outcome = { _tag: "Either", pattern: /./ }
const WITHIN_MS = 15_000

const oneRun = (list: ReadonlyArray<Action>) =>
  Effect.gen(function*() {
    const fixture = yield* Effect.promise(getFixture)
    const server = yield* hostileServer(play(list, fixture))
    const run = yield* runCli({ port: server.port, hardCapMs: WITHIN_MS + 4_000 })
    yield* Effect.promise(() => server.settled(2_000))
    const seen: Seen = { events: server.events(), raw: server.raw(), clientVersion: server.clientVersion() }
    return { problems: checkRun(run, seen, fixture, { outcome: anything, withinMs: WITHIN_MS }), run }
  }).pipe(Effect.scoped)

/** HOSTILE_SEED and HOSTILE_PATH, as a failure prints them, replay that failing run. */
const replaying = process.env.HOSTILE_SEED === undefined
  ? {}
  : { seed: Number(process.env.HOSTILE_SEED), ...(process.env.HOSTILE_PATH ? { path: process.env.HOSTILE_PATH } : {}) }

describe.skipIf(!hasTool("ssh-keygen"))("hostile server: random behaviour after the key exchange", () => {
  afterAll(removeFixture)
  it.live("exit 0 or 255, never silent, never a secret in the output or the passphrase on the wire", () =>
    Effect.promise(async () => {
      const failures: Array<string> = []
      const result = await fc.check(
        fc.asyncProperty(actions, async (list) => {
          const { problems, run } = await Effect.runPromise(oneRun(list))
          if (problems.length > 0) {
            failures.push(`${problems.join("\n")}\n${describeRun(run)}`)
            return false
          }
          return true
        }),
        // Thirty whole CLI runs, a second or so each; no shrinking (each step is a run too).
        { numRuns: Number(process.env.HOSTILE_RUNS ?? 30), endOnFailure: true, ...replaying }
      )
      const replay = `seed ${result.seed}, path ${JSON.stringify(result.counterexamplePath)} (HOSTILE_SEED and HOSTILE_PATH replay it)`
      const example = result.counterexample ? result.counterexample[0].map(summarize).join("; ") : ""
      expect(result.failed, `after ${result.numRuns} runs, ${replay}\nserver: ${example}\n${failures.join("\n---\n")}`).toBe(false)
    }), 180_000)
})
