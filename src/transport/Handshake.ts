/**
 * The client side of an SSH connection over any byte channel: version exchange, the key
 * exchange state machine (first exchange and rekeys), the packet loop that routes transport
 * messages, and the send gate that holds application messages while keys change.
 *
 * One reader fiber owns the inbound direction. It decodes one packet at a time and handles
 * kex messages inline, so the inbound keys are swapped exactly between NEWKEYS and the
 * packet after it. Outbound packets are framed and queued on the socket synchronously, so
 * sequence numbers and keys can never interleave; while a key exchange is in progress only
 * kex messages pass (RFC 4253 §7.1).
 *
 * @since 0.1.0
 */
import type * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FiberId from "effect/FiberId"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import { CurveError, CurvesImpl } from "../crypto/Curves.js"
import * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import { DisconnectReason, isKexMessage, MessageNumber, messageName } from "../wire/MessageNumber.js"
import { show, showList } from "../wire/PeerText.js"
import { decode } from "../wire/Reader.js"
import { WireError } from "../wire/WireError.js"
import { encode } from "../wire/Writer.js"
import type { AlgorithmPreferences } from "./Algorithms.js"
import { ciphers } from "./cipher/Ciphers.js"
import { macs } from "./cipher/Mac.js"
import { type DirectionKeys, noneSealer, type PacketOpener, type PacketSealer } from "./cipher/PacketCipher.js"
import { type HostKeyPolicy, HostKeyRejected } from "./HostKeyPolicy.js"
import { Inbox } from "./Inbox.js"
import { kexMethods, type KexExchange, type KexMethod } from "./kex/KexMethod.js"
import {
  decodeKexInit,
  encodeKexInit,
  guessIsWrong,
  type KexInit,
  type NegotiatedAlgorithms,
  negotiate,
  pseudoAlgorithms
} from "./KexInit.js"
import { framePacket, PacketDecoder, PacketError } from "./PacketCodec.js"
import type { Transport } from "./Transport.js"
import { Disconnected, TransportError, type TransportFailure } from "./TransportError.js"

/**
 * A connected byte stream: what the handshake needs from a socket.
 *
 * @since 0.1.0
 * @category models
 */
