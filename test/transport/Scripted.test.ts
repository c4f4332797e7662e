/**
 * Transport edge cases a real sshd will not produce on demand, against the hostile
 * server: the core's server role for the key exchange, then whatever the script sends.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { decodeKexInit } from "../../src/transport/KexInit.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { Reader } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { extInfo, hostileServer, serviceAccept } from "../hostile/HostileServer.js"

const connect = (port: number) =>
  makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure, handshakeTimeout: "2 seconds", receiveTimeout: "2 seconds" })

describe("scripted server", () => {
  it.scopedLive("EXT_INFO may arrive twice: the second one updates server-sig-algs", () =>
    Effect.gen(function*() {
      const server = yield* hostileServer(async (side) => {
        await side.handshake()
        side.send(extInfo({ "server-sig-algs": "ssh-ed25519" }))
        const request = await side.next()
        if (request[0] !== MessageNumber.SERVICE_REQUEST) throw new Error("expected SERVICE_REQUEST")
        side.send(serviceAccept("ssh-userauth"))
        await side.next() // the client's USERAUTH_REQUEST
        // RFC 8308 §2.4: a second EXT_INFO right before USERAUTH_SUCCESS.
        side.send(extInfo({ "server-sig-algs": "rsa-sha2-512,ssh-ed25519", "ping@openssh.com": "0" }))
        side.send(Uint8Array.of(MessageNumber.USERAUTH_SUCCESS))
        await side.waitClosed(5_000)
      })
      const c = yield* connect(server.port)
      yield* c.requestService("ssh-userauth")
      expect(Option.getOrThrow(c.serverSigAlgs)).toEqual(["ssh-ed25519"])
      yield* c.send(encode((w) => w.byte(MessageNumber.USERAUTH_REQUEST).string("u").string("ssh-connection").string("none")))
      const message = yield* c.receive
      expect(message[0]).toBe(MessageNumber.USERAUTH_SUCCESS)
      expect(Option.getOrThrow(c.serverSigAlgs)).toEqual(["rsa-sha2-512", "ssh-ed25519"])
      expect(c.extensions.has("ping@openssh.com")).toBe(true)
    }))

  it.scopedLive("IGNORE, DEBUG and UNIMPLEMENTED are consumed by the transport", () =>
    Effect.gen(function*() {
      const server = yield* hostileServer(async (side) => {
        await side.handshake()
        side.send(encode((w) => w.byte(MessageNumber.IGNORE).string("padding")))
        side.send(encode((w) => w.byte(MessageNumber.DEBUG).boolean(true).string("debug text").string("")))
        side.send(encode((w) => w.byte(MessageNumber.UNIMPLEMENTED).uint32(99)))
        side.send(encode((w) => w.byte(MessageNumber.USERAUTH_BANNER).string("hello").string("")))
        await side.waitClosed(5_000)
      })
      const c = yield* connect(server.port)
      const message = yield* c.receive
      expect(message[0]).toBe(MessageNumber.USERAUTH_BANNER)
    }))

  it.scopedLive("an unknown transport message is answered with UNIMPLEMENTED naming its sequence number", () =>
    Effect.gen(function*() {
      const server = yield* hostileServer(async (side) => {
        await side.handshake()
        side.send(Uint8Array.of(MessageNumber.IGNORE, 0, 0, 0, 0)) // seq 0 after strict NEWKEYS
        side.send(Uint8Array.of(17)) // seq 1: unassigned in the transport-generic range
        let reply = await side.next()
        // The client asks for ssh-userauth right behind its NEWKEYS.
        if (reply[0] === MessageNumber.SERVICE_REQUEST) reply = await side.next()
        const r = new Reader(reply)
        if (r.byte() !== MessageNumber.UNIMPLEMENTED) throw new Error(`expected UNIMPLEMENTED, got ${reply[0]}`)
        if (r.uint32() !== 1) throw new Error("wrong sequence number")
      })
      yield* connect(server.port)
      yield* server.done.pipe(Effect.timeout("2 seconds"))
    }))

  it.scopedLive("a receive with nothing coming times out with a typed error", () =>
    Effect.gen(function*() {
      const server = yield* hostileServer(async (side) => {
        await side.handshake()
        await side.waitClosed(5_000)
      })
      const c = yield* makeTcp({ host: "127.0.0.1", port: server.port, hostKeyPolicy: acceptAnyInsecure, receiveTimeout: "200 millis" })
      const error = yield* Effect.flip(c.receive)
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "receive"])
    }))

  it.scopedLive("the recorded client KEXINIT is the one sent: same cookie, drawn fresh per connection", () =>
    Effect.gen(function*() {
      const cookies: Array<Uint8Array> = []
      for (let i = 0; i < 2; i++) {
        const server = yield* hostileServer(async (side) => {
          await side.handshake()
          await side.waitClosed(5_000)
        })
        const c = yield* connect(server.port)
        const sent = Either.getOrThrow(decodeKexInit(server.clientPayloads().find((p) => p[0] === MessageNumber.KEXINIT)!))
        // What the connection reports (and hashed into the session id) is what went on the wire.
        const recorded = c.proposals.client
        expect(Uint8Array.from(recorded.cookie)).toEqual(sent.cookie)
        expect({ ...recorded, cookie: sent.cookie }).toEqual(sent)
        cookies.push(sent.cookie)
      }
      expect(cookies[0]).not.toEqual(new Uint8Array(16))
      expect(cookies[0]).not.toEqual(cookies[1])
    }))
})
