/**
 * gssapi-with-mic on our server against a client that breaks RFC 4462 on purpose, over a
 * real socket, with a scripted acceptor in place of Kerberos (test/hostile-client/FakeGss.ts)
 * so that every branch of the dispatch is reached on any machine: what the server offers
 * and when, messages out of phase (a violation) and out of order (a failure), bounds on
 * tokens and rounds, EXCHANGE_COMPLETE refused where a MIC is possible, a bad MIC, the
 * client's error token and the acceptor's, a new request in the middle, chains, and
 * LoginGraceTime. test/server/GssapiKdc.test.ts runs the same exchange with a real KDC.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import { type AuthPolicyService, gssapiKuserok, type MethodName } from "../../src/server/AuthPolicy.js"
import type { ServerAttempt } from "../../src/server/ServerAuthResult.js"
import * as UserTable from "../../src/server/UserTable.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { runCase } from "./Case.js"
import { fakeGssapi, fakeMic, type FakeScript } from "./FakeGss.js"
import { channelOpen, connect, type HostileClient, parseFailure, passwordRequest, signedRequest } from "./HostileClient.js"
import { aliceKey, PASSWORD, target, type TargetOptions } from "./Target.js"

// ---- what the client sends ----

/** USERAUTH_REQUEST for gssapi-with-mic offering `oids` (default: Kerberos V5 alone). */
const gssapiRequest = (user: string, oids: ReadonlyArray<Uint8Array> = [Gssapi.krb5MechanismDer], count = oids.length) =>
  encode((w) => {
    w.byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("gssapi-with-mic").uint32(count)
    for (const oid of oids) w.string(oid)
  })
const token = (bytes: Uint8Array | string) => encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_TOKEN).string(bytes))
const micMessage = (bytes: Uint8Array) => encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_MIC).string(bytes))
const errtok = (bytes: Uint8Array | string) => encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_ERRTOK).string(bytes))
const exchangeComplete = Uint8Array.of(MessageNumber.USERAUTH_GSSAPI_EXCHANGE_COMPLETE)

/** SPNEGO's OID, which we do not support. */
const spnego = Uint8Array.of(0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02)

// ---- the server ----

const table = (methods: ReadonlyArray<ReadonlyArray<MethodName>>, policy: Partial<AuthPolicyService> = {}): AuthPolicyService => ({
  ...UserTable.make({ alice: { keys: [aliceKey.publicKey], password: Redacted.make(PASSWORD) } }, { methods }),
  ...policy
})

interface Setup {
  readonly script?: FakeScript
  readonly methods?: ReadonlyArray<ReadonlyArray<MethodName>>
  readonly policy?: Partial<AuthPolicyService>
  /** Default: configured, with the scripted acceptor's defaults. */
  readonly gssapi?: ServerAuthOptions["gssapi"] | null
  readonly auth?: ServerAuthOptions
}

/** Our server with the scripted GSS-API in context, and every attempt it recorded. */
const server = (setup: Setup = {}) =>
  Effect.gen(function*() {
    const fake = fakeGssapi(setup.script)
    const attempts: Array<ServerAttempt> = []
    const options: TargetOptions = {
      policy: table(setup.methods ?? [["gssapi-with-mic"], ["password"]], setup.policy),
      auth: {
        failureFloor: "1 millis",
        ...setup.auth,
        ...(setup.gssapi === null ? {} : { gssapi: setup.gssapi ?? {} }),
        onAttempt: (a) => Effect.sync(() => void attempts.push(a))
      }
    }
    const t = yield* target(options).pipe(Effect.provide(Layer.succeed(Gssapi.Gssapi, fake.service)))
    const client = yield* Effect.acquireRelease(Effect.promise(() => connect({ port: t.port })), (c) => Effect.sync(() => c.close()))
    yield* Effect.promise(() => client.login())
    return { target: t, client, attempts, fake }
  })

const reply = (c: HostileClient) => Effect.promise(() => c.reply())
const send = (c: HostileClient, payload: Uint8Array) => Effect.sync(() => c.send(payload))

