/**
 * `ssh-auth probe` as a user runs it: the built bin against the suite's sshd, with
 * `ssh-keygen -lf` as the oracle for the fingerprint. `npm test` builds dist/ first.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { skipInterop } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as Sshd from "../support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const probe = (...args: ReadonlyArray<string>) => Sshd.run(process.execPath, [bin, "probe", ...args], { timeoutMs: 20_000 })

describe.skipIf(skipInterop())("ssh-auth probe", () => {
  it.scopedLive("prints the server version, algorithms, strict kex, server-sig-algs and the fingerprint ssh-keygen -lf gives", () =>
    Effect.gen(function*() {
      for (const type of ["ed25519", "ecdsa-p384", "rsa"] as const) {
        const hostKeys = yield* Sshd.makeHostKeys([type])
        const sshd = yield* Sshd.start({ hostKeys })
        yield* logOnFailure(sshd)
        const result = yield* probe(`tester@${sshd.host}`, "-p", String(sshd.port))
        expect(result.stderr).toBe("")
        expect(result.code).toBe(0)
        const oracle = yield* Sshd.run("ssh-keygen", ["-lf", `${hostKeys.files[type]}.pub`])
        const expected = oracle.stdout.split(" ")[1]
        expect(expected).toMatch(/^SHA256:/)
        expect(result.stdout).toMatch(new RegExp(`^debug1: Server host key: \\S+ ${expected.replace(/[+/]/g, "\\$&")}$`, "m"))
        expect(result.stdout).toMatch(/^debug1: Remote protocol version 2\.0, remote software version OpenSSH_/m)
        expect(result.stdout).toMatch(/^debug1: kex: algorithm: sntrup761x25519-sha512$/m)
        expect(result.stdout).toMatch(/^debug1: kex: strict kex: enabled$/m)
        expect(result.stdout).toMatch(/^debug1: kex_input_ext_info: server-sig-algs=<.*rsa-sha2-512.*>$/m)
        expect(result.stdout).toMatch(/^debug1: SSH2_MSG_SERVICE_ACCEPT received$/m)
      }
    }), 60_000)

  it.scopedLive("a refused connection prints one line and exits 255, like ssh", () =>
    Effect.gen(function*() {
      const result = yield* probe("127.0.0.1", "-p", "1")
      expect(result.code).toBe(255)
      expect(result.stderr.trim()).toBe("ssh-auth: 127.0.0.1:1: connect: cannot connect to 127.0.0.1 port 1")
    }))

  it.scopedLive("a bad command line exits 2", () =>
    Effect.gen(function*() {
      const result = yield* probe("127.0.0.1", "-p", "not-a-number")
      expect(result.code).toBe(2)
    }))
})
