/**
 * The throwaway Kerberos realm of the gssapi-with-mic tests (test/support/Kdc.ts), judged by
 * OpenSSH: ssh with a ticket from the realm logs in to sshd by gssapi-with-mic; with no
 * ticket, an expired one, or against an sshd whose keytab is out of date, it does not. The
 * login user is the one running the tests (root under CI), as principal `<user>@EFFECT-SSH.TEST`.
 * And the realm keeps to its temp dir, and stops with its Scope.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { skipInterop } from "../support/Env.js"
import * as Kdc from "../support/Kdc.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import { alive } from "../support/RunUser.js"
import * as Sshd from "../support/Sshd.js"

class HostKeys extends Context.Tag("test/KdcHostKeys")<HostKeys, Sshd.HostKeys>() {}

const fixture = Layer.merge(Kdc.layer(), Layer.scoped(HostKeys, Sshd.makeHostKeys(["ed25519"])))

const me = os.userInfo().username

/** An sshd that takes gssapi-with-mic with this keytab (default the right one). */
const gssapiSshd = (keytab?: string) =>
  Effect.gen(function*() {
    const realm = yield* Kdc.KdcRealm
    const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, ...Kdc.sshdOptions(realm, keytab) })
    yield* logOnFailure(sshd)
    return sshd
  })

