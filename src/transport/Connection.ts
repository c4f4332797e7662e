/**
 * The SSH connection core (RFC 4253), for both roles, without I/O: bytes in, bytes and
 * events out, deadlines as data. No socket, timer, fiber or global randomness lives here;
 * the random source, the clock and the curve implementation are injected, so a whole
 * handshake replays byte for byte from a seed.
 *
 * - `receive(chunk)` feeds what the peer sent; `pollTransmit()` gives what to send and
 *   `pollEvent()` what happened: a host key to judge (client), a message, a service
 *   request (server) or accept (client), a finished key exchange, the end.
 * - `nextDeadline()` says when the core next needs `onDeadline(now)`: each handshake step
 *   must finish within its timeout, counted from the step's own start.
 * - One engine for both roles, as x/crypto/ssh's handshakeTransport: each kex method has a
 *   client half and a server half, the exchange hash is ordered by role (client version,
 *   server version, client KEXINIT, server KEXINIT), and the key-derivation letters, the
 *   ext-info and strict-kex markers are chosen by role.
 *
 * A decision that needs the world becomes an event the edge answers: the client's host
 * key check (`acceptHostKey` / `rejectHostKey`) and the server's service requests
 * (`acceptService`).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as crypto from "node:crypto"
import type { Curves } from "../crypto/Curves.js"
import { CurveError } from "../crypto/Curves.js"
import * as Certificate from "../keys/Certificate.js"
import { type PrivateKey, signSync } from "../keys/PrivateKey.js"
import * as PublicKey from "../keys/PublicKey.js"
import { DisconnectReason, isKexMessage, messageName, MessageNumber } from "../wire/MessageNumber.js"
import { show, showList } from "../wire/PeerText.js"
import { decode } from "../wire/Reader.js"
import type { WireError } from "../wire/WireError.js"
import { encode } from "../wire/Writer.js"
import type { AlgorithmPreferences } from "./Algorithms.js"
import { ciphers } from "./cipher/Ciphers.js"
import { macs } from "./cipher/Mac.js"
import { type DirectionKeys, noneSealer, type PacketOpener, type PacketSealer } from "./cipher/PacketCipher.js"
import { HostKeyRejected } from "./HostKeyPolicy.js"
import { type KexExchange, type KexMethod, kexMethods } from "./kex/KexMethod.js"
import { decodeKexInit, encodeKexInit, guessIsWrong, type KexInit, negotiate, type NegotiatedAlgorithms, pseudoAlgorithms, withCookie } from "./KexInit.js"
import { framePacket, PacketDecoder, PacketError } from "./PacketCodec.js"
import { Disconnected, TransportError, withoutStack } from "./TransportError.js"

/** The name-lists every proposal of ours has, shared: the connection keeps its proposal. */
const noCompression: ReadonlyArray<string> = ["none"]
const noLanguages: ReadonlyArray<string> = []

/** One KEXINIT of ours with an all-zero cookie, and its payload: a connection copies both and draws its cookie. */
interface Proposal {
  readonly kexInit: KexInit
  readonly payload: Uint8Array
}

/** The key of a client's proposals in `ourProposals`; a server's is its host-key list. */
const clientProposals: ReadonlyArray<PrivateKey> = []
const noHostKeys: ReadonlyArray<PrivateKey> = []

/**
 * Our KEXINITs, made once per preferences and host keys: every connection of a listener, or
 * of one client's options, proposes the same lists, and only the cookie differs (encoding the
 * name-lists was ≈ 2.4 KB of garbage per connection). Weak: they go with their options.
 */
const ourProposals = new WeakMap<AlgorithmPreferences, WeakMap<ReadonlyArray<PrivateKey>, { initial?: Proposal; later?: Proposal }>>()
/**
 * @since 0.1.0
 * @category models
 */
export type Role = "client" | "server"

/**
 * How a connection ends: a transport failure, the peer's DISCONNECT, or (client) a host
 * key the policy refused.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionFailure = TransportError | Disconnected | HostKeyRejected

/**
 * What the core reports, in order.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionEvent =
  /** Client, first kex: the server proved this key; answer with `acceptHostKey` or `rejectHostKey`. */
  | {
    readonly _tag: "HostKey"
    readonly key: PublicKey.PublicKey
    readonly certificate?: Certificate.Certificate
    readonly algorithm: string
    readonly fingerprint: string
  }
  /** A key exchange finished (both NEWKEYS); `first` for the one that set the session id. */
  | { readonly _tag: "KexDone"; readonly first: boolean }
  /** A message for the layers above (number 50 and up). */
  | { readonly _tag: "Message"; readonly payload: Uint8Array }
  /** Server: the client asks for a service; answer with `acceptService` or `disconnect`. */
  | { readonly _tag: "ServiceRequest"; readonly name: string }
  /** Client: the server accepted a service. */
  | { readonly _tag: "ServiceAccept"; readonly name: string }
  /** The connection is over; nothing more will happen. */
  | { readonly _tag: "Closed"; readonly error: ConnectionFailure }

/**
 * @since 0.1.0
 * @category models
 */
