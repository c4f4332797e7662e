/**
 * A loopback SSH server that misbehaves on purpose, one way per test, at any phase: raw
 * bytes before the key exchange (a dripped, oversized or missing identification line, a
 * custom KEXINIT), a tampered key exchange (messages out of order, a bad KEXDH_REPLY), and
 * any sequence of messages after NEWKEYS. The key exchange it can complete is real
 * (curve25519-sha256, ssh-ed25519, aes128-gcm, strict kex by default), built from the
 * library's own codec as test/support/MiniServer.ts is.
 *
 * It records everything the client sent: the raw bytes, and every payload decrypted as it
 * arrives (whether or not the script reads it), interleaved with what the server sent, so a
 * test can say which secret went out in which message, in reply to what.
 *
 * Every wait has a deadline and every loop a bound; once the client is gone every
 * primitive throws `ClientGone`, so a script that outlives its client ends at once.
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type * as net from "node:net"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import { ciphers } from "../../src/transport/cipher/Ciphers.js"
import { noneSealer, type PacketOpener, type PacketSealer } from "../../src/transport/cipher/PacketCipher.js"
import { encodeKexInit, type KexInit } from "../../src/transport/KexInit.js"
import { framePacket, PacketDecoder } from "../../src/transport/PacketCodec.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode, Reader } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { listenLoopback } from "../support/Loopback.js"

/** The identification line the server sends unless a script says otherwise. */
export const VERSION = "SSH-2.0-Hostile_1.0"

/** How long `next` waits unless told otherwise. */
const DEFAULT_WAIT_MS = 5_000

/** Thrown by every primitive once the client has closed the connection. */
export class ClientGone extends Error {
  constructor() {
    super("the client closed the connection")
  }
}

/** One payload, in the order the two sides produced them. */
export interface WireEvent {
  readonly from: "client" | "server"
  readonly payload: Uint8Array
  /** Milliseconds since the connection was accepted. */
  readonly at: number
}

/** A client USERAUTH_REQUEST, its method-specific fields left as bytes. */
export interface UserauthRequest {
  readonly username: string
  readonly service: string
  readonly method: string
  readonly rest: Uint8Array
  readonly payload: Uint8Array
}

/** The honest parts of a KEXDH_REPLY, for a script to tamper with. */
export interface ReplyParts {
  readonly hostKeyBlob: Uint8Array
  readonly serverPublic: Uint8Array
  readonly signature: Uint8Array
  readonly exchangeHash: Uint8Array
}

export interface KexOptions {
  /** Builds the KEXDH_REPLY from the honest parts (default: `kexReply(parts)`). */
  readonly reply?: (parts: ReplyParts) => Uint8Array
  /** Send our NEWKEYS after the reply (default true). */
  readonly newKeys?: boolean
}

export interface ServiceOptions {
  /** EXT_INFO to send before SERVICE_ACCEPT; `null` for none (default: server-sig-algs). */
  readonly extInfo?: Uint8Array | null
  /** The SERVICE_ACCEPT payload (default: for "ssh-userauth"). */
  readonly accept?: Uint8Array
}

/** What a script drives: one accepted connection. */
export interface Conn {
  /** Raw bytes, as they are. */
  write(bytes: Uint8Array | string): void
  /** Writes `bytes` one byte per `intervalMs`. */
  drip(bytes: Uint8Array | string, intervalMs: number): Promise<void>
  /** One packet, framed with the keys and sequence number in force. */
  send(payload: Uint8Array): void
  /** Many packets, waiting for the socket to drain when its buffer fills (bounded). */
  sendAll(payloads: Iterable<Uint8Array>): Promise<void>
  /** The next payload from the client; throws after `timeoutMs` or when the client is gone. */
  next(timeoutMs?: number): Promise<Uint8Array>
  /** The next payload, which must be a USERAUTH_REQUEST. */
  nextRequest(timeoutMs?: number): Promise<UserauthRequest>
  sleep(ms: number): Promise<void>
  /** Resolves when the client has closed, or after `ms`. */
  waitClosed(ms: number): Promise<void>
  /** Ends the connection once queued bytes are out. */
  close(): void
  readonly closed: boolean
  /** Sends our identification line (`line` without CR LF) and remembers it for the hash. */
  version(line?: string): void
  /** Sends our KEXINIT (default: `kexInit()`) and remembers it for the hash. */
  kexInit(payload?: Uint8Array): void
  /** Reads the client's KEXINIT and KEXDH_INIT, replies, sends NEWKEYS and reads the client's. */
  kex(options?: KexOptions): Promise<void>
  /** version + kexInit + kex. */
  handshake(options?: KexOptions): Promise<void>
  /** Reads SERVICE_REQUEST, answers EXT_INFO and SERVICE_ACCEPT. */
  acceptService(options?: ServiceOptions): Promise<void>
  /** handshake + acceptService. */
  login(): Promise<void>
  /** The exchange hash of the completed key exchange. */
  readonly sessionId: Uint8Array | undefined
  readonly hostKeyBlob: Uint8Array
}