export interface ByteChannel {
  readonly host: string
  readonly port: number
  /** Queues bytes for the peer without waiting; a failed write surfaces as the end of `chunks`. */
  write(bytes: Uint8Array): void
  /** Incoming chunks; ends with NoSuchElementException on EOF, or with the socket's error. */
  readonly chunks: Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>
  /** Closes the socket once queued bytes are out. Idempotent. */
  readonly close: Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface HandshakeOptions {
  readonly hostKeyPolicy: HostKeyPolicy
  readonly preferences: AlgorithmPreferences
  /** Our identification string, without CR LF. */
  readonly clientIdentification: string
  /**
   * Each handshake step (KEXINIT, reply, NEWKEYS, service accept) must finish within this,
   * counted from the step's start whatever arrives in between.
   */
  readonly handshakeTimeout: Duration.Duration
  /** The wait for the server's identification line (ssh's ConnectTimeout bounds it). Default: `handshakeTimeout`. */
  readonly identificationTimeout?: Duration.Duration
  /** How long `receive` waits for the next message. */
  readonly receiveTimeout: Duration.Duration
  /** Start a rekey after this many bytes or packets (both directions) since the last one. */
  readonly rekeyBytes: number
  readonly rekeyPackets: number
  /**
   * Send SERVICE_REQUEST for this service right behind our first NEWKEYS instead of after
   * the server's: a round trip saved. `requestService` of that name then only waits.
   */
  readonly pipelineService?: string
}

/**
 * An established connection: the `Transport` service plus what tests and tools want to see.
 *
 * @since 0.1.0
 * @category models
 */
export interface SshConnection extends Transport {
  /** Starts a key exchange now and waits for it to finish. */
  readonly rekey: Effect.Effect<void, TransportFailure>
  /** Completed key exchanges, the first one included. */
  readonly kexCount: number
  /** Both KEXINIT proposals of the first key exchange, as `ssh -vv` prints them. */
  readonly proposals: { readonly client: KexInit; readonly server: KexInit }
}

/** RFC 4253 §4.2 allows lines before the identification string; we bound them. */
const MAX_PRELUDE_LINES = 64
const MAX_LINE_LENGTH = 1024

interface KexState {
  readonly ours: KexInit
  readonly oursPayload: Uint8Array
  readonly done: Deferred.Deferred<void, TransportFailure | HostKeyRejected>
  /** The sequence number our KEXINIT went out with, to recognise an UNIMPLEMENTED reply to it. */
  readonly oursSeq: number
  theirsPayload?: Uint8Array
  negotiated?: NegotiatedAlgorithms
  method?: KexMethod
  exchange?: KexExchange
  /** The server guessed its first kex packet wrong: drop the next one (RFC 4253 §7.1). */
  ignoreNextKexPacket?: boolean
  /** Inbound keys, ready once our NEWKEYS is out; installed when the server's arrives. */
  pendingOpener?: PacketOpener
  /** Our NEWKEYS is out: application messages may flow again, under the new keys. */
  newKeysSent?: boolean
  /** The KEXDH_INIT we sent with our KEXINIT, guessing the server agrees on our first choices. */
  guess?: { readonly method: KexMethod; readonly exchange: KexExchange }
}

const concat = (...parts: ReadonlyArray<Uint8Array>): Uint8Array => Buffer.concat(parts)

/**
 * Runs the version exchange and the first key exchange over `channel`, then keeps the
 * connection serviced by a reader fiber in the current scope. Closing the scope sends
 * DISCONNECT.
 *
 * @since 0.1.0
 * @category constructors
 */
export const handshake = (
  channel: ByteChannel,
  options: HandshakeOptions
): Effect.Effect<SshConnection, TransportFailure | HostKeyRejected, Scope.Scope> =>
  Effect.gen(function*() {
    const curves = yield* CurvesImpl
    const { host, port } = channel
    const error = (
      reason: TransportError["reason"],
      step: string | undefined,
      detail: string,
      cause?: unknown
    ) =>
      // Our own fields are well-typed already; skipping Schema's check keeps closes cheap.
      new TransportError({ reason, host, port, detail, ...(step ? { step } : {}), ...(cause ? { cause } : {}) }, true)

    const decoder = new PacketDecoder()
    let sealer: PacketSealer = noneSealer
    let seqIn = 0
    let seqOut = 0
    let lastSeqIn = 0
    let dead: TransportFailure | HostKeyRejected | undefined
    let kex: KexState | undefined
    let lastKexDone: Deferred.Deferred<void, TransportFailure | HostKeyRejected> | undefined
    let negotiated: NegotiatedAlgorithms | undefined
    let sessionId: Uint8Array | undefined
    let hostKey: PublicKey.PublicKey | undefined
    /** What the server presented at the first kex (a key or a certificate): rekeys must present it again. */
    let hostKeyBlob: Uint8Array | undefined
    let hostKeySignature: Uint8Array | undefined
    let proposals: SshConnection["proposals"] | undefined
    let serverIdentification = ""
    let strict = false
    let kexCount = 0
    let bytesSinceKex = 0
    let packetsSinceKex = 0
    const extensions = new Map<string, Uint8Array>()

    const inbound = new Inbox<Uint8Array, TransportFailure>()
    const serviceAccepts = new Inbox<string, TransportFailure>()
    const serviceLock = yield* Effect.makeSemaphore(1)
    const sendGate = yield* Effect.makeLatch(true)

    /** The error users of a dead connection see. A host key rejection only happens before they have one. */
    const deadError = (): TransportFailure =>
      dead === undefined || dead._tag === "HostKeyRejected"
        ? error("Closed", undefined, "connection is closed")
        : dead

    const die = (e: TransportFailure | HostKeyRejected): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (dead) return Effect.void
        dead = e
        stopWatchdog()
        const forUsers = deadError()
        inbound.end(() => forUsers)
        serviceAccepts.end(() => forUsers)
        if (kex) Deferred.unsafeDone(kex.done, Effect.fail(e))
        sendGate.unsafeOpen()
        return channel.close
      })

