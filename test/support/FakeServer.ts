/**
 * A scripted TCP peer on 127.0.0.1 for the cases a real sshd cannot be made to produce:
 * garbage version lines, oversized or truncated packets, out-of-order kex messages, silence.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type * as net from "node:net"
import { noneSealer } from "../../src/transport/cipher/PacketCipher.js"
import { encodeKexInit } from "../../src/transport/KexInit.js"
import { framePacket } from "../../src/transport/PacketCodec.js"
import { listenLoopback } from "./Loopback.js"

export interface FakeServer {
  readonly port: number
  /** Resolves when the client's socket has closed on the server side. */
  readonly clientClosed: Effect.Effect<void>
  /** Everything the client sent. */
  readonly received: () => Buffer
}

/** Starts a one-connection server; `script` drives the accepted socket. Closed with the scope. */
export const fakeServer = (script: (socket: net.Socket) => void) =>
  Effect.gen(function*() {
    const closed = yield* Deferred.make<void>()
    const chunks: Array<Buffer> = []
    const port = yield* listenLoopback((socket) => {
      socket.on("data", (d) => chunks.push(d))
      socket.on("error", () => {})
      socket.on("close", () => Deferred.unsafeDone(closed, Effect.void))
      script(socket)
    })
    return {
      port,
      clientClosed: Deferred.await(closed),
      received: () => Buffer.concat(chunks)
    } satisfies FakeServer
  })

/** A plaintext packet as the server would send it before NEWKEYS. */
export const plainPacket = (payload: Uint8Array, seq = 0): Uint8Array => framePacket(payload, noneSealer, seq)

/** A server KEXINIT offering what our client offers, optionally with the strict-kex marker. */
export const serverKexInit = (options: {
  readonly strict: boolean
  readonly kex?: ReadonlyArray<string>
  readonly cipher?: string
  readonly extInfo?: boolean
  readonly firstKexPacketFollows?: boolean
}): Uint8Array =>
  encodeKexInit({
    cookie: crypto.randomBytes(16),
    kexAlgorithms: [
      ...(options.kex ?? ["curve25519-sha256"]),
      ...(options.extInfo ? ["ext-info-s"] : []),
      ...(options.strict ? ["kex-strict-s-v00@openssh.com"] : [])
    ],
    serverHostKeyAlgorithms: ["ssh-ed25519"],
    ciphersClientToServer: [options.cipher ?? "aes128-ctr"],
    ciphersServerToClient: [options.cipher ?? "aes128-ctr"],
    macsClientToServer: ["hmac-sha2-256"],
    macsServerToClient: ["hmac-sha2-256"],
    compressionClientToServer: ["none"],
    compressionServerToClient: ["none"],
    languagesClientToServer: [],
    languagesServerToClient: [],
    firstKexPacketFollows: options.firstKexPacketFollows ?? false
  })