export interface HostileServer {
  readonly port: number
  /** Client and server payloads in order. */
  readonly events: () => ReadonlyArray<WireEvent>
  /** The client's payloads alone. */
  readonly clientPayloads: () => ReadonlyArray<Uint8Array>
  /** Every byte the client sent, as received. */
  readonly raw: () => Buffer
  /** The client's identification line, once it came. */
  readonly clientVersion: () => string | undefined
  /** Why the script stopped early, if it did (a departed client is not an error). */
  readonly scriptError: () => unknown
  /** Why the server stopped decoding the client's packets, if it did. */
  readonly decodeError: () => unknown
  /** Resolves once the client's connection has closed (or after `ms`). */
  readonly settled: (ms: number) => Promise<void>
}

const sha256 = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const h = crypto.createHash("sha256")
  for (const p of parts) h.update(p)
  return h.digest()
}

/** A server KEXINIT: our defaults (strict, ext-info, aes128-gcm) with any field replaced. */
export const kexInit = (overrides: Partial<KexInit> & { readonly strict?: boolean } = {}): Uint8Array => {
  const strict = overrides.strict ?? true
  return encodeKexInit({
    cookie: crypto.randomBytes(16),
    kexAlgorithms: ["curve25519-sha256", "ext-info-s", ...(strict ? ["kex-strict-s-v00@openssh.com"] : [])],
    serverHostKeyAlgorithms: ["ssh-ed25519"],
    ciphersClientToServer: ["aes128-gcm@openssh.com"],
    ciphersServerToClient: ["aes128-gcm@openssh.com"],
    macsClientToServer: ["hmac-sha2-256"],
    macsServerToClient: ["hmac-sha2-256"],
    compressionClientToServer: ["none"],
    compressionServerToClient: ["none"],
    languagesClientToServer: [],
    languagesServerToClient: [],
    firstKexPacketFollows: false,
    ...overrides
  })
}

/** Whether a KEXINIT payload carries the strict-kex marker. */
const isStrict = (payload: Uint8Array): boolean =>
  Buffer.from(payload).includes(Buffer.from("kex-strict-s-v00@openssh.com"))

/** The KEXDH_REPLY for the given parts. */
export const kexReply = (p: Pick<ReplyParts, "hostKeyBlob" | "serverPublic" | "signature">): Uint8Array =>
  encode((w) => w.byte(MessageNumber.KEXDH_REPLY).string(p.hostKeyBlob).string(p.serverPublic).string(p.signature))

/**
 * Serves the first connection with `script` until the Scope closes. A second connection
 * is refused at once: the CLI makes one.
 */