export interface ConnectionOptions {
  readonly role: Role
  /** For messages: the peer's address. */
  readonly host: string
  readonly port: number
  /** Our identification string, without CR LF. */
  readonly identification: string
  /** Client: what to offer. Server: kex, cipher and MAC offers (host key algorithms come from `hostKeys`). */
  readonly preferences: AlgorithmPreferences
  /** Server: the host keys, in order of preference. */
  readonly hostKeys?: ReadonlyArray<PrivateKey>
  /** Server: the EXT_INFO extensions to send a client that asks for them (server-sig-algs…). */
  readonly extensions?: ReadonlyArray<readonly [string, Uint8Array]>
  readonly random: (n: number) => Uint8Array
  readonly now: () => number
  readonly curves: Curves
  /** Each kex step (KEXINIT, the kex reply, NEWKEYS) must finish within this many ms of its start. */
  readonly stepTimeoutMillis: number
  /** The wait for the peer's identification line. Default: `stepTimeoutMillis`. */
  readonly identificationTimeoutMillis?: number
  /** Start a rekey after this many bytes or packets (both directions) since the last one. */
  readonly rekeyBytes: number
  readonly rekeyPackets: number
  /** Client: send SERVICE_REQUEST for this service right behind the first NEWKEYS (a round trip saved). */
  readonly pipelineService?: string
  /** For test peers: rewrites each KEXINIT of ours before it is sent and hashed (say, without the strict-kex marker). */
  readonly rewriteKexInit?: (ours: KexInit) => KexInit
  /** For test peers: sees every payload from the peer, decrypted, before the core acts on it. */
  readonly onPeerPayload?: (payload: Uint8Array) => void
}

/** RFC 4253 §4.2 allows lines before the identification string; we bound them. */
const MAX_PRELUDE_LINES = 64
const MAX_LINE_LENGTH = 1024

interface KexState {
  readonly ours: KexInit
  readonly oursPayload: Uint8Array
  /** The sequence number our KEXINIT went out with, to recognise an UNIMPLEMENTED reply to it. */
  readonly oursSeq: number
  theirs?: KexInit
  theirsPayload?: Uint8Array
  negotiated?: NegotiatedAlgorithms
  method?: KexMethod
  /** Client: our half of the exchange. */
  exchange?: KexExchange
  /** The peer guessed its first kex packet wrong: drop the next one (RFC 4253 §7.1). */
  ignoreNextKexPacket?: boolean
  /** Client: the KEXDH_INIT we sent with our KEXINIT, guessing the server agrees on our first choices. */
  guess?: { readonly method: KexMethod; readonly exchange: KexExchange }
  /** Client, first kex: the reply is verified and waits for the host key decision. */
  awaitingHostKey?: (() => void) | undefined
  /** Inbound keys, ready once our NEWKEYS is out; installed when the peer's arrives. */
  pendingOpener?: PacketOpener
  /** Our NEWKEYS is out: other messages may flow again, under the new keys. */
  newKeysSent?: boolean
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => (parts.length === 1 ? parts[0] : Buffer.concat(parts))

/** K as the method puts it into the exchange hash and the key derivation. */
const encodeSecret = (method: KexMethod, secret: Uint8Array): Uint8Array =>
  encode((w) => (method.secretEncoding === "string" ? w.string(secret) : w.mpintUnsigned(secret)))

const hash = (algorithm: string, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const h = crypto.createHash(algorithm)
  for (const p of parts) h.update(p)
  return h.digest()
}

const noExtensions: ReadonlyMap<string, Uint8Array> = new Map()

/**
 * The core of one SSH connection, client or server.
 *
 * @since 0.1.0
 * @category models
 */
export class Connection {
  readonly role: Role
  private readonly decoder = new PacketDecoder()
  private sealer: PacketSealer = noneSealer
  private seqIn = 0
  private seqOut = 0
  private readonly transmit: Array<Uint8Array> = []
  private readonly events: Array<ConnectionEvent> = []
  private eventHead = 0
  /** Messages held back while keys change (RFC 4253 §7.1). */
  private held: Array<Uint8Array> = []
  private kex: KexState | undefined
  private stepStarted: number
  private preludeLines = 0
  private pipelined: string | undefined
  private sawPeerPacket = false
  private clientAskedExtInfo = false
  private failure: ConnectionFailure | undefined

  /** The peer's identification string, once read. */
  peerIdentification = ""
  /** The exchange hash of the first key exchange (RFC 4253 §7.2). */
  sessionId: Uint8Array | undefined
  /** Client: the server's host key. Server: ours, as sent. */
  hostKey: PublicKey.PublicKey | undefined
  /** What the server presented at the first kex (key or certificate). */
  hostKeyBlob: Uint8Array | undefined
  /** Client: the server's signature over the session id, which an agent's session-bind needs. */
  hostKeySignature: Uint8Array | undefined
  /** The algorithms in force. */
  negotiated: NegotiatedAlgorithms | undefined
  /**
   * Client: both KEXINIT proposals of the first key exchange, by role, as `ssh -vv` prints
   * them. A server keeps neither: nothing asks, and they are a third of an idle core's heap.
   */
  proposals: { readonly client: KexInit; readonly server: KexInit } | undefined
  strictKex = false
  /** Completed key exchanges, the first one included. */
  kexCount = 0
  private bytesSinceKex = 0
  private packetsSinceKex = 0
  /**
   * Every extension from the peer's EXT_INFO; a later EXT_INFO overrides an earlier value.
   * One shared empty map until one comes: most clients send none.
   */
  extensions: ReadonlyMap<string, Uint8Array> = noExtensions

