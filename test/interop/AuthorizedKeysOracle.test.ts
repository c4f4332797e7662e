/**
 * `AuthorizedKeys.match` judged by OpenSSH's sshd: one authorized_keys file holds a table of
 * cases, each with its own key (and its own CA, for certificates, so that no case's entry
 * can vouch for another's), and `ssh` must log in exactly when `match` says Right. Where an
 * entry restricts the session, what sshd did (the forced command's output, a pty or none,
 * the environment) must be what the restrictions say.
 *
 * The file runs in a time zone that is on summer time now, so that an `expiry-time` in local
 * time tells sshd's reading (standard time, as mktime with tm_isdst 0) from the wall clock.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as AuthorizedKeys from "../../src/server/AuthorizedKeys.js"
import { skipInterop } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as Sshd from "../support/Sshd.js"

const me = os.userInfo().username

interface Case {
  readonly name: string
  /** The case's lines, given its key's and its CA's `.pub` text. */
  readonly lines: (key: string, ca: string) => ReadonlyArray<string>
  /** `ssh-keygen -s` options: the case logs in with a certificate of its key. */
  readonly cert?: ReadonlyArray<string>
  /** What sshd should say: written down, so that a table where both sides always refuse fails. */
  readonly expected: boolean
  /**
   * What sshd before 10.3 says instead, where `match` follows the newer sshd on purpose:
   * 10.3 refuses certificates with no principals everywhere (CVE-2024-7594); older ones
   * took them as valid for any user through a cert-authority entry.
   */
  readonly before10_3?: boolean
  /** The remote command; `true` unless said. */
  readonly command?: string
  /** Ask for a pty (`ssh -tt`); when sshd refuses it, the session shows nothing. */
  readonly pty?: boolean
  /** [what the restrictions `match` gave say, what the session showed]: the two must agree. */
  readonly session?: (restrictions: AuthorizedKeys.Authorized["restrictions"], stdout: string) => readonly [unknown, unknown]
}

/** What a forced command prints when run here: what sshd's session should have printed. */
const runHere = (command: string | undefined) =>
  command === undefined ? "(no forced command)" : execFileSync("sh", ["-c", command], { encoding: "utf8" }).trim()
const hasPty = (r: AuthorizedKeys.Authorized["restrictions"], out: string) => [r.pty, out.includes("/dev/pts/")] as const