/** The request, and the server's GSSAPI_RESPONSE naming Kerberos V5. */
const begin = (c: HostileClient, user = "alice") =>
  Effect.gen(function*() {
    yield* send(c, gssapiRequest(user))
    const response = yield* reply(c)
    expect(response[0]).toBe(MessageNumber.USERAUTH_GSSAPI_RESPONSE)
    const oid = decode(response, (r) => (r.byte(), r.string()))
    expect(oid._tag === "Right" && Buffer.from(oid.right).equals(Buffer.from(Gssapi.krb5MechanismDer))).toBe(true)
  })

/** begin, then one token the scripted acceptor completes on; its reply token comes back. */
const establish = (c: HostileClient, user = "alice") =>
  Effect.gen(function*() {
    yield* begin(c, user)
    yield* send(c, token("hello"))
    const answer = yield* reply(c)
    expect(answer[0]).toBe(MessageNumber.USERAUTH_GSSAPI_TOKEN)
  })

const failureOf = (payload: Uint8Array) => {
  const failure = parseFailure(payload)
  if (failure === undefined) throw new Error(`message ${payload[0]} where a USERAUTH_FAILURE belongs`)
  return failure
}

const lastAttempt = (attempts: ReadonlyArray<ServerAttempt>) => attempts[attempts.length - 1]

describe("gssapi-with-mic on our server: offered only when configured", () => {
  it.scopedLive("not configured: chains naming it are left out, and a request for it fails without a GSSAPI_RESPONSE", () =>
    Effect.gen(function*() {
      const { attempts, client, fake } = yield* server({ gssapi: null, methods: [["gssapi-with-mic"], ["gssapi-with-mic", "publickey"], ["password"]] })
      yield* send(client, gssapiRequest("alice"))
      const failure = failureOf(yield* reply(client))
      expect(failure.methods).toEqual(["password"])
      expect(lastAttempt(attempts).detail).toMatch(/not offered/)
      expect(fake.log.acceptors).toBe(0)
    }))

  it.scopedLive("configured but in no chain: not offered", () =>
    Effect.gen(function*() {
      const { attempts, client, fake } = yield* server({ methods: [["password"]] })
      yield* send(client, gssapiRequest("alice"))
      expect(failureOf(yield* reply(client)).methods).toEqual(["password"])
      expect(lastAttempt(attempts).detail).toMatch(/not offered/)
      expect(fake.log.acceptors).toBe(0)
    }))

  it.scopedLive("configured and in a chain: the whole exchange, and the result names the principal", () =>
    Effect.gen(function*() {
      const { attempts, client, fake, target: t } = yield* server()
      yield* establish(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "alice")))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      const result = yield* Effect.promise(async () => {
        for (let i = 0; i < 100 && t.authenticated.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
        return t.authenticated[0]
      })
      expect(result.methods).toEqual(["gssapi-with-mic"])
      expect(result.credentials).toEqual([{ _tag: "Gssapi", principal: "alice@X.TEST", source: "krb5_kuserok" }])
      expect(lastAttempt(attempts).outcome).toBe("Accepted")
      expect(lastAttempt(attempts).detail).toBe("principal alice@X.TEST (krb5_kuserok)")
      expect(String(lastAttempt(attempts))).toMatch(/^Accepted gssapi-with-mic for alice from 127\.0\.0\.1 port \d+ ssh2$/)
      expect(fake.log.tokens.map((t) => Buffer.from(t).toString())).toEqual(["hello"])
      // The acceptor's context lived as long as the method.
      expect(fake.log.released).toBe(1)
    }))
})