  constructor(private readonly options: ConnectionOptions) {
    this.role = options.role
    this.stepStarted = options.now()
    if (this.role === "server" && (options.hostKeys ?? []).length === 0) {
      throw new Error("a server connection needs at least one host key")
    }
    // Our version line and KEXINIT go out together, before we read anything.
    this.beginKex(Buffer.from(`${options.identification}\r\n`, "latin1"))
  }

  // ---- the interface ----

  /** How the connection ended, once it has. */
  get closed(): ConnectionFailure | undefined {
    return this.failure
  }

  /** The peer sent these bytes. */
  receive(chunk: Uint8Array): void {
    if (this.failure) return
    this.decoder.push(chunk)
    this.pump()
  }

  /** The peer closed its side. */
  receiveEnd(): void {
    if (this.failure) return
    const pending = this.decoder.buffered
    this.fail(
      this.error(
        "ConnectionClosed",
        undefined,
        pending > 0
          ? `connection closed by the ${this.peer} in the middle of a packet (${pending} bytes pending)`
          : `connection closed by the ${this.peer}`
      ),
      false
    )
  }

  /** Bytes to send to the peer, if any. */
  pollTransmit(): Uint8Array | undefined {
    if (this.transmit.length === 0) return undefined
    const out = concat(this.transmit)
    this.transmit.length = 0
    return out
  }

  /** The next event, if any. */
  pollEvent(): ConnectionEvent | undefined {
    if (this.eventHead === this.events.length) return undefined
    const event = this.events[this.eventHead++]
    if (this.eventHead === this.events.length) {
      this.events.length = 0
      this.eventHead = 0
    }
    return event
  }

  /** When `onDeadline` must be called next (ms on the injected clock), or undefined. */
  nextDeadline(): number | undefined {
    if (this.failure || !this.waitingOnPeer()) return undefined
    return this.stepStarted + this.stepLimit()
  }

  /** The time has come: a step that is still not done fails. */
  onDeadline(now: number): void {
    const deadline = this.nextDeadline()
    if (deadline === undefined || now < deadline) return
    const within = Duration.format(Duration.millis(this.stepLimit()))
    const step = this.kexStep()
    this.fail(
      this.peerIdentification === ""
        ? this.error("Timeout", "version exchange", `no identification string from the ${this.peer} within ${within}`)
        : this.error("Timeout", step, `no ${step} from the ${this.peer} within ${within}`)
    )
  }

  /**
   * Sends one message (number 50 and up, or a transport message of the layers above).
   * Held back while keys change, and sent once our NEWKEYS is out. Ignored once closed.
   */
  send(payload: Uint8Array): void {
    if (this.failure) return
    if (this.kex && !this.kex.newKeysSent) {
      this.held.push(payload)
      return
    }
    this.sendNow(payload)
    if (this.rekeyDue()) this.beginKex()
  }

  /** Client: asks for a service; its SERVICE_ACCEPT comes as an event. */
  requestService(name: string): void {
    if (this.pipelined === name) {
      this.pipelined = undefined
      return
    }
    this.send(encode((w) => w.byte(MessageNumber.SERVICE_REQUEST).string(name)))
  }

  /** Server: accepts the service the client asked for. */
  acceptService(name: string): void {
    this.send(encode((w) => w.byte(MessageNumber.SERVICE_ACCEPT).string(name)))
  }

  /** Client: the host key event's key is trusted; the key exchange goes on. */
  acceptHostKey(): void {
    const go = this.kex?.awaitingHostKey
    if (!go || this.failure) return
    this.kex!.awaitingHostKey = undefined
    go()
    this.pump()
  }

  /** Client: the host key is refused; the connection ends with this error. */
  rejectHostKey(error: HostKeyRejected): void {
    if (this.failure) return
    this.fail(error)
  }

  /** Starts a key exchange now, unless one is running. */
  rekey(): void {
    if (!this.failure && !this.kex) this.beginKex()
  }

  /** The channel under the connection failed or closed: the end, with nothing sent. */
  lost(error: TransportError): void {
    this.fail(error, false)
  }

  /** Sends DISCONNECT and ends the connection. */
  disconnect(code: number = DisconnectReason.BY_APPLICATION, description = `closed by the ${this.role}`): void {
    if (this.failure) return
    this.sendDisconnect(code, description)
    this.fail(withoutStack(() => this.error("Closed", undefined, `connection closed by the ${this.role}`)), false)
  }

  // ---- plumbing ----

  private get peer(): string {
    return this.role === "client" ? "server" : "client"
  }

  private error(reason: TransportError["reason"], step: string | undefined, detail: string, cause?: unknown): TransportError {
    const { host, port } = this.options
    return new TransportError({ reason, host, port, detail, ...(step ? { step } : {}), ...(cause ? { cause } : {}) }, true)
  }

