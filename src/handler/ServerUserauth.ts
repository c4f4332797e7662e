/**
 * The server's userauth conversation (RFC 4252) without I/O, as the connection core is: a
 * generator that reads the client's requests, runs each method, and ends with the proven
 * credentials or the reason to cut the connection. What needs the world it yields as a
 * `Conversation` step for its driver: a message to send, the next message to wait for (with
 * its deadline), an application call (the policy, the GSS-API, the audit hook) as an Effect
 * to run, a pause. It runs nothing itself; its clock is injected.
 *
 * Two drivers run it: `ServerAuthHandler.authenticate`, by `Conversation.run` over a
 * `ServerConnection` (the caller's clock, TestClock included), and `Server.listen`, in the
 * connection's own callbacks, entering Effect only for the application's calls.
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
 *   LoginGraceTime on every wait for the client; a minimum time per failed attempt, doubled
 *   while the attempt took longer, so timing does not tell users apart.
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
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type { Curves } from "../crypto/Curves.js"
import * as Gssapi from "../gssapi/Gssapi.js"
import * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import {
  type AuthPolicyService,
  type ClientInfo,
  gssapiKuserok,
  type InteractiveStep,
  type KeyOffer,
  type LoginRestrictions,
  type MethodName,
  type PrincipalOffer
} from "../server/AuthPolicy.js"
import { type Authenticated, type ProvenCredential, ServerAttempt, type ServerAuthFailure } from "../server/ServerAuthResult.js"
import { call, type ConversationStep, receive, send, sleep } from "../transport/Conversation.js"
import { DisconnectReason, MessageNumber } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import { decode, type Reader } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { micData } from "./GssapiExchange.js"

/**
 * How the conversation ends: the login, or the connection cut with this code and text.
 *
 * @since 0.1.0
 * @category models
 */
export type UserauthOutcome =
  | { readonly _tag: "Authenticated"; readonly result: Authenticated }
  | UserauthCut

/**
 * The connection cut with this code and text, for this reason.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserauthCut {
  readonly _tag: "Cut"
  readonly reason: ServerAuthFailure["reason"]
  readonly code: number
  readonly detail: string
}

/**
 * The limits and hooks of one run, as `ServerAuthOptions` gives them, with defaults applied.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserauthSettings {
  readonly maxAuthTries: number
  readonly maxRequests: number
  readonly maxInteractiveRounds: number
  readonly failureFloorMillis: number
  readonly graceMillis: number
  readonly acceptedAlgorithms: ReadonlyArray<string>
  readonly onAttempt?: ((attempt: ServerAttempt) => Effect.Effect<void>) | undefined
  readonly gssapi?: { readonly keytab?: string; readonly maxTokenBytes?: number; readonly maxRounds?: number } | undefined
}

/**
 * What the conversation knows of its connection.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserauthContext {
  readonly policy: AuthPolicyService
  readonly curves: Curves
  readonly client: ClientInfo
  /** Our host keys: a host-bound request must name one of them. */
  readonly hostKeys: ReadonlyArray<PublicKey.PublicKey>
  readonly now: () => number
}

/**
 * A running conversation: the generator its driver steps, and what it has seen so far (for
 * the failure a driver builds when the connection ends under it).
 *
 * @since 0.1.0
 * @category models
 */
export interface Userauth {
  readonly steps: Generator<ConversationStep, UserauthOutcome, unknown>
  readonly attempts: ReadonlyArray<ServerAttempt>
  readonly user: string | undefined
  /** A GSS-API acceptor's scope while one is open: a driver that stops early closes it. */
  readonly openScope: Scope.CloseableScope | undefined
}

const SERVICE = "ssh-connection"
/** Mechanisms in one gssapi-with-mic request, and bytes in one of their OIDs. */
const MAX_MECHANISMS = 64
const MAX_OID_BYTES = 64

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

type Steps<A> = Generator<ConversationStep, A, unknown>

interface Request {
  readonly user: string
  readonly service: string
  readonly method: string
  /** The method-specific fields. */
  readonly body: Uint8Array
  /** The whole payload, for what a signature covers. */
  readonly payload: Uint8Array
}

/** A protocol violation: thrown inside the conversation, and the connection is cut with this text. */
class Violation {
  readonly _tag = "Violation"
  constructor(readonly detail: string) {}
}

