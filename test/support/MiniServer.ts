/**
 * A scripted SSH server that completes a real key exchange (curve25519-sha256, ssh-ed25519,
 * aes128-gcm, strict kex) and then hands its encrypted channel to a test script. It is for
 * the edge cases sshd cannot be made to produce on demand: EXT_INFO twice, DEBUG and
 * IGNORE between messages, and the like. Built from the library's own codec, so it checks
 * the client against the RFC as we read it, not against OpenSSH: the interop suite does that.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type * as net from "node:net"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import { ciphers } from "../../src/transport/cipher/Ciphers.js"
import { noneSealer, type PacketSealer } from "../../src/transport/cipher/PacketCipher.js"
import { decodeKexInit } from "../../src/transport/KexInit.js"
import { framePacket, PacketDecoder } from "../../src/transport/PacketCodec.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { Reader } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { serverKexInit as makeServerKexInit } from "./FakeServer.js"
import { listenLoopback } from "./Loopback.js"

export interface ServerSide {
  send(payload: Uint8Array): void
  /** The next payload from the client, after NEWKEYS. */
  next(): Promise<Uint8Array>
}

export interface MiniServer {
  readonly port: number
  /** The ed25519 host key's wire blob. */
  readonly hostKeyBlob: Uint8Array
  /** Settles when the script finishes (or fails). */
  readonly done: Effect.Effect<void, unknown>
  /** The client's KEXINIT payload as it arrived, once it has. */
  readonly clientKexInit: () => Uint8Array | undefined
}

const VERSION = "SSH-2.0-MiniServer_1.0"
const sha256 = (...parts: ReadonlyArray<Uint8Array>) => {
  const h = crypto.createHash("sha256")
  for (const p of parts) h.update(p)
  return h.digest()
}

/** Serves one connection: key exchange, then `script`. Closed with the Scope. */
export const miniServer = (script: (side: ServerSide) => Promise<void>) =>
  Effect.gen(function*() {
    const seed = crypto.randomBytes(32)
    const hostKeyBlob = encode((w) => w.string("ssh-ed25519").string(nodeCurves.ed25519.publicKey(seed)))
    const done = yield* Deferred.make<void, unknown>()
    let receivedKexInit: Uint8Array | undefined

    const serve = (socket: net.Socket) => {
      const decoder = new PacketDecoder()
      let sealer: PacketSealer = noneSealer
      let seqIn = 0
      let seqOut = 0
      let waiting: (() => void) | undefined
      let failed: Error | undefined
      socket.on("data", (chunk) => {
        decoder.push(chunk)
        waiting?.()
      })
      socket.on("close", () => {
        failed = new Error("client closed")
        waiting?.()
      })
      socket.on("error", () => {})
      const more = () => new Promise<void>((resolve) => (waiting = resolve))
      const send = (payload: Uint8Array) => {
        socket.write(framePacket(payload, sealer, seqOut))
        seqOut = (seqOut + 1) >>> 0
      }
      const next = async (): Promise<Uint8Array> => {
        for (let i = 0; i < 10_000; i++) {
          const p = decoder.next(seqIn)
          if (p) {
            seqIn = (seqIn + 1) >>> 0
            return p
          }
          if (failed) throw failed
          await more()
        }
        throw new Error("no packet")
      }
      const line = async (): Promise<string> => {
        for (let i = 0; i < 10_000; i++) {
          const got = decoder.takeLine(1024)
          if (got && "line" in got) return got.line
          if (failed) throw failed
          await more()
        }
        throw new Error("no version line")
      }

      const run = async () => {
        const serverKexInit = makeServerKexInit({ strict: true, extInfo: true, cipher: "aes128-gcm@openssh.com" })
        socket.write(`${VERSION}\r\n`)
        send(serverKexInit)
        const clientVersion = await line()
        const clientKexInit = await next()
        receivedKexInit = clientKexInit
        if (decodeKexInit(clientKexInit)._tag === "Left") throw new Error("bad client KEXINIT")
        const init = await next()
        if (init[0] !== MessageNumber.KEXDH_INIT) throw new Error(`expected KEXDH_INIT, got ${init[0]}`)
        const clientPublic = new Reader(init.subarray(1)).string()
        const ephemeral = nodeCurves.x25519.generateKeyPair()
        const shared = nodeCurves.x25519.sharedSecret(ephemeral.privateKey, clientPublic)
        const K = encode((w) => w.mpintUnsigned(shared))
        const H = sha256(
          encode((w) =>
            w.string(clientVersion).string(VERSION).string(clientKexInit).string(serverKexInit).string(hostKeyBlob)
              .string(clientPublic).string(ephemeral.publicKey)
          ),
          K
        )
        const signature = encode((w) => w.string("ssh-ed25519").string(nodeCurves.ed25519.sign(seed, H)))
        send(encode((w) => w.byte(MessageNumber.KEXDH_REPLY).string(hostKeyBlob).string(ephemeral.publicKey).string(signature)))
        send(Uint8Array.of(MessageNumber.NEWKEYS))
        const derive = (letter: string, length: number) => sha256(K, H, Buffer.from(letter), H).subarray(0, length)
        const gcm = ciphers.get("aes128-gcm@openssh.com")!
        sealer = gcm.sealer({ iv: derive("B", 12), key: derive("D", 16), macKey: new Uint8Array(0) }, undefined)
        seqOut = 0 // strict kex
        const newKeys = await next()
        if (newKeys[0] !== MessageNumber.NEWKEYS) throw new Error(`expected NEWKEYS, got ${newKeys[0]}`)
        decoder.opener = gcm.opener({ iv: derive("A", 12), key: derive("C", 16), macKey: new Uint8Array(0) }, undefined)
        seqIn = 0
        await script({ send, next })
      }
      run().then(
        () => Deferred.unsafeDone(done, Effect.void),
        (e) => {
          Deferred.unsafeDone(done, Effect.fail(e))
          socket.destroy()
        }
      )
    }

    const port = yield* listenLoopback(serve)
    return { port, hostKeyBlob, done: Deferred.await(done), clientKexInit: () => receivedKexInit } satisfies MiniServer
  })

/** EXT_INFO with the given extensions. */
export const extInfo = (entries: Record<string, string>): Uint8Array =>
  encode((w) => {
    w.byte(MessageNumber.EXT_INFO).uint32(Object.keys(entries).length)
    for (const [k, v] of Object.entries(entries)) w.string(k).string(v)
  })