  private protocolError(detail: string, step?: string): TransportError {
    return this.error("ProtocolError", step, detail)
  }

  private stepLimit(): number {
    return this.peerIdentification === ""
      ? this.options.identificationTimeoutMillis ?? this.options.stepTimeoutMillis
      : this.options.stepTimeoutMillis
  }

  private waitingOnPeer(): boolean {
    return this.kex !== undefined || this.kexCount === 0
  }

  private kexStep(): string {
    const k = this.kex
    if (k === undefined || k.theirsPayload === undefined) return "KEXINIT"
    if (k.pendingOpener) return "NEWKEYS"
    return this.role === "client" ? "KEXDH_REPLY" : "KEXDH_INIT"
  }

  private emit(event: ConnectionEvent): void {
    this.events.push(event)
  }

  private frame(payload: Uint8Array): Uint8Array {
    const wire = framePacket(payload, this.sealer, this.seqOut, this.options.random)
    this.seqOut = (this.seqOut + 1) >>> 0
    this.bytesSinceKex += wire.length
    this.packetsSinceKex++
    return wire
  }

  private sendNow(payload: Uint8Array): void {
    this.transmit.push(this.frame(payload))
  }

  private sendDisconnect(code: number, description: string): void {
    this.sendNow(encode((w) => w.byte(MessageNumber.DISCONNECT).uint32(code).string(description).string("")))
  }

  /** Ends the connection; a failure of the peer's is answered with DISCONNECT first. */
  private fail(e: ConnectionFailure, tellPeer = true): void {
    if (this.failure) return
    this.failure = e
    this.held = []
    if (tellPeer) {
      const code = disconnectCodeFor(e)
      if (code !== undefined) this.sendDisconnect(code, e.message)
    }
    this.emit({ _tag: "Closed", error: e })
  }

  private rekeyDue(): boolean {
    return this.kex === undefined && this.kexCount > 0 &&
      (this.bytesSinceKex >= this.options.rekeyBytes || this.packetsSinceKex >= this.options.rekeyPackets)
  }

  // ---- key exchange: ours ----

  /** Our proposal for this role and kind of exchange (the first one, or a rekey), made once per options. */
  private proposal(initial: boolean): Proposal {
    const { preferences } = this.options
    const owner = this.role === "client" ? clientProposals : this.options.hostKeys ?? noHostKeys
    let byOwner = ourProposals.get(preferences)
    if (byOwner === undefined) ourProposals.set(preferences, byOwner = new WeakMap())
    let made = byOwner.get(owner)
    if (made === undefined) byOwner.set(owner, made = {})
    if (initial) return made.initial ??= this.makeProposal(true)
    return made.later ??= this.makeProposal(false)
  }

  private makeProposal(initial: boolean): Proposal {
    const kexInit = this.ourKexInit(initial, new Uint8Array(16))
    return { kexInit, payload: encodeKexInit(kexInit) }
  }

  private ourKexInit(initial: boolean, cookie: Uint8Array): KexInit {
    const { preferences } = this.options
    const client = this.role === "client"
    // ext-info and the strict-kex marker, by role, in the first KEXINIT only.
    const markers = initial
      ? client
        ? [pseudoAlgorithms.extInfoClient, pseudoAlgorithms.strictKexClient]
        : [pseudoAlgorithms.extInfoServer, pseudoAlgorithms.strictKexServer]
      : []
    const hostKey = client
      ? preferences.hostKey
      : (this.options.hostKeys ?? []).flatMap((k) => PublicKey.algorithmsFor(k.publicKey).filter((a) => a !== "ssh-rsa"))
    return {
      cookie,
      kexAlgorithms: [...preferences.kex, ...markers],
      serverHostKeyAlgorithms: hostKey,
      ciphersClientToServer: preferences.cipher,
      ciphersServerToClient: preferences.cipher,
      macsClientToServer: preferences.mac,
      macsServerToClient: preferences.mac,
      compressionClientToServer: noCompression,
      compressionServerToClient: noCompression,
      languagesClientToServer: noLanguages,
      languagesServerToClient: noLanguages,
      // The client guesses on the first exchange: its first kex and host key choices win
      // whenever the server supports them, so KEXDH_INIT can go out now.
      firstKexPacketFollows: client && initial
    }
  }

  /** Sends our KEXINIT (behind `prefix`, the version line) and holds other messages back. */
  private beginKex(prefix?: Uint8Array): void {
    const initial = this.sessionId === undefined
    const cookie = this.options.random(16)
    let ours: KexInit
    let oursPayload: Uint8Array
    const { rewriteKexInit } = this.options
    if (rewriteKexInit === undefined) {
      const proposal = this.proposal(initial)
      oursPayload = withCookie(proposal.payload, cookie)
      ours = { ...proposal.kexInit, cookie }
    } else {
      ours = rewriteKexInit(this.ourKexInit(initial, cookie))
      oursPayload = encodeKexInit(ours)
    }
    this.kex = { ours, oursPayload, oursSeq: this.seqOut }
    this.stepStarted = this.options.now()
    if (prefix) this.transmit.push(prefix)
    this.sendNow(oursPayload)
    if (initial && this.role === "client") {
      const method = kexMethods.get(this.options.preferences.kex[0])!
      const exchange = method.start(this.options.curves, this.options.random)
      this.kex.guess = { method, exchange }
      this.sendNow(concat([Uint8Array.of(MessageNumber.KEXDH_INIT), exchange.clientPublic]))
    }
  }

