/**
 * `ssh-auth connect` as a user runs it: the built bin against the suite's sshd.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { skipInterop, skipUnlessRoot } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as OurServer from "../support/OurServer.js"
import * as Sshd from "../support/Sshd.js"
import { hasTool } from "../support/Tools.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")

const setup = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("connect-cli-")
  const good = path.join(dir, "good")
  const wrong = path.join(dir, "wrong")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", good])
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", wrong])
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${good}.pub`, "utf8").trim()] })
  yield* logOnFailure(sshd)
  const fingerprint = (yield* Sshd.run("ssh-keygen", ["-lf", `${hostKeys.files.ed25519}.pub`])).stdout.split(" ")[1]
  const connect = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
    Sshd.run(process.execPath, [bin, "connect", ...args], { timeoutMs: 20_000, env })
  return { sshd, good, wrong, fingerprint, connect }
})

describe.skipIf(skipInterop())("ssh-auth connect", () => {
  it.scopedLive("a good key with the pinned host key: prints success, exits 0", () =>
    Effect.gen(function*() {
      const { connect, fingerprint, good, sshd } = yield* setup
      const me = os.userInfo().username
      const r = yield* connect([`${me}@127.0.0.1`, "-p", String(sshd.port), "-i", good, "--host-key", fingerprint])
      expect(r.stderr).toBe("")
      expect(r.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
      expect(r.code).toBe(0)
    }))

  it.scopedLive("--json prints the AuthResult with every attempt", () =>
    Effect.gen(function*() {
      const { connect, good, wrong, sshd } = yield* setup
      const r = yield* connect(["127.0.0.1", "-p", String(sshd.port), "-i", wrong, "-i", good, "--insecure-accept-any-host-key", "--json"])
      expect(r.code).toBe(0)
      const json = JSON.parse(r.stdout)
      expect(json.succeeded).toBe(true)
      // "none" first, as ssh; the agent (none here) is recorded as skipped; then the two keys, in -i order.
      const tried = json.attempts.filter((a: { attempt: { _tag: string } }) => a.attempt._tag !== "Skipped")
      expect(tried.map((a: { source: { method: string }; attempt: { _tag: string } }) => `${a.source.method} ${a.attempt._tag}`))
        .toEqual(["none Failure", "publickey Failure", "publickey Success"])
    }))

  it.scopedLive("a server with no post-quantum kex: OpenSSH 10.1's warning, unless KexAlgorithms is chosen or WarnWeakCrypto is off", () =>
    Effect.gen(function*() {
      const { good } = yield* setup
      const sshd = yield* Sshd.start({
        hostKeys: yield* Sshd.makeHostKeys(["ed25519"]),
        authorizedKeys: [fs.readFileSync(`${good}.pub`, "utf8").trim()],
        config: ["KexAlgorithms curve25519-sha256"]
      })
      const me = os.userInfo().username
      const run = (extra: ReadonlyArray<string>) =>
        Sshd.run(process.execPath, [
          bin,
          "connect",
          `${me}@127.0.0.1`,
          "-p",
          String(sshd.port),
          "-F",
          "/dev/null",
          "-i",
          good,
          "--insecure-accept-any-host-key",
          ...extra
        ], {
          timeoutMs: 20_000
        })
      const warned = yield* run([])
      expect(warned.code).toBe(0)
      expect(warned.stderr.split("\n").filter((l) => l.startsWith("** "))).toEqual([
        "** WARNING: connection is not using a post-quantum key exchange algorithm.",
        "** This session may be vulnerable to \"store now, decrypt later\" attacks.",
        "** The server may need to be upgraded. See https://openssh.com/pq.html"
      ])
      for (const quiet of [["-o", "WarnWeakCrypto=no"], ["-o", "KexAlgorithms=curve25519-sha256"]]) {
        const r = yield* run(quiet)
        expect([quiet, r.code, r.stderr]).toEqual([quiet, 0, ""])
      }
    }))

  it.scopedLive("a wrong key exits 255 with the attempts on stderr, like ssh", () =>
    Effect.gen(function*() {
      const { connect, wrong, sshd } = yield* setup
      const r = yield* connect(["127.0.0.1", "-p", String(sshd.port), "-i", wrong, "--insecure-accept-any-host-key"])
      expect(r.code).toBe(255)
      expect(r.stderr).toMatch(/authentication failed: no more sources to try/)
      expect(r.stderr).toMatch(/IdentityFileKey\(.*path=.*wrong\) -> failure; can continue: publickey/)
    }))

  it.scopedLive("a host key that is not the pinned one is refused before any credential is used", () =>
    Effect.gen(function*() {
      const { connect, good, sshd } = yield* setup
      const r = yield* connect(["127.0.0.1", "-p", String(sshd.port), "-i", good, "--host-key", "SHA256:nottherightoneAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"])
      expect(r.code).toBe(255)
      expect(r.stderr).toMatch(/host key for 127\.0\.0\.1:\d+ rejected/)
      expect(yield* sshd.readLog).not.toMatch(/publickey/)
    }))

  it.scopedLive("without a pin, known_hosts decides: an unknown host is refused when there is no terminal to ask on", () =>
    Effect.gen(function*() {
      const { connect, good, sshd } = yield* setup
      const dir = yield* Sshd.tempDir("connect-kh-")
      const r = yield* connect([
        "127.0.0.1",
        "-p",
        String(sshd.port),
        "-i",
        good,
        "-o",
        `UserKnownHostsFile=${dir}/known_hosts`,
        "-o",
        "GlobalKnownHostsFile=/dev/null"
      ])
      expect(r.code).toBe(255)
      expect(r.stderr).toMatch(/no ssh-ed25519 host key is known for \[127\.0\.0\.1\]:\d+/)
      expect(yield* sshd.readLog).not.toMatch(/publickey/)
    }))

  it.scopedLive.skipIf(skipUnlessRoot("ssh-auth connect --password-env (a password user)"))(
    "--password-env reads the password from the environment, under BatchMode too, and never prints it",
    () =>
      Effect.gen(function*() {
        const user = yield* Sshd.ensureTestUser()
        const { connect, sshd } = yield* setup
        const args = [`${user.name}@127.0.0.1`, "-p", String(sshd.port), "--password-env", "TEST_PW", "--insecure-accept-any-host-key"]
        const ok = yield* connect(args, { TEST_PW: user.password })
        expect(ok.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
        // BatchMode asks no one; a password given beforehand is not asking.
        const batch = yield* connect([...args, "-o", "BatchMode=yes"], { TEST_PW: user.password })
        expect(batch.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
        const bad = yield* connect([...args, "--json"], { TEST_PW: "definitely-wrong-pw" })
        expect(bad.code).toBe(255)
        expect(bad.stdout + bad.stderr).not.toContain("definitely-wrong-pw")
      })
  )
})

describe("ssh-auth connect, before it connects", () => {
  it.effect("a known_hosts file that exists but cannot be read stops it with exit 255, naming the file; a missing one does not", () =>
    Effect.gen(function*() {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "connect-kh-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      // A directory stands for an unreadable file: as root, a mode-000 file can still be read.
      const run = (knownHosts: string) =>
        Sshd.run(process.execPath, [
          bin,
          "connect",
          "-F",
          "/dev/null",
          "-o",
          `UserKnownHostsFile=${knownHosts}`,
          "-o",
          "GlobalKnownHostsFile=/dev/null",
          "-o",
          "ConnectTimeout=5",
          "127.0.0.1",
          "-p",
          "1"
        ], { timeoutMs: 20_000 })
      const unreadable = yield* run(dir)
      expect(unreadable.code).toBe(255)
      expect(unreadable.stderr).toBe(`ssh-auth: cannot read known_hosts file ${dir}: it is a directory\n`)
      // Missing: the check goes on and the connection is what fails (nothing listens on port 1).
      const missing = yield* run(path.join(dir, "absent"))
      expect(missing.code).toBe(255)
      expect(missing.stderr).not.toMatch(/known_hosts/)
    }).pipe(Effect.scoped))
})

// ssh-keygen makes the client's key; our own server needs no sshd.
describe.skipIf(!hasTool("ssh-keygen"))("ssh-auth connect: \"none\" first, as ssh", () => {
  it.scopedLive("learns the methods from the server's answer to none, and skips a key where only a password is allowed: no publickey request reaches the server", () =>
    Effect.gen(function*() {
      const server = yield* OurServer.start({ dana: { password: Redacted.make(OurServer.PASSWORD), methods: [["password"]] } })
      const home = yield* Sshd.tempDir("none-first-home-")
      const key = path.join(home, "id_ed25519")
      yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", key])
      const r = yield* Sshd.run(process.execPath, [
        bin,
        "connect",
        "dana@127.0.0.1",
        "-p",
        String(server.port),
        "-F",
        "/dev/null",
        "-i",
        key,
        "--password-env",
        "TEST_PW",
        "--insecure-accept-any-host-key",
        "--json",
        "-v"
      ], { timeoutMs: 20_000, env: { HOME: home, SSH_AUTH_SOCK: "", TEST_PW: OurServer.PASSWORD } })
      expect(r.code, `${r.stdout}\n${r.stderr}\n${server.log()}`).toBe(0)
      const attempts: ReadonlyArray<{ source: { method: string }; attempt: { _tag: string; reason?: string } }> = JSON.parse(r.stdout).attempts
      expect(attempts[0].source.method).toBe("none")
      expect(attempts[0].attempt._tag).toBe("Failure")
      const keyAttempt = attempts.find((a) => a.source.method === "publickey")
      expect(keyAttempt?.attempt._tag).toBe("Skipped")
      expect(keyAttempt?.attempt.reason).toBe("the server allows only password")
      expect(attempts.at(-1)?.source.method).toBe("password")
      expect(attempts.at(-1)?.attempt._tag).toBe("Success")
      // The server's own record: the key never reached it.
      expect(server.attempts.map((a) => a.method)).toEqual(["none", "password"])
      // ssh -v's line, from the answer to none.
      expect(r.stderr).toContain("debug1: Authentications that can continue: password\n")
    }))
})