const keyRecord = (key: PublicKey.PublicKey, cert?: Certificate.Certificate): NonNullable<ServerAttempt["key"]> => ({
  type: PublicKey.typeLabel(key),
  fingerprint: PublicKey.fingerprintSha256(key),
  ...(cert ? { certificate: { keyId: cert.keyId, serial: String(cert.serial), caFingerprint: PublicKey.fingerprintSha256(cert.signatureKey) } } : {})
})

/** Decodes a message's fields after its number; a malformed one is the client's violation. */
const fieldsOf = <A>(bytes: Uint8Array, name: string, parse: (r: Reader) => A, skipNumber: boolean): A => {
  const decoded = decode(bytes, (r) => {
    if (skipNumber) r.byte()
    const value = parse(r)
    r.end(name)
    return value
  })
  if (Either.isLeft(decoded)) throw new Violation(`malformed ${name}: ${decoded.left.message}`)
  return decoded.right
}

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
 * Starts a conversation; nothing happens until its driver steps it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const start = (context: UserauthContext, settings: UserauthSettings): Userauth => {
  const { client, curves, now, policy } = context
  const deadline = now() + settings.graceMillis
  const attempts: Array<ServerAttempt> = []
  const credentials: Array<ProvenCredential> = []
  const completed: Array<MethodName> = []
  let chains: ReadonlyArray<ReadonlyArray<MethodName>> = []
  let failures = 0
  let requests = 0
  /** A request that arrived in the middle of a conversation, and ended it. */
  let pushedBack: Uint8Array | undefined
  const state: { user: string | undefined; openScope: Scope.CloseableScope | undefined } = { user: undefined, openScope: undefined }

  function* next(): Steps<Uint8Array> {
    if (pushedBack !== undefined) {
      const message = pushedBack
      pushedBack = undefined
      return message
    }
    return yield* receive(deadline)
  }

  const parseRequest = (payload: Uint8Array): Request => {
    switch (payload[0]) {
      case MessageNumber.USERAUTH_REQUEST: {
        const decoded = decode(payload, (r) => {
          r.byte()
          const user = r.text("user name")
          const service = r.text("service name")
          const method = r.text("method name")
          return { user, service, method, body: r.rest(), payload }
        })
        if (Either.isLeft(decoded)) throw new Violation(`malformed USERAUTH_REQUEST: ${decoded.left.message}`)
        return decoded.right
      }
      case MessageNumber.USERAUTH_SUCCESS:
        throw new Violation("a client may not send USERAUTH_SUCCESS")
      default:
        throw new Violation(`message ${payload[0]} before authentication`)
    }
  }

  /** A method's own fields, all of them. */
  const fields = <A>(request: Request, parse: (r: Reader) => A): A => fieldsOf(request.body, `${request.method} request`, parse, false)

  // ---- the methods ----

  function* publicKey(request: Request, hostBound: boolean): Steps<MethodResult> {
    const { algorithm, blob, hostKeyBlob, signature } = fields(request, (r) => {
      const signed = r.boolean("has signature")
      const algorithm = r.text("public key algorithm")
      const blob = r.string("public key blob")
      const hostKeyBlob = hostBound ? r.string("server host key") : undefined
      const signature = signed ? r.string("signature") : undefined
      return { algorithm, blob, hostKeyBlob, signature }
    })
    const certified = Certificate.isCertificateType(algorithm)
    const signatureAlgorithm = certified ? Certificate.signatureAlgorithmOf(algorithm) : algorithm
    const decoded: Either.Either<{ key: PublicKey.PublicKey; cert: Certificate.Certificate | undefined }, { message: string }> = certified
      ? Either.map(Certificate.fromBlob(blob), (cert) => ({ key: cert.key, cert }))
      : Either.map(PublicKey.fromBlob(blob), (key) => ({ key, cert: undefined }))
    if (Either.isLeft(decoded)) return { _tag: "Failed", detail: `unreadable key: ${decoded.left.message}` }
    const { cert, key } = decoded.right
    const record = keyRecord(key, cert)
    const failed = (detail: string): MethodResult => ({ _tag: "Failed", detail, key: record })
    // The declared algorithm must be one this key makes (golang/crypto@c5370d2), and one we accept.
    if (!PublicKey.algorithmsFor(key).includes(signatureAlgorithm)) {
      return failed(`${show(algorithm, 64)} does not match a ${key.type} key`)
    }
    if (!settings.acceptedAlgorithms.includes(signatureAlgorithm)) return failed(`${show(algorithm, 64)} is not accepted`)
    if (hostKeyBlob !== undefined && !context.hostKeys.some((k) => Buffer.compare(k.blob, hostKeyBlob) === 0)) {
      return failed("the host-bound request names a host key that is not ours")
    }
    const offer: KeyOffer = { user: request.user, key, ...(cert ? { certificate: cert } : {}), algorithm: signatureAlgorithm, client }
    if (signature === undefined) {
      const acceptable = policy.keyAcceptable ? yield* call(policy.keyAcceptable(offer)) : false
      if (!acceptable) return { _tag: "Failed", detail: "key not acceptable", key: record, query: true }
      yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_PK_OK).string(algorithm).string(blob)))
      return { _tag: "Postponed", outcome: "KeyAcceptable", key: record }
    }
    // RFC 4252 §7: the session identifier, then the request up to its signature.
    const signedLength = request.payload.length - (4 + signature.length)
    const signedData = encode((w) => w.string(client.sessionId).raw(request.payload.subarray(0, signedLength)))
    const verified = PublicKey.verify(curves, key, signature, signedData, [signatureAlgorithm])
    if (Either.isLeft(verified)) return failed(`bad signature: ${verified.left.message}`)
    if (!verified.right) return failed("the signature does not verify")
    const grant = policy.keyProven ? yield* call(policy.keyProven(offer)) : Option.none()
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
    }
  }

  function* password(request: Request): Steps<MethodResult> {
    const { change, current, replacement } = fields(request, (r) => {
      const change = r.boolean("change")
      const current = Redacted.make(r.text("password"))
      const replacement = change ? Redacted.make(r.text("new password")) : undefined
      return { change, current, replacement }
    })
    const verdict = replacement === undefined
      ? policy.password ? yield* call(policy.password(request.user, current, client)) : { _tag: "Rejected" as const }
      : policy.changePassword
      ? yield* call(policy.changePassword(request.user, current, replacement, client))
      : { _tag: "Rejected" as const }
    switch (verdict._tag) {
      case "Accepted":
        return { _tag: "Proven", credential: { _tag: "Password" } }
      case "Rejected":
        return { _tag: "Failed", detail: change ? "password change refused" : "wrong password" }
      case "ChangeRequired":
        yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_PASSWD_CHANGEREQ).string(verdict.prompt).string("")))
        return { _tag: "Postponed", outcome: "ChangeRequested" }
    }
  }

  function* keyboardInteractive(request: Request): Steps<MethodResult> {
    const { submethods } = fields(request, (r) => ({ language: r.text("language tag"), submethods: r.text("submethods") }))
    const conversation = policy.keyboardInteractive ? yield* call(policy.keyboardInteractive(request.user, submethods, client)) : Option.none()
    if (Option.isNone(conversation)) return { _tag: "Failed", detail: "no conversation for this user" }
    let step: InteractiveStep = yield* call(conversation.value.start)
    for (let round = 0; round < settings.maxInteractiveRounds; round++) {
      if (step._tag === "Accepted") return { _tag: "Proven", credential: { _tag: "KeyboardInteractive" } }
      if (step._tag === "Rejected") return { _tag: "Failed", detail: "keyboard-interactive refused" }
      const { instruction, name, prompts } = step.round
      yield* send(encode((w) => {
        w.byte(MessageNumber.USERAUTH_INFO_REQUEST).string(name).string(instruction).string("").uint32(prompts.length)
        for (const p of prompts) w.string(p.prompt).boolean(p.echo)
      }))
      const reply = yield* next()
      if (reply[0] === MessageNumber.USERAUTH_REQUEST) {
        // RFC 4256 §3.4 lets a client give up on the conversation with a new request.
        pushedBack = reply
        return { _tag: "Failed", detail: "keyboard-interactive abandoned", abandoned: true }
      }
      if (reply[0] !== MessageNumber.USERAUTH_INFO_RESPONSE) throw new Violation(`message ${reply[0]} where INFO_RESPONSE belongs`)
      const responses = fieldsOf(reply, "INFO_RESPONSE", (r) => {
        const count = r.uint32("num-responses")
        if (count !== prompts.length) r.fail("num-responses", `${count} responses to ${prompts.length} prompts`)
        return Array.from({ length: count }, () => Redacted.make(r.text("response")))
      }, true)
      step = yield* call(conversation.value.answer(responses))
    }
    return { _tag: "Failed", detail: `more than ${settings.maxInteractiveRounds} keyboard-interactive rounds` }
  }

  function* gssapiWithMic(request: Request, gss: NonNullable<UserauthSettings["gssapi"]>): Steps<MethodResult> {
    const maxTokenBytes = gss.maxTokenBytes ?? 65536
    const maxTokenRounds = gss.maxRounds ?? 16
    const offered = fields(request, (r) => {
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
    if (offered.count === 0) return { _tag: "Failed", detail: "no mechanism offered (negotiation is not supported)" }
    if (offered.count > MAX_MECHANISMS) return { _tag: "Failed", detail: `${offered.count} mechanisms offered (at most ${MAX_MECHANISMS})` }
    const mechanism = offered.chosen
    if (mechanism === undefined) return { _tag: "Failed", detail: "no mechanism we support (Kerberos V5) was offered", serverCaused: true }
    const service = yield* call(Effect.either(Gssapi.current))
    if (Either.isLeft(service)) return { _tag: "Failed", detail: service.left.message, serverCaused: true }
    // The acceptor lives for this method only; its scope is the state's while open, so a
    // driver stopped by the connection's end closes it.
    const scope = yield* call(Scope.make())
    state.openScope = scope
    try {
      return yield* acceptorExchange(request, gss, service.right, scope, mechanism, maxTokenBytes, maxTokenRounds)
    } finally {
      state.openScope = undefined
      yield* call(Scope.close(scope, Exit.void))
    }
  }

  function* acceptorExchange(
    request: Request,
    gss: NonNullable<UserauthSettings["gssapi"]>,
    service: Gssapi.GssapiService,
    scope: Scope.Scope,
    mechanism: Uint8Array,
    maxTokenBytes: number,
    maxTokenRounds: number
  ): Steps<MethodResult> {
    const made = yield* call(Effect.either(Scope.extend(service.acceptor(gss.keytab !== undefined ? { keytab: gss.keytab } : {}), scope)))
    if (Either.isLeft(made)) return { _tag: "Failed", detail: made.left.message, serverCaused: true }
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
    function* authorize(): Steps<MethodResult> {
      if (principal === undefined) return failed("the client's name is unknown")
      const offer: PrincipalOffer = {
        user: request.user,
        principal,
        client,
        kuserok: Effect.orElseSucceed(acceptor.userOk(request.user), () => false),
        localName: Effect.orElseSucceed(acceptor.localName, () => Option.none())
      }
      const grant = yield* call((policy.gssapiPrincipal ?? gssapiKuserok)(offer))
      if (Option.isNone(grant)) return failed(`not authorized for ${show(request.user, 64)}`)
      return {
        _tag: "Proven",
        credential: { _tag: "Gssapi", principal, source: grant.value.source },
        detail: `principal ${show(principal, 128)} (${grant.value.source})`
      }
    }

    // Bounded: every turn returns but a TOKEN, and TOKENs are counted.
    while (true) {
      const message = yield* next()
      switch (message[0]) {
        case MessageNumber.USERAUTH_REQUEST:
          // A new request ends the exchange, as in sshd: no reply to this one, no failure counted.
          pushedBack = message
          return { _tag: "Failed", detail: "gssapi-with-mic abandoned", abandoned: true }
        case MessageNumber.USERAUTH_GSSAPI_TOKEN: {
          const token = fieldsOf(message, "GSSAPI_TOKEN", (r) => r.string("token"), true)
          if (complete) return failed("a GSSAPI_TOKEN after the context was established")
          if (token.length > maxTokenBytes) return failed(`a GSSAPI token of ${token.length} bytes (at most ${maxTokenBytes})`)
          if (++rounds > maxTokenRounds) return failed(`more than ${maxTokenRounds} GSSAPI token rounds`)
          const stepped = yield* call(Effect.either(acceptor.step(token)))
          if (Either.isLeft(stepped)) {
            const { errorToken } = stepped.left
            if (errorToken !== undefined) yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_ERRTOK).string(errorToken)))
            return failed(stepped.left.message)
          }
          const reply = stepped.right.token
          if (reply !== undefined) yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_TOKEN).string(reply)))
          if (stepped.right.complete) {
            complete = true
            const name = yield* call(Effect.either(acceptor.clientName))
            if (Either.isLeft(name)) return failed(name.left.message)
            principal = name.right
          }
          continue
        }
        case MessageNumber.USERAUTH_GSSAPI_ERRTOK: {
          // As sshd: the client's context failed; its token is read and the method ends.
          const token = fieldsOf(message, "GSSAPI_ERRTOK", (r) => r.string("error token"), true)
          return failed(`the client's GSSAPI failed (an error token of ${token.length} bytes)`)
        }
        case MessageNumber.USERAUTH_GSSAPI_MIC: {
          const mic = fieldsOf(message, "GSSAPI_MIC", (r) => r.string("MIC"), true)
          if (!complete) return failed("a GSSAPI_MIC before the context was established")
          if (mic.length > maxTokenBytes) return failed(`a MIC of ${mic.length} bytes (at most ${maxTokenBytes})`)
          const verified = yield* call(Effect.either(acceptor.verifyMic(micData(client.sessionId, request.user), mic)))
          if (Either.isLeft(verified)) return failed(`the MIC does not verify: ${verified.left.message}`)
          return yield* authorize()
        }
        case MessageNumber.USERAUTH_GSSAPI_EXCHANGE_COMPLETE: {
          fieldsOf(message, "GSSAPI_EXCHANGE_COMPLETE", () => undefined, true)
          if (!complete) return failed("a GSSAPI_EXCHANGE_COMPLETE before the context was established")
          // sshd accepts it only from a context without integrity, where no MIC can be made.
          if (yield* call(acceptor.integrity)) return failed("GSSAPI_EXCHANGE_COMPLETE refused: the context protects integrity, so a MIC is required")
          return yield* authorize()
        }
        default:
          throw new Violation(`message ${message[0]} where a gssapi-with-mic message belongs`)
      }
    }
  }

  function* runMethod(request: Request, allowed: ReadonlyArray<MethodName>): Steps<MethodResult> {
    const method = request.method
    const known = method === "publickey-hostbound-v00@openssh.com" ? "publickey" : method
    if (known !== "none" && !allowed.includes(known as MethodName)) return { _tag: "Failed", detail: `method ${show(method, 64)} not offered` }
    switch (method) {
      case "none":
        // Only an empty chain lets "none" in (a server with no authentication at all).
        return chainComplete(chains, completed) ? { _tag: "Proven", credential: { _tag: "None" } } : { _tag: "Failed", detail: "none is not enough" }
      case "publickey":
        return yield* publicKey(request, false)
      case "publickey-hostbound-v00@openssh.com":
        return yield* publicKey(request, true)
      case "password":
        return yield* password(request)
      case "keyboard-interactive":
        return yield* keyboardInteractive(request)
      case "gssapi-with-mic":
        // Offered only when configured: `allowed` never names it otherwise.
        return settings.gssapi ? yield* gssapiWithMic(request, settings.gssapi) : { _tag: "Failed", detail: "gssapi-with-mic not offered" }
      default:
        return { _tag: "Failed", detail: `method ${show(method, 64)} not supported` }
    }
  }

  /** The rest of the failure floor, doubled while the attempt took longer. */
  const failureDelay = (since: number): number => {
    const elapsed = now() - since
    let floor = settings.failureFloorMillis
    // Bounded: the floor doubles past any elapsed time within ~40 steps.
    for (let i = 0; i < 64 && floor <= elapsed; i++) floor *= 2
    return floor > elapsed ? floor - elapsed : 0
  }

  const failure = (partial: boolean) => encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).nameList(nextMethods(chains, completed)).boolean(partial))
  const cut = (reason: ServerAuthFailure["reason"], code: number, detail: string): UserauthOutcome => ({ _tag: "Cut", reason, code, detail })

  function* record(request: Request, begun: number, outcome: ServerAttempt["outcome"], extra: { key?: ServerAttempt["key"]; detail?: string }): Steps<void> {
    const attempt = new ServerAttempt({
      method: request.method,
      user: request.user,
      outcome,
      ...(extra.key ? { key: extra.key } : {}),
      ...(extra.detail ? { detail: extra.detail } : {}),
      clientAddress: client.address,
      clientPort: client.port,
      durationMillis: now() - begun
    }, true)
    attempts.push(attempt)
    if (settings.onAttempt) yield* call(settings.onAttempt(attempt))
  }

  // ---- the loop: one request per turn, bounded by maxRequests ----
  function* run(): Steps<UserauthOutcome> {
    while (requests < settings.maxRequests) {
      const payload = yield* next()
      const begun = now()
      let request: Request
      let outcome: MethodResult
      try {
        request = parseRequest(payload)
        requests++
        if (request.service !== SERVICE) {
          return cut("ProtocolViolation", DisconnectReason.SERVICE_NOT_AVAILABLE, `service not available: ${show(request.service, 64)}`)
        }
        if (state.user !== undefined && request.user !== state.user) {
          return cut("ProtocolViolation", DisconnectReason.PROTOCOL_ERROR, "change of user name not allowed")
        }
        if (state.user === undefined) {
          state.user = request.user
          chains = yield* call(policy.methods(request.user, client))
          // A chain that needs gssapi-with-mic cannot complete here without an acceptor.
          if (settings.gssapi === undefined) chains = chains.filter((chain) => !chain.includes("gssapi-with-mic"))
          const banner = policy.banner ? yield* call(policy.banner(request.user, client)) : Option.none()
          if (Option.isSome(banner)) yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_BANNER).string(banner.value).string("")))
        }
        outcome = yield* runMethod(request, nextMethods(chains, completed))
      } catch (e) {
        if (e instanceof Violation) return cut("ProtocolViolation", DisconnectReason.PROTOCOL_ERROR, e.detail)
        throw e
      }
      switch (outcome._tag) {
        case "Postponed":
          yield* record(request, begun, outcome.outcome, outcome.key ? { key: outcome.key } : {})
          continue
        case "Proven": {
          const method = (request.method === "publickey-hostbound-v00@openssh.com" ? "publickey" : request.method) as MethodName
          if (method !== "none") completed.push(method)
          credentials.push(outcome.credential)
          const noted = { ...(outcome.key ? { key: outcome.key } : {}), ...(outcome.detail ? { detail: outcome.detail } : {}) }
          if (chainComplete(chains, completed)) {
            yield* record(request, begun, "Accepted", noted)
            yield* send(Uint8Array.of(MessageNumber.USERAUTH_SUCCESS))
            const restrictions: Array<LoginRestrictions> = []
            for (const c of credentials) if (c._tag === "PublicKey" && c.restrictions) restrictions.push(c.restrictions)
            return {
              _tag: "Authenticated",
              result: { user: request.user, methods: [...completed], credentials: [...credentials], attempts: [...attempts], restrictions }
            }
          }
          yield* record(request, begun, "Partial", noted)
          yield* send(failure(true))
          continue
        }
        case "Failed": {
          yield* record(request, begun, outcome.query ? "KeyRefused" : "Failed", { ...(outcome.key ? { key: outcome.key } : {}), detail: outcome.detail })
          // Its new request is answered instead; a FAILURE here would be taken as that answer.
          if (outcome.abandoned) continue
          // sshd does not count a first "none": clients ask it to learn the methods; nor
          // what the server could not run (server_caused_failure).
          if ((request.method !== "none" || requests > 1) && !outcome.serverCaused) failures++
          if (failures >= settings.maxAuthTries) return cut("TooManyAttempts", DisconnectReason.PROTOCOL_ERROR, "Too many authentication failures")
          if (request.method !== "none") {
            const millis = failureDelay(begun)
            if (millis > 0) yield* sleep(millis)
          }
          yield* send(failure(false))
        }
      }
    }
    return cut("TooManyAttempts", DisconnectReason.PROTOCOL_ERROR, "Too many authentication requests")
  }

  return {
    steps: run(),
    attempts,
    get user() {
      return state.user
    },
    get openScope() {
      return state.openScope
    }
  }
}
