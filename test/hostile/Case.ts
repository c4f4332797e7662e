/**
 * One hostile case: a server script, the CLI flags, and what must come of it. `runCase`
 * starts the server, runs the CLI against it and applies every rule of Checks.ts plus the
 * case's own; the scripts' common moves (an honest password login, luring a broken client
 * into sending a secret) live here too.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import { checkRun, describeRun, type Outcome, type Seen } from "./Checks.js"
import { type CliRun, type Fixture, getFixture, runCli } from "./Cli.js"
import { type Conn, failure, hostileServer, infoRequest, parsePassword, parsePublicKey, pkOk, success, type UserauthRequest } from "./HostileServer.js"

export interface HostileCase {
  readonly name: string
  readonly script: (conn: Conn, fixture: Fixture) => Promise<void>
  readonly outcome: Outcome
  /** Wall-time bound of the CLI process (default 8 s: a spawn costs ~1 s, more on a busy machine). */
  readonly withinMs?: number
  /** More CLI arguments (`-o ConnectTimeout=3`, `-v`). */
  readonly args?: ReadonlyArray<string>
  readonly passwordEnv?: boolean
  readonly passphraseEnv?: boolean
  /** Rules of this case alone; each returned string is a problem. */
  readonly extra?: (seen: Seen, run: CliRun, fixture: Fixture) => ReadonlyArray<string>
}

export const DEFAULT_WITHIN_MS = 8_000
/** The hard cap: past the bound by this much, the child is killed. */
const CAP_MARGIN_MS = 4_000

/** Starts the case's server, runs the CLI, and checks the run. */
export const runCase = (c: HostileCase) =>
  Effect.gen(function*() {
    const fixture = yield* Effect.promise(getFixture)
    const server = yield* hostileServer((conn) => c.script(conn, fixture))
    const withinMs = c.withinMs ?? DEFAULT_WITHIN_MS
    const run = yield* runCli({
      port: server.port,
      hardCapMs: withinMs + CAP_MARGIN_MS,
      ...(c.args ? { args: c.args } : {}),
      ...(c.passwordEnv !== undefined ? { passwordEnv: c.passwordEnv } : {}),
      ...(c.passphraseEnv !== undefined ? { passphraseEnv: c.passphraseEnv } : {})
    })
    // The process is gone; let the server take in the last bytes and the close.
    yield* Effect.promise(() => server.settled(2_000))
    const seen: Seen = { events: server.events(), raw: server.raw(), clientVersion: server.clientVersion() }
    const problems = [...checkRun(run, seen, fixture, { outcome: c.outcome, withinMs }), ...(c.extra?.(seen, run, fixture) ?? [])]
    report(c.name, run, problems)
    if (process.env.HOSTILE_DEBUG) {
      // Every client message and the first server ones, as index, direction (> client, < server), number.
      const flow = seen.events.flatMap((e, i) => (e.from === "client" || i < 12 ? [`${i}${e.from === "client" ? ">" : "<"}${e.payload[0]}`] : []))
      console.log(`${c.name} (${seen.events.length} messages): ${flow.slice(0, 60).join(" ")}${flow.length > 60 ? " …" : ""}`)
      console.log(`core: ${server.coreFailure()?.message ?? "reading"}; script: ${String(server.scriptError() ?? "ok")}`)
    }
    const scriptNote = server.scriptError() === undefined ? "" : `\nserver script stopped: ${String(server.scriptError())}`
    expect(problems, `${describeRun(run)}${scriptNote}`).toEqual([])
  })

/** With HOSTILE_REPORT=file, one JSON line per case: for reading a whole run at a glance. */
const report = (name: string, run: CliRun, problems: ReadonlyArray<string>): void => {
  const file = process.env.HOSTILE_REPORT
  if (!file) return
  fs.appendFileSync(
    file,
    `${
      JSON.stringify({
        name,
        code: run.code,
        millis: Math.round(run.millis),
        rssMiB: run.maxRssKiB && Math.round(run.maxRssKiB / 1024),
        problems,
        stderrHead: run.stderr.slice(0, 600),
        stderrTail: run.stderr.slice(-600)
      })
    }\n`
  )
}

