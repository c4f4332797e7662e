/**
 * A hostile client against our server, during the service request and userauth: messages
 * out of phase (a channel open before authentication, an unsolicited USERAUTH_SUCCESS,
 * a second SERVICE_REQUEST, a USERAUTH_REQUEST before any), signatures that must not
 * verify (another session's identifier, another key than the one offered, an algorithm
 * the key does not make), a PK_OK probe for an unknown user, a change of user name, and
 * INFO_RESPONSEs out of place.
 *
 * Every case asserts the typed end (`ServerAuthFailure` and its reason), the socket closed
 * by the server, the time it took, that the policy's `keyProven` never saw a key whose
 * signature did not verify, and that no `Authenticated` came of it (Case.ts).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { parseInfoRequest } from "../hostile/HostileServer.js"
import { runCase, summary } from "./Case.js"
import {
  channelOpen,
  connect,
  type HostileClient,
  infoResponse,
  interactiveRequest,
  keyQuery,
  noneRequest,
  parseFailure,
  passwordRequest,
  serviceRequest,
  type SignedRequest,
  signedRequest,
  success
} from "./HostileClient.js"
import { aliceKey, aliceRsa, hostKey, PASSWORD, strangerKey, target } from "./Target.js"

const fingerprint = (key: { readonly publicKey: PublicKey.PublicKey }) => PublicKey.fingerprintSha256(key.publicKey)

/** Sends `payload()` until the server cuts at MaxAuthTries (6): every reply must be a plain FAILURE. */
const offendUntilCut = async (c: HostileClient, payload: () => Uint8Array, tries = 6): Promise<{ offenceAt: number }> => {
  if (!c.authenticating) await c.login()
  let offenceAt = Date.now()
  for (let i = 0; i < tries; i++) {
    offenceAt = Date.now()
    c.send(payload())
    if (i === tries - 1) break
    const reply = await c.reply()
    const failure = parseFailure(reply)
    if (failure === undefined) throw new Error(`attempt ${i + 1}: message ${reply[0]} where a USERAUTH_FAILURE belongs`)
    if (failure.partial) throw new Error(`attempt ${i + 1}: partial success`)
  }
  return { offenceAt }
}

const signed = (c: HostileClient, r: Omit<SignedRequest, "sessionId"> & { readonly sessionId?: Uint8Array }) =>
  signedRequest({ ...r, sessionId: r.sessionId ?? c.sessionId })

const PROTOCOL = "ProtocolViolation" as const

