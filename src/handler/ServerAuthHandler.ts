/**
 * The server's userauth handler (RFC 4252): it reads the client's requests over an
 * established server connection, runs each method against the application's `AuthPolicy`,
 * and ends with exactly the credentials that were proven, or a typed failure.
 *
 * What it holds to, with the CVE or complaint each comes from:
 * - **Dispatch by phase.** Only USERAUTH_REQUEST opens a step; 60–79 are read only by the
 *   method in flight (INFO_RESPONSE by keyboard-interactive); a USERAUTH_SUCCESS from the
 *   client (paramiko CVE-2018-1000805), a channel open or anything else ends the connection.
 * - **Offered is not proven** (Go CVE-2024-45337). A query gets PK_OK from `keyAcceptable`
 *   and nothing more; a key counts only after its signature over this session verified, with
 *   the algorithm checked against the key, and the policy's `keyProven` said yes. The result
 *   names that key, and only keys that passed both.
 * - **Limits as sshd has them.** MaxAuthTries with sshd's disconnect message; a cap on all
 *   requests (queries do not count as failures; Go's unbounded loop, golang/crypto@5adb68b);
 *   LoginGraceTime over the whole run, policy lookups included; a minimum time per failed
 *   attempt, doubled while the attempt took longer, so timing does not tell users apart.
 * - **Chains with partial success** (AuthenticationMethods): a method that completes part of
 *   a chain answers FAILURE with partial success and the methods that can follow.
 * - **gssapi-with-mic as sshd runs it** (RFC 4462 §3, auth2-gss.c), offered only when
 *   `gssapi` is configured: the Kerberos V5 mechanism or nothing; TOKEN rounds into the
 *   acceptor, bounded in size and number; then a MIC over this session (EXCHANGE_COMPLETE
 *   only for a context without integrity, which Kerberos never makes), and only then the
 *   policy's `gssapiPrincipal`. A failed acceptor step sends its error token as ERRTOK, as
 *   sshd does, and never GSSAPI_ERROR: the library's words stay in the attempt's record.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { CurvesImpl } from "../crypto/Curves.js"
import * as Gssapi from "../gssapi/Gssapi.js"
import * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import {
  AuthPolicy,
  type AuthPolicyService,
  type ClientInfo,
  gssapiKuserok,
  type InteractiveStep,
  type KeyOffer,
  type LoginRestrictions,
  type MethodName,
  type PrincipalOffer
} from "../server/AuthPolicy.js"
import { type Authenticated, type ProvenCredential, ServerAttempt, ServerAuthFailure } from "../server/ServerAuthResult.js"
import type { ServerConnection } from "../transport/ServerHandshake.js"
import type { TransportFailure } from "../transport/TransportError.js"
import { DisconnectReason, MessageNumber } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import { decode, type Reader } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { micData } from "./GssapiExchange.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerAuthOptions {
  /** sshd's MaxAuthTries: failed attempts before the connection is cut. Default 6. */
  readonly maxAuthTries?: number
  /** sshd's LoginGraceTime: the whole run. Default 120 s. (`Server.listen` counts it from the connection.) */
  readonly loginGraceTime?: Duration.DurationInput
  /** The least time a failed attempt takes. Default 10 ms. */
  readonly failureFloor?: Duration.DurationInput
  /** Requests of any kind before the connection is cut. Default 128. */
  readonly maxRequests?: number
  /** Signature algorithms accepted for publickey (sshd's PubkeyAcceptedAlgorithms). Default: every one we verify but ssh-rsa. */
  readonly acceptedAlgorithms?: ReadonlyArray<string>
  /** Keyboard-interactive rounds in one conversation. Default 16. */
  readonly maxInteractiveRounds?: number
  /** Sees every attempt as it is decided: the audit trail (sshd's log lines, JSON, spans). */
  readonly onAttempt?: (attempt: ServerAttempt) => Effect.Effect<void>
  /**
   * gssapi-with-mic (sshd's GSSAPIAuthentication): offered where the policy's chains name
   * it, and only when this is given. The GSS-API is the `Gssapi` service in context, or
   * else the system's MIT Kerberos, loaded at the first request; where it cannot be loaded
   * the method fails with the reason (recorded), and the connection goes on.
   */
  readonly gssapi?: GssapiServerOptions
}