/** `ssh -v … true` by gssapi-with-mic only, with this ticket cache, bounded to 20 s. */
const ssh = (sshd: Sshd.Sshd, ccache: string) =>
  Effect.gen(function*() {
    const realm = yield* Kdc.KdcRealm
    const dir = yield* Sshd.tempDir("ssh-gssapi-")
    const knownHosts = path.join(dir, "known_hosts")
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${Sshd.hostKeyLine(sshd.hostKeys)}\n`)
    const args = [
      "-v",
      "-n",
      ...Sshd.closedClientArgs({ port: sshd.port, knownHosts }),
      "-o",
      "GSSAPIAuthentication=yes",
      "-o",
      "PreferredAuthentications=gssapi-with-mic",
      `${me}@127.0.0.1`,
      "true"
    ]
    const result = yield* Sshd.run("ssh", args, { env: { ...realm.env, KRB5CCNAME: ccache, SSH_AUTH_SOCK: "" }, timeoutMs: 20_000 })
    const log = yield* sshd.readLog
    return { ...result, log, why: `${result.stderr}\n--- sshd log ---\n${log}` }
  })

describe.skipIf(skipInterop() || Kdc.skipWithoutKdc())("the throwaway Kerberos realm, judged by OpenSSH", () => {
  layer(fixture, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("kinit fills a FILE: ticket cache inside the realm's dir, from a keytab or a password; ktadd makes old keys stale", () =>
      Effect.gen(function*() {
        const realm = yield* Kdc.KdcRealm
        expect(realm.realm).toBe("EFFECT-SSH.TEST")
        expect(realm.user.name).toBe(`${me}@EFFECT-SSH.TEST`)
        expect(realm.hostPrincipals).toEqual(["host/127.0.0.1@EFFECT-SSH.TEST", "host/localhost@EFFECT-SSH.TEST"])
        const ccache = yield* realm.kinit(me)
        expect(ccache.startsWith(`FILE:${realm.dir}/`)).toBe(true)
        const list = yield* Sshd.run("klist", ["-c", ccache], { env: realm.env })
        expect(list.stdout).toContain(`Default principal: ${me}@EFFECT-SSH.TEST`)
        expect(list.stdout).toContain("krbtgt/EFFECT-SSH.TEST@EFFECT-SSH.TEST")

        const carol = yield* realm.addPrincipal("carol", { password: "c4rol-pw" })
        const byPassword = yield* realm.kinit(carol.name, { password: "c4rol-pw", ccache: path.join(realm.dir, "carol-pw.ccache") })
        expect(byPassword).toBe(`FILE:${realm.dir}/carol-pw.ccache`)
        // -norandkey kept the password's keys in carol's keytab.
        yield* realm.kinit("carol")
        const wrong = yield* Effect.flip(realm.kinit("carol", { password: "not-it" }))
        expect(wrong._tag).toBe("KdcError")
        expect(wrong.reason).toBe("CommandFailed")
        expect(wrong.step).toBe("kinit carol@EFFECT-SSH.TEST")
        expect(wrong.message).toMatch(/Password incorrect/)
        expect(wrong.message).not.toContain("not-it")
        const unknown = yield* Effect.flip(realm.kinit("nobody"))
        expect(unknown.reason).toBe("BadArgument")
        // A new keytab draws new keys: the old one and the password stop working.
        const rekeyed = yield* realm.keytab(["carol"], path.join(realm.dir, "carol-2.keytab"))
        yield* realm.kinit("carol", { keytab: rekeyed })
        expect((yield* Effect.flip(realm.kinit("carol", { keytab: carol.keytab }))).reason).toBe("CommandFailed")
        expect((yield* Effect.flip(realm.kinit("carol", { password: "c4rol-pw" }))).reason).toBe("CommandFailed")
      }))

    it.scoped("ssh logs in to sshd by gssapi-with-mic with the user's ticket", () =>
      Effect.gen(function*() {
        const realm = yield* Kdc.KdcRealm
        const sshd = yield* gssapiSshd()
        const r = yield* ssh(sshd, yield* realm.kinit(me))
        expect(r.code, r.why).toBe(0)
        expect(r.stderr).toContain(`Authenticated to 127.0.0.1 ([127.0.0.1]:${sshd.port}) using "gssapi-with-mic".`)
        expect(r.log).toMatch(new RegExp(`Accepted gssapi-with-mic for ${me} from 127\\.0\\.0\\.1 port \\d+ ssh2: ${me}@EFFECT-SSH\\.TEST`))
        // sshd's replay cache went to the realm's dir, not /var/tmp.
        expect(fs.readdirSync(realm.dir).filter((f) => f.endsWith(".rcache2"))).toEqual([`krb5_${os.userInfo().uid}.rcache2`])
      }))

    it.scoped("with no ticket, ssh is refused", () =>
      Effect.gen(function*() {
        const realm = yield* Kdc.KdcRealm
        const sshd = yield* gssapiSshd()
        // The env's own cache, which nothing fills.
        const r = yield* ssh(sshd, realm.env.KRB5CCNAME)
        expect(r.code, r.why).toBe(255)
        expect(r.stderr).toContain(`No Kerberos credentials available (default cache: ${realm.env.KRB5CCNAME})`)
        expect(r.stderr).toContain("Permission denied")
        expect(r.log).not.toMatch(/Accepted gssapi-with-mic/)
      }))

    it.scoped("with an expired ticket, ssh is refused", () =>
      Effect.gen(function*() {
        const realm = yield* Kdc.KdcRealm
        const sshd = yield* gssapiSshd()
        const r = yield* ssh(sshd, yield* realm.expiredTicket(me, { ccache: path.join(realm.dir, "expired.ccache") }))
        expect(r.code, r.why).toBe(255)
        expect(r.stderr).toMatch(/Ticket expired/)
        expect(r.log).not.toMatch(/Accepted gssapi-with-mic/)
      }))

    it.scoped("an sshd with the stale host keytab refuses a good ticket", () =>
      Effect.gen(function*() {
        const realm = yield* Kdc.KdcRealm
        const sshd = yield* gssapiSshd(realm.staleHostKeytab)
        const r = yield* ssh(sshd, yield* realm.kinit(me))
        expect(r.code, r.why).toBe(255)
        // sshd's GSSAPI error, which ssh prints: krb5 1.20 finds no key in the keytab that opens the ticket.
        expect(r.stderr).toMatch(/The ticket isn't for us|not found in keytab|Key version/)
        expect(r.log).not.toMatch(/Accepted gssapi-with-mic/)
      }))

    it.effect("the realm writes only inside its dir, and the KDC and the dir go when the Scope closes", () =>
      Effect.gen(function*() {
        const realm = yield* Effect.scoped(Effect.tap(Kdc.start(), (realm) =>
          Effect.sync(() => {
            for (const [name, value] of Object.entries(realm.env)) {
              expect(path.relative(realm.dir, value.replace(/^FILE:/, "")), name).not.toMatch(/^\.\.|^\//)
            }
            expect(alive(realm.pid)).toBe(true)
          })))
        expect(alive(realm.pid)).toBe(false)
        expect(fs.existsSync(realm.dir)).toBe(false)
      }))
  })
})