describe("hostile client: messages out of phase", () => {
  it.live("a CHANNEL_OPEN before authentication is cut as a protocol violation", () =>
    runCase(async (c) => {
      await c.login()
      c.send(channelOpen)
    }, { reason: PROTOCOL, detail: /message 90 before authentication/ }))

  it.live("a CHANNEL_OPEN after a failed attempt is cut as well", () =>
    runCase(async (c) => {
      await c.login()
      c.send(passwordRequest("alice", "wrong"))
      expect(parseFailure(await c.reply())).toBeDefined()
      c.send(channelOpen)
    }, { reason: PROTOCOL, detail: /message 90/ }))

  it.live("a CHANNEL_OPEN right after the key exchange, before the service request, is cut", () =>
    runCase(async (c) => {
      await c.handshake()
      c.send(channelOpen)
    }, { reason: PROTOCOL, detail: /before the service request|message 90/ }))

  it.live("an unsolicited USERAUTH_SUCCESS from the client (paramiko CVE-2018-1000805) is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(success)
    }, { reason: PROTOCOL, detail: /USERAUTH_SUCCESS/ }))

  it.live("USERAUTH_SUCCESS after a PK_OK (mid-publickey) is cut, and nothing is proven", () =>
    runCase(async (c) => {
      await c.login()
      c.send(keyQuery("alice", "ssh-ed25519", aliceKey.publicKey.blob))
      expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_PK_OK)
      c.send(success)
    }, { reason: PROTOCOL, detail: /USERAUTH_SUCCESS/ }))

  it.live("a second SERVICE_REQUEST for ssh-userauth during userauth is answered again, as sshd answers it (paramiko sends one per method), and the login goes on", () =>
    runCase(async (c) => {
      await c.login()
      c.send(serviceRequest("ssh-userauth"))
      c.send(passwordRequest("alice", "wrong"))
      expect(parseFailure(await c.reply())).toBeDefined()
      c.send(serviceRequest("ssh-connection"))
    }, { reason: PROTOCOL, detail: /service/ }))

  it.live("a second SERVICE_REQUEST after an attempt is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(noneRequest("alice"))
      expect(parseFailure(await c.reply())).toBeDefined()
      c.send(serviceRequest("ssh-connection"))
    }, { reason: PROTOCOL, detail: /service/ }))

  it.live("a USERAUTH_REQUEST before the SERVICE_REQUEST is cut", () =>
    runCase(async (c) => {
      await c.handshake()
      c.send(passwordRequest("alice", PASSWORD))
    }, { reason: PROTOCOL, detail: /before the service request/ }))

  it.live("a USERAUTH_REQUEST before the SERVICE_REQUEST is cut even when the SERVICE_REQUEST follows at once", () =>
    runCase(async (c) => {
      await c.handshake()
      c.send(passwordRequest("alice", PASSWORD))
      c.send(serviceRequest("ssh-userauth"))
    }, { reason: PROTOCOL, detail: /before the service request/ }))

  it.live("a SERVICE_REQUEST for ssh-connection (skipping userauth) is refused", () =>
    runCase(async (c) => {
      await c.handshake()
      c.send(serviceRequest("ssh-connection"))
    }, { reason: PROTOCOL, detail: /service not available/ }))

  it.live("a USERAUTH_REQUEST for another service than ssh-connection is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(passwordRequest("alice", PASSWORD, "ssh-userauth"))
    }, { reason: PROTOCOL, detail: /service not available/ }))

  it.live("a change of user name mid-authentication is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(keyQuery("alice", "ssh-ed25519", aliceKey.publicKey.blob))
      expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_PK_OK)
      // The key alice may use, signed honestly, for bob: the name must not change.
      c.send(signed(c, { user: "bob", offered: aliceKey }))
    }, { reason: PROTOCOL, detail: /change of user name/ }))

  it.live("an INFO_RESPONSE with no keyboard-interactive in flight (first message) is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(infoResponse([PASSWORD]))
    }, { reason: PROTOCOL, detail: /message 61/ }))

  it.live("an INFO_RESPONSE after a password failure is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(passwordRequest("alice", "wrong"))
      expect(parseFailure(await c.reply())).toBeDefined()
      c.send(infoResponse([PASSWORD]))
    }, { reason: PROTOCOL, detail: /message 61/ }))

  for (
    const [name, responses, count] of [
      ["more responses than prompts", [PASSWORD, PASSWORD], 2],
      ["a count that claims more than is sent", [PASSWORD], 5],
      ["a count of 2^32 - 1", [PASSWORD], 0xffff_ffff],
      ["no responses to one prompt", [], 0]
    ] as const
  ) {
    it.live(`an INFO_RESPONSE with ${name} is cut`, () =>
      runCase(async (c) => {
        await c.login()
        c.send(interactiveRequest("alice"))
        const request = parseInfoRequest(await c.reply())
        expect(request._tag === "Right" && request.right.length).toBe(1)
        c.send(infoResponse(responses, count))
      }, { reason: PROTOCOL, detail: /INFO_RESPONSE/ }))
  }

  it.live("a conversation left for a new request: the next reply answers that request, nothing answers the one left (as sshd)", () =>
    Effect.gen(function*() {
      const server = yield* target()
      const [info, next] = yield* Effect.promise(async () => {
        const c = await connect({ port: server.port })
        try {
          await c.login()
          c.send(interactiveRequest("alice"))
          const info = parseInfoRequest(await c.reply())
          // RFC 4256 §3.4: the client may move on without answering.
          c.send(passwordRequest("alice", PASSWORD))
          return [info, await c.reply()] as const
        } finally {
          c.close()
        }
      })
      expect(info._tag === "Right" && info.right.length).toBe(1)
      expect(next[0], summary(server)).toBe(MessageNumber.USERAUTH_SUCCESS)
    }).pipe(Effect.scoped))

  it.live("an INFO_RESPONSE answering a PK_OK (60 means INFO_REQUEST only in keyboard-interactive) is cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(keyQuery("alice", "ssh-ed25519", aliceKey.publicKey.blob))
      expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_PK_OK)
      c.send(infoResponse([]))
    }, { reason: PROTOCOL, detail: /message 61/ }))

  for (const n of [60, 62, 63, 64, 65, 66, 79, 80, 98]) {
    it.live(`message ${n} from the client before authentication is cut`, () =>
      runCase(async (c) => {
        await c.login()
        c.send(Uint8Array.of(n, 0, 0, 0, 0))
      }, { reason: PROTOCOL, detail: new RegExp(`message ${n}`) }))
  }
})