/**
 * The acceptor's settings for gssapi-with-mic.
 *
 * @since 0.1.0
 * @category models
 */
export interface GssapiServerOptions {
  /** The keytab holding `host/<name>` (`FILE:/etc/krb5.keytab`); default the library's (`KRB5_KTNAME`, then /etc/krb5.keytab). */
  readonly keytab?: string
  /** Bytes in one token or MIC from the client. Default 65536 (an Active Directory ticket with a large PAC stays within it). */
  readonly maxTokenBytes?: number
  /** TOKEN messages in one exchange. Default 16 (Kerberos needs one). */
  readonly maxRounds?: number
}

/**
 * Every signature algorithm the handler verifies, as `server-sig-algs` lists them.
 *
 * @since 0.1.0
 * @category constants
 */
export const verifiedAlgorithms: ReadonlyArray<string> = [
  "ssh-ed25519",
  "sk-ssh-ed25519@openssh.com",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "rsa-sha2-512",
  "rsa-sha2-256"
]

const SERVICE = "ssh-connection"

/** Mechanisms in one gssapi-with-mic request, and bytes in one of their OIDs. */
const MAX_MECHANISMS = 64
const MAX_OID_BYTES = 64

/**
 * sshd's default LoginGraceTime.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLoginGraceTime: Duration.DurationInput = "120 seconds"

/** `failureFloor`'s default (10 ms) as a number, not a string parsed per connection. */
const defaultFailureFloorMillis = 10

/** What a method's run comes to, before the chain bookkeeping. */
type MethodResult =
  | { readonly _tag: "Proven"; readonly credential: ProvenCredential; readonly key?: ServerAttempt["key"]; readonly detail?: string }
  | {
    readonly _tag: "Failed"
    readonly detail: string
    readonly key?: ServerAttempt["key"]
    readonly query?: true
    /** The client left the method for a new request: no reply to it, and no failure counted (as sshd). */
    readonly abandoned?: true
    /** The server could not run the method (sshd's server_caused_failure): no failure counted. */
    readonly serverCaused?: true
  }
  /** Answered without a verdict (PK_OK, a password change request): no failure counted. */
  | { readonly _tag: "Postponed"; readonly outcome: "KeyAcceptable" | "ChangeRequested"; readonly key?: ServerAttempt["key"] }

interface Request {
  readonly user: string
  readonly service: string
  readonly method: string
  /** The method-specific fields. */
  readonly body: Uint8Array
  /** The whole payload, for what a signature covers. */
  readonly payload: Uint8Array
}

/** A protocol violation: the connection is cut with this text. */
class Violation {
  readonly _tag = "Violation"
  constructor(readonly detail: string) {}
}

const keyRecord = (key: PublicKey.PublicKey, cert?: Certificate.Certificate): NonNullable<ServerAttempt["key"]> => ({
  type: PublicKey.typeLabel(key),
  fingerprint: PublicKey.fingerprintSha256(key),
  ...(cert ? { certificate: { keyId: cert.keyId, serial: String(cert.serial), caFingerprint: PublicKey.fingerprintSha256(cert.signatureKey) } } : {})
})

/** Transport failures that are the client's breach of the protocol. */
const violations: ReadonlySet<string> = new Set(["ProtocolError", "BadPacket", "PacketTooLarge", "MacError", "VersionExchange", "KexFailed"])

/**
 * How a connection ends that failed before authentication completed, in the server's
 * words: the client's DISCONNECT, its breach of the protocol (a message out of phase, a
 * packet too large or that does not authenticate), a step it was too slow for (as sshd,
 * one reason for every pre-authentication timeout: LoginGraceTime; the detail names the
 * step), or a lost connection.
 *
 * @since 0.1.0
 * @category errors
 */
export const transportFailure = (e: TransportFailure, attempts: ReadonlyArray<ServerAttempt> = [], user?: string): ServerAuthFailure =>
  new ServerAuthFailure({
    reason: e._tag === "Disconnected"
      ? "ClientDisconnected"
      : violations.has(e.reason)
      ? "ProtocolViolation"
      : e.reason === "Timeout"
      ? "LoginGraceTime"
      : "ConnectionLost",
    detail: e._tag === "Disconnected" ? `the client disconnected: ${show(e.description, 128)}` : e.message,
    attempts: [...attempts],
    ...(user !== undefined ? { user } : {})
  })

