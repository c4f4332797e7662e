/**
 * The `ssh-auth` binary's manners, as a user of ssh expects them, with its output piped as a
 * script would read it: help names the whole command, fits 80 columns, has no escape sequence
 * and none of @effect/cli's stand-in text; under a terminal it fits the terminal's width, and
 * `NO_COLOR` turns escapes off there too; a server's banner goes to stderr, escaped, never to
 * stdout, where the result is. The server is ours, in-process on 127.0.0.1.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { isCI } from "../support/Env.js"
import * as OurServer from "../support/OurServer.js"
import * as Sshd from "../support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")

/** The bin with stdout and stderr piped; NO_COLOR and COLUMNS cleared, so nothing but the pipe decides. */
const ssh_auth = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Sshd.run(process.execPath, [bin, ...args], { timeoutMs: 20_000, env: { NO_COLOR: "", COLUMNS: "", TERM: "xterm-256color", ...env } })

const ESC = "\x1b"
const FILLER = "A user-defined piece of text"

/** Every way to ask for help, and the command each one is about. */
const helps: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
  [["--help"], "ssh-auth"],
  [[], "ssh-auth"],
  [["connect", "--help"], "ssh-auth connect"],
  [["connect", "-h"], "ssh-auth connect"],
  [["probe", "--help"], "ssh-auth probe"],
  [["key"], "ssh-auth key"],
  [["key", "sign", "--help"], "ssh-auth key sign"],
  [["agent", "add", "-h"], "ssh-auth agent add"],
  [["config", "--help"], "ssh-auth config"],
  [["serve", "--help"], "ssh-auth serve"]
]

const usageLine = (stdout: string) => {
  const lines = stdout.split("\n")
  return lines[lines.indexOf("USAGE") + 1]?.trim()
}

describe("ssh-auth help, piped", () => {
  for (const [args, command] of helps) {
    it.live(`ssh-auth ${args.join(" ")}: USAGE names "${command}", 80 columns, no escapes, no filler`, () =>
      Effect.gen(function*() {
        const r = yield* ssh_auth(args)
        expect(r.code, r.stderr).toBe(0)
        expect(r.stderr).toBe("")
        expect(usageLine(r.stdout)).toMatch(new RegExp(`^\\$ ${command} `))
        expect(r.stdout).not.toContain(ESC)
        // The escaped form of an escape (what a console that sanitises would make of one) is no better.
        expect(r.stdout).not.toContain("\\033")
        expect(r.stdout).not.toContain(FILLER)
        const long = r.stdout.split("\n").filter((line) => line.length > 80)
        expect(long).toEqual([])
        // Trailing padding is no way to fit either.
        expect(r.stdout.split("\n").filter((line) => line.endsWith(" "))).toEqual([])
      }))
  }

  it.live("connect's help still says what each option is for, and lists every option", () =>
    Effect.gen(function*() {
      const r = yield* ssh_auth(["connect", "--help"])
      for (const option of ["--port", "--login", "--identity", "--config-file", "--option", "--json", "--dry-run", "--host-key"]) {
        expect(r.stdout).toContain(option)
      }
      expect(r.stdout).toContain("[user@]host, or a Host alias from ssh_config")
      expect(r.stdout).toContain("private key file, tried before the config's")
    }))

  it.live("the program's help lists each command with its description, one line each", () =>
    Effect.gen(function*() {
      const r = yield* ssh_auth(["--help"])
      expect(r.stdout).toMatch(/^ {2}connect +authenticate like ssh, and print the AuthResult$/m)
      expect(r.stdout).toMatch(/^ {2}probe +\S/m)
      expect(r.stdout).toMatch(/^ {2}key +key tools/m)
    }))

  it.live("--version: the version, one line", () =>
    Effect.gen(function*() {
      const r = yield* ssh_auth(["--version"])
      expect(r.code).toBe(0)
      expect(r.stdout).toBe("0.1.0\n")
    }))

  it.live("a wrong command line: the error on stderr, plain, one line, status 2, nothing on stdout", () =>
    Effect.gen(function*() {
      const r = yield* ssh_auth(["connect", "--port", "abc", "host"])
      expect(r.code).toBe(2)
      expect(r.stdout).toBe("")
      expect(r.stderr).toBe("'abc' is not a integer\n")
      expect(r.stderr).not.toContain(ESC)
      expect(r.stderr).not.toContain("\\033")
    }))
})

describe("ssh-auth --wizard without a terminal", () => {
  it.live("fails at once with a usage error, instead of waiting on stdin", () =>
    Effect.gen(function*() {
      // stdin is a pipe that stays open: a wizard that asked would wait until the timeout.
      const started = Date.now()
      const r = yield* ssh_auth(["--wizard"])
      expect(r.code).toBe(2)
      expect(r.stdout).toBe("")
      expect(r.stderr).toBe("ssh-auth: --wizard asks its questions on a terminal, and stdin or stdout is not one\n")
      expect(Date.now() - started).toBeLessThan(15_000)
    }))
})

// A terminal, for the cases that need one: util-linux's `script` runs the command on a pty.
const hasScript = fs.existsSync("/usr/bin/script") || fs.existsSync("/bin/script")
if (!hasScript && isCI) throw new Error("CI=true but `script` (util-linux) is not installed: the terminal cases of the help need it")
if (!hasScript) console.warn("\n*** help-on-a-terminal tests SKIPPED: `script` (util-linux) not found ***\n")