  /** Our NEWKEYS is out: the new outbound keys are in force, and held messages go. */
  private sendNewKeys(sealer: PacketSealer): void {
    const state = this.kex!
    this.sendNow(Uint8Array.of(MessageNumber.NEWKEYS))
    this.sealer = sealer
    if (this.strictKex) this.seqOut = 0
    state.newKeysSent = true
  }

  private flushHeld(): void {
    const held = this.held
    this.held = []
    for (const payload of held) this.sendNow(payload)
  }

  /** The keys of both directions from K and H, the letters chosen by role (RFC 4253 §7.2). */
  private deriveKeys(method: KexMethod, K: Uint8Array, H: Uint8Array) {
    const neg = this.kex!.negotiated!
    const sid = this.sessionId!
    const derive = (letter: string, length: number): Uint8Array => {
      let out = hash(method.hash, K, H, Buffer.from(letter), sid)
      while (out.length < length) out = concat([out, hash(method.hash, K, H, out)])
      return out.subarray(0, length)
    }
    const direction = (cipherName: string, macName: string, [iv, enc, integrity]: string) => {
      const cipher = ciphers.get(cipherName)!
      const mac = cipher.aead ? undefined : macs.get(macName)!
      const keys: DirectionKeys = {
        iv: derive(iv, cipher.ivLength),
        key: derive(enc, cipher.keyLength),
        macKey: mac ? derive(integrity, mac.keyLength) : new Uint8Array(0)
      }
      return { cipher, mac, keys }
    }
    const toServer = direction(neg.cipherClientToServer, neg.macClientToServer, "ACE")
    const toClient = direction(neg.cipherServerToClient, neg.macServerToClient, "BDF")
    const [out, into] = this.role === "client" ? [toServer, toClient] : [toClient, toServer]
    return { sealer: out.cipher.sealer(out.keys, out.mac), opener: into.cipher.opener(into.keys, into.mac) }
  }

  /** H over the fields in the RFC's order, whichever side we are. */
  private exchangeHash(method: KexMethod, hostKeyBlob: Uint8Array, clientValue: Uint8Array, serverValue: Uint8Array, K: Uint8Array) {
    const state = this.kex!
    const client = this.role === "client"
    const [vc, vs] = client ? [this.options.identification, this.peerIdentification] : [this.peerIdentification, this.options.identification]
    const [ic, is] = client ? [state.oursPayload, state.theirsPayload!] : [state.theirsPayload!, state.oursPayload]
    return hash(
      method.hash,
      encode((w) => w.string(vc).string(vs).string(ic).string(is).string(hostKeyBlob).raw(clientValue).raw(serverValue), 2048),
      K
    )
  }

  // ---- receiving ----

  private pump(): void {
    try {
      // Bounded by the bytes buffered: every turn consumes a line or a packet, or stops.
      while (!this.failure) {
        if (this.peerIdentification === "") {
          if (!this.readVersion()) return
          continue
        }
        if (this.kex?.awaitingHostKey) return
        const seq = this.seqIn
        const payload = this.decoder.next(seq)
        if (payload === undefined) return
        this.seqIn = (this.seqIn + 1) >>> 0
        this.bytesSinceKex += payload.length
        this.packetsSinceKex++
        this.options.onPeerPayload?.(payload)
        this.dispatch(payload, seq)
        this.sawPeerPacket = true
        if (this.rekeyDue()) this.beginKex()
      }
    } catch (e) {
      if (e instanceof PacketError) {
        this.fail(this.error(e.reason === "PacketTooLarge" ? "PacketTooLarge" : e.reason === "MacError" ? "MacError" : "BadPacket", "packet", e.message, e))
      } else if (e instanceof TransportError || e instanceof Disconnected || e instanceof HostKeyRejected) {
        this.fail(e, !(e instanceof Disconnected))
      } else {
        // A bug of ours: still a typed end for the edge, never a half-dead connection.
        this.fail(this.protocolError(`internal error: ${e instanceof Error ? e.message : String(e)}`))
      }
    } finally {
      // What the packets taken left of the last chunk; nothing, if they took it all.
      this.decoder.release()
    }
  }

  /** Reads one line of the version exchange; false when more bytes are needed. */
  private readVersion(): boolean {
    const got = this.decoder.takeLine(MAX_LINE_LENGTH)
    if (got === undefined) return false
    if ("tooLong" in got) {
      throw this.error("VersionExchange", "version exchange", `${this.peer} sent a line longer than ${MAX_LINE_LENGTH} bytes`)
    }
    if (!got.line.startsWith("SSH-")) {
      // Only a server may send other lines first (RFC 4253 §4.2).
      if (this.role === "server") {
        throw this.error("VersionExchange", "version exchange", `the client's first line is not an identification string: "${show(got.line, 64)}"`)
      }
      if (++this.preludeLines > MAX_PRELUDE_LINES) {
        throw this.error("VersionExchange", "version exchange", `no SSH identification string within ${MAX_PRELUDE_LINES} lines`)
      }
      return true
    }
    const match = /^SSH-([^-\s]+)-(\S+)/.exec(got.line)
    if (!match) throw this.error("VersionExchange", "version exchange", `malformed identification string "${show(got.line)}"`)
    if (match[1] !== "2.0" && match[1] !== "1.99") {
      throw this.error("VersionExchange", "version exchange", `${this.peer} speaks SSH protocol ${show(match[1], 32)}; only 2.0 is supported`)
    }
    this.peerIdentification = got.line
    this.stepStarted = this.options.now()
    return true
  }