/**
 * The methods that may come next: the next step of every chain that the completed ones begin.
 *
 * @since 0.1.0
 */
export const nextMethods = (chains: ReadonlyArray<ReadonlyArray<MethodName>>, completed: ReadonlyArray<MethodName>): Array<MethodName> => {
  const next: Array<MethodName> = []
  for (const chain of chains) {
    if (chain.length <= completed.length || !completed.every((m, i) => chain[i] === m)) continue
    const method = chain[completed.length]
    if (!next.includes(method)) next.push(method)
  }
  return next
}

const chainComplete = (chains: ReadonlyArray<ReadonlyArray<MethodName>>, completed: ReadonlyArray<MethodName>): boolean =>
  chains.some((chain) => chain.length === completed.length && chain.every((m, i) => completed[i] === m))

/**
 * Runs userauth to the end over `connection`: the authenticated user and proven credentials,
 * or a `ServerAuthFailure` after the connection was cut.
 *
 * @since 0.1.0
 * @category running
 */
export const authenticate = (
  connection: ServerConnection,
  options: ServerAuthOptions = {}
): Effect.Effect<Authenticated, ServerAuthFailure, AuthPolicy> =>
  Effect.gen(function*() {
    const policy = yield* AuthPolicy
    const curves = yield* CurvesImpl
    const maxAuthTries = options.maxAuthTries ?? 6
    const maxRequests = options.maxRequests ?? 128
    const maxRounds = options.maxInteractiveRounds ?? 16
    const floorMillis = options.failureFloor === undefined ? defaultFailureFloorMillis : Duration.toMillis(options.failureFloor)
    const graceMillis = Duration.toMillis(options.loginGraceTime ?? defaultLoginGraceTime)
    const accepted = options.acceptedAlgorithms ?? verifiedAlgorithms
    const client: ClientInfo = {
      address: connection.clientAddress,
      port: connection.clientPort,
      clientIdentification: connection.clientIdentification,
      sessionId: connection.sessionId
    }
    const now = yield* Clock.currentTimeMillis
    const deadline = now + graceMillis

    const attempts: Array<ServerAttempt> = []
    const credentials: Array<ProvenCredential> = []
    const completed: Array<MethodName> = []
    let user: string | undefined
    let chains: ReadonlyArray<ReadonlyArray<MethodName>> = []
    let failures = 0
    let requests = 0
    let firstRequest = true
    /** A request that arrived in the middle of a conversation, and ended it. */
    let pushedBack: Uint8Array | undefined

    const end = (reason: ServerAuthFailure["reason"], detail: string) =>
      new ServerAuthFailure({ reason, detail, attempts: [...attempts], ...(user !== undefined ? { user } : {}) })
    const cut = (reason: ServerAuthFailure["reason"], code: number, description: string) =>
      Effect.zipRight(connection.disconnect(code, description), Effect.fail(end(reason, description)))
    const lost = (e: TransportFailure) => transportFailure(e, attempts, user)

    /** The next message, within LoginGraceTime. */
    const next: Effect.Effect<Uint8Array, ServerAuthFailure> = Effect.suspend(() => {
      if (pushedBack !== undefined) {
        const message = pushedBack
        pushedBack = undefined
        return Effect.succeed(message)
      }
      return Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.catchAll(connection.receiveWithin(Math.max(0, deadline - now)), (e) =>
          e._tag === "TransportError" && e.reason === "Timeout"
            ? cut("LoginGraceTime", DisconnectReason.BY_APPLICATION, "Timeout before authentication")
            : Effect.fail(lost(e))))
    })
    const send = (payload: Uint8Array) =>
      Effect.mapError(connection.send(payload), lost)

    const parseRequest = (payload: Uint8Array): Either.Either<Request, Violation> => {
      switch (payload[0]) {
        case MessageNumber.USERAUTH_REQUEST:
          return Either.mapLeft(
            decode(payload, (r) => {
              r.byte()
              const user = r.text("user name")
              const service = r.text("service name")
              const method = r.text("method name")
              return { user, service, method, body: r.rest(), payload }
            }),
            (e) =>
              new Violation(`malformed USERAUTH_REQUEST: ${e.message}`)
          )
        case MessageNumber.USERAUTH_SUCCESS:
          return Either.left(new Violation("a client may not send USERAUTH_SUCCESS"))
        default:
          return Either.left(new Violation(`message ${payload[0]} before authentication`))
      }
    }

    /** Decodes a method's fields; a malformed body is the client's violation. */
    const fields = <A>(request: Request, parse: (r: Reader) => A): Effect.Effect<A, Violation> =>
      Either.match(
        decode(request.body, (r) => {
          const value = parse(r)
          r.end(`${request.method} request`)
          return value
        }),
        {
          onLeft: (e) => Effect.fail(new Violation(`malformed ${request.method} request: ${e.message}`)),
          onRight: Effect.succeed
        }
      )

    // ---- the methods ----

    const publicKey = (request: Request, hostBound: boolean): Effect.Effect<MethodResult, Violation | ServerAuthFailure> =>
      Effect.gen(function*() {
        const parsed = yield* fields(request, (r) => {
          const signed = r.boolean("has signature")
          const algorithm = r.text("public key algorithm")
          const blob = r.string("public key blob")
          const hostKeyBlob = hostBound ? r.string("server host key") : undefined
          const signature = signed ? r.string("signature") : undefined
          return { algorithm, blob, hostKeyBlob, signature }
        })
        const { algorithm, blob, hostKeyBlob, signature } = parsed
        const certified = Certificate.isCertificateType(algorithm)
        const signatureAlgorithm = certified ? Certificate.signatureAlgorithmOf(algorithm) : algorithm
        const decoded: Either.Either<{ key: PublicKey.PublicKey; cert: Certificate.Certificate | undefined }, { message: string }> = certified
          ? Either.map(Certificate.fromBlob(blob), (cert) => ({ key: cert.key, cert }))
          : Either.map(PublicKey.fromBlob(blob), (key) => ({ key, cert: undefined }))
        if (Either.isLeft(decoded)) return { _tag: "Failed", detail: `unreadable key: ${decoded.left.message}` } as const
        const { cert, key } = decoded.right
        const record = keyRecord(key, cert)
        const failed = (detail: string): MethodResult => ({ _tag: "Failed", detail, key: record })
        // The declared algorithm must be one this key makes (golang/crypto@c5370d2), and one we accept.
        if (!PublicKey.algorithmsFor(key).includes(signatureAlgorithm)) {
          return failed(`${show(algorithm, 64)} does not match a ${key.type} key`)
        }
        if (!accepted.includes(signatureAlgorithm)) return failed(`${show(algorithm, 64)} is not accepted`)
        if (hostKeyBlob !== undefined && !connection.hostKeys.some((k) => Buffer.compare(k.blob, hostKeyBlob) === 0)) {
          return failed("the host-bound request names a host key that is not ours")
        }
        const offer: KeyOffer = { user: request.user, key, ...(cert ? { certificate: cert } : {}), algorithm: signatureAlgorithm, client }
        if (signature === undefined) {
          const acceptable = policy.keyAcceptable ? yield* policy.keyAcceptable(offer) : false
          if (!acceptable) return { _tag: "Failed", detail: "key not acceptable", key: record, query: true } as const
          yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_PK_OK).string(algorithm).string(blob)))
          return { _tag: "Postponed", outcome: "KeyAcceptable", key: record } as const
        }
        // RFC 4252 §7: the session identifier, then the request up to its signature.
        const signedLength = request.payload.length - (4 + signature.length)
        const signedData = encode((w) => w.string(connection.sessionId).raw(request.payload.subarray(0, signedLength)))
        const verified = PublicKey.verify(curves, key, signature, signedData, [signatureAlgorithm])
        if (Either.isLeft(verified)) return failed(`bad signature: ${verified.left.message}`)
        if (!verified.right) return failed("the signature does not verify")
        const grant = policy.keyProven ? yield* policy.keyProven(offer) : Option.none()
        if (Option.isNone(grant)) return failed("key not authorized")
        return {
          _tag: "Proven",
          key: record,
          credential: {
            _tag: "PublicKey",
            key: record,
            algorithm: signatureAlgorithm,
            source: grant.value.source,
            ...(grant.value.restrictions ? { restrictions: grant.value.restrictions } : {})
          }
        } as const
      })

    const password = (request: Request): Effect.Effect<MethodResult, Violation | ServerAuthFailure> =>
      Effect.gen(function*() {
        const { change, current, replacement } = yield* fields(request, (r) => {
          const change = r.boolean("change")
          const current = Redacted.make(r.text("password"))
          const replacement = change ? Redacted.make(r.text("new password")) : undefined
          return { change, current, replacement }
        })
        const verdict = replacement === undefined
          ? policy.password ? yield* policy.password(request.user, current, client) : { _tag: "Rejected" as const }
          : policy.changePassword
          ? yield* policy.changePassword(request.user, current, replacement, client)
          : { _tag: "Rejected" as const }
        switch (verdict._tag) {
          case "Accepted":
            return { _tag: "Proven", credential: { _tag: "Password" } } as const
          case "Rejected":
            return { _tag: "Failed", detail: change ? "password change refused" : "wrong password" } as const
          case "ChangeRequired":
            yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_PASSWD_CHANGEREQ).string(verdict.prompt).string("")))
            return { _tag: "Postponed", outcome: "ChangeRequested" } as const
        }
      })

    const keyboardInteractive = (request: Request): Effect.Effect<MethodResult, Violation | ServerAuthFailure> =>
      Effect.gen(function*() {
        const { submethods } = yield* fields(request, (r) => ({ language: r.text("language tag"), submethods: r.text("submethods") }))
        const conversation = policy.keyboardInteractive ? yield* policy.keyboardInteractive(request.user, submethods, client) : Option.none()
        if (Option.isNone(conversation)) return { _tag: "Failed", detail: "no conversation for this user" } as const
        let step: InteractiveStep = yield* conversation.value.start
        for (let round = 0; round < maxRounds; round++) {
          if (step._tag === "Accepted") return { _tag: "Proven", credential: { _tag: "KeyboardInteractive" } } as const
          if (step._tag === "Rejected") return { _tag: "Failed", detail: "keyboard-interactive refused" } as const
          const { instruction, name, prompts } = step.round
          yield* send(encode((w) => {
            w.byte(MessageNumber.USERAUTH_INFO_REQUEST).string(name).string(instruction).string("").uint32(prompts.length)
            for (const p of prompts) w.string(p.prompt).boolean(p.echo)
          }))
          const reply = yield* next
          if (reply[0] === MessageNumber.USERAUTH_REQUEST) {
            // RFC 4256 §3.4 lets a client give up on the conversation with a new request.
            pushedBack = reply
            return { _tag: "Failed", detail: "keyboard-interactive abandoned", abandoned: true } as const
          }
          if (reply[0] !== MessageNumber.USERAUTH_INFO_RESPONSE) return yield* Effect.fail(new Violation(`message ${reply[0]} where INFO_RESPONSE belongs`))
          const responses = yield* Either.match(
            decode(reply, (r) => {
              r.byte()
              const count = r.uint32("num-responses")
              if (count !== prompts.length) r.fail("num-responses", `${count} responses to ${prompts.length} prompts`)
              const out = Array.from({ length: count }, () => Redacted.make(r.text("response")))
              r.end("INFO_RESPONSE")
              return out
            }),
            { onLeft: (e) => Effect.fail(new Violation(`malformed INFO_RESPONSE: ${e.message}`)), onRight: Effect.succeed }
          )
          step = yield* conversation.value.answer(responses)
        }
        return { _tag: "Failed", detail: `more than ${maxRounds} keyboard-interactive rounds` } as const
      })

    const gssapiWithMic = (request: Request, settings: GssapiServerOptions): Effect.Effect<MethodResult, Violation | ServerAuthFailure> =>
      Effect.gen(function*() {
        const maxTokenBytes = settings.maxTokenBytes ?? 65536
        const maxTokenRounds = settings.maxRounds ?? 16
        const offered = yield* fields(request, (r) => {
          const count = r.uint32("number of mechanisms")
          // As sshd: too many is a failure, not a breach; the rest is not read.
          if (count > MAX_MECHANISMS) return (r.rest(), { count, chosen: undefined })
          let chosen: Uint8Array | undefined
          for (let i = 0; i < count; i++) {
            const oid = r.string("mechanism OID")
            // A DER OID: tag 0x06 and its length; a malformed one is passed over, as sshd does.
            const wellFormed = oid.length > 2 && oid.length <= MAX_OID_BYTES && oid[0] === 0x06 && oid[1] === oid.length - 2
            if (chosen === undefined && wellFormed && Buffer.compare(oid, Gssapi.krb5MechanismDer) === 0) chosen = oid
          }
          return { count, chosen }
        })
        if (offered.count === 0) return { _tag: "Failed", detail: "no mechanism offered (negotiation is not supported)" } as const
        if (offered.count > MAX_MECHANISMS) return { _tag: "Failed", detail: `${offered.count} mechanisms offered (at most ${MAX_MECHANISMS})` } as const
        const mechanism = offered.chosen
        if (mechanism === undefined) return { _tag: "Failed", detail: "no mechanism we support (Kerberos V5) was offered", serverCaused: true } as const
        const service = yield* Effect.either(Gssapi.current)
        if (Either.isLeft(service)) return { _tag: "Failed", detail: service.left.message, serverCaused: true } as const
        return yield* Effect.scoped(Effect.gen(function*() {
          const made = yield* Effect.either(service.right.acceptor(settings.keytab !== undefined ? { keytab: settings.keytab } : {}))
          if (Either.isLeft(made)) return { _tag: "Failed", detail: made.left.message, serverCaused: true } as const
          const acceptor = made.right
          yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_RESPONSE).string(mechanism)))

          let complete = false
          let rounds = 0
          /** The principal, once the context is established, for the record. */
          let principal: string | undefined
          const failed = (detail: string): MethodResult => ({
            _tag: "Failed",
            detail: principal === undefined ? detail : `${detail} (principal ${show(principal, 128)})`
          })
          const parse = <A>(message: Uint8Array, name: string, f: (r: Reader) => A): Effect.Effect<A, Violation> =>
            Either.match(
              decode(message, (r) => {
                r.byte()
                const value = f(r)
                r.end(name)
                return value
              }),
              { onLeft: (e) => Effect.fail(new Violation(`malformed ${name}: ${e.message}`)), onRight: Effect.succeed }
            )
          const authorize = Effect.gen(function*() {
            if (principal === undefined) return failed("the client's name is unknown")
            const offer: PrincipalOffer = {
              user: request.user,
              principal,
              client,
              kuserok: Effect.orElseSucceed(acceptor.userOk(request.user), () => false),
              localName: Effect.orElseSucceed(acceptor.localName, () => Option.none())
            }
            const grant = yield* (policy.gssapiPrincipal ?? gssapiKuserok)(offer)
            if (Option.isNone(grant)) return failed(`not authorized for ${show(request.user, 64)}`)
            return {
              _tag: "Proven",
              credential: { _tag: "Gssapi", principal, source: grant.value.source },
              detail: `principal ${show(principal, 128)} (${grant.value.source})`
            } as const
          })

          // Bounded: every turn returns but a TOKEN, and TOKENs are counted.
          while (true) {
            const message = yield* next
            switch (message[0]) {
              case MessageNumber.USERAUTH_REQUEST:
                // A new request ends the exchange, as in sshd: no reply to this one, no failure counted.
                pushedBack = message
                return { _tag: "Failed", detail: "gssapi-with-mic abandoned", abandoned: true } as const
              case MessageNumber.USERAUTH_GSSAPI_TOKEN: {
                const token = yield* parse(message, "GSSAPI_TOKEN", (r) => r.string("token"))
                if (complete) return failed("a GSSAPI_TOKEN after the context was established")
                if (token.length > maxTokenBytes) return failed(`a GSSAPI token of ${token.length} bytes (at most ${maxTokenBytes})`)
                if (++rounds > maxTokenRounds) return failed(`more than ${maxTokenRounds} GSSAPI token rounds`)
                const stepped = yield* Effect.either(acceptor.step(token))
                if (Either.isLeft(stepped)) {
                  const { errorToken } = stepped.left
                  if (errorToken !== undefined) yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_ERRTOK).string(errorToken)))
                  return failed(stepped.left.message)
                }
                if (stepped.right.token !== undefined) {
                  const reply = stepped.right.token
                  yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_TOKEN).string(reply)))
                }
                if (stepped.right.complete) {
                  complete = true
                  const name = yield* Effect.either(acceptor.clientName)
                  if (Either.isLeft(name)) return failed(name.left.message)
                  principal = name.right
                }
                continue
              }
              case MessageNumber.USERAUTH_GSSAPI_ERRTOK: {
                // As sshd: the client's context failed; its token is read and the method ends.
                const token = yield* parse(message, "GSSAPI_ERRTOK", (r) => r.string("error token"))
                return failed(`the client's GSSAPI failed (an error token of ${token.length} bytes)`)
              }
              case MessageNumber.USERAUTH_GSSAPI_MIC: {
                const mic = yield* parse(message, "GSSAPI_MIC", (r) => r.string("MIC"))
                if (!complete) return failed("a GSSAPI_MIC before the context was established")
                if (mic.length > maxTokenBytes) return failed(`a MIC of ${mic.length} bytes (at most ${maxTokenBytes})`)
                const verified = yield* Effect.either(acceptor.verifyMic(micData(connection.sessionId, request.user), mic))
                if (Either.isLeft(verified)) return failed(`the MIC does not verify: ${verified.left.message}`)
                return yield* authorize
              }
              case MessageNumber.USERAUTH_GSSAPI_EXCHANGE_COMPLETE: {
                yield* parse(message, "GSSAPI_EXCHANGE_COMPLETE", () => undefined)
                if (!complete) return failed("a GSSAPI_EXCHANGE_COMPLETE before the context was established")
                // sshd accepts it only from a context without integrity, where no MIC can be made.
                if (yield* acceptor.integrity) return failed("GSSAPI_EXCHANGE_COMPLETE refused: the context protects integrity, so a MIC is required")
                return yield* authorize
              }
              default:
                return yield* Effect.fail(new Violation(`message ${message[0]} where a gssapi-with-mic message belongs`))
            }
          }
        }))
      })

    const runMethod = (request: Request, allowed: ReadonlyArray<MethodName>): Effect.Effect<MethodResult, Violation | ServerAuthFailure> => {
      const method = request.method
      const known = method === "publickey-hostbound-v00@openssh.com" ? "publickey" : method
      if (known !== "none" && !allowed.includes(known as MethodName)) {
        return Effect.succeed({ _tag: "Failed", detail: `method ${show(method, 64)} not offered` })
      }
      switch (method) {
        case "none":
          // Only an empty chain lets "none" in (a server with no authentication at all).
          return Effect.succeed(
            chainComplete(chains, completed)
              ? { _tag: "Proven", credential: { _tag: "None" } }
              : { _tag: "Failed", detail: "none is not enough" }
          )
        case "publickey":
          return publicKey(request, false)
        case "publickey-hostbound-v00@openssh.com":
          return publicKey(request, true)
        case "password":
          return password(request)
        case "keyboard-interactive":
          return keyboardInteractive(request)
        case "gssapi-with-mic":
          // Offered only when configured: `allowed` never names it otherwise.
          return options.gssapi ? gssapiWithMic(request, options.gssapi) : Effect.succeed({ _tag: "Failed", detail: "gssapi-with-mic not offered" })
        default:
          return Effect.succeed({ _tag: "Failed", detail: `method ${show(method, 64)} not supported` })
      }
    }

    /** Waits out the rest of the failure floor, doubled while the attempt took longer. */
    const failureDelay = (since: number) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const elapsed = now - since
        let floor = floorMillis
        // Bounded: the floor doubles past any elapsed time within ~40 steps.
        for (let i = 0; i < 64 && floor <= elapsed; i++) floor *= 2
        return floor > elapsed ? Effect.sleep(floor - elapsed) : Effect.void
      })

    const failure = (partial: boolean) => send(encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).nameList(nextMethods(chains, completed)).boolean(partial)))

    // ---- the loop: one request per turn, bounded by maxRequests ----
    const run: Effect.Effect<Authenticated, ServerAuthFailure> = Effect.gen(function*() {
      while (requests < maxRequests) {
        const payload = yield* next
        const begun = yield* Clock.currentTimeMillis
        const parsed = parseRequest(payload)
        if (Either.isLeft(parsed)) return yield* cut("ProtocolViolation", DisconnectReason.PROTOCOL_ERROR, parsed.left.detail)
        const request = parsed.right
        requests++
        if (request.service !== SERVICE) {
          return yield* cut("ProtocolViolation", DisconnectReason.SERVICE_NOT_AVAILABLE, `service not available: ${show(request.service, 64)}`)
        }
        if (user !== undefined && request.user !== user) {
          return yield* cut("ProtocolViolation", DisconnectReason.PROTOCOL_ERROR, "change of user name not allowed")
        }
        if (firstRequest) {
          firstRequest = false
          user = request.user
          chains = yield* policy.methods(request.user, client)
          // A chain that needs gssapi-with-mic cannot complete here without an acceptor.
          if (options.gssapi === undefined) chains = chains.filter((chain) => !chain.includes("gssapi-with-mic"))
          const banner = policy.banner ? yield* policy.banner(request.user, client) : Option.none()
          if (Option.isSome(banner)) yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_BANNER).string(banner.value).string("")))
        }
        const outcome = yield* Effect.catchTag(
          runMethod(request, nextMethods(chains, completed)),
          "Violation",
          (v) => cut("ProtocolViolation", DisconnectReason.PROTOCOL_ERROR, v.detail)
        )
        const record = (o: ServerAttempt["outcome"], extra: { key?: ServerAttempt["key"]; detail?: string }) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const attempt = new ServerAttempt({
              method: request.method,
              user: request.user,
              outcome: o,
              ...(extra.key ? { key: extra.key } : {}),
              ...(extra.detail ? { detail: extra.detail } : {}),
              clientAddress: client.address,
              clientPort: client.port,
              durationMillis: now - begun
            }, true)
            attempts.push(attempt)
            return options.onAttempt ? options.onAttempt(attempt) : Effect.void
          })
        switch (outcome._tag) {
          case "Postponed":
            yield* record(outcome.outcome, outcome.key ? { key: outcome.key } : {})
            continue
          case "Proven": {
            const method = (request.method === "publickey-hostbound-v00@openssh.com" ? "publickey" : request.method) as MethodName
            if (method !== "none") completed.push(method)
            credentials.push(outcome.credential)
            const noted = { ...(outcome.key ? { key: outcome.key } : {}), ...(outcome.detail ? { detail: outcome.detail } : {}) }
            if (chainComplete(chains, completed)) {
              yield* record("Accepted", noted)
              yield* send(Uint8Array.of(MessageNumber.USERAUTH_SUCCESS))
              const restrictions: Array<LoginRestrictions> = []
              for (const c of credentials) if (c._tag === "PublicKey" && c.restrictions) restrictions.push(c.restrictions)
              return { user: request.user, methods: [...completed], credentials: [...credentials], attempts: [...attempts], restrictions }
            }
            yield* record("Partial", noted)
            yield* failure(true)
            continue
          }
          case "Failed": {
            yield* record(outcome.query ? "KeyRefused" : "Failed", { ...(outcome.key ? { key: outcome.key } : {}), detail: outcome.detail })
            // Its new request is answered instead; a FAILURE here would be taken as that answer.
            if (outcome.abandoned) continue
            // sshd does not count a first "none": clients ask it to learn the methods; nor
            // what the server could not run (server_caused_failure).
            if ((request.method !== "none" || requests > 1) && !outcome.serverCaused) failures++
            if (failures >= maxAuthTries) {
              return yield* cut("TooManyAttempts", DisconnectReason.PROTOCOL_ERROR, "Too many authentication failures")
            }
            if (request.method !== "none") yield* failureDelay(begun)
            yield* failure(false)
          }
        }
      }
      return yield* cut("TooManyAttempts", DisconnectReason.PROTOCOL_ERROR, "Too many authentication requests")
    })

    // Every wait on the client has the deadline. A slow policy call is not raced here (a
    // race of fibers per login costs more than the rest of the handler); `Server.listen`
    // holds the whole connection to LoginGraceTime with one timer instead, and the next
    // step after a call that outlived it finds the connection cut.
    return yield* run
  })

/**
 * A policy that offers nothing: every request fails. The base for `Layer`s that add hooks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyPolicy: AuthPolicyService = { methods: () => Effect.succeed([]) }
