/**
 * A loopback SSH client that misbehaves on purpose, for our server: the mirror image of
 * test/hostile/HostileServer.ts. The key exchange is the connection core's honest CLIENT
 * role; after it, a script sends whatever it likes through the core (`send`, sealed under
 * the keys in force: any message number, any length) or raw bytes on the socket (`write`,
 * `drip`), and reads what the server answers.
 *
 * Every wait has a deadline and every loop a bound; once the server has closed the
 * connection every primitive throws `ServerGone` (after the messages that came before the
 * close are read), so a script that outlives its server ends at once.
 *
 * The userauth helpers build requests the way a client must, and the ways one must not:
 * a signature over another session identifier, by another key than the one offered, or
 * under a declared algorithm the key does not make.
 */
import * as crypto from "node:crypto"
import * as net from "node:net"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import { type PrivateKey, signSync } from "../../src/keys/PrivateKey.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { Connection, type ConnectionFailure } from "../../src/transport/Connection.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"

/** The identification line the client sends unless told otherwise. */
export const VERSION = "SSH-2.0-HostileClient_1.0"

const DEFAULT_WAIT_MS = 5_000

/** Thrown by every primitive once the server has closed the connection and nothing is left to read. */
export class ServerGone extends Error {
  constructor(readonly failure: ConnectionFailure | undefined) {
    super(`the server closed the connection${failure ? `: ${failure.message}` : ""}`)
  }
}

/** A USERAUTH_FAILURE as the client reads it. */
export interface FailureReply {
  readonly methods: ReadonlyArray<string>
  readonly partial: boolean
}

export interface HostileClient {
  /** Raw bytes on the socket, as they are. */
  write(bytes: Uint8Array | string): void
  /** Writes `bytes` one byte per `intervalMs`; stops (without throwing) once the server is gone. */
  drip(bytes: Uint8Array | string, intervalMs: number): Promise<void>
  /**
   * Starts the core: our identification line, KEXINIT and KEXDH_INIT go out (a byte per
   * `dripMs`, if given); waits for the first key exchange to end.
   */
  handshake(options?: { readonly timeoutMs?: number; readonly dripMs?: number }): Promise<void>
  /** SERVICE_REQUEST, then the SERVICE_ACCEPT (EXT_INFO on the way is taken by the core). */
  requestService(name?: string, timeoutMs?: number): Promise<void>
  /** handshake + requestService("ssh-userauth"). */
  login(): Promise<void>
  /** One message, sealed by the core. */
  send(payload: Uint8Array): void
  /** One message, its sealed packet written a byte at a time, `intervalMs` apart. */
  sendDripped(payload: Uint8Array, intervalMs: number): Promise<void>
  /** Many messages, waiting for the socket to drain when its buffer fills (bounded); stops once the server is gone. */
  sendAll(payloads: Iterable<Uint8Array>): Promise<number>
  /** The next message from the server (50 and up); throws after `timeoutMs`, or `ServerGone`. */
  next(timeoutMs?: number): Promise<Uint8Array>
  /** Skips banners; the next other message. */
  reply(timeoutMs?: number): Promise<Uint8Array>
  /** Resolves true once the server has closed the socket, false after `ms`. */
  waitClosed(ms: number): Promise<boolean>
  /** Ends our side. */
  close(): void
  readonly closed: boolean
  /** ssh-userauth was accepted: userauth is under way. */
  readonly authenticating: boolean
  /** The server's DISCONNECT, if it sent one. */
  readonly disconnect: { readonly code: number; readonly description: string } | undefined
  readonly sessionId: Uint8Array
}

export interface ConnectOptions {
  readonly port: number
  readonly host?: string
  /** How long the TCP connect may take. Default 5 s. */
  readonly connectTimeoutMs?: number
}