    // ---- sending ----

    /** Frames one packet with the keys and sequence number in force. */
    const frame = (payload: Uint8Array): Uint8Array => {
      const wire = framePacket(payload, sealer, seqOut)
      seqOut = (seqOut + 1) >>> 0
      bytesSinceKex += wire.length
      packetsSinceKex++
      return wire
    }

    /** Sends one packet now, whatever the send gate says: kex and transport messages. */
    const sendNow = (payload: Uint8Array): void => channel.write(frame(payload))

    let pipelinedService: string | undefined

    const sendDisconnect = (code: number, description: string): void => {
      if (!dead) sendNow(encode((w) => w.byte(MessageNumber.DISCONNECT).uint32(code).string(description).string("")))
    }

    /** Sends our KEXINIT and closes the send gate. */
    const beginKex = (prefix?: Uint8Array): void => {
      const initial = sessionId === undefined
      const ours: KexInit = {
        cookie: new Uint8Array(16),
        // ext-info-c and the strict-kex marker belong in the first KEXINIT only.
        kexAlgorithms: initial
          ? [...options.preferences.kex, pseudoAlgorithms.extInfoClient, pseudoAlgorithms.strictKexClient]
          : options.preferences.kex,
        serverHostKeyAlgorithms: options.preferences.hostKey,
        ciphersClientToServer: options.preferences.cipher,
        ciphersServerToClient: options.preferences.cipher,
        macsClientToServer: options.preferences.mac,
        macsServerToClient: options.preferences.mac,
        compressionClientToServer: ["none"],
        compressionServerToClient: ["none"],
        languagesClientToServer: [],
        languagesServerToClient: [],
        // On the first exchange we guess: our first kex and host key choices win whenever
        // the server supports them, so KEXDH_INIT can go out now, a round trip early.
        firstKexPacketFollows: initial
      }
      const done = Deferred.unsafeMake<void, TransportFailure | HostKeyRejected>(FiberId.none)
      const oursPayload = encodeKexInit(ours)
      kex = { ours, oursPayload, done, oursSeq: seqOut }
      startStep()
      lastKexDone = done
      sendGate.unsafeClose()
      watchdog()
      const wire = [...(prefix ? [prefix] : []), frame(oursPayload)]
      if (initial) {
        const method = kexMethods.get(options.preferences.kex[0])!
        const exchange = method.start(curves)
        kex.guess = { method, exchange }
        wire.push(frame(concat(Uint8Array.of(MessageNumber.KEXDH_INIT), exchange.clientPublic)))
      }
      channel.write(concat(...wire))
    }

    const rekeyDue = () =>
      kex === undefined && kexCount > 0 &&
      (bytesSinceKex >= options.rekeyBytes || packetsSinceKex >= options.rekeyPackets)

    /** Starts a kex unless one is running. */
    const ensureKex = (): void => {
      if (!kex) beginKex()
    }

    const send = (payload: Uint8Array): Effect.Effect<void, TransportFailure> =>
      Effect.suspend(function attempt(): Effect.Effect<void, TransportFailure> {
        if (dead) return Effect.fail(deadError())
        // Held back while keys change; the gate opens once our NEWKEYS is out.
        if (kex && !kex.newKeysSent) return Effect.zipRight(sendGate.await, Effect.suspend(attempt))
        sendNow(payload)
        if (rekeyDue()) beginKex()
        return Effect.void
      })

    // ---- receiving ----

    const packetError = (e: PacketError) =>
      error(
        e.reason === "PacketTooLarge" ? "PacketTooLarge" : e.reason === "MacError" ? "MacError" : "BadPacket",
        "packet",
        e.message,
        e
      )