describe("gssapi-with-mic on our server: the mechanisms offered", () => {
  it.scopedLive("Kerberos V5 after an unsupported and a malformed OID is the one chosen", () =>
    Effect.gen(function*() {
      const { client } = yield* server()
      yield* send(client, gssapiRequest("alice", [spnego, Uint8Array.of(0x06, 0x7f, 1), Gssapi.krb5MechanismDer]))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_GSSAPI_RESPONSE)
    }))

  it.scopedLive("no supported mechanism: FAILURE, not counted against MaxAuthTries (sshd's server_caused_failure)", () =>
    Effect.gen(function*() {
      const { attempts, client, fake } = yield* server({ auth: { maxAuthTries: 2 } })
      for (let i = 0; i < 4; i++) {
        yield* send(client, gssapiRequest("alice", [spnego]))
        expect(failureOf(yield* reply(client)).partial).toBe(false)
      }
      expect(attempts.map((a) => a.detail)).toEqual(Array(4).fill("no mechanism we support (Kerberos V5) was offered"))
      expect(fake.log.acceptors).toBe(0)
      // Still in: the password goes through.
      yield* send(client, passwordRequest("alice", PASSWORD))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
    }))

  it.scopedLive("no mechanism at all, and more than 64: FAILURE", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server()
      yield* send(client, gssapiRequest("alice", []))
      failureOf(yield* reply(client))
      yield* send(client, gssapiRequest("alice", Array(65).fill(Gssapi.krb5MechanismDer)))
      failureOf(yield* reply(client))
      expect(attempts.map((a) => a.detail)).toEqual(["no mechanism offered (negotiation is not supported)", "65 mechanisms offered (at most 64)"])
    }))

  it.live("a count of OIDs larger than what follows is a malformed request: cut", () =>
    runCase(
      async (c) => {
        await c.login()
        c.send(gssapiRequest("alice", [Gssapi.krb5MechanismDer], 3))
      },
      { reason: "ProtocolViolation", detail: /malformed gssapi-with-mic request/ },
      { policy: table([["gssapi-with-mic"]]), auth: { gssapi: {} } }
    ))
})

describe("gssapi-with-mic on our server: phase decides meaning", () => {
  const outOfPhase = [
    ["60 (GSSAPI_RESPONSE, the server's message)", encode((w) => w.byte(60).string(Gssapi.krb5MechanismDer))],
    ["62 (unassigned)", Uint8Array.of(62)],
    ["64 (GSSAPI_ERROR, the server's message)", encode((w) => w.byte(64).uint32(1).uint32(2).string("x").string(""))],
    ["a CHANNEL_OPEN", channelOpen]
  ] as const
  for (const [name, payload] of outOfPhase) {
    it.scopedLive(`${name} in the middle of the exchange is a protocol violation`, () =>
      Effect.gen(function*() {
        const { client, target: t } = yield* server()
        yield* begin(client)
        yield* send(client, payload)
        const end = yield* Effect.promise(() => t.nextEnd(5_000))
        expect(end.failure?.reason).toBe("ProtocolViolation")
        expect(end.failure?.detail).toMatch(new RegExp(`message ${payload[0]} where a gssapi-with-mic message belongs`))
        expect(t.authenticated).toEqual([])
      }))
  }

  it.scopedLive("a malformed TOKEN is a protocol violation", () =>
    Effect.gen(function*() {
      const { client, target: t } = yield* server()
      yield* begin(client)
      yield* send(client, Uint8Array.of(MessageNumber.USERAUTH_GSSAPI_TOKEN, 0, 0, 1, 0))
      const end = yield* Effect.promise(() => t.nextEnd(5_000))
      expect(end.failure?.detail).toMatch(/malformed GSSAPI_TOKEN/)
    }))

  it.scopedLive("a MIC before the context is established: FAILURE, and the policy is never asked", () =>
    Effect.gen(function*() {
      const { attempts, client, target: t } = yield* server({ policy: { gssapiPrincipal: gssapiKuserok } })
      yield* begin(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "alice")))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe("a GSSAPI_MIC before the context was established")
      expect(t.calls.gssapiPrincipal).toEqual([])
    }))

  it.scopedLive("EXCHANGE_COMPLETE before the context is established: FAILURE", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server({ script: { integrity: false } })
      yield* begin(client)
      yield* send(client, exchangeComplete)
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toMatch(/EXCHANGE_COMPLETE before the context was established/)
    }))

  it.scopedLive("a TOKEN after the context is established: FAILURE", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server()
      yield* establish(client)
      yield* send(client, token("more"))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe("a GSSAPI_TOKEN after the context was established (principal alice@X.TEST)")
    }))
})