export const hostileServer = (script: (conn: Conn) => Promise<void>) =>
  Effect.gen(function*() {
    const seed = crypto.randomBytes(32)
    const hostKeyBlob = encode((w) => w.string("ssh-ed25519").string(nodeCurves.ed25519.publicKey(seed)))
    const events: Array<WireEvent> = []
    const rawChunks: Array<Buffer> = []
    let clientVersion: string | undefined
    let scriptError: unknown
    let decodeError: unknown
    let accepted = false
    let isClosed = false
    const closeWaiters = new Set<() => void>()
    const onClosed = (): void => {
      isClosed = true
      for (const w of closeWaiters) w()
      closeWaiters.clear()
    }
    /** Waits `ms`, or less if the client's socket closes first: true when it closed. */
    const closedWithin = (ms: number) =>
      new Promise<boolean>((resolve) => {
        if (isClosed) return resolve(true)
        const done = () => {
          clearTimeout(timer)
          closeWaiters.delete(done)
          resolve(isClosed)
        }
        const timer = setTimeout(done, ms)
        closeWaiters.add(done)
      })

    const serve = (socket: net.Socket) => {
      if (accepted) {
        socket.destroy()
        return
      }
      accepted = true
      const started = Date.now()
      const decoder = new PacketDecoder()
      let sealer: PacketSealer = noneSealer
      let pendingOpener: PacketOpener | undefined
      let seqIn = 0
      let seqOut = 0
      let strict = true
      const queue: Array<Uint8Array> = []
      let wake: (() => void) | undefined
      const poke = () => {
        const w = wake
        wake = undefined
        w?.()
      }

      /** Decodes whatever the client sent, as it arrives, so nothing goes unrecorded. */
      const pump = () => {
        if (decodeError !== undefined) return
        try {
          if (clientVersion === undefined) {
            const got = decoder.takeLine(8192)
            if (got === undefined) return
            if ("tooLong" in got) throw new Error("the client's identification line is too long")
            clientVersion = got.line
          }
          for (let i = 0; i < 100_000; i++) {
            const payload = decoder.next(seqIn)
            if (payload === undefined) break
            seqIn = (seqIn + 1) >>> 0
            events.push({ from: "client", payload, at: Date.now() - started })
            queue.push(payload)
            if (payload[0] === MessageNumber.NEWKEYS && pendingOpener) {
              decoder.opener = pendingOpener
              pendingOpener = undefined
              if (strict) seqIn = 0
            }
          }
        } catch (e) {
          decodeError = e
        }
      }
      socket.on("data", (chunk: Buffer) => {
        rawChunks.push(chunk)
        decoder.push(chunk)
        pump()
        poke()
      })
      socket.on("close", () => {
        onClosed()
        poke()
      })
      socket.on("error", () => {})

      const gone = () => {
        if (isClosed || socket.destroyed) throw new ClientGone()
      }
      const write = (bytes: Uint8Array | string) => {
        gone()
        socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes)
      }
      const frame = (payload: Uint8Array): Uint8Array => {
        const wire = framePacket(payload, sealer, seqOut)
        seqOut = (seqOut + 1) >>> 0
        events.push({ from: "server", payload, at: Date.now() - started })
        return wire
      }
      const send = (payload: Uint8Array) => write(frame(payload))
      const waitFor = (ms: number) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            wake = undefined
            resolve()
          }, Math.max(0, ms))
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      const sleep = (ms: number) =>
        closedWithin(ms).then((closed) => {
          if (closed) throw new ClientGone()
        })
      const drain = () =>
        new Promise<void>((resolve, reject) => {
          const done = () => {
            clearTimeout(timer)
            closeWaiters.delete(done)
            socket.off("drain", done)
            if (isClosed) reject(new ClientGone())
            else resolve()
          }
          const timer = setTimeout(done, 10_000)
          closeWaiters.add(done)
          socket.once("drain", done)
        })

      const next = async (timeoutMs = DEFAULT_WAIT_MS): Promise<Uint8Array> => {
        const deadline = Date.now() + timeoutMs
        for (let i = 0; i < 100_000; i++) {
          const payload = queue.shift()
          if (payload !== undefined) return payload
          if (decodeError !== undefined) throw new Error(`cannot decode the client's packets: ${String(decodeError)}`)
          gone()
          const left = deadline - Date.now()
          if (left <= 0) throw new Error(`no message from the client within ${timeoutMs} ms`)
          await waitFor(left)
        }
        throw new Error("next: too many wake-ups")
      }

      let serverVersion = VERSION
      let serverKexInit: Uint8Array | undefined
      let sessionId: Uint8Array | undefined

      const conn: Conn = {
        write,
        drip: async (bytes, intervalMs) => {
          const all = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes
          for (let i = 0; i < all.length; i++) {
            write(all.subarray(i, i + 1))
            await sleep(intervalMs)
          }
        },
        send,
        sendAll: async (payloads) => {
          for (const p of payloads) {
            gone()
            if (!socket.write(frame(p))) await drain()
          }
        },
        next,
        nextRequest: async (timeoutMs) => {
          const payload = await next(timeoutMs)
          const request = parseRequest(payload)
          if (request === undefined) throw new Error(`expected USERAUTH_REQUEST, got message ${payload[0]}`)
          return request
        },
        sleep,
        waitClosed: (ms) => closedWithin(ms).then(() => undefined),
        close: () => {
          if (socket.destroyed) return
          socket.end()
          // Bounded: a client that never reads must not keep the socket forever.
          setTimeout(() => socket.destroy(), 2_000).unref()
        },
        get closed() {
          return isClosed
        },
        version: (line = VERSION) => {
          serverVersion = line
          write(`${line}\r\n`)
        },
        kexInit: (payload = kexInit()) => {
          serverKexInit = payload
          strict = isStrict(payload)
          send(payload)
        },
        kex: async (options = {}) => {
          if (serverKexInit === undefined) throw new Error("kex before kexInit")
          const clientKexInit = await next()
          if (clientKexInit[0] !== MessageNumber.KEXINIT) throw new Error(`expected KEXINIT, got ${clientKexInit[0]}`)
          const init = await next()
          if (init[0] !== MessageNumber.KEXDH_INIT) throw new Error(`expected KEXDH_INIT, got ${init[0]}`)
          const clientPublic = new Reader(init.subarray(1)).string()
          const ephemeral = nodeCurves.x25519.generateKeyPair()
          const shared = nodeCurves.x25519.sharedSecret(ephemeral.privateKey, clientPublic)
          const K = encode((w) => w.mpintUnsigned(shared))
          const H = sha256(
            encode((w) =>
              w.string(clientVersion ?? "").string(serverVersion).string(clientKexInit).string(serverKexInit!)
                .string(hostKeyBlob).string(clientPublic).string(ephemeral.publicKey)
            ),
            K
          )
          const signature = encode((w) => w.string("ssh-ed25519").string(nodeCurves.ed25519.sign(seed, H)))
          const derive = (letter: string, length: number) => sha256(K, H, Buffer.from(letter), H).subarray(0, length)
          const gcm = ciphers.get("aes128-gcm@openssh.com")!
          // Ready before the reply goes out: the client's NEWKEYS may be in the very next chunk.
          pendingOpener = gcm.opener({ iv: derive("A", 12), key: derive("C", 16), macKey: new Uint8Array(0) }, undefined)
          const parts: ReplyParts = { hostKeyBlob, serverPublic: ephemeral.publicKey, signature, exchangeHash: H }
          send(options.reply ? options.reply(parts) : kexReply(parts))
          if (options.newKeys === false) return
          send(Uint8Array.of(MessageNumber.NEWKEYS))
          sealer = gcm.sealer({ iv: derive("B", 12), key: derive("D", 16), macKey: new Uint8Array(0) }, undefined)
          if (strict) seqOut = 0
          const newKeys = await next()
          if (newKeys[0] !== MessageNumber.NEWKEYS) throw new Error(`expected NEWKEYS, got ${newKeys[0]}`)
          sessionId = H
        },
        handshake: async (options) => {
          conn.version()
          conn.kexInit()
          await conn.kex(options)
        },
        acceptService: async (options = {}) => {
          const request = await next()
          if (request[0] !== MessageNumber.SERVICE_REQUEST) throw new Error(`expected SERVICE_REQUEST, got ${request[0]}`)
          const ext = options.extInfo === undefined ? extInfo({ "server-sig-algs": "ssh-ed25519,rsa-sha2-256" }) : options.extInfo
          if (ext !== null) send(ext)
          send(options.accept ?? serviceAccept("ssh-userauth"))
        },
        login: async () => {
          await conn.handshake()
          await conn.acceptService()
        },
        get sessionId() {
          return sessionId
        },
        hostKeyBlob
      }

      script(conn).then(
        () => conn.close(),
        (e) => {
          if (!(e instanceof ClientGone)) scriptError = e
          conn.close()
        }
      )
    }

    const port = yield* listenLoopback(serve)
    return {
      port,
      events: () => events,
      clientPayloads: () => events.filter((e) => e.from === "client").map((e) => e.payload),
      raw: () => Buffer.concat(rawChunks),
      clientVersion: () => clientVersion,
      scriptError: () => scriptError,
      decodeError: () => decodeError,
      settled: (ms) => (accepted ? closedWithin(ms).then(() => undefined) : Promise.resolve())
    } satisfies HostileServer
  })