// ---- text a hostile server likes to send ----

/** ESC sequences (clear screen, retitle the window), BEL, CR, DEL and an 8-bit CSI (U+009B). */
export const ESCAPES = "\x1b[2J\x1b[H\x1b]0;owned\x07\r\u009b31mRED\x7f "

/** `unit` repeated to at most `bytes` bytes of UTF-8. */
export const repeatTo = (unit: string, bytes: number): string => {
  const size = Buffer.byteLength(unit)
  return unit.repeat(Math.max(1, Math.floor(bytes / size)))
}

/** `count` distinct short names: base-36 numbers, with a prefix. */
export const manyNames = (count: number, prefix = ""): Array<string> => Array.from({ length: count }, (_, i) => `${prefix}${i.toString(36)}`)

// ---- common server moves ----

/** Every method a client may use: what an open-handed FAILURE offers. */
export const EVERY_METHOD: ReadonlyArray<string> = ["publickey", "keyboard-interactive", "password"]

/**
 * The client's first request that is not "none": `ssh-auth connect` asks "none" first, as
 * ssh does, and that one is answered as an honest server would, FAILURE naming `methods`.
 */
export const afterNone = async (c: Conn, methods: ReadonlyArray<string>): Promise<UserauthRequest> => {
  const request = await c.nextRequest()
  if (request.method !== "none") return request
  c.send(failure(methods))
  return c.nextRequest()
}

/** Answers requests until a password request: the right password wins. Others get FAILURE(password). */
export const honestPassword = async (c: Conn, f: Fixture, allowed: ReadonlyArray<string> = ["password"]): Promise<void> => {
  for (let i = 0; i < 8; i++) {
    const request = await c.nextRequest()
    if (request.method !== "password") {
      c.send(failure(allowed))
      continue
    }
    const p = parsePassword(request)
    if (p._tag === "Right" && !p.right.change && p.right.password === f.password) {
      c.send(success)
      await c.waitClosed(5_000)
      return
    }
    c.send(failure(allowed))
  }
}

/**
 * After a violation, keeps the door open: PK_OK to a key query and SUCCESS to its
 * signature, an echo-off "Password:" prompt to keyboard-interactive and SUCCESS to the
 * answer, SUCCESS to a password, FAILURE offering the lot to anything else. A client that
 * should have stopped shows it here, and exits 0.
 */
export const tempt = async (c: Conn): Promise<void> => {
  for (let i = 0; i < 12; i++) {
    const request = await c.nextRequest(4_000)
    const key = request.method === "publickey" ? parsePublicKey(request) : undefined
    if (key?._tag === "Right") {
      c.send(key.right.signed ? success : pkOk(key.right.algorithm, key.right.blob))
      if (key.right.signed) {
        await c.waitClosed(3_000)
        return
      }
      continue
    }
    if (request.method === "password") {
      c.send(success)
      await c.waitClosed(3_000)
      return
    }
    if (request.method === "keyboard-interactive") {
      c.send(infoRequest({ prompts: [{ prompt: "Password: ", echo: false }] }))
      await c.next(4_000)
      c.send(success)
      await c.waitClosed(3_000)
      return
    }
    c.send(failure(EVERY_METHOD))
  }
}

/** FAILURE to every request, for up to `n` requests. */
export const refuseAll = async (c: Conn, n = 10): Promise<void> => {
  for (let i = 0; i < n; i++) {
    await c.nextRequest(4_000)
    c.send(failure([]))
  }
}

/** The message a server sends that counts as the violation, for `requestsAfter`. */
export const isType = (n: number) => (payload: Uint8Array): boolean => payload[0] === n
