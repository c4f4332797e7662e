/**
 * The `AuthHandler` service: the client side of SSH user authentication (RFC 4252, RFC 4256,
 * RFC 8308 and RFC 8332) over a `Transport`.
 *
 * The primitive is `sendAuthRequest`, as in paramiko's `AuthOnlyHandler`: one request in
 * flight, its reply classified, banners collected on the way. Message 60 means PK_OK,
 * PASSWD_CHANGEREQ or INFO_REQUEST depending on the method in flight, so each method passes
 * its own handler for the 60-79 range.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Tracer from "effect/Tracer"
import { CurvesImpl } from "../crypto/Curves.js"
import type { GssError, Initiator } from "../gssapi/Gssapi.js"
import * as Certificate from "../keys/Certificate.js"
import { PrivateKey, type Signer, type SignerFailure } from "../keys/PrivateKey.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as Caller from "../transport/Caller.js"
import * as Conversation from "../transport/Conversation.js"
import * as HostKeyPolicy from "../transport/HostKeyPolicy.js"
import type * as TcpTransport from "../transport/TcpTransport.js"
import { Transport } from "../transport/Transport.js"
import { Disconnected, TransportError, type TransportFailure } from "../transport/TransportError.js"
import { DisconnectReason, messageName, MessageNumber } from "../wire/MessageNumber.js"
import { show, showList } from "../wire/PeerText.js"
import { decode } from "../wire/Reader.js"
import { encode, type Writer } from "../wire/Writer.js"
import { AuthError, type GssapiServerError, PasswordChangeRequired } from "./AuthError.js"
import * as GssapiExchange from "./GssapiExchange.js"

/**
 * The outcome of one USERAUTH_REQUEST.
 *
 * @since 0.1.0
 * @category models
 */
export type AuthOutcome =
  | { readonly _tag: "Success" }
  | { readonly _tag: "Failure"; readonly allowedMethods: ReadonlyArray<string>; readonly partialSuccess: boolean }
  | { readonly _tag: "Disconnected"; readonly code: number; readonly description: string }

/**
 * What a keyboard-interactive responder is shown (RFC 4256 §3.2).
 *
 * @since 0.1.0
 * @category models
 */
export interface InteractiveRequest {
  readonly name: string
  readonly instruction: string
  readonly prompts: ReadonlyArray<{ readonly prompt: string; readonly echo: boolean }>
}

/**
 * @since 0.1.0
 * @category models
 */
export type Responder<E = never, R = never> = (
  request: InteractiveRequest
) => Effect.Effect<ReadonlyArray<Redacted.Redacted<string>>, E, R>

/**
 * @since 0.1.0
 * @category models
 */
export type AuthHandlerError = AuthError | TransportError

/**
 * @since 0.1.0
 * @category models
 */
export interface PublicKeyOptions {
  /** Offer ssh-rsa (SHA-1) signatures when the server allows nothing better. */
  readonly allowSshRsaSha1?: boolean
  /** Only these algorithms (ssh_config's PubkeyAcceptedAlgorithms; certificate names for certificates). */
  readonly acceptedAlgorithms?: ReadonlyArray<string>
  /**
   * Send the signed request at once instead of querying first. Only for keys whose signing
   * is free (decrypted, in memory, no confirmation): it saves a round trip, and sshd's
   * second authorized_keys lookup, at the price of a signature the server may not want.
   */
  readonly skipQuery?: boolean
}

/**
 * What a method-specific handler makes of a message in the 60-79 range.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodStep = { readonly _tag: "Continue" } | { readonly _tag: "Done"; readonly outcome: AuthOutcome }

/**
 * @since 0.1.0
 * @category models
 */
