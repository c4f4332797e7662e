/**
 * The MaxAuthTries budget counts tries, and a refused key must cost one: three RSA keys the
 * server refuses, then the right ed25519 key, against sshd with `MaxAuthTries 6`. OpenSSH's ssh
 * offers each key once, with the one RSA algorithm server-sig-algs lets it pick, and logs in on
 * the fourth try. `ssh-auth connect`, given the same config, must do the same: offering each
 * RSA key twice (rsa-sha2-512, then rsa-sha2-256) spends the budget on the three refused keys
 * and ends in "Too many authentication failures". sshd's VERBOSE log is the judge of how often
 * each key was offered.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { skipInterop } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as Sshd from "../support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
// sshd runs as root here and PermitRootLogin is on: log in as whoever runs the tests.
const me = os.userInfo().username
const HOST = "maxauthtries"

/** A key made by ssh-keygen, with its SHA256 fingerprint as sshd logs it. */
const makeKey = (dir: string, name: string, type: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const file = path.join(dir, name)
    const made = yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-C", name, ...type, "-f", file])
    expect(made.code, made.stderr).toBe(0)
    const fingerprint = (yield* Sshd.run("ssh-keygen", ["-lf", `${file}.pub`])).stdout.split(" ")[1]
    return { file, fingerprint, publicLine: fs.readFileSync(`${file}.pub`, "utf8").trim() }
  })

/**
 * The keys, an sshd that authorizes only the ed25519 one with `MaxAuthTries 6`, and an ssh_config
 * with a Host block that names the four identity files in order, read by both clients.
 */
const setup = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("maxauthtries-")
  const rsa = yield* Effect.forEach([1, 2, 3], (i) => makeKey(dir, `rsa${i}`, ["-t", "rsa", "-b", "2048"]), { concurrency: "unbounded" })
  const ed = yield* makeKey(dir, "ed", ["-t", "ed25519"])
  const sshd = yield* Sshd.start({
    hostKeys: yield* Sshd.makeHostKeys(["ed25519"]),
    authorizedKeys: [ed.publicLine],
    config: ["MaxAuthTries 6"]
  })
  yield* logOnFailure(sshd)
  const configFile = path.join(dir, "ssh_config")
  fs.writeFileSync(
    configFile,
    [
      `Host ${HOST}`,
      `  HostName ${sshd.host}`,
      `  Port ${sshd.port}`,
      `  User ${me}`,
      ...[...rsa, ed].map((k) => `  IdentityFile ${k.file}`),
      "  IdentitiesOnly yes",
      "  IdentityAgent none",
      "  BatchMode yes",
      "  PreferredAuthentications publickey",
      "  StrictHostKeyChecking no",
      "  UserKnownHostsFile /dev/null",
      "  GlobalKnownHostsFile /dev/null",
      ""
    ].join("\n")
  )
  return { configFile, ed, rsa, sshd }
})

/** What sshd's log says about the login: the tries of each RSA key, and how it ended. */
const judge = (log: string, rsa: ReadonlyArray<{ readonly fingerprint: string }>, ed: { readonly fingerprint: string }) => {
  const failed = log.split("\n").filter((l) => /Failed publickey for /.test(l))
  return {
    triesPerRsaKey: rsa.map((k) => failed.filter((l) => l.includes(`RSA ${k.fingerprint}`)).length),
    failures: failed.length,
    accepted: new RegExp(`Accepted publickey for ${me} from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519 ${ed.fingerprint.replace(/[+/]/g, "\\$&")}`).test(log),
    exceeded: /maximum authentication attempts exceeded/.test(log)
  }
}

describe.skipIf(skipInterop())("interop: the MaxAuthTries budget (MaxAuthTries 6, three refused RSA keys, then the right ed25519 key)", () => {
  it.scopedLive("OpenSSH's ssh offers each RSA key once and logs in", () =>
    Effect.gen(function*() {
      const { configFile, ed, rsa, sshd } = yield* setup
      const r = yield* Sshd.run("ssh", ["-F", configFile, "-v", HOST, "true"], { timeoutMs: 30_000 })
      expect(r.code, r.stderr).toBe(0)
      // ssh -v names each key it offers: once each, in the config's order.
      const offered = r.stderr.split("\n").filter((l) => /Offering public key: /.test(l))
      expect(offered.map((l) => /Offering public key: (\S+)/.exec(l)![1])).toEqual([...rsa, ed].map((k) => k.file))
      expect(judge(yield* sshd.readLog, rsa, ed)).toEqual({ triesPerRsaKey: [1, 1, 1], failures: 3, accepted: true, exceeded: false })
    }))

  it.scopedLive("ssh-auth connect, with the same config, offers each RSA key once and prints success", () =>
    Effect.gen(function*() {
      const { configFile, ed, rsa, sshd } = yield* setup
      const r = yield* Sshd.run(process.execPath, [bin, "connect", "-F", configFile, HOST, "--insecure-accept-any-host-key"], { timeoutMs: 30_000 })
      expect(judge(yield* sshd.readLog, rsa, ed)).toEqual({ triesPerRsaKey: [1, 1, 1], failures: 3, accepted: true, exceeded: false })
      expect(r.stderr).not.toMatch(/Too many authentication failures/)
      expect(r.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
      expect(r.code).toBe(0)
    }))
})