describe("gssapi-with-mic on our server: the proof", () => {
  it.scopedLive("a bad MIC: FAILURE naming the principal, no success, and the policy is never asked", () =>
    Effect.gen(function*() {
      const { attempts, client, target: t } = yield* server({ policy: { gssapiPrincipal: gssapiKuserok } })
      yield* establish(client)
      const bad = fakeMic(client.sessionId, "alice")
      bad[0] ^= 1
      yield* send(client, micMessage(bad))
      expect(failureOf(yield* reply(client)).partial).toBe(false)
      expect(lastAttempt(attempts).outcome).toBe("Failed")
      expect(lastAttempt(attempts).detail).toMatch(/^the MIC does not verify: gss_verify_mic: .* \(principal alice@X\.TEST\)$/)
      expect(t.calls.gssapiPrincipal).toEqual([])
      expect(t.authenticated).toEqual([])
    }))

  it.scopedLive("a MIC over another user's request (the client asked as alice, signed for bob): FAILURE", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server()
      yield* establish(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "bob")))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toMatch(/the MIC does not verify/)
    }))

  it.scopedLive("EXCHANGE_COMPLETE is refused when the context protects integrity: a MIC is required", () =>
    Effect.gen(function*() {
      const { attempts, client, target: t } = yield* server()
      yield* establish(client)
      yield* send(client, exchangeComplete)
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe(
        "GSSAPI_EXCHANGE_COMPLETE refused: the context protects integrity, so a MIC is required (principal alice@X.TEST)"
      )
      expect(t.authenticated).toEqual([])
    }))

  it.scopedLive("EXCHANGE_COMPLETE from a context without integrity is accepted, as sshd accepts it", () =>
    Effect.gen(function*() {
      const { client, target: t } = yield* server({ script: { integrity: false } })
      yield* establish(client)
      yield* send(client, exchangeComplete)
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      expect(t.authenticated[0]?.credentials).toEqual([{ _tag: "Gssapi", principal: "alice@X.TEST", source: "krb5_kuserok" }])
    }))

  it.scopedLive("the principal not allowed for the user (krb5_kuserok says no): FAILURE", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server({ script: { kuserok: false } })
      yield* establish(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "alice")))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe("not authorized for alice (principal alice@X.TEST)")
    }))

  it.scopedLive("the policy's gssapiPrincipal decides, after the MIC, and its source is recorded", () =>
    Effect.gen(function*() {
      const { client, target: t } = yield* server({
        script: { kuserok: false },
        policy: { gssapiPrincipal: (offer) => Effect.succeed(offer.principal === "alice@X.TEST" ? Option.some({ source: "directory" }) : Option.none()) }
      })
      yield* establish(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "alice")))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      expect(t.calls.gssapiPrincipal).toEqual([{ user: "alice", principal: "alice@X.TEST" }])
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      expect(t.authenticated[0]?.credentials).toEqual([{ _tag: "Gssapi", principal: "alice@X.TEST", source: "directory" }])
    }))

  it.scopedLive("a chain gssapi-with-mic,publickey: partial success, then the key completes it", () =>
    Effect.gen(function*() {
      const { attempts, client, target: t } = yield* server({ methods: [["gssapi-with-mic", "publickey"]] })
      yield* establish(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "alice")))
      expect(failureOf(yield* reply(client))).toEqual({ methods: ["publickey"], partial: true })
      yield* send(client, signedRequest({ user: "alice", offered: aliceKey, sessionId: client.sessionId }))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
      expect(t.authenticated[0]?.methods).toEqual(["gssapi-with-mic", "publickey"])
      expect(t.authenticated[0]?.credentials.map((c) => c._tag)).toEqual(["Gssapi", "PublicKey"])
      expect(attempts.map((a) => a.outcome)).toEqual(["Partial", "Accepted"])
      expect(attempts[0].detail).toBe("principal alice@X.TEST (krb5_kuserok)")
    }))
})