/** Connects; the script drives the rest. */
export const connect = (options: ConnectOptions): Promise<HostileClient> =>
  new Promise((resolve, reject) => {
    const host = options.host ?? "127.0.0.1"
    const socket = net.connect({ port: options.port, host, noDelay: true })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no TCP connection to ${host}:${options.port} within ${options.connectTimeoutMs ?? 5_000} ms`))
    }, options.connectTimeoutMs ?? 5_000)
    socket.once("connect", () => {
      clearTimeout(timer)
      resolve(driveSocket(socket, host, options.port))
    })
    socket.once("error", (e) => {
      clearTimeout(timer)
      reject(e)
    })
  })

const driveSocket = (socket: net.Socket, host: string, port: number): HostileClient => {
  socket.on("error", () => {})
  const queue: Array<Uint8Array> = []
  const accepts: Array<string> = []
  let core: Connection | undefined
  let failure: ConnectionFailure | undefined
  let kexDone = false
  let isClosed = false
  let authenticating = false
  let disconnect: { code: number; description: string } | undefined
  const wakers = new Set<() => void>()
  const poke = () => {
    for (const w of [...wakers]) w()
  }

  /** Takes the core's events and output. */
  const pump = (c: Connection) => {
    // Bounded: each event is taken once; accepting the host key adds at most a few.
    for (let i = 0; i < 10_000; i++) {
      const e = c.pollEvent()
      if (e === undefined) break
      switch (e._tag) {
        case "HostKey":
          c.acceptHostKey()
          break
        case "KexDone":
          if (e.first) kexDone = true
          break
        case "ServiceAccept":
          accepts.push(e.name)
          break
        case "Message":
          queue.push(e.payload)
          break
        case "Closed":
          failure = e.error
          if (e.error._tag === "Disconnected") disconnect = { code: e.error.code, description: e.error.description }
          break
        case "ServiceRequest":
          break
      }
    }
    const out = c.pollTransmit()
    if (out && socket.writable) socket.write(out)
    poke()
  }
  /** What the server sent before the core started (its version line, its KEXINIT). */
  const early: Array<Buffer> = []
  let earlyBytes = 0
  socket.on("data", (chunk: Buffer) => {
    if (core === undefined) {
      // Bounded: a server sends its version line and KEXINIT, then waits for ours.
      if (earlyBytes < 1 << 20) early.push(chunk)
      earlyBytes += chunk.length
      return
    }
    core.receive(chunk)
    pump(core)
  })
  socket.on("close", () => {
    isClosed = true
    if (core) {
      core.receiveEnd()
      pump(core)
    }
    poke()
  })

  /** Waits until `ready()` holds, `ms` pass or (unless `throughEnd`) the server is gone. */
  const until = (ready: () => boolean, ms: number, throughEnd = false) =>
    new Promise<boolean>((resolve) => {
      const over = () => !throughEnd && (isClosed || failure !== undefined)
      if (ready() || over()) return resolve(ready())
      const done = () => {
        if (!ready() && !over() && Date.now() < deadline) return
        clearTimeout(timer)
        wakers.delete(done)
        resolve(ready())
      }
      const deadline = Date.now() + ms
      const timer = setTimeout(() => {
        wakers.delete(done)
        resolve(ready())
      }, Math.max(0, ms))
      wakers.add(done)
    })

  const gone = () => {
    if (isClosed || socket.destroyed || failure !== undefined) throw new ServerGone(failure)
  }
  const write = (bytes: Uint8Array | string) => {
    gone()
    socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes)
  }
  const started = (): Connection => {
    if (core === undefined) throw new Error("no handshake yet")
    return core
  }
  /** One sealed packet, not written. */
  const seal = (payload: Uint8Array): Uint8Array => {
    gone()
    const c = started()
    c.send(payload)
    return c.pollTransmit() ?? new Uint8Array(0)
  }
  const drain = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        wakers.delete(done)
        socket.off("drain", done)
        resolve()
      }
      const timer = setTimeout(done, 10_000)
      wakers.add(done)
      socket.once("drain", done)
    })
  /** Waits `ms`, or less if the server closes first. */
  const sleep = (ms: number) => until(() => isClosed, ms, true)

  const next = async (timeoutMs = DEFAULT_WAIT_MS): Promise<Uint8Array> => {
    await until(() => queue.length > 0, timeoutMs)
    const payload = queue.shift()
    if (payload !== undefined) return payload
    gone()
    throw new Error(`no message from the server within ${timeoutMs} ms`)
  }

  const client: HostileClient = {
    write,
    drip: async (bytes, intervalMs) => {
      const all = typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes
      for (let i = 0; i < all.length; i++) {
        if (isClosed || socket.destroyed) return
        socket.write(all.subarray(i, i + 1))
        await sleep(intervalMs)
      }
    },
    handshake: async ({ dripMs, timeoutMs = 10_000 } = {}) => {
      if (core) throw new Error("one handshake per connection")
      const c = new Connection({
        role: "client",
        host,
        port,
        identification: VERSION,
        preferences: defaultPreferences,
        random: (n) => crypto.randomBytes(n),
        now: () => Date.now(),
        curves: nodeCurves,
        stepTimeoutMillis: 10_000,
        rekeyBytes: 2 ** 40,
        rekeyPackets: 2 ** 31
      })
      core = c
      // Ours first (our version line, KEXINIT, KEXDH_INIT), then what the server sent so far.
      const opening = c.pollTransmit()!
      c.receive(Buffer.concat(early.splice(0)))
      if (dripMs !== undefined) await client.drip(opening, dripMs)
      else write(opening)
      pump(c)
      if (!(await until(() => kexDone, timeoutMs))) {
        gone()
        throw new Error(`no key exchange within ${timeoutMs} ms`)
      }
    },
    requestService: async (name = "ssh-userauth", timeoutMs = DEFAULT_WAIT_MS) => {
      const c = started()
      gone()
      c.requestService(name)
      pump(c)
      if (!(await until(() => accepts.length > 0, timeoutMs))) {
        gone()
        throw new Error(`no SERVICE_ACCEPT within ${timeoutMs} ms`)
      }
      const accepted = accepts.shift()
      if (accepted !== name) throw new Error(`asked for ${name}, the server accepted ${accepted}`)
      if (name === "ssh-userauth") authenticating = true
    },
    login: async () => {
      await client.handshake()
      await client.requestService()
    },
    send: (payload) => write(seal(payload)),
    sendDripped: async (payload, intervalMs) => {
      const packet = seal(payload)
      for (let i = 0; i < packet.length; i++) {
        if (isClosed || socket.destroyed) return
        socket.write(packet.subarray(i, i + 1))
        await sleep(intervalMs)
      }
    },
    sendAll: async (payloads) => {
      let sent = 0
      for (const p of payloads) {
        if (isClosed || socket.destroyed || failure !== undefined) return sent
        sent++
        if (!socket.write(seal(p))) await drain()
      }
      return sent
    },
    next,
    reply: async (timeoutMs = DEFAULT_WAIT_MS) => {
      const deadline = Date.now() + timeoutMs
      for (let i = 0; i < 1_000; i++) {
        const payload = await next(Math.max(0, deadline - Date.now()))
        if (payload[0] !== MessageNumber.USERAUTH_BANNER) return payload
      }
      throw new Error("reply: more than 1,000 banners")
    },
    waitClosed: (ms) => until(() => isClosed, ms, true),
    close: () => {
      socket.end()
      setTimeout(() => socket.destroy(), 1_000).unref()
    },
    get closed() {
      return isClosed
    },
    get authenticating() {
      return authenticating
    },
    get disconnect() {
      return disconnect
    },
    get sessionId() {
      const id = started().sessionId
      if (id === undefined) throw new Error("no session identifier before the key exchange")
      return id
    }
  }
  return client
}

// ---- messages a client sends ----

type Bytes = Uint8Array | string

export const ignore = (data: Bytes = ""): Uint8Array => encode((w) => w.byte(MessageNumber.IGNORE).string(data))
export const serviceRequest = (name: Bytes): Uint8Array => encode((w) => w.byte(MessageNumber.SERVICE_REQUEST).string(name))
export const success: Uint8Array = Uint8Array.of(MessageNumber.USERAUTH_SUCCESS)
export const channelOpen: Uint8Array = encode((w) => w.byte(MessageNumber.CHANNEL_OPEN).string("session").uint32(0).uint32(2 ** 21).uint32(32_768))

/** The USERAUTH_REQUEST header: user, service, method. */
const header = (user: Bytes, method: Bytes, service: Bytes = "ssh-connection") =>
  encode((w) => w.byte(MessageNumber.USERAUTH_REQUEST).string(user).string(service).string(method))

export const noneRequest = (user: Bytes, service?: Bytes): Uint8Array => header(user, "none", service)

export const passwordRequest = (user: Bytes, password: Bytes, service?: Bytes): Uint8Array =>
  encode((w) => w.raw(header(user, "password", service)).boolean(false).string(password))

export const interactiveRequest = (user: Bytes, submethods = ""): Uint8Array =>
  encode((w) => w.raw(header(user, "keyboard-interactive")).string("").string(submethods))

/** INFO_RESPONSE; `count` claims another number of responses than are sent. */
export const infoResponse = (responses: ReadonlyArray<Bytes>, count = responses.length): Uint8Array =>
  encode((w) => {
    w.byte(MessageNumber.USERAUTH_INFO_RESPONSE).uint32(count)
    for (const r of responses) w.string(r)
  })

/** A publickey query: no signature, "would this key do?". */
export const keyQuery = (user: Bytes, algorithm: string, blob: Uint8Array): Uint8Array =>
  encode((w) => w.raw(header(user, "publickey")).boolean(false).string(algorithm).string(blob))

/** How a signed publickey request is made: honestly, or one of the ways a server must refuse. */
export interface SignedRequest {
  readonly user: Bytes
  /** The key whose blob is offered. */
  readonly offered: PrivateKey
  /** The key that signs: default the offered one. */
  readonly signer?: PrivateKey
  /** The algorithm the request declares: default the offered key's first. */
  readonly declared?: string
  /** The algorithm the signer signs with (the name inside the signature blob): default `declared`. */
  readonly signedAs?: string
  /** Rewrites the algorithm name inside the signature blob after signing. */
  readonly relabel?: string
  /** The session identifier signed over: default this connection's. */
  readonly sessionId: Uint8Array
  readonly service?: Bytes
  /** publickey-hostbound-v00@openssh.com with this host key blob. */
  readonly hostBound?: Uint8Array
}

/** A signed publickey request (RFC 4252 §7): the signature covers string(session id) and the request up to it. */
export const signedRequest = (r: SignedRequest): Uint8Array => {
  const declared = r.declared ?? algorithmOf(r.offered)
  const method = r.hostBound ? "publickey-hostbound-v00@openssh.com" : "publickey"
  const body = encode((w) => {
    w.raw(header(r.user, method, r.service)).boolean(true).string(declared).string(r.offered.publicKey.blob)
    if (r.hostBound) w.string(r.hostBound)
  })
  const signer = r.signer ?? r.offered
  const signedAs = r.signedAs ?? (algorithmsOf(signer).includes(declared) ? declared : algorithmOf(signer))
  let signature = signSync(nodeCurves, signer, signedAs, encode((w) => w.string(r.sessionId).raw(body)))
  if (r.relabel !== undefined) {
    const inner = decode(signature, (rd) => (rd.string(), rd.string().slice()))
    if (inner._tag === "Left") throw inner.left
    signature = encode((w) => w.string(r.relabel!).string(inner.right))
  }
  return encode((w) => w.raw(body).string(signature))
}

const algorithmsOf = (key: PrivateKey): ReadonlyArray<string> =>
  key.publicKey._tag === "Rsa" ? ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] : [key.publicKey.type]

/** The algorithm a key signs with by default (rsa-sha2-512 for RSA). */
export const algorithmOf = (key: PrivateKey): string => algorithmsOf(key)[0]

// ---- reading what the server sent ----

/** A USERAUTH_FAILURE, or undefined for anything else. */
export const parseFailure = (payload: Uint8Array): FailureReply | undefined => {
  if (payload[0] !== MessageNumber.USERAUTH_FAILURE) return undefined
  const parsed = decode(payload, (r) => {
    r.byte()
    return { methods: r.nameList(), partial: r.boolean() }
  })
  return parsed._tag === "Right" ? parsed.right : undefined
}
