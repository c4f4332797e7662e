/**
 * OpenSSH's `ssh -o GSSAPIAuthentication=yes` logs in to our server (in-process, 127.0.0.1)
 * by Kerberos: a realm of the test's own (test/support/Kdc.ts), a ticket in a credentials cache of the
 * client's (KRB5CCNAME), host/127.0.0.1 in the server's keytab. ssh's exit status and `-v`
 * lines judge from the client's side, the server's result and attempt records from ours:
 * the principal is named; a stale keytab is a refusal with the library's reason, at both
 * ends (ssh reads the KRB-ERROR our ERRTOK carries); the chain
 * gssapi-with-mic,publickey is a partial success, then the key; and the default mapping,
 * sshd's krb5_kuserok, lets a system user in by their own principal.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import { gssapiAuthToLocal } from "../../src/server/AuthPolicy.js"
import { ClientKeys, layer as clientKeysLayer } from "../support/ClientKeys.js"
import { isRoot, onPath, skipUnlessRoot, skipWithoutPeer } from "../support/Env.js"
import { fileKeytab, layer as realmLayer, skipWithoutGss } from "../support/Gss.js"
import { KdcRealm } from "../support/Kdc.js"
import * as OurServer from "../support/OurServer.js"
import { concurrent } from "../support/OurServer.js"
import { closedClientArgs, ensureTestUser, run, tempDir } from "../support/Sshd.js"

const skip = skipWithoutPeer("OpenSSH's ssh", ["ssh", "ssh-keygen"].every(onPath), "openssh-client") || skipWithoutGss()

interface SshOptions {
  readonly user: string
  /** The client's credentials cache. */
  readonly ccache: string
  readonly env: Readonly<Record<string, string>>
  readonly identities?: ReadonlyArray<string>
  readonly preferred?: string
}

/** `ssh -v` with GSSAPIAuthentication against `server`, bounded to 20 s. */
const ssh = (server: OurServer.OurServer, options: SshOptions) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("ssh-gss-client-")
    const knownHosts = path.join(dir, "known_hosts")
    fs.writeFileSync(knownHosts, `${server.knownHostsLine}\n`)
    const args = [
      "-v",
      "-n",
      ...closedClientArgs({ port: server.port, knownHosts }),
      "-o",
      "GSSAPIAuthentication=yes",
      "-o",
      `PreferredAuthentications=${options.preferred ?? "gssapi-with-mic"}`,
      ...(options.identities ?? []).flatMap((i) => ["-i", i]),
      `${options.user}@127.0.0.1`,
      "whoami"
    ]
    const result = yield* run("ssh", args, { timeoutMs: 20_000, env: { ...options.env, KRB5CCNAME: options.ccache, SSH_AUTH_SOCK: "" } })
    return { ...result, why: `${result.stderr}\n${server.log()}` }
  })