    const take = channel.chunks.take().pipe(
      Effect.catchTag("NoSuchElementException", () =>
        Effect.fail(
          error(
            "ConnectionClosed",
            undefined,
            decoder.buffered > 0
              ? `connection closed by the server in the middle of a packet (${decoder.buffered} bytes pending)`
              : "connection closed by the server"
          )
        ))
    )

    const readPacket: Effect.Effect<Uint8Array, TransportError> = Effect.suspend(function next(): Effect.Effect<
      Uint8Array,
      TransportError
    > {
      let payload: Uint8Array | undefined
      try {
        payload = decoder.next(seqIn)
      } catch (e) {
        if (e instanceof PacketError) return Effect.fail(packetError(e))
        throw e
      }
      if (payload !== undefined) {
        lastSeqIn = seqIn
        seqIn = (seqIn + 1) >>> 0
        bytesSinceKex += payload.length
        packetsSinceKex++
        return Effect.succeed(payload)
      }
      return Effect.flatMap(take, (chunk) => {
        decoder.push(chunk)
        return next()
      })
    })

    const kexStep = (): string =>
      kex === undefined ? "KEXINIT" : kex.theirsPayload === undefined ? "KEXINIT" : kex.pendingOpener ? "NEWKEYS" : "KEXDH_REPLY"

    /**
     * Each handshake step (the identification line, KEXINIT, the kex reply, NEWKEYS, in the
     * first kex and every rekey) must finish within its timeout, counted from the step's
     * start: packets in between (IGNORE, DEBUG, a keepalive) do not restart it, or a server
     * could hold the client forever. One Node timer per connection checks that, armed only
     * while we wait on the server: a timer or a timeout race per packet cost more CPU than
     * the key exchange itself.
     */
    // Node's timers, so Node's clock: a TestClock must not stall a real socket's watchdog.
    const stepTimeoutMillis = Duration.toMillis(options.handshakeTimeout)
    const identificationTimeout = options.identificationTimeout ?? options.handshakeTimeout
    let stepStarted = Date.now()
    let watchdogTimer: ReturnType<typeof setTimeout> | undefined
    const waitingOnServer = () => kex !== undefined || kexCount === 0
    const stepLimit = () => (serverIdentification === "" ? identificationTimeout : options.handshakeTimeout)
    /** The next step starts now: its deadline runs from here. */
    const startStep = () => {
      stepStarted = Date.now()
    }
    const checkStep = () => {
      watchdogTimer = undefined
      if (dead || !waitingOnServer()) return
      const limit = stepLimit()
      const remaining = stepStarted + Duration.toMillis(limit) - Date.now()
      if (remaining > 0) {
        watchdogTimer = setTimeout(checkStep, remaining)
        return
      }
      const within = Duration.format(limit)
      const step = kexStep()
      const timedOut = serverIdentification === ""
        ? error("Timeout", "version exchange", `no identification string from the server within ${within}`)
        : error("Timeout", step, `no ${step} from the server within ${within}`)
      Effect.runFork(abort(timedOut))
    }
    /** Arms the watchdog unless it is armed already. */
    function watchdog() {
      if (watchdogTimer === undefined && !dead) watchdogTimer = setTimeout(checkStep, Duration.toMillis(stepLimit()))
    }
    function stopWatchdog() {
      if (watchdogTimer !== undefined) clearTimeout(watchdogTimer)
      watchdogTimer = undefined
    }

