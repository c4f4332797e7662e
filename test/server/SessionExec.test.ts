/**
 * `Session.serveExec` on `Server.listen`, message by message: our client authenticates, then
 * speaks the connection layer by hand, as a client that breaks the rules would. What is
 * served is answered; what breaks the protocol ends the connection with PROTOCOL_ERROR and
 * the reason; an idle connection is closed when the caller's clock passes the idle timeout.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as Server from "../../src/server/Server.js"
import { serveExec, type SessionOptions } from "../../src/server/Session.js"
import * as UserTable from "../../src/server/UserTable.js"
import { InMemoryPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import type { Transport } from "../../src/transport/Transport.js"
import { DisconnectReason, MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** Our server serving exec as `ssh-auth serve` does, and our client logged in to it. */
const loggedIn = (options?: SessionOptions) =>
  Effect.gen(function*() {
    const commands: Array<string> = []
    const listening = yield* Server.listen({
      port: 0,
      hostKeys: [hostKey],
      onAuthenticated: ({ connection, result }) =>
        serveExec(connection, result, ({ command }) =>
          Effect.sync(() => {
            commands.push(command)
            return { stdout: `${result.user} ran ${command}\n`, stderr: "to stderr\n", exitStatus: 3 }
          }), options)
    }).pipe(Effect.provide(UserTable.layer({ alice: { keys: [aliceKey.publicKey] } })))
    const transport = yield* makeTcp({ host: "127.0.0.1", port: listening.port, hostKeyPolicy: acceptAnyInsecure })
    const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: aliceKey }))).pipe(
      AuthHandler.provide(transport)
    )
    expect(result.succeeded).toBe(true)
    return { transport, commands }
  })

const open = (sender: number, kind = "session", window = 2 ** 21) =>
  encode((w) => w.byte(MessageNumber.CHANNEL_OPEN).string(kind).uint32(sender).uint32(window).uint32(32_768))
const exec = (recipient: number, command: string) =>
  encode((w) => w.byte(MessageNumber.CHANNEL_REQUEST).uint32(recipient).string("exec").boolean(true).string(command))
const data = (recipient: number, bytes: number) => encode((w) => w.byte(MessageNumber.CHANNEL_DATA).uint32(recipient).string(new Uint8Array(bytes)))
const globalRequest = encode((w) => w.byte(MessageNumber.GLOBAL_REQUEST).string("keepalive@openssh.com").boolean(true))

const typeOf = (payload: Uint8Array) => payload[0]

/** The server's DISCONNECT, as our client reports it. */
const disconnected = (transport: Transport) =>
  Effect.gen(function*() {
    const e = yield* Effect.flip(transport.receive)
    if (e._tag !== "Disconnected") return expect.fail(`expected a DISCONNECT, got ${e._tag}: ${e.message}`)
    return e
  })