const pad = (n: number) => String(n).padStart(2, "0")
/** `YYYYMMDDHHMM` of the wall clock in the process's time zone. */
const wallClock = (ms: number) => {
  const d = new Date(ms)
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}${pad(d.getHours())}${pad(d.getMinutes())}`
}
const utcStamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z"

/** A zone on summer time now (one of each hemisphere's always is): sets TZ to it. */
const enterSummerTimeZone = (): string | undefined => {
  for (const tz of ["Europe/Berlin", "Australia/Sydney", "America/New_York", "America/Santiago"]) {
    process.env.TZ = tz
    const year = new Date().getFullYear()
    const standard = Math.max(new Date(year, 0, 1).getTimezoneOffset(), new Date(year, 6, 1).getTimezoneOffset())
    if (new Date().getTimezoneOffset() !== standard) return tz
  }
  return undefined
}

const TTY = "tty"

const cases = (now: number, summerTime: boolean): ReadonlyArray<Case> => [
  { name: "a plain key", lines: (k) => [k], expected: true },
  { name: `from="127.0.0.1"`, lines: (k) => [`from="127.0.0.1" ${k}`], expected: true },
  { name: `from="10.0.0.0/8"`, lines: (k) => [`from="10.0.0.0/8" ${k}`], expected: false },
  { name: `from="127.0.0.0/8,!127.0.0.1"`, lines: (k) => [`from="127.0.0.0/8,!127.0.0.1" ${k}`], expected: false },
  { name: `from="!10.0.0.0/8,127.0.0.0/8"`, lines: (k) => [`from="!10.0.0.0/8,127.0.0.0/8" ${k}`], expected: true },
  { name: `from="127.1" (glibc reads it as 127.0.0.1)`, lines: (k) => [`from="127.1" ${k}`], expected: true },
  { name: `from="127.0.0.1/8" (host bits set: invalid)`, lines: (k) => [`from="127.0.0.1/8" ${k}`], expected: false },
  { name: `from="127.0.0.*"`, lines: (k) => [`from="127.0.0.*" ${k}`], expected: true },
  { name: `from="localhost" (no DNS)`, lines: (k) => [`from="localhost" ${k}`], expected: false },
  { name: `from="::1"`, lines: (k) => [`from="::1" ${k}`], expected: false },
  { name: `from="*,!127.0.0.1"`, lines: (k) => [`from="*,!127.0.0.1" ${k}`], expected: false },
  { name: "expiry-time in the past (UTC)", lines: (k) => [`expiry-time="${utcStamp(now - 3600_000)}" ${k}`], expected: false },
  { name: "expiry-time in the future (UTC)", lines: (k) => [`expiry-time="${utcStamp(now + 3600_000)}" ${k}`], expected: true },
  { name: "expiry-time yesterday (local)", lines: (k) => [`expiry-time="${wallClock(now - 86_400_000).slice(0, 8)}" ${k}`], expected: false },
  { name: "expiry-time in two days (local)", lines: (k) => [`expiry-time="${wallClock(now + 2 * 86_400_000).slice(0, 8)}" ${k}`], expected: true },
  ...(summerTime
    ? [
      // sshd reads the wall clock as standard time: an hour later than it says in summer.
      {
        name: "expiry-time 30 minutes ago by the summer wall clock: sshd still accepts",
        lines: (k: string) => [`expiry-time="${wallClock(now - 30 * 60_000)}" ${k}`],
        expected: true
      },
      {
        name: "expiry-time 90 minutes ago by the summer wall clock: expired",
        lines: (k: string) => [`expiry-time="${wallClock(now - 90 * 60_000)}" ${k}`],
        expected: false
      }
    ]
    : []),
  { name: "an entry refusing (from=) is passed over for the next with the key", lines: (k) => [`from="10.0.0.0/8" ${k}`, `no-pty ${k}`], expected: true },
  { name: "principals= on a plain key", lines: (k) => [`principals="${me}" ${k}`], expected: false },
  { name: "an unknown option makes the line bad", lines: (k) => [`bogus-option ${k}`], expected: false },
  {
    name: `restrict,command="..."`,
    lines: (k) => [`restrict,command="echo forced-$((6*7))" ${k}`],
    expected: true,
    session: (r, out) => [runHere(r.forceCommand), out.trim()]
  },
  { name: "restrict: no pty", lines: (k) => [`restrict ${k}`], expected: true, pty: true, command: TTY, session: hasPty },
  { name: "restrict,pty: a pty", lines: (k) => [`restrict,pty ${k}`], expected: true, pty: true, command: TTY, session: hasPty },
  {
    name: "environment= (PermitUserEnvironment yes)",
    lines: (k) => [`environment="ORACLE_VAR=from-entry",environment="ORACLE_VAR=second" ${k}`],
    expected: true,
    command: "echo \"$ORACLE_VAR\"",
    session: (r, out) => [r.environment[0]?.split("=")[1], out.trim()]
  },
  { name: "cert-authority, the user a principal", lines: (_, ca) => [`cert-authority ${ca}`], cert: ["-n", me], expected: true },
  { name: "cert-authority, the user not a principal", lines: (_, ca) => [`cert-authority ${ca}`], cert: ["-n", "someone-else"], expected: false },
  { name: "cert-authority, no principals at all", lines: (_, ca) => [`cert-authority ${ca}`], cert: [], expected: false, before10_3: true },
  {
    name: `cert-authority,principals= listing one of the certificate's`,
    lines: (_, ca) => [`cert-authority,principals="x,ops" ${ca}`],
    cert: ["-n", "ops"],
    expected: true
  },
  { name: `cert-authority,principals= listing none of them`, lines: (_, ca) => [`cert-authority,principals="x" ${ca}`], cert: ["-n", me], expected: false },
  { name: "the CA listed without cert-authority", lines: (_, ca) => [ca], cert: ["-n", me], expected: false },
  { name: "the certified key listed as a plain key", lines: (k) => [k], cert: ["-n", me], expected: false },
  { name: "an expired certificate", lines: (_, ca) => [`cert-authority ${ca}`], cert: ["-n", me, "-V", "20200101:20200102"], expected: false },
  { name: "a certificate not yet valid", lines: (_, ca) => [`cert-authority ${ca}`], cert: ["-n", me, "-V", "+1d:+2d"], expected: false },
  { name: "cert-authority with an expiry-time past", lines: (_, ca) => [`cert-authority,expiry-time="20200101Z" ${ca}`], cert: ["-n", me], expected: false },
  { name: `cert-authority,from="10.0.0.0/8"`, lines: (_, ca) => [`cert-authority,from="10.0.0.0/8" ${ca}`], cert: ["-n", me], expected: false },
  {
    name: "source-address with the client",
    lines: (_, ca) => [`cert-authority ${ca}`],
    cert: ["-n", me, "-O", "source-address=10.0.0.0/8,127.0.0.1/32"],
    expected: true
  },
  {
    name: "source-address without the client",
    lines: (_, ca) => [`cert-authority ${ca}`],
    cert: ["-n", me, "-O", "source-address=10.0.0.0/8"],
    expected: false
  },
  { name: "an unknown critical option", lines: (_, ca) => [`cert-authority ${ca}`], cert: ["-n", me, "-O", "critical:frob@example.com=1"], expected: false },
  {
    name: "force-command and command= the same",
    lines: (_, ca) => [`cert-authority,command="echo same" ${ca}`],
    cert: ["-n", me, "-O", "force-command=echo same"],
    expected: true,
    session: (r, out) => [runHere(r.forceCommand), out.trim()]
  },
  {
    name: "force-command and command= different",
    lines: (_, ca) => [`cert-authority,command="echo one" ${ca}`],
    cert: ["-n", me, "-O", "force-command=echo two"],
    expected: false
  },
  {
    name: "restrict on the entry, permit-pty in the certificate: no pty",
    lines: (_, ca) => [`cert-authority,restrict ${ca}`],
    cert: ["-n", me],
    expected: true,
    pty: true,
    command: TTY,
    session: hasPty
  },
  {
    name: "no permit-pty in the certificate: no pty",
    lines: (_, ca) => [`cert-authority ${ca}`],
    cert: ["-n", me, "-O", "clear"],
    expected: true,
    pty: true,
    command: TTY,
    session: hasPty
  },
  {
    name: "permit-pty in the certificate, re-enabled after restrict: a pty",
    lines: (_, ca) => [`cert-authority,restrict,pty ${ca}`],
    cert: ["-n", me],
    expected: true,
    pty: true,
    command: TTY,
    session: hasPty
  }
]