describe.skipIf(skip)("OpenSSH's ssh against our server, by Kerberos (gssapi-with-mic)", () => {
  layer(Layer.merge(realmLayer, clientKeysLayer), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("ssh logs in with a ticket; the result names the principal (auth_to_local: no system account needed)", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("alice")
        const ccache = yield* realm.kinit("alice")
        const server = yield* OurServer.start({ alice: {} }, {
          table: { methods: [["gssapi-with-mic"]], gssapiPrincipal: gssapiAuthToLocal },
          auth: { gssapi: { keytab: fileKeytab(realm.hostKeytab) } }
        })
        const r = yield* ssh(server, { user: "alice", ccache, env: realm.env })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as alice by gssapi-with-mic\n")
        expect(r.stderr).toContain(`Authenticated to 127.0.0.1 ([127.0.0.1]:${server.port}) using "gssapi-with-mic".`)
        expect(server.authenticated[0]?.credentials, r.why).toEqual([{ _tag: "Gssapi", principal: `alice@${realm.realm}`, source: "auth_to_local" }])
        const accepted = server.attempts.filter((a) => a.outcome === "Accepted")
        expect(accepted.map(String)).toEqual([expect.stringMatching(/^Accepted gssapi-with-mic for alice from 127\.0\.0\.1 port \d+ ssh2$/)])
        expect(accepted[0].detail).toBe(`principal alice@${realm.realm} (auth_to_local)`)
      }), concurrent)

    it.scoped("against our server with a stale keytab, ssh is refused; the attempt records the GSS error", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("bea")
        const ccache = yield* realm.kinit("bea")
        const server = yield* OurServer.start({ bea: {} }, {
          table: { methods: [["gssapi-with-mic"]], gssapiPrincipal: gssapiAuthToLocal },
          auth: { gssapi: { keytab: fileKeytab(realm.staleHostKeytab) } }
        })
        const r = yield* ssh(server, { user: "bea", ccache, env: realm.env })
        expect(r.code, r.why).toBe(255)
        expect(r.stderr).toMatch(/bea@127\.0\.0\.1: Permission denied \(gssapi-with-mic\)/)
        // Our ERRTOK carried the acceptor's KRB-ERROR, and ssh's GSS-API read it.
        expect(r.stderr).toMatch(/debug1: Unspecified GSS failure.*\nKey version is not available/)
        expect(server.authenticated).toEqual([])
        const failed = server.attempts.filter((a) => a.method === "gssapi-with-mic")
        expect(failed.length, r.why).toBeGreaterThan(0)
        expect(failed.every((a) => a.outcome === "Failed"), r.why).toBe(true)
        expect(failed[0].detail, r.why).toMatch(/^gss_accept_sec_context: .*Key version is not available/)
      }), concurrent)

    it.scoped("a chain gssapi-with-mic,publickey: ssh gets a partial success by Kerberos, then logs in with its key", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        const keys = yield* ClientKeys
        yield* realm.addPrincipal("carol")
        const ccache = yield* realm.kinit("carol")
        const server = yield* OurServer.start({ carol: { keys: [keys.ed25519.publicKey] } }, {
          table: { methods: [["gssapi-with-mic", "publickey"]], gssapiPrincipal: gssapiAuthToLocal },
          auth: { gssapi: { keytab: fileKeytab(realm.hostKeytab) } }
        })
        const r = yield* ssh(server, {
          user: "carol",
          ccache,
          env: realm.env,
          identities: [keys.ed25519.path],
          preferred: "gssapi-with-mic,publickey"
        })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as carol by gssapi-with-mic,publickey\n")
        expect(r.stderr).toMatch(/Authenticated using "gssapi-with-mic" with partial success/)
        const result = server.authenticated[0]
        expect(result?.methods, r.why).toEqual(["gssapi-with-mic", "publickey"])
        expect(result.credentials[0]).toEqual({ _tag: "Gssapi", principal: `carol@${realm.realm}`, source: "auth_to_local" })
        expect(result.credentials[1]._tag === "PublicKey" && result.credentials[1].key.fingerprint).toBe(keys.ed25519.fingerprint)
        expect(server.attempts.filter((a) => a.method !== "none" && a.outcome !== "KeyAcceptable").map((a) => [a.method, a.outcome])).toEqual([
          ["gssapi-with-mic", "Partial"],
          ["publickey-hostbound-v00@openssh.com", "Accepted"]
        ])
      }), concurrent)

    it.scoped.skipIf(!isRoot && skipUnlessRoot("krb5_kuserok against a system account"))(
      "sshd's default mapping, krb5_kuserok: the system test user logs in by their own principal",
      () =>
        Effect.gen(function*() {
          const realm = yield* KdcRealm
          const user = yield* ensureTestUser()
          yield* realm.addPrincipal(user.name)
          const ccache = yield* realm.kinit(user.name)
          // No gssapiPrincipal: the handler's default.
          const server = yield* OurServer.start({ [user.name]: {} }, {
            table: { methods: [["gssapi-with-mic"]] },
            auth: { gssapi: { keytab: fileKeytab(realm.hostKeytab) } }
          })
          const r = yield* ssh(server, { user: user.name, ccache, env: realm.env })
          expect(r.code, r.why).toBe(0)
          expect(r.stdout).toBe(`ran whoami as ${user.name} by gssapi-with-mic\n`)
          expect(server.authenticated[0]?.credentials, r.why).toEqual([{ _tag: "Gssapi", principal: `${user.name}@${realm.realm}`, source: "krb5_kuserok" }])
        }),
      30_000
    )
  })
})
