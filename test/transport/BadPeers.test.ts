/**
 * Peers that misbehave: each must end in a typed error, with no hang and a closed socket.
 * A scripted server on 127.0.0.1 plays the peer, since sshd cannot be made to do these.
 * (The bad-MAC case needs real keys and lives in test/interop/Transport.test.ts.)
 */
import { describe, expect, it } from "@effect/vitest"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { connect as netConnect } from "node:net"
import type * as net from "node:net"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { fakeServer, plainPacket, serverKexInit } from "../support/FakeServer.js"

const VERSION = "SSH-2.0-FakeServer_1.0\r\n"

/** Connects to a scripted server and returns the error the client failed with. */
const failAgainst = (script: (socket: net.Socket) => void, handshakeTimeout: Duration.DurationInput = "2 seconds") =>
  Effect.gen(function*() {
    const server = yield* fakeServer(script)
    const error = yield* makeTcp({
      host: "127.0.0.1",
      port: server.port,
      hostKeyPolicy: acceptAnyInsecure,
      handshakeTimeout
    }).pipe(Effect.scoped, Effect.flip)
    // The client must have closed its socket by itself, promptly.
    yield* server.clientClosed.pipe(Effect.timeoutFail({ duration: "2 seconds", onTimeout: () => new Error("socket left open") }))
    return { error, server }
  })

/** How many sockets on this machine are in SYN_SENT towards 127.0.0.1:port (Linux's /proc/net/tcp). */
const synSentTo = (port: number): number =>
  fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1).filter((line) => {
    const [, , remote, state] = line.trim().split(/\s+/)
    return remote === `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}` && state === "02"
  }).length

const ignoreMessage = encode((w) => w.byte(MessageNumber.IGNORE).string("x"))