export interface AuthHandler {
  /**
   * Banners received so far (USERAUTH_BANNER), in order, as far as the banner budget
   * (`AuthHandlerOptions.bannerBudget`) kept them.
   */
  readonly banners: Effect.Effect<ReadonlyArray<string>>
  /** The methods the server's latest USERAUTH_FAILURE allows, if one came yet. */
  readonly allowedMethods: Option.Option<ReadonlyArray<string>>
  /** Banners received but not kept, over the budget: how many, and their bytes. */
  readonly bannersDropped: Effect.Effect<{ readonly count: number; readonly bytes: number }>
  /**
   * Sends one USERAUTH_REQUEST (`fill` writes the method-specific fields) and waits for its
   * outcome. `onMethodMessage` handles messages 60-79 for the method in flight.
   */
  sendAuthRequest<E, R>(
    username: string,
    method: string,
    fill: (w: Writer) => void,
    onMethodMessage?: (message: Uint8Array) => Effect.Effect<MethodStep, E, R>
  ): Effect.Effect<AuthOutcome, AuthHandlerError | Exclude<E, Disconnected>, R>
  none(username: string): Effect.Effect<AuthOutcome, AuthHandlerError>
  password<E = never, R = never>(
    username: string,
    password: Redacted.Redacted<string>,
    changePassword?: (prompt: string) => Effect.Effect<Redacted.Redacted<string>, E, R>
  ): Effect.Effect<AuthOutcome, AuthHandlerError | PasswordChangeRequired | E, R>
  /** Queries with the public key first and signs only after PK_OK. */
  publicKey(
    username: string,
    signer: Signer<SignerFailure>,
    options?: PublicKeyOptions
  ): Effect.Effect<AuthOutcome, AuthHandlerError>
  keyboardInteractive<E, R>(
    username: string,
    responder: Responder<E, R>,
    submethods?: string
  ): Effect.Effect<AuthOutcome, AuthHandlerError | E, R>
  /**
   * Runs `run`'s requests as one conversation: under the handler's lock, after the
   * ssh-userauth service, in the connection's callbacks where the transport has them (a
   * strategy whose every source has `steps` runs so, with one wait for the whole run). Each
   * request's outcome or failure is a value `run` sees; only the connection's end fails it.
   * Optional: a handler of the caller's own need not have it.
   */
  readonly converse?: <A, E, R>(
    run: (requests: Requests, caller: Caller.Caller) => Conversation.Steps<A, E>
  ) => Effect.Effect<A, E | AuthHandlerError | Disconnected, R>
  /**
   * gssapi-with-mic (RFC 4462 §3) with the Kerberos V5 mechanism, over an initiator context
   * the caller made for the server (`Gssapi.initiator`). Its first step runs before anything
   * is sent: without a usable ticket the request is never made.
   */
  gssapiWithMic(
    username: string,
    initiator: Initiator
  ): Effect.Effect<AuthOutcome, AuthHandlerError | GssError | GssapiServerError>
}

/**
 * The handler's requests as conversation steps (`AuthHandler.converse`), each in a span
 * under `parent` (the attempt's). Each ends in its outcome or its failure as an `Exit`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Requests {
  /** `sendAuthRequest`'s steps; `onMethodMessage` reads messages 60-79 as steps of its own. */
  readonly request: <E>(
    parent: Tracer.AnySpan | undefined,
    username: string,
    method: string,
    fill: (w: Writer) => void,
    onMethodMessage: MethodReader<E> | undefined
  ) => Conversation.Steps<AuthOutcome, AuthHandlerError | E>
  /** `none`'s steps. */
  readonly none: (parent: Tracer.AnySpan | undefined, username: string) => Conversation.Steps<AuthOutcome, AuthHandlerError>
  /** `publicKey`'s steps. */
  readonly publicKey: (
    parent: Tracer.AnySpan | undefined,
    username: string,
    signer: Signer<SignerFailure>,
    options?: PublicKeyOptions
  ) => Conversation.Steps<AuthOutcome, AuthHandlerError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const AuthHandler: Context.Tag<AuthHandler, AuthHandler> = Context.GenericTag<AuthHandler>("effect-ssh-auth/AuthHandler")

const SERVICE = "ssh-connection"

/** A DISCONNECT is an outcome of the request in flight, not an error of the handler. */
const disconnectAsOutcome = <E, R>(
  self: Effect.Effect<AuthOutcome, E | Disconnected, R>
): Effect.Effect<AuthOutcome, Exclude<E, Disconnected>, R> =>
  Effect.catchIf(
    self,
    (e): e is Disconnected => e instanceof Disconnected,
    (d) => Effect.succeed<AuthOutcome>({ _tag: "Disconnected", code: d.code, description: d.description })
  ) as Effect.Effect<AuthOutcome, Exclude<E, Disconnected>, R>

/**
 * The signature algorithms a key may use, best first (the first is the one offered), per
 * RFC 8332 §3.1: for RSA,
 * rsa-sha2-512 then rsa-sha2-256 as far as the server lists them in server-sig-algs; without
 * EXT_INFO, rsa-sha2-256; ssh-rsa (SHA-1) only when allowed. Other keys have one algorithm.
 *
 * @since 0.1.0
 * @category algorithms
 */