  private parse<A>(payload: Uint8Array, what: string, f: Parameters<typeof decode<A>>[1]): A {
    const parsed = decode(payload, f)
    if (Either.isLeft(parsed)) throw this.protocolError(`malformed ${what}: ${parsed.left.message}`)
    return parsed.right
  }

  private dispatch(payload: Uint8Array, seq: number): void {
    const type = payload[0]
    // During a strict initial kex nothing but kex messages may arrive, not even IGNORE.
    if (this.strictKex && this.kexCount === 0 && this.kex && !isKexMessage(type) && type !== MessageNumber.DISCONNECT) {
      throw this.protocolError(`strict key exchange: unexpected ${messageName(type)} during the initial key exchange`, this.kexStep())
    }
    switch (type) {
      case MessageNumber.DISCONNECT: {
        const { code, description } = this.parse(payload, "DISCONNECT", (r) => {
          r.byte()
          return { code: r.uint32("reason code"), description: Buffer.from(r.string("description")).toString("utf8") }
        })
        // Built from parsed fields: Schema's validation of them would cost more than the parse.
        throw withoutStack(() => new Disconnected({ host: this.options.host, port: this.options.port, code, description }, true))
      }
      case MessageNumber.IGNORE:
      case MessageNumber.DEBUG:
        return
      case MessageNumber.UNIMPLEMENTED: {
        const rejected = this.parse(payload, "UNIMPLEMENTED", (r) => (r.byte(), r.uint32("packet sequence number")))
        // OpenSSH's sshd, for one, refuses rekeys before authentication this way.
        if (this.kex && !this.kex.theirsPayload && rejected === this.kex.oursSeq) {
          throw this.error("KexFailed", "KEXINIT", `the ${this.peer} does not accept a key exchange now (it answered UNIMPLEMENTED)`)
        }
        return
      }
      case MessageNumber.SERVICE_REQUEST: {
        if (this.role === "client" || this.kexCount === 0) break
        const name = this.parse(payload, "SERVICE_REQUEST", (r) => (r.byte(), r.text("service name")))
        this.emit({ _tag: "ServiceRequest", name })
        return
      }
      case MessageNumber.SERVICE_ACCEPT: {
        if (this.role === "server" || this.kexCount === 0) break
        const name = this.parse(payload, "SERVICE_ACCEPT", (r) => (r.byte(), r.text("service name")))
        this.emit({ _tag: "ServiceAccept", name })
        return
      }
      case MessageNumber.EXT_INFO: {
        const entries = this.parse(payload, "EXT_INFO", (r) => {
          r.byte()
          const n = r.uint32("nr-extensions")
          const out: Array<[string, Uint8Array]> = []
          // Bounded by the packet: each entry reads at least 8 bytes, or the read fails.
          for (let i = 0; i < n; i++) out.push([r.text("extension-name"), r.string("extension-value").slice()])
          return out
        })
        this.extensions = new Map([...this.extensions, ...entries])
        return
      }
      case MessageNumber.KEXINIT:
        return this.onKexInit(payload, seq)
      case MessageNumber.NEWKEYS:
        return this.onNewKeys()
      default:
        if (type >= 30 && type <= 49) return this.onKexMethodMessage(payload)
        if (type < 50) break
        if (this.kexCount === 0) throw this.protocolError(`${messageName(type)} before the first key exchange completed`, this.kexStep())
        this.emit({ _tag: "Message", payload })
        return
    }
    if (type < 50 && type !== MessageNumber.SERVICE_REQUEST && type !== MessageNumber.SERVICE_ACCEPT) {
      // RFC 4253 §11.4: answer what we do not understand.
      this.sendNow(encode((w) => w.byte(MessageNumber.UNIMPLEMENTED).uint32(seq)))
      return
    }
    throw this.protocolError(`unexpected ${messageName(type)} from the ${this.peer}`)
  }

