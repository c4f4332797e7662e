/**
 * Our client's gssapi-with-mic against OpenSSH's sshd, with the test's own Kerberos realm
 * (test/support/Kdc.ts) and sshd's host keytab: a ticket logs in and sshd's log says so;
 * without one, or with an expired one, the source fails with its typed error before sending
 * anything and the strategy falls through to publickey; a `gssapi-with-mic,publickey` chain
 * takes both; an sshd with a stale keytab answers with an error token our GSS-API reads.
 * Then the command: `ssh-auth connect -o GSSAPIAuthentication=yes`, its plan, and a process
 * without the optional binding.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as GssapiWithMic from "../../src/sources/GssapiWithMic.js"
import { OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { skipInterop } from "../support/Env.js"
import * as Kdc from "../support/Kdc.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as Sshd from "../support/Sshd.js"

class Fixture extends Context.Tag("test/GssapiClientFixture")<Fixture, {
  readonly hostKeys: Sshd.HostKeys
  readonly key: string
  readonly keyLine: string
}>() {}

const me = os.userInfo().username
const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/ssh-auth.js")

const fixture = Layer.merge(
  Kdc.layer(),
  Layer.scoped(
    Fixture,
    Effect.gen(function*() {
      const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
      const dir = yield* Sshd.tempDir("gssapi-client-")
      const key = path.join(dir, "id_ed25519")
      const made = yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", key, "-C", "gssapi-fallback"])
      if (made.code !== 0) return yield* Effect.die(new Error(`ssh-keygen: ${made.stderr}`))
      return { hostKeys, key, keyLine: fs.readFileSync(`${key}.pub`, "utf8").trim() }
    })
  )
)

/** The realm, with this process pointed at it for the test. */
const realm = Effect.tap(Kdc.KdcRealm, Kdc.useInProcess)

/** An sshd taking gssapi-with-mic with `keytab` (default the right one) and our key; and a connected handler. */
const connect = (options: { readonly keytab?: string; readonly config?: ReadonlyArray<string> } = {}) =>
  Effect.gen(function*() {
    const r = yield* realm
    const { hostKeys, keyLine } = yield* Fixture
    const gss = Kdc.sshdOptions(r, options.keytab)
    const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [keyLine], env: gss.env, config: [...(options.config ?? []), ...gss.config] })
    yield* logOnFailure(sshd)
    const transport = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure })
    return { sshd, realm: r, layer: AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))) }
  })

const kerberos = (ccache: string) => GssapiWithMic.make({ username: me, host: "127.0.0.1", ccache })
const key = Effect.map(Fixture, ({ key }) => new OnDiskPrivateKey({ username: me, path: key }))

