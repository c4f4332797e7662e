/**
 * What every hostile case asserts about one CLI run, as a list of problems (empty when all
 * is well), so a failing case names every rule it broke at once:
 *
 * - the client reached the server (a usage or config error cannot pass for a typed error);
 * - the process ended by itself, with 0 or 255: never 1, never a signal, never another;
 * - 0 is a correct success: stdout ends in a line saying success, and the server did send
 *   USERAUTH_SUCCESS;
 * - 255 comes with stderr whose first line (after any -v debug lines) starts `ssh-auth: `
 *   (when the server sent banners, which are printed to stderr first, some line does), and
 *   the error matches the case's pattern and does not look like a defect (DEFECT);
 * - wall time under the case's bound, and peak RSS under 200 MB;
 * - neither secret in stdout or stderr, nor in the client's raw bytes; on the wire the
 *   password only inside a USERAUTH_REQUEST for "password" or an INFO_RESPONSE answering an
 *   echo-off prompt, and the passphrase never;
 * - the output has no control characters but \n and \t (no ESC, CR, DEL, C1) and no line
 *   longer than 1000 characters.
 */
import { messageName, MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import type { CliRun, Fixture } from "./Cli.js"
import { parseInfoRequest, parseInfoResponse, type WireEvent } from "./HostileServer.js"

/** What a case expects: a correct success, a typed failure, or either of the two. */
export type Outcome =
  | { readonly _tag: "Success" }
  | { readonly _tag: "Failure"; readonly pattern: RegExp }
  | { readonly _tag: "Either"; readonly pattern: RegExp }

export const succeeds: Outcome = { _tag: "Success" }
export const fails = (pattern: RegExp): Outcome => ({ _tag: "Failure", pattern })
export const successOr = (pattern: RegExp): Outcome => ({ _tag: "Either", pattern })

/** Any of the patterns (for stderr). */
export const anyOf = (...patterns: ReadonlyArray<RegExp>): RegExp => new RegExp(patterns.map((p) => p.source).join("|"), "i")

/** The words of a size or count limit. */
export const TOO_BIG = /too (large|long|many)|more than \d|exceeds|passed \d+|limit/i

/** What a defect looks like on stderr: a bug's report is not a typed error, whatever its exit status. */
export const DEFECT = /internal error|\b(Range|Type|Reference|Syntax)Error\b|Maximum call stack|\bdefect\b/i

export const MAX_RSS_KIB = 200 * 1024
export const MAX_LINE = 1000

/** What the server saw, for the checks. */
export interface Seen {
  readonly events: ReadonlyArray<WireEvent>
  readonly raw: Buffer
  readonly clientVersion: string | undefined
}

/** A short, printable excerpt of some text for a problem report. */
export const excerpt = (text: string, max = 300): string => {
  const cut = text.length > max ? `${text.slice(0, max)}…(+${text.length - max})` : text
  return JSON.stringify(cut).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
}

const contains = (haystack: Uint8Array, needle: string): boolean => Buffer.from(haystack).includes(Buffer.from(needle, "utf8"))

/** The method of a USERAUTH_REQUEST, if it parses that far. */
const requestMethod = (payload: Uint8Array): string | undefined => {
  const parsed = decode(payload, (r) => {
    r.byte()
    r.string()
    r.string()
    return r.text()
  })
  return parsed._tag === "Right" ? parsed.right : undefined
}

/** The earliest of the server's unanswered 60s that reads as an INFO_REQUEST of `count` prompts, and those after it. */
const takeAnswered = (unanswered: ReadonlyArray<Uint8Array>, count: number) => {
  for (const [i, q] of unanswered.entries()) {
    const prompts = parseInfoRequest(q)
    if (prompts._tag === "Right" && prompts.right.length === count) return { prompts: prompts.right, rest: unanswered.slice(i + 1) }
  }
  return undefined
}

/** Where a secret went on the wire where it must not: one line per offending client message. */
export const wireLeaks = (events: ReadonlyArray<WireEvent>, secrets: Pick<Fixture, "password" | "passphrase">): Array<string> => {
  const leaks: Array<string> = []
  // Message 60 means INFO_REQUEST, PK_OK or PASSWD_CHANGEREQ by context, and a hostile server
  // sends them unasked and ahead of time. The client reads them in order, so an INFO_RESPONSE
  // answers the earliest unanswered one that reads as an INFO_REQUEST with as many prompts as
  // it has answers; those before it were read otherwise (a PK_OK, say) or dropped.
  let unanswered: Array<Uint8Array> = []
  for (const [i, e] of events.entries()) {
    const p = e.payload
    if (e.from === "server") {
      if (p[0] === 60) unanswered.push(p)
      continue
    }
    const what = `client message #${i} (${messageName(p[0])})`
    if (contains(p, secrets.passphrase)) leaks.push(`the passphrase went out in ${what}`)
    const answers = p[0] === MessageNumber.USERAUTH_INFO_RESPONSE ? parseInfoResponse(p) : undefined
    const answered = answers?._tag === "Right" ? takeAnswered(unanswered, answers.right.length) : undefined
    if (answered) unanswered = answered.rest
    if (!contains(p, secrets.password)) continue
    if (p[0] === MessageNumber.USERAUTH_REQUEST && requestMethod(p) === "password") continue
    if (answers?._tag === "Right" && answered) {
      const prompts = answered.prompts
      const bad = answers.right.flatMap((a, k) => (a.includes(secrets.password) && prompts[k].echo ? [k] : []))
      if (bad.length === 0) continue
      leaks.push(`the password went out in ${what}, answering echo-on prompt(s) ${bad.map((k) => excerpt(prompts[k].prompt, 80)).join(", ")}`)
      continue
    }
    leaks.push(`the password went out in ${what}, which is not a password request nor an answer to an echo-off prompt`)
  }
  return leaks
}

// C0 controls but \t and \n, DEL, C1.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/

/** Control characters and overlong lines in what the CLI printed. */
export const outputProblems = (name: string, text: string): Array<string> => {
  const problems: Array<string> = []
  const m = CONTROL.exec(text)
  if (m) {
    const at = m.index
    problems.push(
      `${name} holds control character U+${m[0].charCodeAt(0).toString(16).padStart(4, "0")} at ${at}: ${
        excerpt(text.slice(Math.max(0, at - 40), at + 40), 120)
      }`
    )
  }
  const longest = text.split("\n").reduce((a, l) => Math.max(a, l.length), 0)
  if (longest > MAX_LINE) problems.push(`${name} has a line of ${longest} characters (limit ${MAX_LINE})`)
  return problems
}

/** The first line of stderr that is not a -v debug line. */
const firstMessageLine = (stderr: string): string | undefined => stderr.split("\n").find((l) => l.length > 0 && !/^debug\d: /.test(l))

/** Where the `ssh-auth: ` line must be: first (after -v lines), or anywhere after banners, which ssh prints to stderr too. */
const errorLineProblems = (stderr: string, bannersSent: boolean): Array<string> => {
  if (bannersSent) {
    return stderr.split("\n").some((l) => l.startsWith("ssh-auth: ")) ? [] : ["no stderr line starts with \"ssh-auth: \""]
  }
  const first = firstMessageLine(stderr)
  return first?.startsWith("ssh-auth: ") ? [] : [`stderr's first line does not start with "ssh-auth: ": ${excerpt(first ?? "")}`]
}

export interface Expectation {
  readonly outcome: Outcome
  /** Wall-time bound for the CLI process, in ms. */
  readonly withinMs: number
}

/** Every rule of the suite, checked on one run. */
export const checkRun = (run: CliRun, seen: Seen, fixture: Fixture, expected: Expectation): Array<string> => {
  const problems: Array<string> = []
  const { outcome } = expected
  if (seen.clientVersion === undefined) problems.push("the client never reached the server (no identification line received)")
  if (run.killed) problems.push(`hung: killed by the hard cap after ${Math.round(run.millis)} ms`)
  else if (run.code !== 0 && run.code !== 255) problems.push(`exit status ${run.code ?? `signal ${run.signal}`} (only 0 or 255 are allowed)`)

  if (run.code === 0) {
    if (outcome._tag === "Failure") problems.push(`exited 0 but a failure matching ${outcome.pattern} was expected`)
    // "success", or the attempts one per line with the successful one last.
    const last = run.stdout.trimEnd().split("\n").at(-1) ?? ""
    if (!/\bsuccess\b/i.test(last)) problems.push(`exited 0 without success as the last line of stdout: ${excerpt(run.stdout)}`)
    const granted = seen.events.some((e) => e.from === "server" && e.payload[0] === MessageNumber.USERAUTH_SUCCESS)
    if (!granted) problems.push("exited 0 though the server never sent USERAUTH_SUCCESS")
  } else if (run.code === 255) {
    if (outcome._tag === "Success") problems.push("exited 255 but success was expected")
    if (run.stderr.trim() === "") problems.push("exited 255 with an empty stderr")
    else {
      const bannersSent = seen.events.some((e) => e.from === "server" && e.payload[0] === MessageNumber.USERAUTH_BANNER)
      problems.push(...errorLineProblems(run.stderr, bannersSent))
      // The error itself, from its first line on: banner text before it must not make the match.
      const at = /^ssh-auth: /m.exec(run.stderr)?.index ?? 0
      const error = run.stderr.slice(at)
      const defect = DEFECT.exec(error)
      if (defect) problems.push(`a defect, not a typed error (${JSON.stringify(defect[0])}): ${excerpt(error)}`)
      if (outcome._tag !== "Success" && !outcome.pattern.test(error)) {
        problems.push(`stderr does not match ${outcome.pattern}: ${excerpt(error)}`)
      }
    }
  }

  if (!run.killed && run.millis > expected.withinMs) problems.push(`took ${Math.round(run.millis)} ms (bound ${expected.withinMs} ms)`)
  if (run.maxRssKiB === undefined) problems.push("no peak RSS measurement (the process did not exit normally)")
  else if (run.maxRssKiB > MAX_RSS_KIB) problems.push(`peak RSS ${(run.maxRssKiB / 1024).toFixed(0)} MB (limit 200 MB)`)

  for (const [name, secret] of [["password", fixture.password], ["passphrase", fixture.passphrase]] as const) {
    if (run.stdout.includes(secret)) problems.push(`the ${name} is printed on stdout`)
    if (run.stderr.includes(secret)) problems.push(`the ${name} is printed on stderr`)
    if (seen.raw.includes(Buffer.from(secret))) problems.push(`the ${name} is in the client's raw bytes (sent in the clear)`)
  }
  problems.push(...wireLeaks(seen.events, fixture))
  problems.push(...outputProblems("stdout", run.stdout), ...outputProblems("stderr", run.stderr))
  return problems
}

/** Client USERAUTH_REQUESTs sent after the `occurrence`-th server message matching `violation`. */
export const requestsAfter = (
  events: ReadonlyArray<WireEvent>,
  violation: (payload: Uint8Array) => boolean,
  occurrence = 1
): Array<string> => {
  let at = -1
  for (let seen = 0; seen < occurrence; seen++) {
    at = events.findIndex((e, i) => i > at && e.from === "server" && violation(e.payload))
    if (at < 0) return ["the violating message was never sent (the case did not run as planned)"]
  }
  return events.slice(at + 1)
    .filter((e) => e.from === "client" && e.payload[0] === MessageNumber.USERAUTH_REQUEST)
    .map((e) => `after the protocol violation the client still sent a ${requestMethod(e.payload) ?? "?"} USERAUTH_REQUEST`)
}

/** A one-paragraph account of a run, for failure messages. */
export const describeRun = (run: CliRun): string =>
  `exit ${run.code ?? run.signal} in ${Math.round(run.millis)} ms, peak RSS ${
    run.maxRssKiB === undefined ? "?" : `${(run.maxRssKiB / 1024).toFixed(0)} MB`
  }\nstdout: ${excerpt(run.stdout, 400)}\nstderr: ${excerpt(run.stderr, 400)}`