describe("gssapi-with-mic on our server: bounds", () => {
  it.scopedLive("a token over maxTokenBytes: FAILURE, and the acceptor never sees it", () =>
    Effect.gen(function*() {
      const { attempts, client, fake } = yield* server({ gssapi: { maxTokenBytes: 1000 } })
      yield* begin(client)
      yield* send(client, token(new Uint8Array(1001)))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe("a GSSAPI token of 1001 bytes (at most 1000)")
      expect(fake.log.tokens).toEqual([])
    }))

  it.scopedLive("an exchange that never completes ends after maxRounds tokens", () =>
    Effect.gen(function*() {
      const { attempts, client, fake } = yield* server({ script: { completeAfter: Infinity }, gssapi: { maxRounds: 5 } })
      yield* begin(client)
      for (let i = 0; i < 5; i++) {
        yield* send(client, token(`round ${i}`))
        expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_GSSAPI_TOKEN)
      }
      yield* send(client, token("round 5"))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe("more than 5 GSSAPI token rounds")
      expect(fake.log.tokens).toHaveLength(5)
    }))

  it.scopedLive("the default bound is 16 rounds", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* server({ script: { completeAfter: Infinity } })
      yield* begin(client)
      let reply61 = 0
      for (let i = 0; i < 17; i++) {
        yield* send(client, token(`round ${i}`))
        const r = yield* reply(client)
        if (r[0] === MessageNumber.USERAUTH_GSSAPI_TOKEN) reply61++
        else failureOf(r)
      }
      expect(reply61).toBe(16)
      expect(fake.log.tokens).toHaveLength(16)
    }))

  it.live("a client silent in the middle of the exchange is cut at LoginGraceTime", () =>
    runCase(
      async (c) => {
        await c.login()
        c.send(gssapiRequest("alice"))
        expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_GSSAPI_RESPONSE)
      },
      { reason: "LoginGraceTime", withinMs: 2_500 },
      { policy: table([["gssapi-with-mic"]]), auth: { gssapi: {}, loginGraceTime: "1 second" } }
    ).pipe(
      Effect.provide(Layer.succeed(Gssapi.Gssapi, fakeGssapi().service))
    ))
})

describe("gssapi-with-mic on our server: errors and abandonment", () => {
  it.scopedLive("the acceptor fails: its error token goes back as ERRTOK (as sshd), then FAILURE with the library's words", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server({ script: { failOn: "bad ticket" } })
      yield* begin(client)
      yield* send(client, token("bad ticket"))
      const errtokReply = yield* reply(client)
      expect(errtokReply[0]).toBe(MessageNumber.USERAUTH_GSSAPI_ERRTOK)
      const carried = decode(errtokReply, (r) => (r.byte(), Buffer.from(r.string()).toString()))
      expect(carried._tag === "Right" && carried.right).toBe("KRB-ERROR")
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toBe("gss_accept_sec_context: scripted failure (Key version is not available)")
    }))

  it.scopedLive("the client's ERRTOK ends the method: FAILURE, counted", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server({ auth: { maxAuthTries: 1 } })
      yield* begin(client)
      yield* send(client, errtok("client error"))
      // MaxAuthTries 1: the first counted failure cuts the connection.
      const end = yield* Effect.promise(() => client.waitClosed(5_000))
      expect(end).toBe(true)
      expect(lastAttempt(attempts).detail).toBe("the client's GSSAPI failed (an error token of 12 bytes)")
    }))

  it.scopedLive("a new request in the middle abandons the exchange: no FAILURE for it, no failure counted, the new one answered", () =>
    Effect.gen(function*() {
      const { attempts, client, fake } = yield* server({ auth: { maxAuthTries: 1 } })
      yield* begin(client)
      yield* send(client, token("hello"))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_GSSAPI_TOKEN)
      yield* send(client, passwordRequest("alice", PASSWORD))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      expect(attempts.map((a) => [a.method, a.outcome, a.detail])).toEqual([
        ["gssapi-with-mic", "Failed", "gssapi-with-mic abandoned"],
        ["password", "Accepted", undefined]
      ])
      expect(fake.log.released).toBe(1)
    }))

  it.scopedLive("an abandoned exchange starts afresh: a second request gets a new acceptor", () =>
    Effect.gen(function*() {
      const { client, fake } = yield* server()
      yield* begin(client)
      yield* establish(client)
      yield* send(client, micMessage(fakeMic(client.sessionId, "alice")))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      expect(fake.log.acceptors).toBe(2)
    }))

  it.scopedLive("the acceptor cannot be made (a keytab that is not there): FAILURE with the reason, not counted", () =>
    Effect.gen(function*() {
      const { attempts, client } = yield* server({ script: { acceptorFails: true }, auth: { maxAuthTries: 1 } })
      yield* send(client, gssapiRequest("alice"))
      failureOf(yield* reply(client))
      expect(lastAttempt(attempts).detail).toMatch(/^gss_acquire_cred_from: .*Key table entry not found/)
      yield* send(client, passwordRequest("alice", PASSWORD))
      expect((yield* reply(client))[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
    }))
})