    const readVersion = Effect.gen(function*() {
      for (let lines = 0; lines <= MAX_PRELUDE_LINES; lines++) {
        let got = decoder.takeLine(MAX_LINE_LENGTH)
        // Bounded: takeLine reports tooLong once more than MAX_LINE_LENGTH bytes are pending.
        while (got === undefined) {
          decoder.push(yield* take)
          got = decoder.takeLine(MAX_LINE_LENGTH)
        }
        if ("tooLong" in got) {
          return yield* error("VersionExchange", "version exchange", `server sent a line longer than ${MAX_LINE_LENGTH} bytes`)
        }
        if (!got.line.startsWith("SSH-")) continue
        const match = /^SSH-([^-\s]+)-(\S+)/.exec(got.line)
        if (!match) {
          return yield* error("VersionExchange", "version exchange", `malformed identification string "${show(got.line)}"`)
        }
        if (match[1] !== "2.0" && match[1] !== "1.99") {
          return yield* error(
            "VersionExchange",
            "version exchange",
            `server speaks SSH protocol ${show(match[1], 32)}; only 2.0 is supported`
          )
        }
        return got.line
      }
      return yield* error(
        "VersionExchange",
        "version exchange",
        `no SSH identification string within ${MAX_PRELUDE_LINES} lines`
      )
    })

    // ---- key exchange ----

    const protocolError = (detail: string, step?: string) => error("ProtocolError", step, detail)

    const onKexInit = (payload: Uint8Array, seq: number) =>
      Effect.gen(function*() {
        if (kex?.theirsPayload) return yield* protocolError("second KEXINIT during a key exchange", "KEXINIT")
        ensureKex()
        const state = kex!
        const theirs = yield* Either.mapLeft(decodeKexInit(payload), (e) => error("ProtocolError", "KEXINIT", e.message, e))
        const chosen = yield* Either.mapLeft(
          negotiate(state.ours, theirs, (c) => ciphers.get(c)?.aead ?? false, sessionId === undefined),
          (e) =>
            error(
              "KexFailed",
              "KEXINIT",
              `no common ${e.category} algorithm; we offer ${e.client.join(",")}; the server offers ${showList(e.server)}`
            )
        )
        if (sessionId === undefined) {
          strict = chosen.strictKex
          // Strict kex (the Terrapin fix) requires KEXINIT to be the very first packet.
          if (strict && seq !== 0) {
            return yield* protocolError("strict key exchange: KEXINIT was not the first packet from the server", "KEXINIT")
          }
        }
        state.theirsPayload = payload
        state.negotiated = chosen
        startStep()
        proposals ??= { client: state.ours, server: theirs }
        state.ignoreNextKexPacket = guessIsWrong(theirs, state.ours)
        const guess = state.guess
        if (guess && guess.method.name === chosen.kex) {
          state.method = guess.method
          state.exchange = guess.exchange
          // The server takes our guessed KEXDH_INIT only if it prefers what we prefer.
          if (!guessIsWrong(state.ours, theirs)) return
        } else {
          state.method = kexMethods.get(chosen.kex)!
          state.exchange = state.method.start(curves)
        }
        // A wrong guess is dropped by the server: send the real one (the same value, when
        // negotiation still chose the guessed method; the server never used it).
        sendNow(concat(Uint8Array.of(MessageNumber.KEXDH_INIT), state.exchange.clientPublic))
      })

    const hash = (algorithm: string, ...parts: ReadonlyArray<Uint8Array>): Uint8Array => {
      const h = crypto.createHash(algorithm)
      for (const p of parts) h.update(p)
      return h.digest()
    }