describe("hostile client: signatures that must not count", () => {
  it.live("control: an honest signature by alice's key authenticates her, and keyProven sees exactly that key", () =>
    Effect.gen(function*() {
      const server = yield* target()
      yield* Effect.promise(async () => {
        const c = await connect({ port: server.port })
        await c.login()
        c.send(signed(c, { user: "alice", offered: aliceKey }))
        expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
        c.close()
        await server.nextEnd(3_000)
      })
      expect(server.calls.keyProven.map((k) => k.fingerprint)).toEqual([fingerprint(aliceKey)])
      expect(server.authenticated.map((a) => a.user)).toEqual(["alice"])
    }).pipe(Effect.scoped))

  /** Signed requests that must fail, each sent until MaxAuthTries cuts, and the detail of every attempt. */
  const badSignatures: ReadonlyArray<{
    readonly name: string
    readonly request: Omit<SignedRequest, "user" | "sessionId"> & { readonly sessionId?: Uint8Array }
    readonly detail: string | RegExp
    /** Refused before the policy is asked anything. */
    readonly beforePolicy?: true
  }> = [
    {
      name: "a signature over another (random) session identifier",
      request: { offered: aliceKey, sessionId: crypto.randomBytes(32) },
      detail: "the signature does not verify"
    },
    { name: "alice's key offered, the stranger's key signs", request: { offered: aliceKey, signer: strangerKey }, detail: "the signature does not verify" },
    {
      name: "alice's ed25519 key offered, her own RSA key signs (the signature names another algorithm)",
      request: { offered: aliceKey, signer: aliceRsa, declared: "ssh-ed25519" },
      detail: /^bad signature: .*does not match/
    },
    {
      name: "algorithm confusion: an ssh-ed25519 key declared as rsa-sha2-256",
      request: { offered: aliceKey, declared: "rsa-sha2-256" },
      detail: "rsa-sha2-256 does not match a ssh-ed25519 key",
      beforePolicy: true
    },
    {
      name: "algorithm confusion: an ssh-ed25519 signature relabelled rsa-sha2-256 under a declared ssh-ed25519",
      request: { offered: aliceKey, relabel: "rsa-sha2-256" },
      detail: /^bad signature: .*does not match/
    },
    {
      name: "algorithm confusion: an RSA key declared ssh-ed25519",
      request: { offered: aliceRsa, declared: "ssh-ed25519" },
      detail: "ssh-ed25519 does not match a ssh-rsa key",
      beforePolicy: true
    },
    {
      name: "an RSA key declared rsa-sha2-512 with a valid rsa-sha2-256 signature",
      request: { offered: aliceRsa, declared: "rsa-sha2-512", signedAs: "rsa-sha2-256" },
      detail: /^bad signature: .*does not match/
    },
    {
      name: "a valid ssh-rsa (SHA-1) signature by alice's own RSA key: ssh-rsa is not accepted",
      request: { offered: aliceRsa, declared: "ssh-rsa" },
      detail: "ssh-rsa is not accepted",
      beforePolicy: true
    },
    {
      name: "a host-bound request naming a host key that is not ours",
      request: { offered: aliceKey, hostBound: strangerKey.publicKey.blob },
      detail: "the host-bound request names a host key that is not ours",
      beforePolicy: true
    }
  ]
  for (const bad of badSignatures) {
    it.live(`${bad.name}: FAILURE each time, keyProven never called`, () =>
      Effect.gen(function*() {
        const server = yield* runCase(
          (c) => offendUntilCut(c, () => signed(c, { user: "alice", ...bad.request })),
          { reason: "TooManyAttempts", detail: /Too many authentication failures/ }
        )
        const attempts = server.ended[0].failure!.attempts
        expect(attempts.map((a) => a.outcome)).toEqual(Array(6).fill("Failed"))
        for (const a of attempts) expect(a.detail).toMatch(bad.detail)
        if (bad.beforePolicy) expect(server.calls.keyAcceptable).toEqual([])
      }))
  }

  it.live("a signature made for another live connection's session identifier (a replay) does not count", () =>
    runCase(async (c, s) => {
      const other = await connect({ port: s.port })
      await other.login()
      await c.login()
      expect(Buffer.compare(other.sessionId, c.sessionId)).not.toBe(0)
      const replayed = signed(c, { user: "alice", offered: aliceKey, sessionId: other.sessionId })
      const result = await offendUntilCut(c, () => replayed)
      other.close()
      return result
    }, { reason: "TooManyAttempts" }))

  it.live("PK_OK for alice's key, then the signature by another key claiming it: FAILURE, keyProven never called", () =>
    runCase(async (c, s) => {
      await c.login()
      c.send(keyQuery("alice", "ssh-ed25519", aliceKey.publicKey.blob))
      expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_PK_OK)
      const result = await offendUntilCut(c, () => signed(c, { user: "alice", offered: aliceKey, signer: strangerKey }))
      expect(s.calls.keyAcceptable.map((k) => k.fingerprint)).toEqual([fingerprint(aliceKey)])
      return result
    }, { reason: "TooManyAttempts" }))

  it.live("control: a host-bound request naming our host key, signed honestly, authenticates", () =>
    Effect.gen(function*() {
      const server = yield* target()
      yield* Effect.promise(async () => {
        const c = await connect({ port: server.port })
        await c.login()
        c.send(signed(c, { user: "alice", offered: aliceKey, hostBound: hostKey.publicKey.blob }))
        expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
        c.close()
      })
      expect(server.authenticated).toHaveLength(1)
    }).pipe(Effect.scoped))

  it.live("random bytes as the signature fail as an attempt", () =>
    runCase(
      (c) =>
        offendUntilCut(c, () => {
          const body = encode((w) =>
            w.byte(MessageNumber.USERAUTH_REQUEST).string("alice").string("ssh-connection").string("publickey").boolean(true)
              .string("ssh-ed25519").string(aliceKey.publicKey.blob)
          )
          return encode((w) => w.raw(body).string(crypto.randomBytes(83)))
        }),
      { reason: "TooManyAttempts" }
    ))

  it.live("bytes after the signature are a malformed request: cut", () =>
    runCase(async (c) => {
      await c.login()
      c.send(encode((w) => w.raw(signed(c, { user: "alice", offered: aliceKey })).uint32(0)))
    }, { reason: PROTOCOL, detail: /malformed publickey request/ }))

  it.live("offered is not proven (CVE-2024-45337): PK_OK for alice's key, a proven stranger key, then her password: the result names only the password", () =>
    Effect.gen(function*() {
      const server = yield* target()
      yield* Effect.promise(async () => {
        const c = await connect({ port: server.port })
        await c.login()
        c.send(keyQuery("alice", "ssh-ed25519", aliceKey.publicKey.blob))
        expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_PK_OK)
        c.send(signed(c, { user: "alice", offered: strangerKey }))
        expect(parseFailure(await c.reply())).toBeDefined()
        c.send(passwordRequest("alice", PASSWORD))
        expect((await c.reply())[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
        c.close()
      })
      // keyProven saw only the key whose signature verified, and said no.
      expect(server.calls.keyProven.map((k) => k.fingerprint)).toEqual([fingerprint(strangerKey)])
      expect(server.authenticated).toHaveLength(1)
      expect(server.authenticated[0].credentials).toEqual([{ _tag: "Password" }])
      expect(server.authenticated[0].methods).toEqual(["password"])
    }).pipe(Effect.scoped))
})