describe.skipIf(skipInterop() || Kdc.skipWithoutKdc())("interop: our gssapi-with-mic against OpenSSH's sshd and a real KDC", () => {
  layer(Layer.merge(fixture, NodeFileSystem.layer), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("with a ticket: success, and sshd's log names the method and the principal", () =>
      Effect.gen(function*() {
        const { layer, realm, sshd } = yield* connect()
        const ccache = yield* realm.kinit(realm.user.name)
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(kerberos(ccache))).pipe(Effect.provide(layer))
        expect(String(result)).toMatch(new RegExp(`^GssapiWithMic\\(user=${me}, service=host@127\\.0\\.0\\.1\\) -> success`))
        expect(yield* sshd.readLog).toMatch(new RegExp(`Accepted gssapi-with-mic for ${me} from 127\\.0\\.0\\.1 port \\d+ ssh2: ${realm.user.name}`))
      }))

    it.scoped("without a ticket: the source's GssError, nothing sent for it, and the strategy falls through to publickey", () =>
      Effect.gen(function*() {
        const { layer, realm, sshd } = yield* connect()
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(kerberos(`FILE:${realm.dir}/empty.ccache`), yield* key)).pipe(
          Effect.provide(layer)
        )
        expect(result.attempts.map((a) => a.attempt._tag)).toEqual(["Error", "Success"])
        const error = result.errors[0]
        expect(error?._tag).toBe("GssError")
        expect(error?.message).toMatch(/No credentials cache found/)
        const log = yield* sshd.readLog
        expect(log).toMatch(new RegExp(`Accepted publickey for ${me}`))
        expect(log).not.toMatch(/method gssapi-with-mic/)
      }))

    it.scoped("with an expired ticket: a GssError that says so, and publickey after it", () =>
      Effect.gen(function*() {
        const { layer, realm } = yield* connect()
        const expired = yield* realm.expiredTicket(realm.user.name, { ccache: `${realm.dir}/expired-client.ccache` })
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(kerberos(expired), yield* key)).pipe(Effect.provide(layer))
        expect(result.attempts.map((a) => a.attempt._tag)).toEqual(["Error", "Success"])
        expect([result.errors[0]?._tag, result.errors[0]?.message]).toEqual(["GssError", expect.stringMatching(/expired/i)])
      }))

    it.scoped("AuthenticationMethods gssapi-with-mic,publickey: partial success, then the key", () =>
      Effect.gen(function*() {
        const { layer, realm, sshd } = yield* connect({ config: ["AuthenticationMethods gssapi-with-mic,publickey"] })
        const ccache = yield* realm.kinit(realm.user.name, { ccache: `${realm.dir}/chain.ccache` })
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(kerberos(ccache), yield* key)).pipe(Effect.provide(layer))
        expect(result.attempts.map((a) => a.attempt._tag === "Failure" ? `Failure(partial=${a.attempt.partialSuccess})` : a.attempt._tag)).toEqual([
          "Failure(partial=true)",
          "Success"
        ])
        const log = yield* sshd.readLog
        expect(log).toMatch(new RegExp(`Partial gssapi-with-mic for ${me} from 127\\.0\\.0\\.1 port \\d+ ssh2: ${realm.user.name}`))
        expect(log).toMatch(new RegExp(`Accepted publickey for ${me}`))
      }))

    it.scoped("an sshd whose keytab is stale: the error token it sends back is read by our GSS-API, a typed GssapiServerError", () =>
      Effect.gen(function*() {
        const { realm } = yield* connect()
        const { layer } = yield* connect({ keytab: realm.staleHostKeytab })
        const ccache = yield* realm.kinit(realm.user.name, { ccache: `${realm.dir}/stale.ccache` })
        const failure = yield* AuthStrategy.authenticate(AuthStrategy.make(kerberos(ccache))).pipe(Effect.provide(layer), Effect.flip)
        const error = failure.errors[0]
        expect(error?._tag).toBe("GssapiServerError")
        expect(error?.message).toMatch(/the server's GSSAPI failed/)
      }))

    it.scoped("ssh-auth connect -o GSSAPIAuthentication=yes: the plan names the ticket, and the login uses it", () =>
      Effect.gen(function*() {
        const { realm, sshd } = yield* connect()
        const ccache = yield* realm.kinit(realm.user.name, { ccache: `${realm.dir}/cli.ccache` })
        const { hostKeys } = yield* Fixture
        const knownHosts = path.join(realm.dir, "cli_known_hosts")
        fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${Sshd.hostKeyLine(hostKeys)}\n`)
        const args = (gssapi: "yes" | "no") => [
          bin,
          "connect",
          ...Sshd.closedClientArgs({ port: sshd.port, knownHosts }),
          "-o",
          `GSSAPIAuthentication=${gssapi}`,
          `${me}@127.0.0.1`
        ]
        const env = { ...realm.env, KRB5CCNAME: ccache }
        const plan = yield* Sshd.run(process.execPath, [...args("yes"), "--dry-run"], { env, timeoutMs: 20_000 })
        expect(plan.code, plan.stderr).toBe(0)
        expect(plan.stdout).toMatch(
          new RegExp(`1\\. gssapi-with-mic Kerberos ticket for host@127\\.0\\.0\\.1 from GSSAPIAuthentication — ticket of ${realm.user.name}, valid \\d+h\\d+m`)
        )
        const login = yield* Sshd.run(process.execPath, [...args("yes"), "-v"], { env, timeoutMs: 20_000 })
        expect(login.code, login.stderr).toBe(0)
        expect(login.stderr).toMatch(/Authenticated to 127\.0\.0\.1 \(\[127\.0\.0\.1\]:\d+\) using "gssapi-with-mic"/)
        const off = yield* Sshd.run(process.execPath, [...args("no"), "--dry-run"], {
          env,
          timeoutMs: 20_000
        })
        expect(off.stdout).toMatch(/1\. gssapi-with-mic .* — skipped: GSSAPIAuthentication is off/)
        // No ticket: passed over before connecting, with the library's reason, as ssh passes over it.
        const none = yield* Sshd.run(process.execPath, [...args("yes"), "--dry-run"], {
          env: { ...env, KRB5CCNAME: `FILE:${realm.dir}/never-made.ccache` },
          timeoutMs: 20_000
        })
        expect(none.stdout).toMatch(/1\. gssapi-with-mic .* — skipped: no usable Kerberos ticket: gss_acquire_cred_from: No credentials were supplied/)
      }))

    it.scoped("without the optional binding: the gssapi step is skipped with the reason, and the key logs in", () =>
      Effect.gen(function*() {
        const { realm, sshd } = yield* connect()
        const { hostKeys, key } = yield* Fixture
        const ccache = yield* realm.kinit(realm.user.name, { ccache: `${realm.dir}/nokoffi.ccache` })
        const knownHosts = path.join(realm.dir, "nokoffi_known_hosts")
        fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${Sshd.hostKeyLine(hostKeys)}\n`)
        const login = yield* Sshd.run(
          process.execPath,
          [
            "--import",
            path.join(root, "test/support/WithoutKoffi.mjs"),
            bin,
            "connect",
            "-F",
            "/dev/null",
            "-p",
            String(sshd.port),
            "-i",
            key,
            "-o",
            `UserKnownHostsFile=${knownHosts}`,
            "-o",
            "IdentityAgent=none",
            "-o",
            "BatchMode=yes",
            "-o",
            "GSSAPIAuthentication=yes",
            "-v",
            `${me}@127.0.0.1`
          ],
          { env: { ...realm.env, KRB5CCNAME: ccache }, timeoutMs: 20_000 }
        )
        expect(login.code, login.stderr).toBe(0)
        expect(login.stderr).toMatch(/GssapiWithMic\(.*\): Skipped: GSSAPI is not available: the optional package koffi is not installed/)
        expect(login.stderr).toMatch(/using "publickey"/)
      }))
  })
})
