/**
 * A loopback SSH server that misbehaves on purpose, one way per test, at any phase: raw
 * bytes before the key exchange (a dripped, oversized or missing identification line, a
 * broken KEXINIT), a tampered key exchange (messages out of order, a bad KEXDH_REPLY), and
 * any sequence of messages after NEWKEYS.
 *
 * The key exchange is the connection core's server role (test/support/CoreServer.ts) with
 * the script at the seam: until our NEWKEYS the core's output is plaintext, so each of its
 * messages waits for the script to let it out, as it is or rewritten; after NEWKEYS the
 * script's messages go through the core's `send`, under the keys in force. What the core
 * sends of its own accord after NEWKEYS (UNIMPLEMENTED) goes out too, or the keys would
 * fall out of step; its farewell DISCONNECT, when it gives up on the client, is dropped.
 *
 * It records everything the client sent: the raw bytes, and every payload the core
 * decrypted (whether or not the script reads it; from `kexInit` on, when the core starts),
 * interleaved with what the script sent, so a test can say which secret went out in which
 * message, in reply to what.
 *
 * Every wait has a deadline and every loop a bound; once the client is gone every
 * primitive throws `ClientGone`, so a script that outlives its client ends at once.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as crypto from "node:crypto"
import type * as net from "node:net"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import { type AlgorithmPreferences, defaultPreferences } from "../../src/transport/Algorithms.js"
import type { Connection, ConnectionFailure } from "../../src/transport/Connection.js"
import type { KexInit } from "../../src/transport/KexInit.js"
import { PacketDecoder } from "../../src/transport/PacketCodec.js"
import { messageName, MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { serverCore } from "../support/CoreServer.js"
import { plainPacket } from "../support/FakeServer.js"
import { listenLoopback } from "../support/Loopback.js"

/** The identification line the server sends unless a script says otherwise. */
export const VERSION = "SSH-2.0-Hostile_1.0"

/** How long `next` waits unless told otherwise. */
const DEFAULT_WAIT_MS = 5_000

/**
 * One algorithm of each kind, as a small server offers. aes128-gcm also keeps the keys in
 * step when a script adds packets before KEXINIT without strict kex: its nonce is its own
 * counter, not the sequence number, which the core cannot know the script moved.
 */
const PREFERENCES: AlgorithmPreferences = {
  ...defaultPreferences,
  kex: ["curve25519-sha256"],
  cipher: ["aes128-gcm@openssh.com"],
  mac: ["hmac-sha2-256"]
}

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

/** The fields of the core's honest KEXDH_REPLY, for a script to tamper with. */
export interface ReplyParts {
  readonly hostKeyBlob: Uint8Array
  readonly serverPublic: Uint8Array
  readonly signature: Uint8Array
}

export interface KexOptions {
  /** Builds the KEXDH_REPLY sent instead of the core's, from the core's parts (default: the core's own). */
  readonly reply?: (parts: ReplyParts) => Uint8Array
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
  /** One packet: in plaintext before our NEWKEYS, sealed by the core after it. */
  send(payload: Uint8Array): void
  /** Many packets, waiting for the socket to drain when its buffer fills (bounded). */
  sendAll(payloads: Iterable<Uint8Array>): Promise<void>
  /** The next payload from the client (the core reads them from `kexInit` on); throws after `timeoutMs` or when the client is gone. */
  next(timeoutMs?: number): Promise<Uint8Array>
  /** The next payload, which must be a USERAUTH_REQUEST. */
  nextRequest(timeoutMs?: number): Promise<UserauthRequest>
  sleep(ms: number): Promise<void>
  /** Resolves when the client has closed, or after `ms`. */
  waitClosed(ms: number): Promise<void>
  /** Ends the connection once queued bytes are out. */
  close(): void
  readonly closed: boolean
  /** Sends our identification line (`line` without CR LF); the core will hash this one. */
  version(line?: string): void
  /** Starts the core, which reads the client from here on, and sends its KEXINIT, rewritten by `rewrite`: what is sent is what the core hashes. */
  kexInit(rewrite?: (ours: KexInit) => KexInit): void
  /** Reads the client's KEXINIT and KEXDH_INIT, sends the core's reply (or `options.reply`'s) and NEWKEYS, reads the client's NEWKEYS. */
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
  /** Why the core stopped reading the client, if it did (a DISCONNECT from the client included). */
  readonly coreFailure: () => ConnectionFailure | undefined
  /** Settles when the script ends: fails with what it threw, `ClientGone` included. */
  readonly done: Effect.Effect<void, unknown>
  /** Resolves once the client's connection has closed (or after `ms`). */
  readonly settled: (ms: number) => Promise<void>
}

