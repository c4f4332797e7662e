/**
 * The client's side of `gssapi-with-mic` (RFC 4462 §3): one request offering the Kerberos V5
 * mechanism, then the token exchange and the MIC, as `AuthHandler.gssapiWithMic` runs it.
 *
 * While this method is in flight, messages 60-66 are read as RFC 4462 names them: 60 is
 * GSSAPI_RESPONSE (once, first), 61 GSSAPI_TOKEN (only between the response and the
 * established context), 64 GSSAPI_ERROR and 65 GSSAPI_ERRTOK at any time; 63 and 66 travel
 * only from client to server. Anything out of that order is the server's protocol error.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { type GssError, type Initiator, krb5MechanismDer } from "../gssapi/Gssapi.js"
import type { TransportFailure } from "../transport/TransportError.js"
import { messageName, MessageNumber } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import { decode, type Reader } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { AuthError, GssapiServerError } from "./AuthError.js"
import type { AuthHandler, AuthHandlerError, AuthOutcome } from "./AuthHandler.js"

const METHOD = "gssapi-with-mic"

/** Token rounds a server may ask for: Kerberos needs one, SPNEGO a few. */
const MAX_TOKEN_ROUNDS = 16

/**
 * What the exchange needs from the handler and its transport.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExchangeContext {
  readonly sendAuthRequest: AuthHandler["sendAuthRequest"]
  readonly send: (payload: Uint8Array) => Effect.Effect<void, TransportFailure>
  readonly sessionId: Uint8Array
}

/**
 * What the MIC signs (RFC 4462 §3.5): the session identifier, then the request's user,
 * service and method, as a USERAUTH_REQUEST starts. The server verifies the same bytes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const micData = (sessionId: Uint8Array, username: string): Uint8Array =>
  encode((w) => w.string(sessionId).byte(MessageNumber.USERAUTH_REQUEST).string(username).string("ssh-connection").string(METHOD))

/**
 * Runs the method for `username` with an initiator context the caller made (and releases).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  { send, sendAuthRequest, sessionId }: ExchangeContext,
  username: string,
  initiator: Initiator
): Effect.Effect<AuthOutcome, AuthHandlerError | GssError | GssapiServerError> =>
  Effect.gen(function*() {
    // As ssh does, the context starts before the method is offered: without a usable ticket
    // nothing is sent (the error says why) and the strategy goes on to the next source.
    const first = yield* initiator.step(undefined)
    let phase: "response" | "tokens" | "established" = "response"
    let rounds = 0
    let serverError: GssapiServerError | undefined

    const protocolError = (detail: string) => new AuthError({ reason: "ProtocolError", method: METHOD, username, detail })
    const parse = <A>(message: Uint8Array, f: (r: Reader) => A) =>
      Either.mapLeft(decode(message, (r) => (r.byte(), f(r))), (e) => protocolError(`malformed ${messageName(message[0])}: ${e.message}`))

    /** Sends what a step gave, then, once the context is established, the MIC. */
    const answer = (step: { readonly token: Uint8Array | undefined; readonly complete: boolean }) =>
      Effect.gen(function*() {
        if (step.token) yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_TOKEN).string(step.token!)))
        if (!step.complete) return
        phase = "established"
        if (yield* initiator.integrity) {
          const mic = yield* initiator.getMic(micData(sessionId, username))
          yield* send(encode((w) => w.byte(MessageNumber.USERAUTH_GSSAPI_MIC).string(mic)))
        } else {
          yield* send(Uint8Array.of(MessageNumber.USERAUTH_GSSAPI_EXCHANGE_COMPLETE))
        }
      })

    const onMessage = (message: Uint8Array) =>
      Effect.gen(function*() {
        switch (message[0]) {
          case MessageNumber.USERAUTH_GSSAPI_RESPONSE: {
            if (phase !== "response") return yield* protocolError("a second GSSAPI_RESPONSE")
            const mechanism = yield* parse(message, (r) => r.string("mechanism"))
            if (Buffer.compare(mechanism, krb5MechanismDer) !== 0) {
              return yield* protocolError("GSSAPI_RESPONSE names a mechanism we did not offer")
            }
            phase = "tokens"
            yield* answer(first)
            break
          }
          case MessageNumber.USERAUTH_GSSAPI_TOKEN: {
            if (phase !== "tokens") {
              return yield* protocolError(`GSSAPI_TOKEN ${phase === "response" ? "before GSSAPI_RESPONSE" : "after the context was established"}`)
            }
            if (++rounds > MAX_TOKEN_ROUNDS) return yield* protocolError(`more than ${MAX_TOKEN_ROUNDS} GSSAPI token rounds`)
            const token = yield* parse(message, (r) => r.string("token"))
            yield* answer(yield* initiator.step(token))
            break
          }
          case MessageNumber.USERAUTH_GSSAPI_ERROR: {
            // Information only: the server's FAILURE follows, and the error explains it.
            const e = yield* parse(message, (r) => ({
              major: r.uint32("major status"),
              minor: r.uint32("minor status"),
              text: r.text("message"),
              lang: r.text("language tag")
            }))
            serverError = new GssapiServerError({ username, via: "GSSAPI_ERROR", major: e.major, minor: e.minor, majorMessage: e.text, minorMessage: "" })
            break
          }
          case MessageNumber.USERAUTH_GSSAPI_ERRTOK: {
            if (phase === "response") return yield* protocolError("GSSAPI_ERRTOK before GSSAPI_RESPONSE")
            const token = yield* parse(message, (r) => r.string("error token"))
            // Our side of the context reads the token into the server's status.
            const read = yield* Effect.either(initiator.step(token))
            serverError = Either.isLeft(read)
              ? new GssapiServerError({
                username,
                via: "GSSAPI_ERRTOK",
                major: read.left.major,
                minor: read.left.minor,
                majorMessage: read.left.majorMessage,
                minorMessage: read.left.minorMessage
              })
              : new GssapiServerError({
                username,
                via: "GSSAPI_ERRTOK",
                major: 0,
                minor: 0,
                majorMessage: "an error token that our GSSAPI did not read as an error",
                minorMessage: ""
              })
            break
          }
          default:
            return yield* protocolError(`${show(messageName(message[0]), 64)} is not a gssapi-with-mic reply`)
        }
        return { _tag: "Continue" } as const
      })

    const outcome = yield* sendAuthRequest(username, METHOD, (w) => w.uint32(1).string(krb5MechanismDer), onMessage)
    if (outcome._tag === "Failure" && serverError) return yield* serverError
    return outcome
  })