describe("bad peers", () => {
  it.scopedLive("a garbage version exchange: too many lines before SSH-", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst((s) => s.write("garbage line\r\n".repeat(200)))
      expect(error._tag).toBe("TransportError")
      expect(error._tag === "TransportError" && error.reason).toBe("VersionExchange")
      expect(error.message).toMatch(/no SSH identification string within 64 lines/)
      expect(error.message).toMatch(/127\.0\.0\.1:\d+/)
    }))

  it.scopedLive("a garbage version exchange: an endless line", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst((s) => s.write("x".repeat(5000)))
      expect(error._tag === "TransportError" && error.reason).toBe("VersionExchange")
      expect(error.message).toMatch(/longer than 1024 bytes/)
    }))

  it.scopedLive("an SSH-1 server is refused", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst((s) => s.write("SSH-1.5-OldServer\r\n"))
      expect(error._tag === "TransportError" && error.reason).toBe("VersionExchange")
      expect(error.message).toMatch(/protocol 1\.5; only 2\.0 is supported/)
    }))

  it.scopedLive("lines before the identification string are tolerated, and 1.99 is accepted", () =>
    Effect.gen(function*() {
      // After a good version the server goes silent: the failure must come from the KEXINIT step.
      const { error } = yield* failAgainst((s) => s.write("Welcome\r\nto the server\r\nSSH-1.99-Compat\r\n"), "300 millis")
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXINIT"])
    }))

  it.scopedLive("a packet length over the 256 KiB limit", () =>
    Effect.gen(function*() {
      const header = Buffer.alloc(8)
      header.writeUInt32BE(1024 * 1024, 0)
      const { error } = yield* failAgainst((s) => s.write(Buffer.concat([Buffer.from(VERSION), header])))
      expect(error._tag === "TransportError" && error.reason).toBe("PacketTooLarge")
      expect(error.message).toMatch(/1048576 exceeds the limit of 262144/)
    }))

  it.scopedLive("a stream truncated mid-packet", () =>
    Effect.gen(function*() {
      const packet = plainPacket(serverKexInit({ strict: true }))
      const { error } = yield* failAgainst((s) => s.end(Buffer.concat([Buffer.from(VERSION), packet.subarray(0, 40)])))
      expect(error._tag === "TransportError" && error.reason).toBe("ConnectionClosed")
      expect(error.message).toMatch(/in the middle of a packet/)
    }))

  it.scopedLive("a silent server times out in the version exchange", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst(() => {}, "300 millis")
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "version exchange"])
    }))

  it.scopedLive("a server that goes silent after KEXINIT times out waiting for KEXDH_REPLY", () =>
    Effect.gen(function*() {
      const { error, server } = yield* failAgainst(
        (s) => s.write(Buffer.concat([Buffer.from(VERSION), plainPacket(serverKexInit({ strict: true }))])),
        "300 millis"
      )
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXDH_REPLY"])
      // We did send our version line and KEXINIT, then KEXDH_INIT.
      expect(server.received().toString("latin1")).toMatch(/^SSH-2\.0-effect_ssh_auth/)
    }))

  it.scopedLive("keepalives do not extend a step: IGNORE every 100 ms and never KEXINIT still times out from the step's start", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { error } = yield* failAgainst((s) => {
        s.write(VERSION)
        let seq = 0
        const timer = setInterval(() => s.writable ? s.write(plainPacket(ignoreMessage, seq++)) : clearInterval(timer), 100)
        s.on("close", () => clearInterval(timer))
        // Bounded: the server gives up by itself after 5 s.
        setTimeout(() => clearInterval(timer), 5000).unref()
      }, "600 millis")
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXINIT"])
      expect(Date.now() - started).toBeLessThan(1500)
    }))

  it.scopedLive("a version line dripped a byte at a time is bounded by the identification timeout (ssh's ConnectTimeout)", () =>
    Effect.gen(function*() {
      const started = Date.now()
      const server = yield* fakeServer((s) => {
        let i = 0
        const timer = setInterval(() => (s.writable && i < VERSION.length ? s.write(VERSION[i++]) : clearInterval(timer)), 100)
        s.on("close", () => clearInterval(timer))
      })
      const error = yield* makeTcp({
        host: "127.0.0.1",
        port: server.port,
        hostKeyPolicy: acceptAnyInsecure,
        connectTimeout: "500 millis",
        handshakeTimeout: "1 hour"
      }).pipe(Effect.scoped, Effect.flip)
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "version exchange"])
      expect(error.message).toMatch(/no identification string from the server within 500ms/)
      expect(Date.now() - started).toBeLessThan(1500)
    }))

  it.scopedLive("a KEXINIT with 30,000 names (180 KB): a typed error whose line stays short", () =>
    Effect.gen(function*() {
      const names = Array.from({ length: 30_000 }, (_, i) => `k${i}`)
      const huge = encode((w) => {
        w.byte(MessageNumber.KEXINIT).raw(new Uint8Array(16))
        w.string(names.join(",")) // kex algorithms: nothing in common
        for (let i = 0; i < 9; i++) w.string(i < 5 ? "ssh-ed25519,aes128-ctr,hmac-sha2-256,none".split(",")[Math.min(i, 3)] : "")
        w.boolean(false).uint32(0)
      })
      const { error } = yield* failAgainst((s) => s.write(Buffer.concat([Buffer.from(VERSION), plainPacket(huge, 0)])))
      expect(error._tag === "TransportError" && error.reason).toBe("KexFailed")
      expect(error.message).toMatch(/no common kex algorithm/)
      expect(error.message).toMatch(/\(29988 more\)/)
      expect(error.message.length).toBeLessThan(1500)
    }))

  it.scopedLive("a DISCONNECT full of terminal escapes is shown escaped", () =>
    Effect.gen(function*() {
      const disconnect = encode((w) => w.byte(MessageNumber.DISCONNECT).uint32(2).string("\u001b]0;owned\u0007\u001b[2J" + "A".repeat(5000)).string(""))
      const { error } = yield* failAgainst((s) => s.write(Buffer.concat([Buffer.from(VERSION), plainPacket(disconnect, 0)])))
      expect(error._tag).toBe("Disconnected")
      expect(error.message).toContain("\\033]0;owned\\007\\033[2J")
      expect(/[\u0000-\u001f]/.test(error.message)).toBe(false)
      expect(error.message.length).toBeLessThan(400)
    }))

  it.scopedLive("connection refused is a typed connect error", () =>
    Effect.gen(function*() {
      // Port 1 on loopback has no listener here: the kernel refuses at once.
      const error = yield* makeTcp({ host: "127.0.0.1", port: 1, hostKeyPolicy: acceptAnyInsecure }).pipe(Effect.scoped, Effect.flip)
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["ConnectFailed", "connect"])
      expect(error.message).toMatch(/cannot connect to 127\.0\.0\.1 port 1/)
    }))

  it.scopedLive("a connect that never completes times out, typed, and the half-open socket is let go", () =>
    Effect.gen(function*() {
      // A listener that never accepts, with a backlog of 0: once its queue is full the kernel
      // drops further SYNs, so the next connect hangs as it would behind a silent firewall.
      const listener = yield* Effect.acquireRelease(
        Effect.sync(() =>
          spawn("python3", [
            "-c",
            "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0); print(s.getsockname()[1], flush=True); time.sleep(60)"
          ])
        ),
        (p) => Effect.sync(() => p.kill())
      )
      const port = yield* Effect.async<number>((resume) => void listener.stdout.once("data", (d) => resume(Effect.succeed(Number(String(d).trim())))))
      const fillers = yield* Effect.acquireRelease(
        Effect.sync(() => [0, 1, 2].map(() => netConnect(port, "127.0.0.1").on("error", () => {}))),
        (sockets) => Effect.sync(() => sockets.forEach((s) => s.destroy()))
      )
      yield* Effect.sleep("200 millis")
      const before = synSentTo(port)
      expect(fillers.some((s) => s.connecting)).toBe(true)
      const started = Date.now()
      const error = yield* makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure, connectTimeout: "300 millis" }).pipe(
        Effect.scoped,
        Effect.flip
      )
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "connect"])
      expect(error.message).toMatch(/no TCP connection within 300ms/)
      expect(Date.now() - started).toBeLessThan(5_000)
      // Our SYN_SENT socket is gone: no more half-open connects to that port than before.
      expect(synSentTo(port)).toBe(before)
    }))
})

