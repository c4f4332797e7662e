/**
 * `ssh-auth serve --keytab` as a process (the built binary), with a Kerberos realm of the
 * test's own and OpenSSH's `ssh -o GSSAPIAuthentication=yes` as the client: gssapi-with-mic
 * is offered and logs in, the JSON line names the principal, a stale keytab is refused with
 * the library's reason in the record, sshd's krb5_kuserok is the default mapping, and
 * without `--keytab` the method is neither offered nor accepted in AuthenticationMethods.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as path from "node:path"
import { isRoot, onPath, skipUnlessRoot, skipWithoutPeer } from "../support/Env.js"
import { fileKeytab, layer as realmLayer, skipWithoutGss } from "../support/Gss.js"
import { KdcRealm } from "../support/Kdc.js"
import { ensureTestUser } from "../support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const skip = skipWithoutPeer("OpenSSH's ssh", onPath("ssh"), "openssh-client") || skipWithoutGss()

interface Running {
  readonly child: ChildProcess
  readonly port: number
  readonly output: () => string
}

/** `serve` for the life of the scope; waits (bounded) for its "Server listening" line. */
const serve = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.promise(async (): Promise<Running> => {
      const child = spawn(process.execPath, [bin, "serve", "-p", "0", ...args], { env: { ...process.env, ...env } })
      let output = ""
      child.stdout!.on("data", (d) => (output += d))
      child.stderr!.on("data", (d) => (output += d))
      for (let i = 0; i < 100; i++) {
        const m = /Server listening on 127\.0\.0\.1 port (\d+)\./.exec(output)
        if (m) return { child, port: Number(m[1]), output: () => output }
        if (child.exitCode !== null) break
        await new Promise((r) => setTimeout(r, 50))
      }
      child.kill("SIGKILL")
      throw new Error(`serve did not start: ${output}`)
    }),
    (running) => Effect.sync(() => running.child.kill("SIGKILL"))
  )

/** `ssh -v` by Kerberos only, with `ccache`. */
const ssh = (port: number, user: string, ccache: string, env: Readonly<Record<string, string>>) =>
  spawnSync("ssh", [
    "-v",
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "BatchMode=yes",
    "-o",
    "GSSAPIAuthentication=yes",
    "-o",
    "PreferredAuthentications=gssapi-with-mic",
    "-p",
    String(port),
    `${user}@127.0.0.1`,
    "anything"
  ], { encoding: "utf8", timeout: 20_000, env: { ...process.env, ...env, KRB5CCNAME: ccache } })

/** Waits (bounded) until the server's output matches. */
const printed = (running: Running, pattern: RegExp) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100 && !pattern.test(running.output()); i++) await new Promise((r) => setTimeout(r, 20))
    return running.output()
  })

const jsonLines = (output: string) =>
  output.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { method: string; outcome: string; detail?: string })

describe.skipIf(skip)("ssh-auth serve --keytab", () => {
  layer(realmLayer, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("offers gssapi-with-mic; ssh logs in by Kerberos and the JSON line names the principal", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("alice")
        const ccache = yield* realm.kinit("alice")
        const running = yield* serve(["--user", "alice", "--keytab", fileKeytab(realm.hostKeytab), "--principal-map", "auth-to-local", "--json"], realm.env)
        const r = ssh(running.port, "alice", ccache, realm.env)
        expect(r.status, `${r.stderr}\n${running.output()}`).toBe(0)
        expect(r.stdout).toBe("authenticated alice by gssapi-with-mic\n")
        // Offered first, before the other methods, as sshd lists it.
        expect(r.stderr).toMatch(/Authentications that can continue: gssapi-with-mic,publickey,password,keyboard-interactive/)
        const accepted = jsonLines(yield* printed(running, /"outcome":"Accepted"/)).filter((l) => l.outcome === "Accepted")
        expect(accepted).toEqual([expect.objectContaining({ method: "gssapi-with-mic", detail: `principal alice@${realm.realm} (auth_to_local)` })])
      }))

    it.scoped("a stale keytab: ssh is refused, and the record says why", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("bea")
        const ccache = yield* realm.kinit("bea")
        const running = yield* serve(["--user", "bea", "--keytab", fileKeytab(realm.staleHostKeytab), "--principal-map", "auth-to-local", "--json"], realm.env)
        const r = ssh(running.port, "bea", ccache, realm.env)
        expect(r.status).toBe(255)
        expect(r.stderr).toMatch(/Permission denied/)
        const failed = jsonLines(yield* printed(running, /Key version is not available/)).filter((l) => l.method === "gssapi-with-mic")
        expect(failed[0]).toEqual(expect.objectContaining({ outcome: "Failed", detail: expect.stringMatching(/Key version is not available/) }))
      }))

    it.scoped("a principal auth_to_local does not map to --user is refused", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("dan")
        const ccache = yield* realm.kinit("dan")
        const running = yield* serve(["--user", "erin", "--keytab", fileKeytab(realm.hostKeytab), "--principal-map", "auth-to-local", "--json"], realm.env)
        const r = ssh(running.port, "erin", ccache, realm.env)
        expect(r.status).toBe(255)
        const failed = jsonLines(yield* printed(running, /not authorized/)).filter((l) => l.method === "gssapi-with-mic")
        expect(failed[0]?.detail).toBe(`not authorized for erin (principal dan@${realm.realm})`)
      }))

    it.scoped.skipIf(!isRoot && skipUnlessRoot("krb5_kuserok against a system account"))(
      "the default mapping is sshd's krb5_kuserok, and the log line is sshd's",
      () =>
        Effect.gen(function*() {
          const realm = yield* KdcRealm
          const user = yield* ensureTestUser()
          yield* realm.addPrincipal(user.name)
          const ccache = yield* realm.kinit(user.name)
          const running = yield* serve(["--user", user.name, "--keytab", fileKeytab(realm.hostKeytab)], realm.env)
          const r = ssh(running.port, user.name, ccache, realm.env)
          expect(r.status, `${r.stderr}\n${running.output()}`).toBe(0)
          expect(yield* printed(running, /Accepted gssapi-with-mic/)).toMatch(
            new RegExp(`^Accepted gssapi-with-mic for ${user.name} from 127\\.0\\.0\\.1 port \\d+ ssh2$`, "m")
          )
        })
    )

    it.scoped("without --keytab: not offered, and AuthenticationMethods naming it is refused", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        const running = yield* serve(["--user", "alice"], realm.env)
        const r = ssh(running.port, "alice", "FILE:/nonexistent", realm.env)
        expect(r.status).toBe(255)
        expect(r.stderr).toMatch(/Authentications that can continue: publickey,password,keyboard-interactive\r?\n/)
        const refused = spawnSync(process.execPath, [bin, "serve", "-p", "0", "--user", "alice", "-o", "AuthenticationMethods=gssapi-with-mic,publickey"], {
          encoding: "utf8",
          timeout: 20_000
        })
        expect(refused.status).toBe(255)
        expect(refused.stderr).toContain("AuthenticationMethods names gssapi-with-mic, which needs --keytab")
      }))
  })
})