    const onKexReply = (payload: Uint8Array) =>
      Effect.gen(function*() {
        const state = kex!
        const neg = state.negotiated!
        const method = state.method!
        const kexFailed = (detail: string, cause?: unknown) => error("KexFailed", "KEXDH_REPLY", detail, cause)
        const parsed = yield* Effect.try({
          try: () =>
            decode(payload, (r) => {
              r.byte("message number")
              const hostKeyBlob = r.string("K_S")
              const server = state.exchange!.readServerPublic(r)
              const signature = r.string("signature of H")
              return { hostKeyBlob, server, signature }
            }),
          catch: (e) =>
            e instanceof CurveError
              ? kexFailed(`invalid server key exchange value: ${e.message}`, e)
              : kexFailed(`could not process KEXDH_REPLY: ${String(e)}`, e)
        }).pipe(
          Effect.flatMap(Either.mapLeft((e: WireError) => kexFailed(`malformed KEXDH_REPLY: ${e.message}`, e)))
        )
        // A host certificate: the server signs with the certified key, the policy judges the CA.
        const certificate = Certificate.isCertificateType(neg.hostKey)
          ? yield* Either.mapLeft(Certificate.fromBlob(parsed.hostKeyBlob), (e) => kexFailed(`unusable host certificate: ${e.message}`, e))
          : undefined
        const key = certificate !== undefined ? certificate.key : yield* Either.mapLeft(
          PublicKey.fromBlob(parsed.hostKeyBlob),
          (e) => kexFailed(`unusable host key: ${e.message}`, e)
        )
        const signatureAlgorithm = certificate !== undefined ? Certificate.signatureAlgorithmOf(neg.hostKey) : neg.hostKey
        const K = encode((w) => w.mpintUnsigned(parsed.server.sharedSecret))
        const H = hash(
          method.hash,
          encode((w) =>
            w.string(options.clientIdentification)
              .string(serverIdentification)
              .string(state.oursPayload)
              .string(state.theirsPayload!)
              .string(parsed.hostKeyBlob)
              .raw(state.exchange!.clientPublic)
              .raw(parsed.server.encoded), 2048),
          K
        )
        const valid = yield* Either.mapLeft(
          PublicKey.verify(curves, key, parsed.signature, H, [signatureAlgorithm]),
          (e) => kexFailed(`host key signature: ${e.message}`, e)
        )
        if (!valid) return yield* kexFailed(`the server's ${neg.hostKey} signature over the exchange hash does not verify`)

        if (sessionId === undefined) {
          const fingerprint = PublicKey.fingerprintSha256(key)
          yield* options.hostKeyPolicy({ host, port, key, algorithm: neg.hostKey, fingerprint, ...(certificate ? { certificate } : {}) })
          sessionId = H
          hostKey = key
          hostKeyBlob = parsed.hostKeyBlob
          hostKeySignature = parsed.signature
        } else if (Buffer.compare(parsed.hostKeyBlob, hostKeyBlob!) !== 0) {
          return yield* kexFailed("the server presented a different host key during a rekey")
        }

        const sid = sessionId
        const derive = (letter: string, length: number): Uint8Array => {
          let out = hash(method.hash, K, H, Buffer.from(letter), sid)
          while (out.length < length) out = concat(out, hash(method.hash, K, H, out))
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
        const out = direction(neg.cipherClientToServer, neg.macClientToServer, "ACE")
        const into = direction(neg.cipherServerToClient, neg.macServerToClient, "BDF")
        state.pendingOpener = into.cipher.opener(into.keys, into.mac)
        const nextSealer = out.cipher.sealer(out.keys, out.mac)

        const wire = [frame(Uint8Array.of(MessageNumber.NEWKEYS))]
        sealer = nextSealer
        if (strict) seqOut = 0
        state.newKeysSent = true
        if (kexCount === 0 && options.pipelineService) {
          pipelinedService = options.pipelineService
          wire.push(frame(encode((w) => w.byte(MessageNumber.SERVICE_REQUEST).string(options.pipelineService!))))
        }
        channel.write(concat(...wire))
        startStep()
        negotiated = neg
        sendGate.unsafeOpen()
      })

    const onNewKeys = Effect.suspend(() => {
      const state = kex
      if (!state?.pendingOpener) return Effect.fail(protocolError("NEWKEYS before the key exchange reply", "NEWKEYS"))
      decoder.opener = state.pendingOpener
      if (strict) seqIn = 0
      kexCount++
      bytesSinceKex = 0
      packetsSinceKex = 0
      kex = undefined
      Deferred.unsafeDone(state.done, Effect.void)
      return Effect.void
    })

    const onKexMethodMessage = (payload: Uint8Array) =>
      Effect.suspend(() => {
        if (!kex?.exchange) {
          return Effect.fail(protocolError(`unexpected ${messageName(payload[0])} outside a key exchange`))
        }
        if (kex.ignoreNextKexPacket) {
          kex.ignoreNextKexPacket = false
          return Effect.void
        }
        if (payload[0] !== MessageNumber.KEXDH_REPLY || kex.pendingOpener) {
          return Effect.fail(protocolError(`unexpected ${messageName(payload[0])} during the key exchange`, kexStep()))
        }
        return onKexReply(payload)
      })

    // ---- dispatch ----

    const parseOrProtocolError = <A>(payload: Uint8Array, what: string, f: Parameters<typeof decode<A>>[1]) =>
      Either.mapLeft(decode(payload, f), (e) => protocolError(`malformed ${what}: ${e.message}`))

    const dispatch = (payload: Uint8Array, seq: number): Effect.Effect<void, TransportFailure | HostKeyRejected> => {
      const type = payload[0]
      // During a strict initial kex nothing but kex messages may arrive, not even IGNORE.
      if (strict && kexCount === 0 && kex && !isKexMessage(type) && type !== MessageNumber.DISCONNECT) {
        return Effect.fail(
          protocolError(`strict key exchange: unexpected ${messageName(type)} during the initial key exchange`, kexStep())
        )
      }
      switch (type) {
        case MessageNumber.DISCONNECT:
          return Effect.flatMap(
            parseOrProtocolError(payload, "DISCONNECT", (r) => {
              r.byte()
              return { code: r.uint32("reason code"), description: Buffer.from(r.string("description")).toString("utf8") }
            }),
            ({ code, description }) => Effect.fail(new Disconnected({ host, port, code, description }))
          )
        case MessageNumber.IGNORE:
        case MessageNumber.DEBUG:
          return Effect.void
        case MessageNumber.UNIMPLEMENTED:
          return Effect.flatMap(
            parseOrProtocolError(payload, "UNIMPLEMENTED", (r) => (r.byte(), r.uint32("packet sequence number"))),
            (rejected) =>
              kex && !kex.theirsPayload && rejected === kex.oursSeq
                // OpenSSH's sshd, for one, refuses rekeys before authentication this way.
                ? Effect.fail(error("KexFailed", "KEXINIT", "the server does not accept a key exchange now (it answered UNIMPLEMENTED)"))
                : Effect.void
          )
        case MessageNumber.SERVICE_ACCEPT:
          return Effect.map(
            parseOrProtocolError(payload, "SERVICE_ACCEPT", (r) => (r.byte(), r.text("service name"))),
            (name) => serviceAccepts.offer(name)
          )
        case MessageNumber.EXT_INFO:
          return Effect.map(
            parseOrProtocolError(payload, "EXT_INFO", (r) => {
              r.byte()
              const n = r.uint32("nr-extensions")
              const entries: Array<[string, Uint8Array]> = []
              for (let i = 0; i < n; i++) entries.push([r.text("extension-name"), r.string("extension-value").slice()])
              return entries
            }),
            (entries) => {
              for (const [k, v] of entries) extensions.set(k, v)
            }
          )
        case MessageNumber.KEXINIT:
          return onKexInit(payload, seq)
        case MessageNumber.NEWKEYS:
          return onNewKeys
        default:
          if (type >= 30 && type <= 49) return onKexMethodMessage(payload)
          if (type < 50) {
            // RFC 4253 §11.4: answer what we do not understand.
            return Effect.sync(() => sendNow(encode((w) => w.byte(MessageNumber.UNIMPLEMENTED).uint32(seq))))
          }
          if (kexCount === 0) {
            return Effect.fail(protocolError(`${messageName(type)} before the first key exchange completed`, kexStep()))
          }
          inbound.offer(payload)
          return Effect.void
      }
    }

    const disconnectCodeFor = (e: TransportFailure | HostKeyRejected): number | undefined => {
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

    const abort = (e: TransportFailure | HostKeyRejected): Effect.Effect<void> =>
      Effect.suspend(() => {
        const code = disconnectCodeFor(e)
        if (code !== undefined) sendDisconnect(code, e.message)
        return die(e)
      })

    // ---- start ----

    // Version line and our KEXINIT go out together, before we read anything: one round trip saved.
    beginKex(Buffer.from(`${options.clientIdentification}\r\n`, "latin1"))
    const firstKex = kex!.done

    const readLoop = Effect.gen(function*() {
      serverIdentification = yield* readVersion
      startStep()
      while (true) {
        const payload = yield* readPacket
        yield* dispatch(payload, lastSeqIn)
        if (rekeyDue()) ensureKex()
      }
    })
    yield* readLoop.pipe(
      Effect.catchAll(abort),
      // A defect here is a bug of ours; still, nobody may be left waiting on a dead reader.
      Effect.catchAllDefect((defect) =>
        Effect.zipRight(
          abort(error("ProtocolError", undefined, `internal error: ${String(defect)}`, defect)),
          Effect.die(defect)
        )
      ),
      Effect.interruptible,
      Effect.forkScoped
    )

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        sendDisconnect(DisconnectReason.BY_APPLICATION, "closed by the client")
        return die(error("Closed", undefined, "connection closed by the client"))
      })
    )

    yield* Deferred.await(firstKex)

    const receiveMillis = Duration.toMillis(options.receiveTimeout)
    const receiveTimeoutError = () =>
      error("Timeout", "receive", `no message from the server within ${Duration.format(options.receiveTimeout)}`)

    const connection: SshConnection = {
      host,
      port,
      sessionId: sessionId!,
      clientIdentification: options.clientIdentification,
      serverIdentification,
      hostKey: hostKey!,
      hostKeyProof: { hostKeyBlob: hostKeyBlob!, signature: hostKeySignature! },
      get algorithms() {
        return negotiated!
      },
      get serverSigAlgs() {
        const value = extensions.get("server-sig-algs")
        return value === undefined
          ? Option.none()
          : Option.some(Buffer.from(value).toString("latin1").split(",").filter((s) => s.length > 0))
      },
      get extensions() {
        return extensions
      },
      get kexCount() {
        return kexCount
      },
      proposals: proposals!,
      send,
      receive: inbound.take({ millis: receiveMillis, onTimeout: receiveTimeoutError }),
      receiveWithin: (millis) =>
        millis >= receiveMillis
          ? inbound.take({ millis: receiveMillis, onTimeout: receiveTimeoutError })
          : inbound.take({
            millis: Math.max(0, millis),
            onTimeout: () => error("Timeout", "receive", "no reply from the server in time: its deadline ran from our last message")
          }),
      get pending() {
        return inbound.size
      },
      requestService: (name) =>
        serviceLock.withPermits(1)(Effect.gen(function*() {
          if (pipelinedService === name) pipelinedService = undefined
          else yield* send(encode((w) => w.byte(MessageNumber.SERVICE_REQUEST).string(name)))
          const accepted = yield* serviceAccepts.take({
            millis: stepTimeoutMillis,
            onTimeout: () =>
              error("Timeout", "SERVICE_ACCEPT", `no SERVICE_ACCEPT for ${name} within ${Duration.format(options.handshakeTimeout)}`)
          })
          if (accepted !== name) {
            return yield* protocolError(`requested service ${name} but the server accepted "${show(accepted, 64)}"`, "SERVICE_ACCEPT")
          }
        })),
      disconnect: (code = DisconnectReason.BY_APPLICATION, description = "closed by the client") =>
        Effect.suspend(() => {
          sendDisconnect(code, description)
          return die(error("Closed", undefined, "connection closed by the client"))
        }),
      rekey: Effect.gen(function*() {
        if (dead) return yield* deadError()
        ensureKex()
        yield* Deferred.await(lastKexDone!).pipe(Effect.mapError((e) => (e._tag === "HostKeyRejected" ? deadError() : e)))
      })
    }
    return connection
  })