export const signatureAlgorithmsFor = (
  key: PublicKey.PublicKey,
  serverSigAlgs: Option.Option<ReadonlyArray<string>>,
  allowSshRsaSha1 = false
): ReadonlyArray<string> => {
  if (key._tag !== "Rsa") return [key.type]
  const wanted = ["rsa-sha2-512", "rsa-sha2-256", ...(allowSshRsaSha1 ? ["ssh-rsa"] : [])]
  return Option.match(serverSigAlgs, {
    onNone: () => wanted.slice(1),
    onSome: (algs) => wanted.filter((a) => algs.includes(a))
  })
}

/**
 * Whether the server, by its identification string, is an OpenSSH before 7.8: those list
 * rsa-sha2-256/512 in server-sig-algs but accept RSA certificates only as
 * ssh-rsa-cert-v01@openssh.com, signed with SHA-1 (RHEL/CentOS 7 ship 7.4).
 *
 * @since 0.1.0
 * @category algorithms
 */
export const rsaCertificatesNeedSha1 = (serverIdentification: string): boolean => {
  const m = /^SSH-2\.0-OpenSSH_(\d+)\.(\d+)/.exec(serverIdentification)
  if (!m) return false
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major < 7 || (major === 7 && minor < 8)
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AuthHandlerOptions {
  /**
   * Called with each USERAUTH_BANNER as it arrives, the raw text: escape it before it
   * reaches a terminal (`PeerText.printable`). Banners are also kept, see `banners`.
   */
  readonly onBanner?: (text: string) => Effect.Effect<void>
  /**
   * How long the server has to answer a request (or our response to its question),
   * counted from when ours went out: banners and keepalives in between do not extend it.
   * Default 30 seconds.
   */
  readonly replyTimeout?: Duration.DurationInput
  /** Banner bytes kept for the whole connection; the rest are counted and dropped. Default 64 KiB. */
  readonly bannerBudget?: number
}

/**
 * The one method-specific message a method reads (60: PK_OK, PASSWD_CHANGEREQ or
 * INFO_REQUEST); any other number in 60-79 is the server's protocol error for that method.
 */
const only60 = (message: Uint8Array, method: string, username: string): Effect.Effect<void, AuthError> =>
  message[0] === 60 ? Effect.void : Effect.fail(only60Error(message, method, username))

const only60Error = (message: Uint8Array, method: string, username: string) =>
  new AuthError({ reason: "ProtocolError", method, username, detail: `unexpected ${messageName(message[0])} in reply to a ${method} request` })

/** `effect` with `span` as its parent, where there is one. */
const underSpan = <A, E, R>(effect: Effect.Effect<A, E, R>, span: Tracer.AnySpan | undefined): Effect.Effect<A, E, R> =>
  span ? Effect.withParentSpan(effect, span) : effect

type Steps<A, E> = Conversation.Steps<A, E>

/**
 * What reads the messages 60-79 of the method in flight, as steps of its own, under the
 * request's span.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodReader<E> = (message: Uint8Array, span: Tracer.AnySpan | undefined) => Conversation.Steps<MethodStep, E>

/** One request: its user, method, method-specific fields, and the reader of its method's messages. */
interface RequestSpec<E> {
  readonly username: string
  readonly method: string
  readonly fill: (w: Writer) => void
  readonly onMethodMessage?: MethodReader<E>
}

/** A failure, as the failure of steps with another value. */
const failed = <E>(exit: Exit.Exit<unknown, E>): Exit.Exit<never, E> => exit as Exit.Exit<never, E>

/** What one request's replies may add up to, in messages and in bytes, before it is cut off. */
const MAX_REPLY_MESSAGES = 256
const MAX_REPLY_BYTES = 1024 * 1024

/**
 * Builds the handler over the `Transport` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith = (options: AuthHandlerOptions): Effect.Effect<AuthHandler, never, Transport> =>
  Effect.map(Transport, (transport) => handlerOver(transport, options))

/**
 * The handler over `transport`, built synchronously: it is made per connection, on the way
 * from the handshake to the first request (bench/RESULTS.md, session 15).
 */
const handlerOver = (transport: Transport, options: AuthHandlerOptions): AuthHandler => {
  const lock = Effect.unsafeMakeSemaphore(1)
  /**
   * `self` holding the lock: taken at once when it is free (the usual case, a third of
   * `withPermits`' operations), else waited for.
   */
  const locked = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(lock.withPermitsIfAvailable(1)(self), (done) => Option.isSome(done) ? Effect.succeed(done.value) : lock.withPermits(1)(self))
  const banners: Array<string> = []
  const bannerBudget = options.bannerBudget ?? 64 * 1024
  let bannerBytes = 0
  const dropped = { count: 0, bytes: 0 }
  const replyMillis = Duration.toMillis(options.replyTimeout ?? "30 seconds")
  /**
   * Set once the server broke the protocol or stopped answering: the connection is closed
   * then, and every later request fails with this error before anything is sent, so no
   * later source can put a secret on a connection that is no longer trustworthy.
   */
  let broken: AuthError | TransportError | undefined
  let allowed: Option.Option<ReadonlyArray<string>> = Option.none()

  const keepBanner = (text: string) => {
    const size = Buffer.byteLength(text)
    if (bannerBytes + size <= bannerBudget) {
      banners.push(text)
      bannerBytes += size
    } else {
      dropped.count++
      dropped.bytes += size
    }
  }
  // The ssh-userauth service is requested once per connection, on first use, under the
  // lock, and its outcome kept, failure included.
  let service: Exit.Exit<void, TransportFailure> | undefined
  const requestServiceHeld: Effect.Effect<void, TransportFailure> = Effect.suspend(() =>
    service ?? transport.requestService("ssh-userauth").pipe(
      Effect.zipRight(Effect.logDebug("SSH2_MSG_SERVICE_ACCEPT received")),
      Effect.exit,
      Effect.flatMap((exit) => (service = exit))
    )
  )

  /** A protocol violation, or a server that stopped answering, ends the connection for good. */
  const breakOn = (e: unknown): Effect.Effect<void> => {
    if (broken) return Effect.void
    const violation = e instanceof AuthError && e.reason === "ProtocolError"
    const silent = e instanceof TransportError && e.reason === "Timeout"
    if (!violation && !silent) return Effect.void
    broken = e
    return transport.disconnect(
      violation ? DisconnectReason.PROTOCOL_ERROR : DisconnectReason.BY_APPLICATION,
      violation ? "protocol error" : "no reply"
    )
  }

  /**
   * One request (`sendAuthRequest`'s steps): the banners the server sent before it, the
   * request, then its replies until the outcome, in a span under `parent`. A protocol error
   * in them ends the connection for good (`broken`). `onMethodMessage` reads messages
   * 60-79 for the method in flight, as steps of their own.
   */
  function* request<E>(
    caller: Caller.Caller,
    now: () => number,
    parent: Tracer.AnySpan | undefined,
    spec: RequestSpec<E>
  ): Steps<AuthOutcome, AuthHandlerError | E> {
    if (broken) return Exit.fail(broken)
    const { method, username } = spec
    const span = caller.begin("AuthHandler.sendAuthRequest", parent, { method, username })
    yield* Caller.log(caller, LogLevel.Trace, `we sent a ${method} packet, wait for reply`, span)
    const exit = yield* exchange(now, span ?? parent, spec)
    if (Exit.isFailure(exit)) {
      const error = Cause.failureOption(exit.cause)
      if (Option.isSome(error)) yield* Conversation.call(breakOn(error.value))
    }
    caller.end(span, exit)
    return exit
  }

  /**
   * `request`'s messages. What it calls of the caller's (the banner callback, a method's
   * reader that is an Effect) runs in the caller's fiber, under the request's span.
   */
  function* exchange<E>(
    now: () => number,
    span: Tracer.AnySpan | undefined,
    { fill, method, onMethodMessage, username }: RequestSpec<E>
  ): Steps<AuthOutcome, AuthError | E> {
    const protocolError = (detail: string) => Exit.fail(new AuthError({ reason: "ProtocolError", method, username, detail }))
    const malformed = (message: Uint8Array, e: Error) => protocolError(`malformed ${messageName(message[0])}: ${e.message}`)
    /** Keeps a banner and shows it to the caller's callback; a malformed one is the server's protocol error. */
    function* onBanner(message: Uint8Array): Generator<Conversation.ConversationStep, Exit.Exit<never, AuthError> | undefined, unknown> {
      const text = decode(message, (r) => (r.byte(), r.text("banner message")))
      if (Either.isLeft(text)) return malformed(message, text.left)
      keepBanner(text.right)
      if (options.onBanner) yield* Conversation.call(underSpan(options.onBanner(text.right), span))
      return undefined
    }
    // Whatever is waiting now was sent before we asked anything: only a banner may be.
    for (let i = 0; i < MAX_REPLY_MESSAGES; i++) {
      const early = yield* Conversation.poll()
      if (early === undefined) break
      if (early[0] !== MessageNumber.USERAUTH_BANNER) {
        return protocolError(`${messageName(early[0])} arrived before the ${method} request was sent`)
      }
      const bad = yield* onBanner(early)
      if (bad) return bad
    }
    yield* Conversation.send(
      encode((w) => {
        w.byte(MessageNumber.USERAUTH_REQUEST).string(username).string(SERVICE).string(method)
        fill(w)
      })
    )
    // The server's time runs from our last message, whatever it sends in between.
    let deadline = now() + replyMillis
    let replyBytes = 0
    // Bounded in messages and bytes: a server may send banners and method messages, but not forever.
    for (let i = 0; i < MAX_REPLY_MESSAGES; i++) {
      const message = yield* Conversation.receive(deadline)
      replyBytes += message.length
      if (replyBytes > MAX_REPLY_BYTES) {
        return protocolError(`the replies to one ${method} request passed ${MAX_REPLY_BYTES} bytes`)
      }
      switch (message[0]) {
        case MessageNumber.USERAUTH_SUCCESS:
          return Exit.succeed<AuthOutcome>({ _tag: "Success" })
        case MessageNumber.USERAUTH_FAILURE: {
          const failure = decode(message, (r) => {
            r.byte()
            return { allowedMethods: r.nameList("authentications that can continue"), partialSuccess: r.boolean("partial success") }
          })
          if (Either.isLeft(failure)) return malformed(message, failure.left)
          allowed = Option.some(failure.right.allowedMethods)
          return Exit.succeed<AuthOutcome>({ _tag: "Failure", ...failure.right })
        }
        case MessageNumber.USERAUTH_BANNER: {
          const bad = yield* onBanner(message)
          if (bad) return bad
          continue
        }
        default: {
          if (message[0] >= 60 && message[0] <= 79 && onMethodMessage) {
            const step = yield* onMethodMessage(message, span)
            if (Exit.isFailure(step)) return failed(step)
            if (step.value._tag === "Done") return Exit.succeed(step.value.outcome)
            // The method answered the server: its time starts again.
            deadline = now() + replyMillis
            continue
          }
          return protocolError(`unexpected ${messageName(message[0])} in reply to a ${method} request`)
        }
      }
    }
    return protocolError(`more than ${MAX_REPLY_MESSAGES} messages in reply to one ${method} request`)
  }

  /** Whether to bind this signer to the host first and use publickey-hostbound (OpenSSH's PROTOCOL). */
  const hostBound = (signer: Signer<SignerFailure>) => signer.bindToHost !== undefined && transport.extensions.has("publickey-hostbound@openssh.com")

  /** publickey with one signer (`publicKey`'s steps), its attempt's span `parent`. */
  function* publicKey(
    caller: Caller.Caller,
    now: () => number,
    parent: Tracer.AnySpan | undefined,
    username: string,
    signer: Signer<SignerFailure>,
    options: PublicKeyOptions | undefined
  ): Steps<AuthOutcome, AuthHandlerError> {
    const key = signer.publicKey
    const fingerprint = PublicKey.fingerprintSha256(key)
    // The attempt's span learns the key here: a key read from disk is known only now.
    if (parent?._tag === "Span") parent.attribute("fingerprint", fingerprint)
    const accepted = options?.acceptedAlgorithms
    // An old OpenSSH takes an RSA certificate one way only: choose it up front rather
    // than spend MaxAuthTries on the sha2 names it lists but refuses.
    const legacyCertificate = signer.certificate !== undefined && key._tag === "Rsa" &&
      rsaCertificatesNeedSha1(transport.serverIdentification)
    const candidates = legacyCertificate
      ? (options?.allowSshRsaSha1 ? ["ssh-rsa"] : [])
      : signatureAlgorithmsFor(key, key._tag === "Rsa" ? transport.serverSigAlgs : Option.none(), options?.allowSshRsaSha1)
    const algorithms = candidates.filter((a) => accepted === undefined || accepted.includes(signer.certificate ? Certificate.certificateAlgorithmFor(a) : a))
    if (algorithms.length === 0) {
      return Exit.fail(
        new AuthError({
          reason: "NoAcceptableAlgorithm",
          method: "publickey",
          username,
          detail: legacyCertificate
            ? `${
              show(transport.serverIdentification.slice(8), 64)
            } accepts RSA certificates only as ssh-rsa-cert-v01@openssh.com (SHA-1 signatures); allow ssh-rsa to offer this one`
            : `the server accepts no signature algorithm for ${key.type} (server-sig-algs: ${
              Option.getOrElse(Option.map(transport.serverSigAlgs, (a) => showList(a)), () => "none")
            })`
        })
      )
    }
    const bound = hostBound(signer)
    const method = bound ? "publickey-hostbound-v00@openssh.com" : "publickey"
    const authError = (reason: AuthError["reason"], detail: string, cause?: unknown) =>
      new AuthError({ reason, method, username, detail, ...(cause ? { cause } : {}) })
    /** A signer's failure (binding or signing) as this request's. */
    const signingFailed = (cause: SignerFailure) => authError("SigningFailed", cause.message, cause)
    if (bound) {
      const proof = { hostKeyBlob: transport.hostKey.blob, sessionId: transport.sessionId, signature: transport.hostKeyProof.signature }
      const exit = yield* Conversation.callExit(signer.bindToHost!(proof))
      if (Exit.isFailure(exit)) {
        return failed(Exit.mapError(exit, signingFailed))
      }
    }
    // One offer per key, with the best algorithm the server lists, as ssh does: sshd
    // counts every refused offer against MaxAuthTries, so a second algorithm for a
    // refused key would spend the tries of the keys behind it.
    const signatureAlgorithm = algorithms[0]
    const cert = signer.certificate
    // A certificate goes on the wire in place of the key, under its own algorithm name.
    const algorithm = cert ? Certificate.certificateAlgorithmFor(signatureAlgorithm) : signatureAlgorithm
    const blob = cert ? cert.blob : key.blob
    const hostKeyField = (w: Writer) => (bound ? w.string(transport.hostKey.blob) : w)
    // The signed request without its signature: what RFC 4252 §7 signs, after the session id.
    const signedBody = encode((w) =>
      hostKeyField(
        w.byte(MessageNumber.USERAUTH_REQUEST).string(username).string(SERVICE).string(method).boolean(true).string(algorithm).string(blob)
      )
    )
    function* sign(under: Tracer.AnySpan | undefined): Steps<Uint8Array, AuthError> {
      const span = caller.begin("AuthHandler.publicKey.sign", under, { algorithm, fingerprint })
      const data = encode((w) => w.string(transport.sessionId).raw(signedBody))
      // A key in memory signs at once, on the caller's curves, with no call of a fiber.
      const signed = signer instanceof PrivateKey
        ? signer.signWith(Context.get(caller.context, CurvesImpl), signatureAlgorithm, data)
        : signer.sign(signatureAlgorithm, data)
      const exit = Exit.mapError(yield* Conversation.callExit(signed), signingFailed)
      caller.end(span, exit)
      return exit
    }
    if (options?.skipQuery) {
      const signature = yield* sign(parent)
      if (Exit.isFailure(signature)) return failed(signature)
      return yield* request(caller, now, parent, {
        username,
        method,
        fill: (w) => hostKeyField(w.boolean(true).string(algorithm).string(blob)).string(signature.value)
      })
    }
    const offered = `${cert ? `${cert.type} ` : ""}${key.type} ${fingerprint}${bound ? " (host-bound)" : ""}`
    yield* Caller.log(caller, LogLevel.Debug, `Offering public key: ${offered}`, parent)
    return yield* request(caller, now, parent, {
      username,
      method,
      fill: (w) => hostKeyField(w.boolean(false).string(algorithm).string(blob)),
      onMethodMessage: function*(message, span): Steps<MethodStep, AuthError> {
        // 60 in reply to a query is PK_OK, naming the algorithm and key we asked about.
        if (message[0] !== 60) return Exit.fail(only60Error(message, method, username))
        const ok = decode(message, (r) => (r.byte(), { algorithm: r.text("algorithm"), blob: r.string("public key") }))
        if (Either.isLeft(ok)) return Exit.fail(authError("ProtocolError", ok.left.message))
        if (ok.right.algorithm !== algorithm || Buffer.compare(ok.right.blob, blob) !== 0) {
          return Exit.fail(authError("ProtocolError", `PK_OK names ${show(ok.right.algorithm, 64)}, not the ${algorithm} key we offered`))
        }
        yield* Caller.log(caller, LogLevel.Debug, `Server accepts key: ${offered}`, span)
        const signature = yield* sign(span)
        if (Exit.isFailure(signature)) return failed(signature)
        yield* Conversation.send(encode((w) => w.raw(signedBody).string(signature.value)))
        return Exit.succeed<MethodStep>({ _tag: "Continue" })
      }
    })
  }

  const requests = (caller: Caller.Caller, now: () => number): Requests => ({
    request: (parent, username, method, fill, onMethodMessage) =>
      request(caller, now, parent, { username, method, fill, ...(onMethodMessage ? { onMethodMessage } : {}) }),
    none: (parent, username) => request(caller, now, parent, { username, method: "none", fill: () => {} }),
    publicKey: (parent, username, signer, options) => publicKey(caller, now, parent, username, signer, options)
  })

  /**
   * Runs `run` as this handler's requests, in one conversation: under the lock, after the
   * ssh-userauth service. A server that stopped answering ends the connection for good. A
   * run cut short (the connection's end, an interruption) ends the spans it left open.
   */
  const converse = <A, E, R>(
    run: (requests: Requests, caller: Caller.Caller) => Steps<A, E>
  ): Effect.Effect<A, E | AuthHandlerError | Disconnected, R> =>
    locked(Effect.suspend((): Effect.Effect<A, E | AuthHandlerError | Disconnected, R> => {
      if (broken) return Effect.fail(broken)
      return Effect.zipRight(
        requestServiceHeld,
        Effect.flatMap(Caller.capture, (caller) =>
          Effect.onExit(
            Conversation.run(transport, Conversation.make<A, E, R>((now) => run(requests(caller, now), caller))),
            (exit) => {
              if (Exit.isSuccess(exit)) return Effect.void
              caller.endOpen(exit)
              const error = Cause.failureOption(exit.cause)
              return Option.isSome(error) ? breakOn(error.value) : Effect.void
            }
          ))
      )
    }))

  const sendAuthRequest = <E, R>(
    username: string,
    method: string,
    fill: (w: Writer) => void,
    onMethodMessage?: (message: Uint8Array) => Effect.Effect<MethodStep, E, R>
  ): Effect.Effect<AuthOutcome, AuthHandlerError | Exclude<E, Disconnected>, R> =>
    disconnectAsOutcome(converse<AuthOutcome, AuthHandlerError | E, R>((requests, caller) =>
      requests.request(
        caller.span,
        username,
        method,
        fill,
        onMethodMessage && ((message, span) => Conversation.callExit(underSpan(onMethodMessage(message), span)))
      )
    ))

  const handler: AuthHandler = {
    banners: Effect.sync(() => [...banners]),
    bannersDropped: Effect.sync(() => ({ ...dropped })),
    get allowedMethods() {
      return allowed
    },
    sendAuthRequest,

    none: (username) => disconnectAsOutcome(converse((requests, caller) => requests.none(caller.span, username))),

    password: (username, password, changePassword) =>
      sendAuthRequest(
        username,
        "password",
        (w) => w.boolean(false).string(Redacted.value(password)),
        (message) =>
          Effect.gen(function*() {
            // 60 in reply to password is PASSWD_CHANGEREQ (RFC 4252 §8).
            yield* only60(message, "password", username)
            const prompt = yield* Either.mapLeft(
              decode(message, (r) => (r.byte(), r.text("prompt"))),
              (e) => new AuthError({ reason: "ProtocolError", method: "password", username, detail: e.message })
            )
            if (!changePassword) return yield* new PasswordChangeRequired({ username, prompt })
            const next = yield* changePassword(prompt)
            yield* transport.send(
              encode((w) =>
                w.byte(MessageNumber.USERAUTH_REQUEST).string(username).string(SERVICE).string("password").boolean(true)
                  .string(Redacted.value(password)).string(Redacted.value(next))
              )
            )
            return { _tag: "Continue" } as const
          })
      ),

    publicKey: (username, signer, options) => disconnectAsOutcome(converse((requests, caller) => requests.publicKey(caller.span, username, signer, options))),

    converse,

    keyboardInteractive: (username, responder, submethods = "") =>
      sendAuthRequest(
        username,
        "keyboard-interactive",
        (w) => w.string("").string(submethods),
        (message) =>
          Effect.gen(function*() {
            yield* only60(message, "keyboard-interactive", username)
            const request = yield* Either.mapLeft(
              decode(message, (r): InteractiveRequest => {
                r.byte()
                const name = r.text("name")
                const instruction = r.text("instruction")
                r.text("language tag")
                const count = r.uint32("num-prompts")
                if (count > 64) r.fail("num-prompts", `${count} prompts is more than we answer`)
                const prompts = Array.from({ length: count }, () => ({ prompt: r.text("prompt"), echo: r.boolean("echo") }))
                return { name, instruction, prompts }
              }),
              (e) => new AuthError({ reason: "ProtocolError", method: "keyboard-interactive", username, detail: e.message })
            )
            const responses = yield* responder(request)
            if (responses.length !== request.prompts.length) {
              return yield* new AuthError({
                reason: "ResponseCountMismatch",
                method: "keyboard-interactive",
                username,
                detail: `${request.prompts.length} prompts but ${responses.length} responses`
              })
            }
            yield* transport.send(
              encode((w) => {
                w.byte(MessageNumber.USERAUTH_INFO_RESPONSE).uint32(responses.length)
                for (const r of responses) w.string(Redacted.value(r))
              })
            )
            return { _tag: "Continue" } as const
          })
      ),

    gssapiWithMic: (username, initiator) =>
      disconnectAsOutcome(GssapiExchange.run({ sendAuthRequest, send: transport.send, sessionId: transport.sessionId }, username, initiator))
  }
  return handler
}

/**
 * The handler with default options.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<AuthHandler, never, Transport> = makeWith({})

/**
 * The handler over the `Transport` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<AuthHandler, never, Transport> = Layer.effect(AuthHandler, make)

/**
 * The handler with options, such as a banner callback.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWith = (options: AuthHandlerOptions): Layer.Layer<AuthHandler, never, Transport> => Layer.effect(AuthHandler, makeWith(options))

/**
 * Gives an effect (an `AuthStrategy.authenticate`, say) the handler over `transport`,
 * without building a Layer: for a connection opened per login. The handler is the one
 * `layer` makes; building a Layer and providing it costs ≈ 0.8 ms of CPU per login
 * (bench/RESULTS.md, session 11).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as AuthStrategy from "effect-ssh-auth/AuthStrategy"
 * import * as AuthHandler from "effect-ssh-auth/handler/AuthHandler"
 * import { NoneAuth } from "effect-ssh-auth/sources/NoneAuth"
 * import * as Scripted from "effect-ssh-auth/transport/ScriptedTransport"
 *
 * const login = Effect.gen(function*() {
 *   // Any Transport: makeTcp's connection, or here a scripted server that lets "none" in.
 *   const transport = yield* Scripted.makeScripted({ steps: [{ reply: [Scripted.success] }] })
 *   return yield* AuthStrategy.authenticate(AuthStrategy.make(new NoneAuth({ username: "alice" }))).pipe(
 *     AuthHandler.provide(transport)
 *   )
 * })
 *
 * Effect.runPromise(login).then((result) => assert.ok(result.succeeded))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const provide: {
  (transport: Transport, options?: AuthHandlerOptions): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, Exclude<R, AuthHandler>>
  <A, E, R>(self: Effect.Effect<A, E, R>, transport: Transport, options?: AuthHandlerOptions): Effect.Effect<A, E, Exclude<R, AuthHandler>>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(self: Effect.Effect<A, E, R>, transport: Transport, options: AuthHandlerOptions = {}) =>
    // The handler is built synchronously from the transport at hand: one service provided, not two.
    Effect.suspend(() => Effect.provideService(self, AuthHandler, handlerOver(transport, options)))
)

/**
 * @since 0.1.0
 * @category models
 */
export interface TcpLayerOptions extends Omit<TcpTransport.TcpOptions, "hostKeyPolicy"> {
  /** The server's host key: SHA256 fingerprints to pin, or a policy. There is no default on purpose. */
  readonly hostKey: HostKeyPolicy.HostKey
  /** The handler's own options: banners, reply timeout. */
  readonly handler?: AuthHandlerOptions
}

/**
 * The common case in one call: a TCP connection to `host`, its host key checked, and the
 * handler over it. Provides the `Transport` too, for what comes after authentication; the
 * connection lives as long as the layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerTcp = (
  { handler, hostKey, ...tcp }: TcpLayerOptions
): Layer.Layer<AuthHandler | Transport, TransportFailure | HostKeyPolicy.HostKeyRejected> =>
  Layer.provideMerge(
    layerWith(handler ?? {}),
    // Loaded when the layer is built: the handler alone (over a scripted transport, say)
    // loads no socket or key-exchange code.
    Layer.unwrapEffect(Effect.map(
      Effect.promise(() => import("../transport/TcpTransport.js")),
      (Tcp) => Tcp.layerTcp({ ...tcp, hostKeyPolicy: HostKeyPolicy.make(hostKey) })
    ))
  )