  private onKexInit(payload: Uint8Array, seq: number): void {
    if (this.kex?.theirsPayload) throw this.protocolError("second KEXINIT during a key exchange", "KEXINIT")
    if (!this.kex) this.beginKex()
    const state = this.kex!
    const theirs = Either.getOrElse(decodeKexInit(payload), (e: WireError) => {
      throw this.error("ProtocolError", "KEXINIT", e.message, e)
    })
    const client = this.role === "client"
    const [c, s] = client ? [state.ours, theirs] : [theirs, state.ours]
    const chosen = Either.getOrElse(
      negotiate(c, s, (name) => ciphers.get(name)?.aead ?? false, this.sessionId === undefined),
      (e) => {
        const [ourList, theirList] = client ? [e.client, e.server] : [e.server, e.client]
        throw this.error(
          "KexFailed",
          "KEXINIT",
          `no common ${e.category} algorithm; we offer ${ourList.join(",")}; the ${this.peer} offers ${showList(theirList)}`
        )
      }
    )
    if (this.sessionId === undefined) {
      this.strictKex = chosen.strictKex
      // Strict kex (the Terrapin fix) requires KEXINIT to be the very first packet.
      if (this.strictKex && (seq !== 0 || this.sawPeerPacket)) {
        throw this.protocolError(`strict key exchange: KEXINIT was not the first packet from the ${this.peer}`, "KEXINIT")
      }
      this.clientAskedExtInfo = !client && theirs.kexAlgorithms.includes(pseudoAlgorithms.extInfoClient)
    }
    state.theirs = theirs
    state.theirsPayload = payload
    state.negotiated = chosen
    if (client) this.proposals ??= { client: c, server: s }
    this.stepStarted = this.options.now()
    // The peer guessed its first kex packet; a wrong guess is dropped.
    state.ignoreNextKexPacket = guessIsWrong(theirs, state.ours)
    if (!client) {
      state.method = kexMethods.get(chosen.kex)!
      return
    }
    const guess = state.guess
    if (guess && guess.method.name === chosen.kex) {
      state.method = guess.method
      state.exchange = guess.exchange
      // The server takes our guessed KEXDH_INIT only if it prefers what we prefer.
      if (!guessIsWrong(state.ours, theirs)) return
    } else {
      state.method = kexMethods.get(chosen.kex)!
      state.exchange = state.method.start(this.options.curves, this.options.random)
    }
    // A wrong guess is dropped by the server: send the real one.
    this.sendNow(concat([Uint8Array.of(MessageNumber.KEXDH_INIT), state.exchange.clientPublic]))
  }

  private onKexMethodMessage(payload: Uint8Array): void {
    const state = this.kex
    if (!state?.method) throw this.protocolError(`unexpected ${messageName(payload[0])} outside a key exchange`)
    if (state.ignoreNextKexPacket) {
      state.ignoreNextKexPacket = false
      return
    }
    const expected = this.role === "client" ? MessageNumber.KEXDH_REPLY : MessageNumber.KEXDH_INIT
    if (payload[0] !== expected || state.pendingOpener || state.newKeysSent) {
      throw this.protocolError(`unexpected ${messageName(payload[0])} during the key exchange`, this.kexStep())
    }
    if (this.role === "client") this.onKexReply(payload)
    else this.onKexInitMessage(payload)
  }

  /** Client: the server's KEXDH_REPLY. */
  private onKexReply(payload: Uint8Array): void {
    const state = this.kex!
    const neg = state.negotiated!
    const method = state.method!
    const kexFailed = (detail: string, cause?: unknown) => this.error("KexFailed", "KEXDH_REPLY", detail, cause)
    let parsed: { hostKeyBlob: Uint8Array; server: { encoded: Uint8Array; sharedSecret: Uint8Array }; signature: Uint8Array }
    try {
      const read = decode(payload, (r) => {
        r.byte("message number")
        // Copies: the connection keeps both, and a view would keep the whole reply alive.
        const hostKeyBlob = r.string("K_S").slice()
        const server = state.exchange!.readServerPublic(r)
        const signature = r.string("signature of H").slice()
        return { hostKeyBlob, server, signature }
      })
      if (Either.isLeft(read)) throw kexFailed(`malformed KEXDH_REPLY: ${read.left.message}`, read.left)
      parsed = read.right
    } catch (e) {
      if (e instanceof TransportError) throw e
      throw e instanceof CurveError
        ? kexFailed(`invalid server key exchange value: ${e.message}`, e)
        : kexFailed(`could not process KEXDH_REPLY: ${String(e)}`, e)
    }
    // A host certificate: the server signs with the certified key, the policy judges the CA.
    const certificate = Certificate.isCertificateType(neg.hostKey)
      ? Either.getOrElse(Certificate.fromBlob(parsed.hostKeyBlob), (e) => {
        throw kexFailed(`unusable host certificate: ${e.message}`, e)
      })
      : undefined
    const key = certificate !== undefined ? certificate.key : Either.getOrElse(PublicKey.fromBlob(parsed.hostKeyBlob), (e) => {
      throw kexFailed(`unusable host key: ${e.message}`, e)
    })
    const signatureAlgorithm = certificate !== undefined ? Certificate.signatureAlgorithmOf(neg.hostKey) : neg.hostKey
    const K = encodeSecret(method, parsed.server.sharedSecret)
    const H = this.exchangeHash(method, parsed.hostKeyBlob, state.exchange!.clientPublic, parsed.server.encoded, K)
    const valid = Either.getOrElse(PublicKey.verify(this.options.curves, key, parsed.signature, H, [signatureAlgorithm]), (e) => {
      throw kexFailed(`host key signature: ${e.message}`, e)
    })
    if (!valid) throw kexFailed(`the server's ${neg.hostKey} signature over the exchange hash does not verify`)

    const proceed = () => {
      this.sessionId ??= H
      const { opener, sealer } = this.deriveKeys(method, K, H)
      state.pendingOpener = opener
      this.sendNewKeys(sealer)
      if (this.kexCount === 0 && this.options.pipelineService) {
        this.pipelined = this.options.pipelineService
        this.sendNow(encode((w) => w.byte(MessageNumber.SERVICE_REQUEST).string(this.options.pipelineService!)))
      }
      this.negotiated = neg
      this.stepStarted = this.options.now()
      this.flushHeld()
    }
    if (this.sessionId === undefined) {
      this.hostKey = key
      this.hostKeyBlob = parsed.hostKeyBlob
      this.hostKeySignature = parsed.signature
      // The edge judges the key (a policy may prompt); nothing more is read until it has.
      state.awaitingHostKey = proceed
      this.emit({ _tag: "HostKey", key, algorithm: neg.hostKey, fingerprint: PublicKey.fingerprintSha256(key), ...(certificate ? { certificate } : {}) })
      return
    }
    if (Buffer.compare(parsed.hostKeyBlob, this.hostKeyBlob!) !== 0) throw kexFailed("the server presented a different host key during a rekey")
    proceed()
  }