describe("serveExec", () => {
  it.scopedLive("exec on a session channel: confirmation, SUCCESS, output on both streams, exit-status, EOF, CLOSE", () =>
    Effect.gen(function*() {
      const { commands, transport } = yield* loggedIn()
      yield* transport.send(open(7))
      const confirmation = yield* transport.receive
      expect(decode(confirmation, (r) => [r.byte(), r.uint32("recipient"), r.uint32("sender")] as const)).toMatchObject({
        right: [MessageNumber.CHANNEL_OPEN_CONFIRMATION, 7, 0]
      })
      yield* transport.send(exec(0, "uptime"))
      const replies: Array<Uint8Array> = []
      while (replies.length === 0 || typeOf(replies[replies.length - 1]) !== MessageNumber.CHANNEL_CLOSE) {
        replies.push(yield* transport.receive)
      }
      expect(replies.map(typeOf)).toEqual([
        MessageNumber.CHANNEL_SUCCESS,
        MessageNumber.CHANNEL_DATA,
        MessageNumber.CHANNEL_EXTENDED_DATA,
        MessageNumber.CHANNEL_REQUEST,
        MessageNumber.CHANNEL_EOF,
        MessageNumber.CHANNEL_CLOSE
      ])
      expect(decode(replies[1], (r) => [r.byte(), r.uint32("recipient"), r.text("data")] as const)).toMatchObject({
        right: [MessageNumber.CHANNEL_DATA, 7, "alice ran uptime\n"]
      })
      expect(decode(replies[3], (r) => [r.byte(), r.uint32("recipient"), r.text("request"), r.boolean("want reply"), r.uint32("status")] as const))
        .toMatchObject({ right: [MessageNumber.CHANNEL_REQUEST, 7, "exit-status", false, 3] })
      expect(commands).toEqual(["uptime"])
      // The connection is still served: a global request is refused, not cut.
      yield* transport.send(globalRequest)
      expect(typeOf(yield* transport.receive)).toBe(MessageNumber.REQUEST_FAILURE)
    }))

  it.scopedLive("a channel type other than session, and one session over maxSessions, are refused with OPEN_FAILURE", () =>
    Effect.gen(function*() {
      const { transport } = yield* loggedIn({ maxSessions: 1 })
      yield* transport.send(open(1, "direct-tcpip"))
      const unknownType = yield* transport.receive
      expect(decode(unknownType, (r) => [r.byte(), r.uint32("recipient"), r.uint32("reason")] as const)).toMatchObject({
        right: [MessageNumber.CHANNEL_OPEN_FAILURE, 1, 3]
      })
      yield* transport.send(open(2))
      expect(typeOf(yield* transport.receive)).toBe(MessageNumber.CHANNEL_OPEN_CONFIRMATION)
      yield* transport.send(open(3))
      const shortage = yield* transport.receive
      expect(decode(shortage, (r) => [r.byte(), r.uint32("recipient"), r.uint32("reason")] as const)).toMatchObject({
        right: [MessageNumber.CHANNEL_OPEN_FAILURE, 3, 4]
      })
    }))

  it.scopedLive("a USERAUTH message after authentication is ignored (RFC 4252 §5.1); the session goes on", () =>
    Effect.gen(function*() {
      const { transport } = yield* loggedIn()
      yield* transport.send(encode((w) => w.byte(MessageNumber.USERAUTH_REQUEST).string("mallory").string("ssh-connection").string("none")))
      yield* transport.send(globalRequest)
      expect(typeOf(yield* transport.receive)).toBe(MessageNumber.REQUEST_FAILURE)
    }))

  const cut = [
    ["a message for a channel that is not open", [data(5, 10)], /message 94 for channel 5, which is not open/],
    [
      "a request for a channel that was closed",
      [open(0), Uint8Array.of(MessageNumber.CHANNEL_CLOSE, 0, 0, 0, 0), exec(0, "id")],
      /message 98 for channel 0, which is not open/
    ],
    ["a message this session does not know", [Uint8Array.of(200)], /unexpected message 200/],
    ["a malformed CHANNEL_OPEN", [Uint8Array.of(MessageNumber.CHANNEL_OPEN, 0, 0)], /malformed message/]
  ] as const
  for (const [what, messages, detail] of cut) {
    it.scopedLive(`${what} ends the connection with PROTOCOL_ERROR`, () =>
      Effect.gen(function*() {
        const { transport } = yield* loggedIn()
        for (const m of messages) yield* transport.send(m)
        // A channel opened and closed first: its confirmation, then the server's CLOSE.
        if (messages.length > 1) {
          expect(typeOf(yield* transport.receive)).toBe(MessageNumber.CHANNEL_OPEN_CONFIRMATION)
          expect(typeOf(yield* transport.receive)).toBe(MessageNumber.CHANNEL_CLOSE)
        }
        const e = yield* disconnected(transport)
        expect(e.code).toBe(DisconnectReason.PROTOCOL_ERROR)
        expect(e.description).toMatch(detail)
      }))
  }

  it.scoped("an idle connection is closed when the caller's clock passes idleTimeout, not before", () =>
    Effect.gen(function*() {
      const { transport } = yield* loggedIn({ idleTimeout: "1 minute" })
      // A message resets the deadline: the session is waiting for the next one.
      yield* transport.send(globalRequest)
      expect(typeOf(yield* transport.receive)).toBe(MessageNumber.REQUEST_FAILURE)
      yield* TestClock.adjust("59 seconds")
      // Real time passes too; the clock that counts is the test's, which is short of the minute.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 300)))
      expect(transport.pending).toBe(0)
      yield* TestClock.adjust("1 second")
      const e = yield* disconnected(transport)
      expect(e.code).toBe(DisconnectReason.BY_APPLICATION)
      expect(e.description).toBe("idle timeout")
    }), 20_000)
})
