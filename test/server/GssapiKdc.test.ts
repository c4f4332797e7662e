/**
 * gssapi-with-mic on our server with real Kerberos: a KDC of the test's own (test/support/Kdc.ts), the
 * server's acceptor over the system's libgssapi_krb5 with host/127.0.0.1's keytab, and our
 * own initiator in the client's place, driving the messages one by one over a socket. It
 * shows what a scripted acceptor cannot: the MIC the server checks is the one Kerberos
 * makes over this session (a flipped byte, another session or another user fail); a stale
 * keytab fails with the library's reason and the KRB-ERROR goes back as ERRTOK, which the
 * client's GSS-API reads; and the principal maps to a user by sshd's rule (krb5_kuserok, a
 * system account and its ~/.k5login) or by auth_to_local. Last, our client's GssapiWithMic
 * source against our server, both in one process.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as path from "node:path"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import { gssapiAuthToLocal, type MethodName } from "../../src/server/AuthPolicy.js"
import type { ServerAttempt } from "../../src/server/ServerAuthResult.js"
import * as UserTable from "../../src/server/UserTable.js"
import { GssapiWithMic } from "../../src/sources/GssapiWithMic.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { connect, type HostileClient, parseFailure } from "../hostile-client/HostileClient.js"
import { target } from "../hostile-client/Target.js"
import { isRoot, skipUnlessRoot } from "../support/Env.js"
import { fileKeytab, layer as realmLayer, micData, skipWithoutGss, systemGssapi } from "../support/Gss.js"
import { KdcRealm } from "../support/Kdc.js"
import { pair } from "../support/ServerPair.js"
import { ensureTestUser, run } from "../support/Sshd.js"

const skip = skipWithoutGss()

const gssapiRequest = (user: string) =>
  encode((w) =>
    w.byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("gssapi-with-mic").uint32(1).string(Gssapi.krb5MechanismDer)
  )
const token = (bytes: Uint8Array) => encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_TOKEN).string(bytes))
const micMessage = (bytes: Uint8Array) => encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_MIC).string(bytes))
const stringOf = (payload: Uint8Array) => Either.getOrThrow(decode(payload, (r) => (r.byte(), r.string().slice())))

interface ServerSetup {
  readonly keytab: string
  readonly users?: Readonly<Record<string, UserTable.UserEntry>>
  readonly table?: UserTable.UserTableOptions
}

/** Our server with the real acceptor; a client logged in to ssh-userauth. */
const server = (setup: ServerSetup) =>
  Effect.gen(function*() {
    const attempts: Array<ServerAttempt> = []
    const methods: ReadonlyArray<ReadonlyArray<MethodName>> = [["gssapi-with-mic"]]
    const t = yield* target({
      policy: UserTable.make(setup.users ?? { alice: {} }, { methods, ...setup.table }),
      auth: { gssapi: { keytab: setup.keytab }, failureFloor: "1 millis", onAttempt: (a) => Effect.sync(() => void attempts.push(a)) }
    })
    const client = yield* Effect.acquireRelease(Effect.promise(() => connect({ port: t.port })), (c) => Effect.sync(() => c.close()))
    yield* Effect.promise(() => client.login())
    return { target: t, client, attempts }
  })

const reply = (c: HostileClient) => Effect.promise(() => c.reply())

/**
 * One exchange as a client runs it, up to the MIC: the request, our initiator's token, the
 * server's token back into the initiator. Returns the initiator (complete) or the server's
 * first answer that was not a TOKEN.
 */
const exchange = (client: HostileClient, user: string, ccache: string) =>
  Effect.gen(function*() {
    const gss = yield* systemGssapi
    const initiator = yield* gss.initiator({ target: "host@127.0.0.1", ccache })
    const first = yield* initiator.step(undefined)
    client.send(gssapiRequest(user))
    const response = yield* reply(client)
    expect(response[0]).toBe(MessageNumber.USERAUTH_GSSAPI_RESPONSE)
    expect(Buffer.from(stringOf(response)).equals(Buffer.from(Gssapi.krb5MechanismDer))).toBe(true)
    client.send(token(first.token!))
    const answer = yield* reply(client)
    if (answer[0] !== MessageNumber.USERAUTH_GSSAPI_TOKEN) return { _tag: "Refused", initiator, answer } as const
    const second = yield* initiator.step(stringOf(answer))
    expect(second.complete).toBe(true)
    expect(yield* initiator.integrity).toBe(true)
    return { _tag: "Established", initiator } as const
  })

