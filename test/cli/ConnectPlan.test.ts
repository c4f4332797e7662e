/**
 * `ssh-auth connect --dry-run` and `-v`, as a user runs them: the plan for a config with
 * Include, Match and IdentityFile tokens, and ssh -v's words in the log.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { skipInterop } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as Sshd from "../support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const connect = (args: ReadonlyArray<string>) => Sshd.run(process.execPath, [bin, "connect", ...args], { timeoutMs: 30_000, env: { SSH_AUTH_SOCK: "" } })
const fingerprint = (file: string) => Effect.map(Sshd.run("ssh-keygen", ["-lf", `${file}.pub`]), (r) => r.stdout.split(" ")[1])

describe.skipIf(skipInterop())("ssh-auth connect --dry-run and -v", () => {
  it.scopedLive("--dry-run prints the plan for a config with Include, Match and IdentityFile tokens, without connecting", () =>
    Effect.gen(function*() {
      const dir = yield* Sshd.tempDir("dry-run-")
      fs.mkdirSync(path.join(dir, "keys"))
      fs.mkdirSync(path.join(dir, "conf.d"))
      const first = path.join(dir, "keys", "id_web.example_deploy")
      const second = path.join(dir, "keys", "second_2222")
      for (const file of [first, second]) yield* Sshd.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file])
      fs.writeFileSync(path.join(dir, "conf.d", "10-web.conf"), "Host web\n  HostName web.example\n  User deploy\n")
      fs.writeFileSync(
        path.join(dir, "config"),
        [
          `Include ${dir}/conf.d/*.conf`,
          "Host *",
          `  IdentityFile ${dir}/keys/id_%h_%r`,
          "  PasswordAuthentication no",
          "Match host web.example user deploy",
          `  IdentityFile ${dir}/keys/second_%p`,
          "  IdentitiesOnly yes",
          ""
        ].join("\n")
      )
      // Port 1 is closed: a dry run must not connect.
      const r = yield* connect(["web", "-F", path.join(dir, "config"), "-p", "2222", "--dry-run"])
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      expect(r.stdout.trim().split("\n")).toEqual([
        "plan for deploy@web.example port 2222:",
        "0. none, asked first: the server's answer says which of these it allows",
        // The config names no GSSAPIAuthentication: off, as in ssh.
        "1. gssapi-with-mic Kerberos ticket for host@web.example from GSSAPIAuthentication — skipped: GSSAPIAuthentication is off",
        "2. publickey agent from agent — skipped: no ssh-agent: SSH_AUTH_SOCK is not set",
        `3. publickey identity file ssh-ed25519 ${yield* fingerprint(first)} [ssh-ed25519] from IdentityFile ${first}`,
        `4. publickey identity file ssh-ed25519 ${yield* fingerprint(second)} [ssh-ed25519] from IdentityFile ${second}`,
        "5. keyboard-interactive keyboard-interactive from KbdInteractiveAuthentication — skipped: no terminal to prompt on"
      ])
    }))

  it.scopedLive("-v logs what ssh -v says: offering, accepted, authenticated; -vv adds its debug2 lines", () =>
    Effect.gen(function*() {
      const dir = yield* Sshd.tempDir("verbose-")
      const key = path.join(dir, "id")
      yield* Sshd.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
      const sshd = yield* Sshd.start({ hostKeys: yield* Sshd.makeHostKeys(["ed25519"]), authorizedKeys: [fs.readFileSync(`${key}.pub`, "utf8").trim()] })
      yield* logOnFailure(sshd)
      const r = yield* connect(["127.0.0.1", "-p", String(sshd.port), "-F", "/dev/null", "-i", key, "--insecure-accept-any-host-key", "-v"])
      expect(r.code).toBe(0)
      expect(r.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
      expect(r.stderr).toMatch(/^debug1: kex: algorithm: sntrup761x25519-sha512$/m)
      expect(r.stderr).toMatch(/^debug1: Server host key: ssh-ed25519 SHA256:/m)
      expect(r.stderr).toMatch(/^debug1: Offering public key: ssh-ed25519 SHA256:/m)
      expect(r.stderr).toMatch(/^debug1: Server accepts key: ssh-ed25519 SHA256:/m)
      expect(r.stderr).toMatch(/^debug1: Authenticated to 127\.0\.0\.1 \(\[127\.0\.0\.1\]:\d+\) using "publickey"\./m)
      expect(r.stderr).toMatch(/^debug1: SSH2_MSG_SERVICE_ACCEPT received$/m)
      // -v is ssh's first level only.
      expect(r.stderr).not.toMatch(/^debug2:/m)

      // -vv adds ssh's debug2 lines: both KEXINIT proposals, before the negotiated algorithms,
      // and each request as it goes out.
      const vv = yield* connect(["127.0.0.1", "-p", String(sshd.port), "-F", "/dev/null", "-i", key, "--insecure-accept-any-host-key", "-vv"])
      expect(vv.code).toBe(0)
      const lines = vv.stderr.split("\n")
      const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l))
      expect(at(/^debug2: local client KEXINIT proposal$/)).toBeGreaterThanOrEqual(0)
      expect(lines[at(/^debug2: local client KEXINIT proposal$/) + 1]).toMatch(
        /^debug2: KEX algorithms: mlkem768x25519-sha256,.*curve25519-sha256,.*,ext-info-c,kex-strict-c-v00@openssh\.com$/
      )
      expect(at(/^debug2: peer server KEXINIT proposal$/)).toBeGreaterThan(at(/^debug2: local client KEXINIT proposal$/))
      // sshd's own list, as its config prints it.
      expect(lines[at(/^debug2: peer server KEXINIT proposal$/) + 1]).toMatch(/^debug2: KEX algorithms: .*curve25519-sha256.*kex-strict-s-v00@openssh\.com/)
      expect(at(/^debug1: kex: algorithm: sntrup761x25519-sha512$/)).toBeGreaterThan(at(/^debug2: peer server KEXINIT proposal$/))
      expect(at(/^debug2: we sent a publickey packet, wait for reply$/)).toBeGreaterThan(at(/^debug1: Offering public key:/))
      expect(vv.stderr).toMatch(/^debug1: Authenticated to 127\.0\.0\.1/m)
      // -vvv is accepted too, as ssh takes it.
      expect((yield* connect(["127.0.0.1", "-p", String(sshd.port), "-F", "/dev/null", "-i", key, "--insecure-accept-any-host-key", "-vvv"])).code).toBe(0)
    }))
})
