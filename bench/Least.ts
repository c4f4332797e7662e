/**
 * The least SSH a Node program can speak, for the benchmarks' floor rows: one kex
 * (curve25519-sha256), one host key type (ssh-ed25519), one cipher (aes128-gcm@openssh.com),
 * no negotiation beyond offering exactly those, no strict kex, no extensions, no rekey. It does
 * the node:crypto work every client and server of this kind must do (an X25519 key pair and
 * shared secret, an Ed25519 signature made or checked, SHA-256, AES-GCM) over a bare
 * `node:net` socket, and as little else as it can.
 *
 * Not a client or a server, and never to be used as one: a hand-made floor against which the
 * real ones are read. A client or server that negotiates, checks and bounds everything does
 * all of this and more, so the ≤ 0.5× targets are read beside what this one costs.
 */
import * as crypto from "node:crypto"
import * as net from "node:net"

// RFC 4251 §5's wire forms.
const u32 = (n: number) => {
  const b = Buffer.allocUnsafe(4)
  b.writeUInt32BE(n)
  return b
}
export const string = (b: Uint8Array) => Buffer.concat([u32(b.length), b])
export const text = (s: string) => string(Buffer.from(s))
const mpint = (unsigned: Uint8Array) => {
  let i = 0
  while (i < unsigned.length && unsigned[i] === 0) i++
  const digits = unsigned.subarray(i)
  return string(digits.length > 0 && digits[0]! & 0x80 ? Buffer.concat([Buffer.of(0), digits]) : digits)
}

/** Reads a message's fields in order from `offset` on; throws past its end. */
export class Fields {
  constructor(private readonly payload: Buffer, public offset: number) {}

  byte(): number {
    if (this.offset >= this.payload.length) throw new Error("least: a byte past the end of its message")
    return this.payload[this.offset++]!
  }

  string(): Buffer {
    if (this.offset + 4 > this.payload.length) throw new Error("least: a string past the end of its message")
    const end = this.offset + 4 + this.payload.readUInt32BE(this.offset)
    if (end > this.payload.length) throw new Error("least: a string past the end of its message")
    const value = this.payload.subarray(this.offset + 4, end)
    this.offset = end
    return value
  }
}

// Random bytes from a pool refilled 4 KiB at a time: one OpenSSL call per many packets, as a
// real implementation would do it (ours does).
const pool = Buffer.alloc(4096)
let poolUsed = pool.length
const random = (n: number): Buffer => {
  if (poolUsed + n > pool.length) {
    crypto.randomFillSync(pool)
    poolUsed = 0
  }
  poolUsed += n
  return Buffer.from(pool.subarray(poolUsed - n, poolUsed))
}

export const VERSION = Buffer.from("SSH-2.0-least_floor")
const KEXINIT_NAMES = Buffer.concat(
  ["curve25519-sha256", "ssh-ed25519", "aes128-gcm@openssh.com", "aes128-gcm@openssh.com", "hmac-sha2-256", "hmac-sha2-256", "none", "none", "", ""]
    .map(text)
)
/** Our KEXINIT's payload: a fresh cookie, the one algorithm of each kind, no guess. */
export const kexInit = () => Buffer.concat([Buffer.of(20), random(16), KEXINIT_NAMES, Buffer.of(0), u32(0)])

/** One direction's AES-128-GCM: its key, and the nonce whose last 8 bytes count packets (RFC 5647 §7.1). */
export interface Gcm {
  readonly key: Buffer
  readonly nonce: Buffer
}
const step = (gcm: Gcm) => gcm.nonce.writeBigUInt64BE(gcm.nonce.readBigUInt64BE(4) + 1n, 4)

/** A packet around `payload`: in the clear until NEWKEYS, then under `gcm`. */
export const packet = (payload: Uint8Array, gcm?: Gcm): Buffer => {
  // In the clear the length field counts toward the 8-byte blocks; under GCM it is outside the 16-byte ones.
  const block = gcm ? 16 : 8
  let padding = block - ((1 + payload.length + (gcm ? 0 : 4)) % block)
  if (padding < 4) padding += block
  const length = u32(1 + payload.length + padding)
  const body = Buffer.concat([Buffer.of(padding), payload, random(padding)])
  if (!gcm) return Buffer.concat([length, body])
  const cipher = crypto.createCipheriv("aes-128-gcm", gcm.key, gcm.nonce).setAAD(length)
  const sealed = Buffer.concat([length, cipher.update(body), cipher.final(), cipher.getAuthTag()])
  step(gcm)
  return sealed
}

/** What the peer sends: its version line, then its packets' payloads. Throws on anything malformed. */
export class Inbound {
  private buffer: Buffer = Buffer.alloc(0)
  version: Buffer | undefined
  /** Set once the peer's NEWKEYS is read. */
  gcm: Gcm | undefined