const lastAttempt = (attempts: ReadonlyArray<ServerAttempt>) => attempts[attempts.length - 1]

const settle = (t: { readonly authenticated: ReadonlyArray<unknown> }) =>
  Effect.promise(async () => {
    for (let i = 0; i < 100 && t.authenticated.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
  })

describe.skipIf(skip)("gssapi-with-mic on our server, with a real KDC", () => {
  layer(realmLayer, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("a Kerberos login: the server verifies the MIC over this session and names the principal (auth_to_local)", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("alice")
        const ccache = yield* realm.kinit("alice")
        const { attempts, client, target: t } = yield* server({ keytab: fileKeytab(realm.hostKeytab), table: { gssapiPrincipal: gssapiAuthToLocal } })
        const established = yield* exchange(client, "alice", ccache)
        if (established._tag !== "Established") throw new Error(`message ${established.answer[0]} where the server's token belongs`)
        client.send(micMessage(yield* established.initiator.getMic(micData(client.sessionId, "alice"))))
        expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
        yield* settle(t)
        expect(t.authenticated[0].credentials).toEqual([{ _tag: "Gssapi", principal: `alice@${realm.realm}`, source: "auth_to_local" }])
        expect(lastAttempt(attempts).detail).toBe(`principal alice@${realm.realm} (auth_to_local)`)
      }))

    it.scoped("Kerberos MICs that must not verify: a flipped byte, another session's, another user's", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("ann")
        const ccache = yield* realm.kinit("ann")
        const { attempts, client, target: t } = yield* server({
          keytab: fileKeytab(realm.hostKeytab),
          users: { ann: {} },
          table: { gssapiPrincipal: gssapiAuthToLocal }
        })
        const wrongMics = [
          (mic: Uint8Array) => (mic[mic.length - 1] ^= 1, mic),
          () => micData(new Uint8Array(32), "ann"),
          () => micData(client.sessionId, "bob")
        ]
        for (const [i, wrong] of wrongMics.entries()) {
          const established = yield* exchange(client, "ann", ccache)
          if (established._tag !== "Established") throw new Error("the context did not establish")
          const honest = yield* established.initiator.getMic(micData(client.sessionId, "ann"))
          const mic = i === 0 ? wrong(honest) : yield* established.initiator.getMic(wrong(honest))
          client.send(micMessage(mic))
          expect(parseFailure(yield* reply(client))?.partial).toBe(false)
          expect(lastAttempt(attempts).detail).toMatch(new RegExp(`^the MIC does not verify: gss_verify_mic: .* \\(principal ann@${realm.realm}\\)$`))
        }
        expect(t.authenticated).toEqual([])
      }))

    it.scoped("a stale keytab: FAILURE with the library's reason, and the KRB-ERROR goes back as ERRTOK, which the client reads", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("bea")
        const ccache = yield* realm.kinit("bea")
        const { attempts, client, target: t } = yield* server({ keytab: fileKeytab(realm.staleHostKeytab), users: { bea: {} } })
        const refused = yield* exchange(client, "bea", ccache)
        if (refused._tag !== "Refused") throw new Error("a stale keytab established a context")
        expect(refused.answer[0]).toBe(MessageNumber.USERAUTH_GSSAPI_ERRTOK)
        const read = yield* Effect.flip(refused.initiator.step(stringOf(refused.answer)))
        expect(read.message).toMatch(/^gss_init_sec_context: /)
        expect(parseFailure(yield* reply(client))?.partial).toBe(false)
        expect(lastAttempt(attempts).detail).toMatch(/^gss_accept_sec_context: .*Key version is not available/)
        expect(t.authenticated).toEqual([])
      }))

    it.scoped("a keytab that is not there: FAILURE naming it, before any GSSAPI_RESPONSE", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        const { attempts, client } = yield* server({ keytab: `FILE:${realm.dir}/missing.keytab` })
        client.send(gssapiRequest("alice"))
        expect(parseFailure(yield* reply(client))).toBeDefined()
        expect(lastAttempt(attempts).detail).toMatch(/^gss_acquire_cred_from: /)
      }))

    it.scoped.skipIf(!isRoot && skipUnlessRoot("krb5_kuserok against a system account"))(
      "the default mapping is sshd's krb5_kuserok: user@REALM as the system user, then only what ~/.k5login lists",
      () =>
        Effect.gen(function*() {
          const realm = yield* KdcRealm
          const user = yield* ensureTestUser()
          yield* realm.addPrincipal(user.name)
          yield* realm.addPrincipal("carl")
          const own = yield* realm.kinit(user.name)
          const carl = yield* realm.kinit("carl")
          // No gssapiPrincipal in the table: the handler's default.
          const connection = server({ keytab: fileKeytab(realm.hostKeytab), users: { [user.name]: {} } })
          const login = (c: HostileClient, ccache: string) =>
            Effect.gen(function*() {
              const established = yield* exchange(c, user.name, ccache)
              if (established._tag !== "Established") throw new Error("the context did not establish")
              c.send(micMessage(yield* established.initiator.getMic(micData(c.sessionId, user.name))))
              return yield* reply(c)
            })
          const first = yield* connection
          // carl is not the user, and no .k5login names him; the user's own principal is.
          expect(parseFailure(yield* login(first.client, carl))).toBeDefined()
          expect(lastAttempt(first.attempts).detail).toBe(`not authorized for ${user.name} (principal carl@${realm.realm})`)
          expect((yield* login(first.client, own))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
          yield* settle(first.target)
          expect(first.target.authenticated[0].credentials).toEqual([{ _tag: "Gssapi", principal: `${user.name}@${realm.realm}`, source: "krb5_kuserok" }])
          // With a .k5login that lists carl, he may; and then the user's own principal may not.
          const home = (yield* run("sh", ["-c", `getent passwd ${user.name} | cut -d: -f6`])).stdout.trim()
          const k5login = path.join(home, ".k5login")
          yield* Effect.acquireRelease(
            Effect.sync(() => fs.writeFileSync(k5login, `carl@${realm.realm}\n`, { mode: 0o644 })),
            () => Effect.sync(() => fs.rmSync(k5login, { force: true }))
          )
          const { attempts, client, target: t } = yield* connection
          expect(parseFailure(yield* login(client, own))).toBeDefined()
          expect(lastAttempt(attempts).detail).toBe(`not authorized for ${user.name} (principal ${user.name}@${realm.realm})`)
          expect((yield* login(client, carl))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
          yield* settle(t)
          expect(t.authenticated[0].credentials).toEqual([{ _tag: "Gssapi", principal: `carl@${realm.realm}`, source: "krb5_kuserok" }])
        })
    )

    it.scoped("our client (the GssapiWithMic source) logs in to our server by Kerberos, in one process", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("dora")
        const ccache = yield* realm.kinit("dora")
        const policy = UserTable.layer({ dora: {} }, { methods: [["gssapi-with-mic"]], gssapiPrincipal: gssapiAuthToLocal })
        const connection = yield* pair(policy, { gssapi: { keytab: fileKeytab(realm.hostKeytab) } })
        const source = new GssapiWithMic({ username: "dora", host: "127.0.0.1", ccache })
        const client = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(connection.handlerLayer))
        expect(client.succeeded).toBe(true)
        const server = yield* Effect.orDie(connection.server)
        expect(server.credentials).toEqual([{ _tag: "Gssapi", principal: `dora@${realm.realm}`, source: "auth_to_local" }])
      }))

    it.scoped("our client against our server with a stale keytab: the ERRTOK reaches the client as a typed GssapiServerError", () =>
      Effect.gen(function*() {
        const realm = yield* KdcRealm
        yield* realm.addPrincipal("finn")
        const ccache = yield* realm.kinit("finn")
        const connection = yield* pair(UserTable.layer({ finn: {} }, { methods: [["gssapi-with-mic"]] }), {
          gssapi: { keytab: fileKeytab(realm.staleHostKeytab) }
        })
        const source = new GssapiWithMic({ username: "finn", host: "127.0.0.1", ccache })
        const failure = yield* Effect.flip(AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(connection.handlerLayer)))
        const attempt = failure.result.attempts[0]!.attempt
        expect(attempt._tag === "Error" && attempt.error).toBe("GssapiServerError")
        // Our client's GSS-API read the KRB-ERROR our server's acceptor made.
        expect(attempt._tag === "Error" && attempt.message).toBe(
          "gssapi-with-mic for finn: the server's GSSAPI failed: Unspecified GSS failure.  Minor code may provide more information (Key version is not available)"
        )
        yield* connection.client.disconnect()
        const server = yield* Effect.flip(connection.server)
        expect(server._tag === "ServerAuthFailure" && server.attempts[0]?.detail).toMatch(/Key version is not available/)
      }))
  })
})