/** `ssh-auth args` on a terminal `columns` wide; what it wrote, CRs removed. */
const onTerminal = (columns: number, args: ReadonlyArray<string>, env: Record<string, string> = {}, prefix = "") =>
  Effect.map(
    Sshd.run("script", ["-qec", `stty cols ${columns}; exec ${prefix}'${process.execPath}' '${bin}' ${args.join(" ")}`, "/dev/null"], {
      timeoutMs: 20_000,
      env: { NO_COLOR: "", TERM: "xterm-256color", ...env }
    }),
    (r) => ({ ...r, stdout: r.stdout.replace(/\r/g, "") })
  )

const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "")

describe.skipIf(!hasScript)("ssh-auth help, on a terminal", () => {
  it.live("fits the terminal's width (60 columns), and may use bold", () =>
    Effect.gen(function*() {
      const r = yield* onTerminal(60, ["connect", "--help"])
      expect(r.code, r.stdout).toBe(0)
      expect(r.stdout).toContain(`${ESC}[1mUSAGE`)
      expect(plain(r.stdout).split("\n").filter((line) => line.length > 60)).toEqual([])
      expect(plain(r.stdout)).toMatch(/^ {2}\$ ssh-auth connect /m)
    }))

  it.live("a wide terminal (200 columns) gets long lines, not padding", () =>
    Effect.gen(function*() {
      const r = yield* onTerminal(200, ["connect", "--help"])
      const lines = plain(r.stdout).split("\n")
      expect(Math.max(...lines.map((l) => l.length))).toBeGreaterThan(80)
      expect(lines.filter((line) => line.length > 200 || line.endsWith(" "))).toEqual([])
    }))

  it.live("the wizard's header, which @effect/cli colours, is printed plain rather than as escaped escapes", () =>
    Effect.gen(function*() {
      // The wizard then waits for an answer on the terminal: `timeout` ends it.
      const r = yield* onTerminal(80, ["--wizard"], {}, "timeout 3 ")
      expect(r.stdout.split("\n")[0]).toBe("Wizard Mode for CLI Application: ssh-auth (0.1.0)")
      expect(r.stdout).not.toContain("\\033")
    }))

  it.live("NO_COLOR: no escapes, even on a terminal", () =>
    Effect.gen(function*() {
      const r = yield* onTerminal(100, ["connect", "--help"], { NO_COLOR: "1" })
      expect(r.code, r.stdout).toBe(0)
      expect(r.stdout).toContain("USAGE")
      expect(r.stdout).not.toContain(ESC)
    }))
})

describe("ssh-auth connect: the server's banner", () => {
  // Lines of the banner: a plain one, one that tries to recolour the terminal, and one that tries to set its title.
  const banner = "Authorised users only.\r\n\x1b[31mred alert\x1b[0m\r\n\x1b]0;owned\x07title\r\n"

  /** Logs alice in with her password to our server, which sends the banner; `extra` adds flags. Fails unless it exits 0. */
  const loginWithBanner = (...extra: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const server = yield* OurServer.start({ alice: OurServer.alice([]) }, { table: { banner } })
      const home = yield* Sshd.tempDir("banner-home-")
      const r = yield* ssh_auth(
        [
          "connect",
          "alice@127.0.0.1",
          "-p",
          String(server.port),
          "-F",
          "/dev/null",
          "-o",
          "PubkeyAuthentication=no",
          // Password alone: alice's keyboard-interactive asks an echoed "Code:" that --password-env does not answer.
          "-o",
          "KbdInteractiveAuthentication=no",
          "--password-env",
          "TEST_PW",
          "--insecure-accept-any-host-key",
          ...extra
        ],
        { HOME: home, SSH_AUTH_SOCK: "", TEST_PW: OurServer.PASSWORD }
      )
      expect(r.code, `${r.stdout}\n${r.stderr}\n${server.log()}`).toBe(0)
      return r
    })

  it.scopedLive("goes to stderr, escaped, as ssh prints it; stdout holds the result alone", () =>
    Effect.gen(function*() {
      const r = yield* loginWithBanner()
      // The result, and nothing else, on stdout.
      expect(r.stdout).not.toContain("Authorised users only.")
      expect(r.stdout).not.toContain("red alert")
      expect(r.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
      // The banner on stderr, its words kept and its control characters made visible.
      expect(r.stderr).toContain("Authorised users only.")
      expect(r.stderr).toContain("red alert")
      expect(r.stderr).toContain("title")
      expect(r.stderr).not.toContain(ESC)
      expect(r.stderr).not.toContain("\x07")
    }))

  it.scopedLive("--json: the banner is in the JSON result and on stderr, and stdout is JSON alone", () =>
    Effect.gen(function*() {
      const r = yield* loginWithBanner("--json")
      const json = JSON.parse(r.stdout)
      expect(json.succeeded).toBe(true)
      expect(json.banners).toEqual([banner])
      expect(r.stderr).toContain("Authorised users only.")
    }))

  it.scopedLive("-v: ssh's debug1 lines on stderr, once each, and no other logger's lines anywhere", () =>
    Effect.gen(function*() {
      const r = yield* loginWithBanner("-v")
      const authenticated = r.stderr.split("\n").filter((line) => line.startsWith("debug1: Authenticated to 127.0.0.1"))
      expect(authenticated).toHaveLength(1)
      // Effect's own loggers (pretty: "DEBUG (#12): …", logfmt: "level=DEBUG") must not print beside ssh's.
      expect(`${r.stdout}${r.stderr}`).not.toMatch(/DEBUG \(#|level=DEBUG|timestamp=/)
      expect(r.stdout).not.toContain("debug1:")
      expect(r.stderr).not.toContain(ESC)
    }))
})