  push(chunk: Buffer) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    if (this.buffer.length > 64 * 1024) throw new Error("least: more than 64 KiB unread")
  }

  /** The next payload, or undefined until more bytes come (the version line is read first, into `version`). */
  next(): Buffer | undefined {
    if (this.version === undefined) {
      // A server may send other lines before its version line (RFC 4253 §4.2): skipped.
      for (let end = this.buffer.indexOf(10); end >= 0; end = this.buffer.indexOf(10)) {
        const line = this.buffer.subarray(0, end > 0 && this.buffer[end - 1] === 13 ? end - 1 : end)
        this.buffer = this.buffer.subarray(end + 1)
        if (line.subarray(0, 4).toString() === "SSH-") {
          this.version = line
          break
        }
      }
      if (this.version === undefined) return undefined
    }
    if (this.buffer.length < 4) return undefined
    const length = this.buffer.readUInt32BE(0)
    if (length < 5 || length > 35_000) throw new Error(`least: packet length ${length}`)
    const gcm = this.gcm
    const total = 4 + length + (gcm ? 16 : 0)
    if (this.buffer.length < total) return undefined
    let body = this.buffer.subarray(4, 4 + length)
    if (gcm) {
      const decipher = crypto.createDecipheriv("aes-128-gcm", gcm.key, gcm.nonce).setAAD(this.buffer.subarray(0, 4))
      decipher.setAuthTag(this.buffer.subarray(4 + length, total))
      body = Buffer.concat([decipher.update(body), decipher.final()])
      step(gcm)
    }
    this.buffer = this.buffer.subarray(total)
    const padding = body[0]!
    if (padding < 4 || padding >= length) throw new Error(`least: padding ${padding} in a packet of ${length}`)
    return body.subarray(1, length - padding)
  }
}

/** An ephemeral X25519 key pair: its KeyObject and the public half's 32 bytes. */
export const ephemeral = () => {
  const privateKey = crypto.createPrivateKey({
    key: { kty: "OKP", crv: "X25519", d: random(32).toString("base64url"), x: "" },
    format: "jwk"
  })
  return { privateKey, publicKey: Buffer.from(privateKey.export({ format: "jwk" }).x!, "base64url") }
}

/** The shared secret with the peer's public half, as the mpint the hashes take. */
export const sharedSecret = (privateKey: crypto.KeyObject, peer: Buffer) => {
  if (peer.length !== 32) throw new Error("least: X25519 public key of the wrong length")
  const publicKey = crypto.createPublicKey({ key: { kty: "OKP", crv: "X25519", x: peer.toString("base64url") }, format: "jwk" })
  return mpint(crypto.diffieHellman({ privateKey, publicKey }))
}

/** The parts of the exchange hash (RFC 5656 §4 as curve25519-sha256 uses it), in their order. */
export interface Exchange {
  readonly clientVersion: Buffer
  readonly serverVersion: Buffer
  readonly clientKexInit: Buffer
  readonly serverKexInit: Buffer
  readonly hostKey: Buffer
  readonly clientPublic: Buffer
  readonly serverPublic: Buffer
}

export const exchangeHash = (x: Exchange, secret: Buffer) =>
  crypto.createHash("sha256").update(
    Buffer.concat([x.clientVersion, x.serverVersion, x.clientKexInit, x.serverKexInit, x.hostKey, x.clientPublic, x.serverPublic].map(string))
  ).update(secret).digest()

/**
 * One direction's keys (RFC 4253 §7.2): the client sends with "A"/"C", the server with "B"/"D".
 * The session identifier is the first exchange hash, the only one here.
 */
export const keys = (secret: Buffer, hash: Buffer, sender: "client" | "server"): Gcm => {
  const derive = (letter: string) => crypto.createHash("sha256").update(secret).update(hash).update(letter).update(hash).digest()
  return sender === "client"
    ? { nonce: derive("A").subarray(0, 12), key: derive("C").subarray(0, 16) }
    : { nonce: derive("B").subarray(0, 12), key: derive("D").subarray(0, 16) }
}

/** An Ed25519 key as both ends need it: its KeyObject and its wire blob. */
export interface Ed25519Key {
  readonly keyObject: crypto.KeyObject
  readonly blob: Buffer
}

export const ed25519Key = (seed: Uint8Array): Ed25519Key => {
  const keyObject = crypto.createPrivateKey({
    key: { kty: "OKP", crv: "Ed25519", d: Buffer.from(seed).toString("base64url"), x: "" },
    format: "jwk"
  })
  const x = Buffer.from(keyObject.export({ format: "jwk" }).x!, "base64url")
  return { keyObject, blob: Buffer.concat([text("ssh-ed25519"), string(x)]) }
}

export const sign = (key: Ed25519Key, data: Buffer) => Buffer.concat([text("ssh-ed25519"), string(crypto.sign(null, data, key.keyObject))])

/** Public KeyObjects by blob, made once, as a real client keeps its known hosts' (a handful here). */
const verifyingKeys = new Map<string, crypto.KeyObject>()

/** Checks an ssh-ed25519 signature blob over `data` by the key of `blob`. */
export const verify = (blob: Buffer, signature: Buffer, data: Buffer): boolean => {
  const key = new Fields(blob, 0)
  const type = key.string().toString()
  const x = key.string()
  const signed = new Fields(signature, 0)
  const sigType = signed.string().toString()
  const sig = signed.string()
  if (type !== "ssh-ed25519" || sigType !== "ssh-ed25519" || x.length !== 32 || sig.length !== 64) return false
  const id = blob.toString("base64")
  let keyObject = verifyingKeys.get(id)
  if (keyObject === undefined) {
    keyObject = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: x.toString("base64url") }, format: "jwk" })
    if (verifyingKeys.size < 16) verifyingKeys.set(id, keyObject)
  }
  return crypto.verify(null, data, keyObject, sig)
}