  /** Server: the client's KEXDH_INIT. */
  private onKexInitMessage(payload: Uint8Array): void {
    const state = this.kex!
    const neg = state.negotiated!
    const method = state.method!
    const kexFailed = (detail: string, cause?: unknown) => this.error("KexFailed", "KEXDH_INIT", detail, cause)
    let response: ReturnType<KexMethod["respond"]>
    try {
      const read = decode(payload, (r) => {
        r.byte("message number")
        const answer = method.respond(this.options.curves, this.options.random, r)
        r.end("KEXDH_INIT")
        return answer
      })
      if (Either.isLeft(read)) throw kexFailed(`malformed KEXDH_INIT: ${read.left.message}`, read.left)
      response = read.right
    } catch (e) {
      if (e instanceof TransportError) throw e
      throw e instanceof CurveError
        ? kexFailed(`invalid client key exchange value: ${e.message}`, e)
        : kexFailed(`could not process KEXDH_INIT: ${String(e)}`, e)
    }
    const hostKey = this.hostKeyFor(neg.hostKey)
    const K = encodeSecret(method, response.sharedSecret)
    const H = this.exchangeHash(method, hostKey.publicKey.blob, response.clientEncoded, response.serverEncoded, K)
    this.sessionId ??= H
    const signature = signSync(this.options.curves, hostKey, neg.hostKey, H)
    if (this.kexCount === 0) {
      this.hostKey = hostKey.publicKey
      this.hostKeyBlob = hostKey.publicKey.blob
    }
    this.sendNow(encode((w) => w.byte(MessageNumber.KEXDH_REPLY).string(hostKey.publicKey.blob).raw(response.serverEncoded).string(signature), 1024))
    const { opener, sealer } = this.deriveKeys(method, K, H)
    state.pendingOpener = opener
    this.sendNewKeys(sealer)
    // RFC 8308: EXT_INFO right after our first NEWKEYS, for a client that asked.
    if (this.kexCount === 0 && this.clientAskedExtInfo && (this.options.extensions ?? []).length > 0) {
      const entries = this.options.extensions!
      this.sendNow(encode((w) => {
        w.byte(MessageNumber.EXT_INFO).uint32(entries.length)
        for (const [k, v] of entries) w.string(k).string(v)
      }))
    }
    this.negotiated = neg
    this.stepStarted = this.options.now()
    this.flushHeld()
  }

  /** The host key whose algorithms include the negotiated one. */
  private hostKeyFor(algorithm: string): PrivateKey {
    const key = (this.options.hostKeys ?? []).find((k) => PublicKey.algorithmsFor(k.publicKey).includes(algorithm))
    if (!key) throw this.error("KexFailed", "KEXINIT", `no host key for ${algorithm}`)
    return key
  }

  private onNewKeys(): void {
    const state = this.kex
    if (!state?.pendingOpener) throw this.protocolError("NEWKEYS before the key exchange reply", "NEWKEYS")
    this.decoder.opener = state.pendingOpener
    if (this.strictKex) this.seqIn = 0
    const first = this.kexCount === 0
    this.kexCount++
    this.bytesSinceKex = 0
    this.packetsSinceKex = 0
    this.kex = undefined
    this.emit({ _tag: "KexDone", first })
  }
}

const disconnectCodeFor = (e: ConnectionFailure): number | undefined => {
  if (e._tag === "HostKeyRejected") return DisconnectReason.HOST_KEY_NOT_VERIFIABLE
  if (e._tag === "Disconnected") return undefined
  switch (e.reason) {
    case "MacError":
      return DisconnectReason.MAC_ERROR
    case "KexFailed":
      return DisconnectReason.KEY_EXCHANGE_FAILED
    case "PacketTooLarge":
    case "BadPacket":
    case "ProtocolError":
    case "Timeout":
    case "VersionExchange":
      return DisconnectReason.PROTOCOL_ERROR
    default:
      return undefined
  }
}