/** The KEXDH_REPLY for the given parts. */
export const kexReply = (p: ReplyParts): Uint8Array =>
  encode((w) => w.byte(MessageNumber.KEXDH_REPLY).string(p.hostKeyBlob).string(p.serverPublic).string(p.signature))

/** The parts of an honest KEXDH_REPLY (the ECDH form: host key, Q_S, signature). */
const replyParts = (payload: Uint8Array): ReplyParts =>
  Either.getOrThrow(decode(payload, (r) => {
    r.byte()
    return { hostKeyBlob: r.string().slice(), serverPublic: r.string().slice(), signature: r.string().slice() }
  }))

/** The identification line at the start of `bytes`, if it is all there. */
const firstLine = (bytes: Uint8Array): string | undefined => {
  const reader = new PacketDecoder()
  reader.push(bytes)
  const got = reader.takeLine(8192)
  return got !== undefined && "line" in got ? got.line : undefined
}

/**
 * Serves the first connection with `script` until the Scope closes. A second connection
 * is refused at once: the CLI makes one.
 */
export const hostileServer = (script: (conn: Conn) => Promise<void>) =>
  Effect.gen(function*() {
    const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
    const hostKeyBlob = hostKey.publicKey.blob
    const events: Array<WireEvent> = []
    const rawChunks: Array<Buffer> = []
    const finished = yield* Deferred.make<void, unknown>()
    let scriptError: unknown
    let coreFailure: ConnectionFailure | undefined
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
      const record = (from: WireEvent["from"], payload: Uint8Array) => events.push({ from, payload, at: Date.now() - started })
      const queue: Array<Uint8Array> = []
      let wake: (() => void) | undefined
      const poke = () => {
        const w = wake
        wake = undefined
        w?.()
      }

      let serverVersion: string | undefined
      let core: Connection | undefined
      /** The core's plaintext output before our NEWKEYS, cut into payloads the script lets out. */
      const coreOutput = new PacketDecoder()
      const outbox: Array<Uint8Array> = []
      /** The core's NEWKEYS is in the outbox: what it sends next is sealed. */
      let coreNewKeys = false
      /** Our NEWKEYS is out: from here the core's output goes straight to the client. */
      let keyed = false
      let sessionId: Uint8Array | undefined

      /** Takes the core's events and output: before our NEWKEYS into the outbox, after it onto the socket. */
      const fromCore = (c: Connection) => {
        for (let e = c.pollEvent(); e; e = c.pollEvent()) {
          if (e._tag === "Closed") coreFailure = e.error
        }
        const out = c.pollTransmit()
        if (keyed) {
          if (out && coreFailure === undefined && !socket.destroyed) socket.write(out)
          return
        }
        if (out) coreOutput.push(out)
        // Bounded by the bytes the core gave; what follows its NEWKEYS is sealed and stays put.
        for (let i = 0; i < 1_000 && !coreNewKeys; i++) {
          const payload = coreOutput.next(0)
          if (payload === undefined) return
          outbox.push(payload)
          coreNewKeys = payload[0] === MessageNumber.NEWKEYS
        }
      }
      socket.on("data", (chunk: Buffer) => {
        rawChunks.push(chunk)
        if (core) {
          core.receive(chunk)
          fromCore(core)
        }
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
      /** Once the core has given up: the client said goodbye, or broke the protocol as the core reads it. */
      const stopped = (f: ConnectionFailure) => (f._tag === "Disconnected" ? new ClientGone() : new Error(`the core stopped reading the client: ${f.message}`))
      const write = (bytes: Uint8Array | string) => {
        gone()
        socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes)
      }
      /** One payload as bytes for the socket, recorded. */
      const frame = (payload: Uint8Array): Uint8Array => {
        gone()
        if (!keyed) {
          record("server", payload)
          return plainPacket(payload)
        }
        if (coreFailure !== undefined) throw stopped(coreFailure)
        core!.send(payload)
        record("server", payload)
        return core!.pollTransmit() ?? new Uint8Array(0)
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
          if (coreFailure !== undefined) throw stopped(coreFailure)
          gone()
          const left = deadline - Date.now()
          if (left <= 0) throw new Error(`no message from the client within ${timeoutMs} ms`)
          await waitFor(left)
        }
        throw new Error("next: too many wake-ups")
      }
      /** The core's next held message, which must be a `type`. */
      const fromOutbox = (type: number): Uint8Array => {
        const payload = outbox.shift()
        if (payload?.[0] !== type) throw new Error(`expected the core's ${messageName(type)}, got ${payload ? messageName(payload[0]) : "nothing"}`)
        return payload
      }

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
        kexInit: (rewrite) => {
          if (serverVersion === undefined) throw new Error("kexInit before version")
          if (core) throw new Error("one kexInit per connection")
          const c = serverCore([hostKey], "127.0.0.1", socket.remotePort ?? 0, serverVersion, {
            preferences: PREFERENCES,
            // No EXT_INFO of the core's: the script sends its own, or none.
            extensions: [],
            onPeerPayload: (payload) => {
              const copy = payload.slice()
              record("client", copy)
              queue.push(copy)
            },
            ...(rewrite ? { rewriteKexInit: rewrite } : {})
          })
          core = c
          // The core's identification line went out with `version`; its KEXINIT follows it.
          coreOutput.push(c.pollTransmit()!)
          coreOutput.takeLine(8192)
          // Everything the client sent so far, its identification line first.
          if (rawChunks.length > 0) c.receive(Buffer.concat(rawChunks))
          fromCore(c)
          send(fromOutbox(MessageNumber.KEXINIT))
        },
        kex: async (options = {}) => {
          if (core === undefined) throw new Error("kex before kexInit")
          // The client's KEXINIT and KEXDH_INIT (two of them after a wrong guess), until the core has answered.
          for (let i = 0; !outbox.some((p) => p[0] === MessageNumber.KEXDH_REPLY); i++) {
            if (coreFailure !== undefined) throw stopped(coreFailure)
            if (i === 4) throw new Error("the core did not answer the client's key exchange")
            const p = await next()
            if (p[0] !== MessageNumber.KEXINIT && p[0] !== MessageNumber.KEXDH_INIT) throw new Error(`expected KEXINIT or KEXDH_INIT, got ${messageName(p[0])}`)
          }
          // Those the core read before the script asked for them are answered too.
          while (queue[0]?.[0] === MessageNumber.KEXINIT || queue[0]?.[0] === MessageNumber.KEXDH_INIT) queue.shift()
          const reply = fromOutbox(MessageNumber.KEXDH_REPLY)
          send(options.reply ? options.reply(replyParts(reply)) : reply)
          send(fromOutbox(MessageNumber.NEWKEYS))
          if (coreOutput.buffered > 0) throw new Error("the core sent more behind its NEWKEYS than this server can hold")
          keyed = true
          const newKeys = await next()
          if (newKeys[0] !== MessageNumber.NEWKEYS) throw new Error(`expected NEWKEYS, got ${newKeys[0]}`)
          sessionId = core.sessionId
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
        () => {
          Deferred.unsafeDone(finished, Effect.void)
          conn.close()
        },
        (e) => {
          if (!(e instanceof ClientGone)) scriptError = e
          Deferred.unsafeDone(finished, Effect.fail(e))
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
      clientVersion: () => firstLine(Buffer.concat(rawChunks)),
      scriptError: () => scriptError,
      coreFailure: () => coreFailure,
      done: Deferred.await(finished),
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
export const pkOk = (algorithm: Bytes, blob: Uint8Array): Uint8Array => encode((w) => w.byte(MessageNumber.USERAUTH_PK_OK).string(algorithm).string(blob))
export const passwordChangeRequest = (prompt: Bytes): Uint8Array => encode((w) => w.byte(MessageNumber.USERAUTH_PASSWD_CHANGEREQ).string(prompt).string(""))
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
