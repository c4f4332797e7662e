/**
 * Our client against our server in one process over the in-memory pair: every method, a
 * two-factor chain, the limits, and what the server's result names.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { AuthPolicy } from "../../src/server/AuthPolicy.js"
import { ServerAuthFailure } from "../../src/server/ServerAuthResult.js"
import * as UserTable from "../../src/server/UserTable.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { NoneAuth } from "../../src/sources/NoneAuth.js"
import { Password } from "../../src/sources/Password.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import { memoryPair } from "../../src/transport/ByteChannel.js"
import { Transport } from "../../src/transport/Transport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { clientOn, pair, serveOn } from "../support/ServerPair.js"

const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const otherKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const secret = (s: string) => Redacted.make(s)

const users = UserTable.layer({
  alice: { keys: [aliceKey.publicKey], password: secret("correct horse") },
  bob: { keys: [aliceKey.publicKey], password: secret("battery staple"), methods: [["publickey", "password"]] },
  carol: {
    interactive: [
      { prompt: "Password: ", echo: false, answer: secret("pw") },
      { prompt: "Code: ", echo: true, answer: secret("123456") }
    ],
    methods: [["keyboard-interactive"]]
  }
})

const login = (strategy: AuthStrategy.AuthStrategy, options: Parameters<typeof pair>[1] = {}) =>
  Effect.gen(function*() {
    const connection = yield* pair(users, options)
    const client = yield* Effect.either(AuthStrategy.authenticate(strategy).pipe(Effect.provide(connection.handlerLayer)))
    // A client that gave up leaves; the server sees it go.
    if (client._tag === "Left") yield* connection.client.disconnect()
    const server = connection.server
    return { client, server: yield* Effect.either(Effect.catchTags(server, { TransportError: Effect.die, Disconnected: Effect.die })) }
  })

describe("our client against our server, in one process", () => {
  it.scopedLive("publickey, signing at once: the result names exactly the key that signed", () =>
    Effect.gen(function*() {
      const { client, server } = yield* login(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey })))
      expect(client._tag === "Right" && client.right.succeeded).toBe(true)
      if (server._tag !== "Right") throw server.left
      expect(server.right.user).toBe("alice")
      expect(server.right.methods).toEqual(["publickey"])
      expect(server.right.credentials).toHaveLength(1)
      const credential = server.right.credentials[0]
      expect(credential._tag === "PublicKey" && credential.key.fingerprint).toBe(PublicKey.fingerprintSha256(aliceKey.publicKey))
      expect(String(server.right.attempts[0])).toMatch(/^Accepted publickey for alice from 127\.0\.0\.1 port 40000 ssh2: ED25519 SHA256:/)
    }))

  it.scopedLive("the server's userauth runs in the connection's callbacks and its USERAUTH_SUCCESS ends the phase: ssh-userauth is not served again", () =>
    Effect.gen(function*() {
      const connection = yield* pair(users)
      const client = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
        Effect.provide(connection.handlerLayer)
      )
      expect(client.succeeded).toBe(true)
      expect((yield* connection.server).user).toBe("alice")
      // Before USERAUTH_SUCCESS a repeated request is answered again, as sshd answers it; after it, the connection is cut.
      yield* connection.client.send(encode((w) => w.byte(MessageNumber.SERVICE_REQUEST).string("ssh-userauth")))
      const e = yield* Effect.flip(connection.client.receiveWithin(5_000))
      expect(e._tag === "Disconnected" && [e.code, e.description]).toEqual([2, "second SERVICE_REQUEST (ssh-userauth): a service is already accepted"])
    }))

  it.scopedLive("publickey, querying first: PK_OK, then the signature; the query is recorded as postponed", () =>
    Effect.gen(function*() {
      const { client, server } = yield* login(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey, skipQuery: false })))
      expect(client._tag === "Right" && client.right.succeeded).toBe(true)
      if (server._tag !== "Right") throw server.left
      expect(server.right.attempts.map((a) => a.outcome)).toEqual(["KeyAcceptable", "Accepted"])
    }))

  it.scopedLive("a key the user does not have fails; the next source (a password) succeeds; only the password is proven", () =>
    Effect.gen(function*() {
      const { client, server } = yield* login(
        AuthStrategy.make(
          new InMemoryPrivateKey({ username: "alice", key: otherKey }),
          new Password({ username: "alice", password: Effect.succeed(secret("correct horse")) })
        )
      )
      expect(client._tag === "Right" && client.right.succeeded).toBe(true)
      if (server._tag !== "Right") throw server.left
      expect(server.right.attempts.map((a) => `${a.method} ${a.outcome}`)).toEqual(["publickey Failed", "password Accepted"])
      expect(server.right.credentials).toEqual([{ _tag: "Password" }])
    }))

  it.scopedLive("a wrong password fails, with the same methods offered again", () =>
    Effect.gen(function*() {
      const { client, server } = yield* login(
        AuthStrategy.make(new Password({ username: "alice", password: Effect.succeed(secret("wrong")), keyboardInteractiveFallback: false }))
      )
      expect(client._tag).toBe("Left")
      if (client._tag === "Left") {
        expect(client.left.result.attempts[0].attempt).toEqual({
          _tag: "Failure",
          allowedMethods: ["publickey", "password", "keyboard-interactive"],
          partialSuccess: false
        })
      }
      // The client gave up and closed: the server ends without a user authenticated.
      expect(server._tag === "Left" && server.left.reason).toBe("ClientDisconnected")
    }))

  it.scopedLive("a two-factor chain: publickey is a partial success, then the password completes it", () =>
    Effect.gen(function*() {
      const { client, server } = yield* login(
        AuthStrategy.make(
          new InMemoryPrivateKey({ username: "bob", key: aliceKey }),
          new Password({ username: "bob", password: Effect.succeed(secret("battery staple")) })
        )
      )
      expect(client._tag === "Right" && client.right.succeeded).toBe(true)
      if (client._tag === "Right") {
        expect(client.right.attempts[0].attempt).toEqual({ _tag: "Failure", allowedMethods: ["password"], partialSuccess: true })
      }
      if (server._tag !== "Right") throw server.left
      expect(server.right.methods).toEqual(["publickey", "password"])
      expect(server.right.credentials.map((c) => c._tag)).toEqual(["PublicKey", "Password"])
      expect(server.right.attempts.map((a) => a.outcome)).toEqual(["Partial", "Accepted"])
    }))

  it.scopedLive("a two-factor chain: the password alone is not enough, and is refused", () =>
    Effect.gen(function*() {
      const { client } = yield* login(
        AuthStrategy.make(new Password({ username: "bob", password: Effect.succeed(secret("battery staple")), keyboardInteractiveFallback: false }))
      )
      expect(client._tag).toBe("Left")
      if (client._tag === "Left") {
        expect(client.left.result.attempts[0].attempt).toEqual({ _tag: "Failure", allowedMethods: ["publickey"], partialSuccess: false })
      }
    }))

  it.scopedLive("keyboard-interactive with two prompts in one round", () =>
    Effect.gen(function*() {
      const seen: Array<string> = []
      const { client, server } = yield* login(AuthStrategy.make(
        new KeyboardInteractive({
          username: "carol",
          responder: (request) => {
            seen.push(...request.prompts.map((p) => `${p.prompt}|${p.echo}`))
            return Effect.succeed([secret("pw"), secret("123456")])
          }
        })
      ))
      expect(seen).toEqual(["Password: |false", "Code: |true"])
      expect(client._tag === "Right" && client.right.succeeded).toBe(true)
      if (server._tag !== "Right") throw server.left
      expect(server.right.credentials).toEqual([{ _tag: "KeyboardInteractive" }])
    }))

  it.scopedLive("an unknown user is offered what a known one is, and never gets PK_OK", () =>
    Effect.gen(function*() {
      const { client, server } = yield* login(AuthStrategy.make(new InMemoryPrivateKey({ username: "mallory", key: aliceKey, skipQuery: false })))
      expect(client._tag).toBe("Left")
      if (client._tag === "Left") {
        expect(client.left.result.attempts[0].attempt).toEqual({
          _tag: "Failure",
          allowedMethods: ["publickey", "password", "keyboard-interactive"],
          partialSuccess: false
        })
      }
      expect(server._tag === "Left" && server.left.attempts.map((a) => a.outcome)).toEqual(["KeyRefused"])
    }))

  it.scopedLive("MaxAuthTries: the last failure is answered with sshd's disconnect", () =>
    Effect.gen(function*() {
      const passwords = Array.from({ length: 4 }, (_, i) =>
        new Password({ username: "alice", password: Effect.succeed(secret(`wrong ${i}`)), keyboardInteractiveFallback: false }))
      const { client, server } = yield* login(AuthStrategy.make(...passwords), { maxAuthTries: 3 })
      expect(client._tag).toBe("Left")
      if (client._tag === "Left") {
        expect(client.left.reason).toBe("Disconnected")
        expect(client.left.result.attempts[2].attempt).toMatchObject({ _tag: "Disconnected", description: "Too many authentication failures" })
      }
      expect(server._tag === "Left" && server.left.reason).toBe("TooManyAttempts")
      expect(server._tag === "Left" && server.left.attempts).toHaveLength(3)
    }))

  it.scopedLive("a repeated ssh-userauth SERVICE_REQUEST is accepted again during userauth, as sshd does (paramiko sends one per method); once authenticated, it ends the connection", () =>
    Effect.gen(function*() {
      const connection = yield* pair(users)
      // The first request rides behind NEWKEYS; the second and third are real round trips.
      yield* connection.client.requestService("ssh-userauth")
      yield* connection.client.requestService("ssh-userauth")
      yield* connection.client.requestService("ssh-userauth")
      const client = yield* AuthStrategy.authenticate(
        AuthStrategy.make(new Password({ username: "alice", password: Effect.succeed(secret("correct horse")), keyboardInteractiveFallback: false }))
      ).pipe(Effect.provide(connection.handlerLayer))
      expect(client.succeeded).toBe(true)
      const server = yield* Effect.orDie(connection.server)
      expect(server.attempts.map((a) => `${a.method} ${a.outcome}`)).toEqual(["password Accepted"])
      const after = yield* Effect.flip(connection.client.requestService("ssh-userauth"))
      expect(after._tag === "Disconnected" && after.description).toMatch(/^second SERVICE_REQUEST \(ssh-userauth\)/)
    }))

  it.scopedLive("a second SERVICE_REQUEST for another service ends the connection", () =>
    Effect.gen(function*() {
      const connection = yield* pair(users)
      yield* connection.client.requestService("ssh-userauth")
      const refused = yield* Effect.flip(connection.client.requestService("ssh-connection"))
      expect(refused._tag === "Disconnected" && refused.description).toMatch(/^second SERVICE_REQUEST \(ssh-connection\)/)
      const server = yield* Effect.flip(connection.server)
      expect(server._tag === "ServerAuthFailure" && server.reason).toBe("ProtocolViolation")
    }))

  it.scoped("LoginGraceTime on the caller's clock: a client that says nothing after the service request is cut off", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair("127.0.0.1", 40001)
      const server = yield* serveOn(b, users, { loginGraceTime: "30 seconds" })
      const client = yield* clientOn(a)
      yield* client.requestService("ssh-userauth")
      yield* TestClock.adjust("29 seconds")
      expect(server.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.await(server)
      if (Exit.isSuccess(exit)) throw new Error("authenticated a silent client")
      const error = Option.getOrThrow(Cause.failureOption(exit.cause))
      expect(error instanceof ServerAuthFailure && error.reason).toBe("LoginGraceTime")
      // The client hears the DISCONNECT.
      const heard = yield* Effect.flip(client.receive)
      expect(heard._tag === "Disconnected" && heard.description).toBe("Timeout before authentication")
    }))

  it.scoped("the failure floor on the caller's clock: a wrong password's FAILURE waits until TestClock passes it", () =>
    Effect.gen(function*() {
      const [a, b] = memoryPair("127.0.0.1", 40002)
      yield* serveOn(b, users, { failureFloor: "5 seconds" })
      const client = yield* clientOn(a)
      const reply = yield* Effect.fork(
        Effect.flatMap(AuthHandler.makeWith({ replyTimeout: "1 minute" }).pipe(Effect.provideService(Transport, client)), (handler) =>
          handler.password("alice", Redacted.make("wrong")))
      )
      // A quarter of a real second for the request to reach the server: the floor is on the test's clock, which has not moved.
      yield* Effect.promise(() =>
        new Promise((resolve) => setTimeout(resolve, 250))
      )
      expect(reply.unsafePoll()).toBeNull()
      yield* TestClock.adjust("5 seconds")
      const outcome = yield* Fiber.join(reply)
      expect(outcome._tag === "Failure" && outcome.allowedMethods).toContain("password")
    }))

  it.scopedLive("an expired password: PASSWD_CHANGEREQ, the client's new password, then success", () =>
    Effect.gen(function*() {
      const changes: Array<string> = []
      const policy = Layer.succeed(AuthPolicy, {
        methods: () => Effect.succeed([["password"]]),
        password: (_user, pw) =>
          Effect.succeed(Redacted.value(pw) === "old" ? { _tag: "ChangeRequired" as const, prompt: "Password expired" } : { _tag: "Rejected" as const }),
        changePassword: (_user, old, next) =>
          Effect.sync(() => {
            changes.push(`${Redacted.value(old)} -> ${Redacted.value(next)}`)
            return { _tag: "Accepted" as const }
          })
      })
      const { handlerLayer, server } = yield* pair(policy)
      const prompts: Array<string> = []
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(
        new Password({
          username: "alice",
          password: Effect.succeed(secret("old")),
          changePassword: (prompt) => Effect.sync(() => (prompts.push(prompt), secret("new")))
        })
      )).pipe(Effect.provide(handlerLayer))
      expect(result.succeeded).toBe(true)
      expect(prompts).toEqual(["Password expired"])
      expect(changes).toEqual(["old -> new"])
      const authenticated = yield* server
      expect(authenticated.attempts.map((a) => a.outcome)).toEqual(["ChangeRequested", "Accepted"])
    }))

  it.scopedLive("a banner from the policy reaches the client before the first reply", () =>
    Effect.gen(function*() {
      const { handlerLayer, server } = yield* pair(UserTable.layer({ alice: { keys: [aliceKey.publicKey] } }, { banner: "Authorized use only\n" }))
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
        Effect.provide(handlerLayer)
      )
      expect(result.banners).toEqual(["Authorized use only\n"])
      yield* server
    }))

  it.scopedLive("gssapi-with-mic is not offered without an acceptor, and a request for it is a plain failure", () =>
    Effect.gen(function*() {
      const { client, server } = yield* pair(users)
      yield* client.requestService("ssh-userauth").pipe(Effect.ignore)
      const request = encode((w) =>
        w.byte(MessageNumber.USERAUTH_REQUEST).string("alice").string("ssh-connection").string("gssapi-with-mic").uint32(1).string(
          Uint8Array.of(6, 9, 42, 134, 72, 134, 247, 18, 1, 2, 2)
        )
      )
      yield* client.send(request)
      const reply = yield* client.receive
      expect(reply[0]).toBe(MessageNumber.USERAUTH_FAILURE)
      expect(Buffer.from(reply).toString("latin1")).not.toContain("gssapi")
      yield* client.disconnect()
      const ended = yield* Effect.flip(server)
      expect(ended._tag === "ServerAuthFailure" && ended.attempts.map((a) => `${a.method} ${a.outcome}`)).toEqual(["gssapi-with-mic Failed"])
    }))

  it.scopedLive("none: only a user whose chains include the empty one gets in without credentials", () =>
    Effect.gen(function*() {
      const open = UserTable.layer({ guest: { methods: [[]] }, alice: { password: secret("pw") } })
      const guest = yield* pair(open)
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new NoneAuth({ username: "guest" }))).pipe(Effect.provide(guest.handlerLayer))
      expect(result.succeeded).toBe(true)
      expect((yield* guest.server).credentials).toEqual([{ _tag: "None" }])
      const alice = yield* pair(open)
      const refused = yield* Effect.either(
        AuthStrategy.authenticate(AuthStrategy.make(new NoneAuth({ username: "alice" }))).pipe(Effect.provide(alice.handlerLayer))
      )
      expect(refused._tag).toBe("Left")
    }))

  it.scopedLive("keyboard-interactive over two rounds, and a password function in place of the table's passwords", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const rounds = Layer.succeed(AuthPolicy, {
        ...UserTable.make({}, {
          methods: [["keyboard-interactive"], ["password"]],
          checkPassword: (user, pw) => Effect.succeed(user === "dora" && Redacted.value(pw) === "from the directory")
        }),
        keyboardInteractive: () =>
          Effect.succeed(Option.some({
            start: Effect.succeed({ _tag: "Ask" as const, round: { name: "step 1", instruction: "", prompts: [{ prompt: "Password: ", echo: false }] } }),
            answer: (responses) =>
              Effect.sync(() => {
                asked.push(Redacted.value(responses[0]))
                return asked.length === 1
                  ? { _tag: "Ask" as const, round: { name: "step 2", instruction: "a code", prompts: [{ prompt: "Code: ", echo: true }] } }
                  : asked[0] === "pw" && asked[1] === "424242"
                  ? { _tag: "Accepted" as const }
                  : { _tag: "Rejected" as const }
              })
          }))
      })
      const kbd = yield* pair(rounds)
      const names: Array<string> = []
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(
        new KeyboardInteractive({
          username: "dora",
          responder: (request) => {
            names.push(request.name)
            return Effect.succeed([secret(request.name === "step 1" ? "pw" : "424242")])
          }
        })
      )).pipe(Effect.provide(kbd.handlerLayer))
      expect(result.succeeded).toBe(true)
      expect(names).toEqual(["step 1", "step 2"])
      expect(asked).toEqual(["pw", "424242"])
      const pw = yield* pair(rounds)
      const byFunction = yield* AuthStrategy.authenticate(AuthStrategy.make(
        new Password({ username: "dora", password: Effect.succeed(secret("from the directory")), keyboardInteractiveFallback: false })
      )).pipe(Effect.provide(pw.handlerLayer))
      expect(byFunction.succeeded).toBe(true)
    }))
})