const SSH_USERAUTH = text("ssh-userauth")
const DISCONNECT_BY_APPLICATION = Buffer.concat([Buffer.of(1), u32(11), text(""), text("")])

/** A publickey USERAUTH_REQUEST's fields before its signature (RFC 4252 §7). */
const userauthRequest = (user: string, blob: Buffer) =>
  Buffer.concat([Buffer.of(50), text(user), text("ssh-connection"), text("publickey"), Buffer.of(1), text("ssh-ed25519"), string(blob)])

/** Who logs in, with which key: a publickey request signed at once, no query first. */
export interface Login {
  readonly user: string
  readonly key: Ed25519Key
}

/** A connection's close: DISCONNECT, the socket ended, and its close waited for (destroyed after 10 s). Never fails. */
export type Close = () => Promise<void>

/**
 * One client connection to 127.0.0.1:`port`: the handshake to SERVICE_ACCEPT, then with
 * `login` a signed publickey request to USERAUTH_SUCCESS. Resolves then, with its `Close`.
 */
export const connect = (port: number, login?: Login) =>
  new Promise<Close>((resolve, reject) => {
    const socket = net.createConnection({ host: "127.0.0.1", port, noDelay: true })
    let settled = false
    const fail = (e: unknown) => {
      if (settled) return void socket.destroy()
      settled = true
      clearTimeout(deadline)
      socket.destroy()
      reject(e)
    }
    const deadline = setTimeout(() => fail(new Error("least client: not done in 10 s")), 10_000)
    const inbound = new Inbound()
    const clientKexInit = kexInit()
    const { privateKey, publicKey: clientPublic } = ephemeral()
    let serverKexInit: Buffer | undefined
    let sessionId: Buffer | undefined
    let send: Gcm | undefined
    let receive: Gcm | undefined

    const close: Close = () =>
      new Promise<void>((closed) => {
        if (socket.destroyed) return closed()
        const bound = setTimeout(() => socket.destroy(), 10_000)
        socket.once("close", () => {
          clearTimeout(bound)
          closed()
        })
        socket.end(packet(DISCONNECT_BY_APPLICATION, send))
      })
    const done = () => {
      settled = true
      clearTimeout(deadline)
      resolve(close)
    }
    const onPayload = (payload: Buffer) => {
      switch (payload[0]) {
        case 20:
          serverKexInit = payload
          return void socket.write(packet(Buffer.concat([Buffer.of(30), string(clientPublic)])))
        case 31: {
          if (serverKexInit === undefined || sessionId !== undefined) throw new Error("least client: KEX_ECDH_REPLY out of turn")
          const fields = new Fields(payload, 1)
          const hostKey = fields.string()
          const serverPublic = fields.string()
          const signature = fields.string()
          const secret = sharedSecret(privateKey, serverPublic)
          const clientVersion = VERSION
          const serverVersion = inbound.version!
          const hash = exchangeHash({ clientVersion, serverVersion, clientKexInit, serverKexInit, hostKey, clientPublic, serverPublic }, secret)
          if (!verify(hostKey, signature, hash)) throw new Error("least client: the host key's signature does not verify")
          sessionId = hash
          send = keys(secret, hash, "client")
          receive = keys(secret, hash, "server")
          return void socket.write(Buffer.concat([packet(Buffer.of(21)), packet(Buffer.concat([Buffer.of(5), SSH_USERAUTH]), send)]))
        }
        case 21:
          if (receive === undefined) throw new Error("least client: NEWKEYS before the kex")
          inbound.gcm = receive
          return
        case 6: {
          if (login === undefined) return done()
          const request = userauthRequest(login.user, login.key.blob)
          const signature = sign(login.key, Buffer.concat([string(sessionId!), request]))
          return void socket.write(packet(Buffer.concat([request, string(signature)]), send))
        }
        case 52:
          return done()
        case 51:
          throw new Error("least client: the key was refused")
        case 1:
          throw new Error("least client: the server disconnected")
        default:
          // IGNORE, DEBUG, EXT_INFO, a banner, global requests: nothing to do.
          return
      }
    }
    socket.on("connect", () => socket.write(Buffer.concat([VERSION, Buffer.from("\r\n"), packet(clientKexInit)])))
    socket.on("data", (chunk) => {
      try {
        inbound.push(chunk)
        for (let payload = inbound.next(); payload !== undefined; payload = inbound.next()) onPayload(payload)
      } catch (e) {
        fail(e)
      }
    })
    socket.on("error", fail)
    socket.on("close", () => fail(new Error("least client: closed before the end")))
  })

/** `connect`, then its close begun, not waited for (as the other clients' rows end theirs). */
export const client = (port: number, login?: Login) => connect(port, login).then((close) => void close())