// ---- messages a server sends; strings may be text (UTF-8) or raw bytes ----

type Bytes = Uint8Array | string

export const ignore = (data: Bytes = ""): Uint8Array => encode((w) => w.byte(MessageNumber.IGNORE).string(data))
export const debug = (message: Bytes, alwaysDisplay = true): Uint8Array =>
  encode((w) => w.byte(MessageNumber.DEBUG).boolean(alwaysDisplay).string(message).string(""))
export const disconnect = (code: number, description: Bytes): Uint8Array =>
  encode((w) => w.byte(MessageNumber.DISCONNECT).uint32(code).string(description).string(""))
export const serviceAccept = (name: Bytes): Uint8Array => encode((w) => w.byte(MessageNumber.SERVICE_ACCEPT).string(name))
export const extInfo = (entries: Readonly<Record<string, Bytes>>): Uint8Array =>
  encode((w) => {
    w.byte(MessageNumber.EXT_INFO).uint32(Object.keys(entries).length)
    for (const [k, v] of Object.entries(entries)) w.string(k).string(v)
  })
export const success: Uint8Array = Uint8Array.of(MessageNumber.USERAUTH_SUCCESS)
/** USERAUTH_FAILURE; `methods` is a list, or the raw name-list bytes. */
export const failure = (methods: ReadonlyArray<string> | Bytes, partial = false): Uint8Array =>
  encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).string(Array.isArray(methods) ? methods.join(",") : (methods as Bytes)).boolean(partial))