describe("strict kex (Terrapin, CVE-2023-48795)", () => {
  it.scopedLive("an out-of-order message during the initial strict kex is fatal", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst((s) =>
        s.write(Buffer.concat([
          Buffer.from(VERSION),
          plainPacket(serverKexInit({ strict: true }), 0),
          plainPacket(ignoreMessage, 1)
        ]))
      )
      expect(error._tag === "TransportError" && error.reason).toBe("ProtocolError")
      expect(error.message).toMatch(/strict key exchange: unexpected IGNORE during the initial key exchange/)
    }))

  it.scopedLive("under strict kex, KEXINIT must be the first packet", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst((s) =>
        s.write(Buffer.concat([
          Buffer.from(VERSION),
          plainPacket(ignoreMessage, 0),
          plainPacket(serverKexInit({ strict: true }), 1)
        ]))
      )
      expect(error._tag === "TransportError" && error.reason).toBe("ProtocolError")
      expect(error.message).toMatch(/KEXINIT was not the first packet/)
    }))

  it.scopedLive("without strict kex the same IGNORE is tolerated (so strictness is what rejects it)", () =>
    Effect.gen(function*() {
      const { error } = yield* failAgainst(
        (s) =>
          s.write(Buffer.concat([
            Buffer.from(VERSION),
            plainPacket(ignoreMessage, 0),
            plainPacket(serverKexInit({ strict: false }), 1),
            plainPacket(ignoreMessage, 2)
          ])),
        "300 millis"
      )
      expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXDH_REPLY"])
    }))

  it.scopedLive("a server DISCONNECT is a typed error with the RFC reason code and text", () =>
    Effect.gen(function*() {
      const disconnect = encode((w) => w.byte(MessageNumber.DISCONNECT).uint32(2).string("go away").string(""))
      const { error } = yield* failAgainst((s) => s.write(Buffer.concat([Buffer.from(VERSION), plainPacket(disconnect, 0)])))
      expect(error._tag).toBe("Disconnected")
      if (error._tag !== "Disconnected") return
      expect(error.code).toBe(2)
      expect(error.codeName).toBe("PROTOCOL_ERROR")
      expect(error.description).toBe("go away")
    }))

  describe("first_kex_packet_follows (RFC 4253 §7.1)", () => {
    const guessed = plainPacket(encode((w) => w.byte(MessageNumber.KEXDH_INIT).string(new Uint8Array(32))), 1)
    const kex = ["ecdh-sha2-nistp256", "curve25519-sha256"]

    it.scopedLive("a wrongly guessed kex packet from the server is ignored", () =>
      Effect.gen(function*() {
        const { error } = yield* failAgainst(
          (s) =>
            s.write(Buffer.concat([
              Buffer.from(VERSION),
              plainPacket(serverKexInit({ strict: true, kex, firstKexPacketFollows: true }), 0),
              guessed
            ])),
          "300 millis"
        )
        // The guess was skipped: we are still waiting for the real reply.
        expect(error._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXDH_REPLY"])
      }))

    it.scopedLive("the same packet without the flag is a protocol error", () =>
      Effect.gen(function*() {
        const { error } = yield* failAgainst((s) =>
          s.write(Buffer.concat([
            Buffer.from(VERSION),
            plainPacket(serverKexInit({ strict: true, kex, firstKexPacketFollows: false }), 0),
            guessed
          ]))
        )
        expect(error._tag === "TransportError" && error.reason).toBe("ProtocolError")
        expect(error.message).toMatch(/unexpected KEXDH_INIT during the key exchange/)
      }))
  })

  describe("our own guess: KEXDH_INIT goes out with KEXINIT", () => {
    /** The client's packets after its version line (plaintext: before NEWKEYS). */
    const clientPackets = (received: Buffer): Array<Uint8Array> => {
      const out: Array<Uint8Array> = []
      let offset = received.indexOf(0x0a) + 1
      for (let i = 0; i < 10 && offset + 5 <= received.length; i++) {
        const length = received.readUInt32BE(offset)
        if (offset + 4 + length > received.length) break
        const padding = received[offset + 4]
        out.push(received.subarray(offset + 5, offset + 4 + length - padding))
        offset += 4 + length
      }
      return out
    }
    const kexdhInitKeyLength = (p: Uint8Array) => Buffer.from(p).readUInt32BE(1)

    const run = (kex: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const { server } = yield* failAgainst(
          (s) => s.write(Buffer.concat([Buffer.from(VERSION), plainPacket(serverKexInit({ strict: true, kex }), 0)])),
          "300 millis"
        )
        const packets = clientPackets(server.received())
        // The step timeout ends it with our DISCONNECT.
        expect(packets.at(-1)?.[0]).toBe(MessageNumber.DISCONNECT)
        return packets.slice(0, -1)
      })

    it.scopedLive("a server that prefers what we prefer takes the guess: one KEXDH_INIT", () =>
      Effect.gen(function*() {
        const packets = yield* run(["mlkem768x25519-sha256"])
        expect(packets.map((p) => p[0])).toEqual([MessageNumber.KEXINIT, MessageNumber.KEXDH_INIT])
        // Our first choice, as OpenSSH 10 has it: ML-KEM-768's public key and X25519's.
        expect(kexdhInitKeyLength(packets[1])).toBe(1184 + 32)
        // first_kex_packet_follows is the byte before the reserved uint32 at the end.
        const kexinit = packets[0]
        expect(kexinit[kexinit.length - 5]).toBe(1)
      }))

    it.scopedLive("a server preferring another kex drops the guess: the real KEXDH_INIT follows", () =>
      Effect.gen(function*() {
        const packets = yield* run(["ecdh-sha2-nistp256"])
        expect(packets.map((p) => p[0])).toEqual([MessageNumber.KEXINIT, MessageNumber.KEXDH_INIT, MessageNumber.KEXDH_INIT])
        expect(packets.slice(1).map(kexdhInitKeyLength)).toEqual([1184 + 32, 65])
      }))

    it.scopedLive("negotiation still on the guessed method: the same value is sent again", () =>
      Effect.gen(function*() {
        // A first choice we do not have (the server's), then our guess.
        const packets = yield* run(["diffie-hellman-group-exchange-sha256", "mlkem768x25519-sha256"])
        expect(packets.map((p) => p[0])).toEqual([MessageNumber.KEXINIT, MessageNumber.KEXDH_INIT, MessageNumber.KEXDH_INIT])
        expect(Buffer.from(packets[1]).equals(Buffer.from(packets[2]))).toBe(true)
      }))
  })
})