describe.skipIf(skipInterop())("interop: AuthorizedKeys.match against sshd's own decisions", () => {
  it.scopedLive("ssh logs in exactly when match says Right, and the session is as the restrictions say", () =>
    Effect.gen(function*() {
      const savedTz = process.env.TZ
      yield* Effect.addFinalizer(() => Effect.sync(() => savedTz === undefined ? delete process.env.TZ : (process.env.TZ = savedTz)))
      // Set before sshd starts: it inherits the zone it reads local times in.
      const zone = enterSummerTimeZone()
      const now = Date.now()
      const table = cases(now, zone !== undefined)
      const dir = yield* Sshd.tempDir("authorized-keys-oracle-")
      const keygen = (name: string) =>
        Effect.gen(function*() {
          const file = path.join(dir, name)
          const r = yield* Sshd.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file])
          if (r.code !== 0) return yield* Effect.die(new Error(`ssh-keygen ${name}: ${r.stderr}`))
          return { file, pub: fs.readFileSync(`${file}.pub`, "utf8").trim() }
        })
      const prepared = yield* Effect.forEach(table, (c, i) =>
        Effect.gen(function*() {
          const key = yield* keygen(`key-${i}`)
          const ca = yield* keygen(`ca-${i}`)
          if (c.cert === undefined) return { c, key, ca, certFile: undefined }
          // key-N-cert.pub, which ssh pairs with key-N; PubkeyAcceptedAlgorithms keeps it from offering key-N itself.
          const r = yield* Sshd.run("ssh-keygen", ["-q", "-s", ca.file, "-I", `case-${i}`, ...c.cert, `${key.file}.pub`])
          if (r.code !== 0) return yield* Effect.die(new Error(`ssh-keygen -s for ${c.name}: ${r.stderr}`))
          return { c, key, ca, certFile: `${key.file}-cert.pub` }
        }), { concurrency: 16 })

      const lines = ["# the oracle's table", "not a key line at all", ...prepared.flatMap(({ c, ca, key }) => c.lines(key.pub, ca.pub))]
      const sshd = yield* Sshd.start({
        hostKeyTypes: ["ed25519"],
        hostKeys: yield* Sshd.makeHostKeys(["ed25519"]),
        authorizedKeys: lines,
        config: ["PermitUserEnvironment yes"]
      })
      yield* logOnFailure(sshd)
      // The file as sshd reads it.
      const parsed = AuthorizedKeys.parse(lines.join("\n") + "\n")
      expect(parsed.errors.map((e) => e.line)).toEqual([2, lines.findIndex((l) => l.startsWith("bogus-option")) + 1])

      const results = yield* Effect.forEach(prepared, ({ c, certFile, key }) =>
        Effect.gen(function*() {
          const r = yield* Sshd.run("ssh", [
            "-F",
            "/dev/null",
            "-p",
            String(sshd.port),
            "-i",
            key.file,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            ...(certFile ? ["-o", "PubkeyAcceptedAlgorithms=ssh-ed25519-cert-v01@openssh.com"] : []),
            ...(c.pty ? ["-tt"] : ["-T"]),
            `${me}@127.0.0.1`,
            c.command ?? "true"
          ], { timeoutMs: 20_000 })
          const offered = certFile
            ? Either.getOrThrow(Certificate.fromLine(fs.readFileSync(certFile, "utf8")))
            : Either.getOrThrow(PublicKeyText.parsePublicKey(key.pub))
          const ours = AuthorizedKeys.match(parsed.keys, offered, { user: me, clientAddress: "127.0.0.1", now: Date.now() / 1000, curves: nodeCurves })
          // ssh -tt gives up when sshd refuses the pty, after the login.
          const ptyRefused = /PTY allocation request failed/.test(r.stderr)
          const loggedIn = r.code === 0 || ptyRefused
          return {
            name: c.name,
            sshd: loggedIn,
            ours: Either.isRight(ours),
            ...(loggedIn && Either.isRight(ours) && c.session ? { session: c.session(ours.right.restrictions, ptyRefused ? "" : r.stdout) } : {}),
            ...(!loggedIn && !/Permission denied/.test(r.stderr) ? { sshFailedOtherwise: r.stderr.trim() } : {})
          }
        }), { concurrency: 16 })

      // Both sides agree, and agree with what was written down.
      const version = /OpenSSH_(\d+)\.(\d+)/.exec(yield* Sshd.openSshVersion)
      const old = version !== null && (Number(version[1]) < 10 || (Number(version[1]) === 10 && Number(version[2]) < 3))
      expect(results.map(({ name, ours, sshd }) => ({ name, sshd, ours }))).toEqual(
        table.map((c) => ({ name: c.name, sshd: old && c.before10_3 !== undefined ? c.before10_3 : c.expected, ours: c.expected }))
      )
      expect(results.filter((r) => "sshFailedOtherwise" in r)).toEqual([])
      // Each session was what the restrictions say: [restrictions say, session showed].
      const sessions = Object.fromEntries(results.flatMap((r) => "session" in r && r.session ? [[r.name, r.session]] : []))
      expect(Object.keys(sessions)).toEqual(table.filter((c) => c.session).map((c) => c.name))
      expect(sessions).toEqual(Object.fromEntries(Object.entries(sessions).map(([name, [said]]) => [name, [said, said]])))
      // ... and neither side is empty-handed.
      expect(sessions).toMatchObject({
        [`restrict,command="..."`]: ["forced-42", "forced-42"],
        "force-command and command= the same": ["same", "same"],
        "restrict: no pty": [false, false],
        "restrict,pty: a pty": [true, true],
        "environment= (PermitUserEnvironment yes)": ["from-entry", "from-entry"],
        "permit-pty in the certificate, re-enabled after restrict: a pty": [true, true]
      })
    }), { timeout: 60_000 })
})