describe("hostile client: telling users apart", () => {
  it.live("a PK_OK probe for an unknown user never gets PK_OK, and the methods are a known user's", () =>
    Effect.gen(function*() {
      const server = yield* target()
      const replies = yield* Effect.promise(async () => {
        const probe = async (user: string) => {
          const c = await connect({ port: server.port })
          await c.login()
          c.send(noneRequest(user))
          const none = parseFailure(await c.reply())
          c.send(keyQuery(user, "ssh-ed25519", aliceKey.publicKey.blob))
          const query = await c.reply()
          c.send(keyQuery(user, "ssh-ed25519", strangerKey.publicKey.blob))
          const stranger = parseFailure(await c.reply())
          c.send(passwordRequest(user, "wrong"))
          const password = parseFailure(await c.reply())
          c.close()
          return { none, query, stranger, password }
        }
        return { known: await probe("alice"), unknown: await probe("mallory"), unknown2: await probe("root") }
      })
      expect(replies.known.query[0], summary(server)).toBe(MessageNumber.USERAUTH_PK_OK)
      for (const u of [replies.unknown, replies.unknown2]) {
        expect(u.query[0]).toBe(MessageNumber.USERAUTH_FAILURE)
        expect(parseFailure(u.query)).toEqual(u.stranger)
        expect(u.none).toEqual(replies.known.none)
        expect(u.stranger).toEqual(replies.known.stranger)
        expect(u.password).toEqual(replies.known.password)
      }
      expect(replies.known.none).toEqual({ methods: ["publickey", "password", "keyboard-interactive"], partial: false })
      expect(server.calls.keyProven).toEqual([])
      expect(server.authenticated).toEqual([])
    }).pipe(Effect.scoped))
})