export const banner = (text: Bytes): Uint8Array => encode((w) => w.byte(MessageNumber.USERAUTH_BANNER).string(text).string(""))
export const pkOk = (algorithm: Bytes, blob: Uint8Array): Uint8Array =>
  encode((w) => w.byte(MessageNumber.USERAUTH_PK_OK).string(algorithm).string(blob))
export const passwordChangeRequest = (prompt: Bytes): Uint8Array =>
  encode((w) => w.byte(MessageNumber.USERAUTH_PASSWD_CHANGEREQ).string(prompt).string(""))
export const infoRequest = (request: {
  readonly name?: Bytes
  readonly instruction?: Bytes
  readonly prompts: ReadonlyArray<{ readonly prompt: Bytes; readonly echo: boolean }>
  /** Claimed prompt count, when it should differ from the prompts sent. */
  readonly count?: number
}): Uint8Array =>
  encode((w) => {
    w.byte(MessageNumber.USERAUTH_INFO_REQUEST).string(request.name ?? "").string(request.instruction ?? "").string("")
      .uint32(request.count ?? request.prompts.length)
    for (const p of request.prompts) w.string(p.prompt).boolean(p.echo)
  })

// ---- reading what the client sent ----

/** A USERAUTH_REQUEST, or undefined for anything else. */
export const parseRequest = (payload: Uint8Array): UserauthRequest | undefined => {
  if (payload[0] !== MessageNumber.USERAUTH_REQUEST) return undefined
  const parsed = decode(payload, (r) => {
    r.byte()
    return { username: r.text(), service: r.text(), method: r.text(), rest: r.rest().slice(), payload }
  })
  return parsed._tag === "Right" ? parsed.right : undefined
}

/** The fields of a publickey USERAUTH_REQUEST. */
export const parsePublicKey = (request: UserauthRequest) =>
  decode(request.rest, (r) => {
    const signed = r.boolean()
    const algorithm = r.text()
    const blob = r.string().slice()
    const signature = signed ? r.string().slice() : undefined
    return { signed, algorithm, blob, signature }
  })

/** The fields of a password USERAUTH_REQUEST. */
export const parsePassword = (request: UserauthRequest) =>
  decode(request.rest, (r) => {
    const change = r.boolean()
    const password = Buffer.from(r.string()).toString("utf8")
    const newPassword = change ? Buffer.from(r.string()).toString("utf8") : undefined
    return { change, password, newPassword }
  })

/** The responses of an INFO_RESPONSE. */
export const parseInfoResponse = (payload: Uint8Array) =>
  decode(payload, (r) => {
    r.byte()
    const n = r.uint32()
    if (n > 1000) r.fail("num-responses", "absurd")
    return Array.from({ length: n }, () => Buffer.from(r.string()).toString("utf8"))
  })

/** An INFO_REQUEST as the client reads it. */
export const parseInfoRequest = (payload: Uint8Array) =>
  decode(payload, (r) => {
    r.byte()
    r.string()
    r.string()
    r.string()
    const n = r.uint32()
    if (n > 1000) r.fail("num-prompts", "absurd")
    return Array.from({ length: n }, () => ({ prompt: Buffer.from(r.string()).toString("utf8"), echo: r.boolean() }))
  })

/** Verifies the signature of a signed publickey request with an ssh-ed25519 key. */
export const verifyEd25519Request = (sessionId: Uint8Array, request: UserauthRequest): boolean => {
  const parsed = parsePublicKey(request)
  if (parsed._tag === "Left" || !parsed.right.signed || parsed.right.signature === undefined) return false
  const { blob, signature } = parsed.right
  const publicKey = decode(blob, (r) => (r.text(), r.string().slice()))
  const sig = decode(signature, (r) => ({ algorithm: r.text(), bytes: r.string().slice() }))
  if (publicKey._tag === "Left" || sig._tag === "Left" || sig.right.algorithm !== "ssh-ed25519") return false
  // What was signed: the session id, then the request up to its signature.
  const body = request.payload.subarray(0, request.payload.length - 4 - signature.length)
  return nodeCurves.ed25519.verify(publicKey.right, encode((w) => w.string(sessionId).raw(body)), sig.right.bytes)
}
