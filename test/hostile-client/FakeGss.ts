/**
 * A scripted `Gssapi` service for the server's dispatch tests: its acceptor completes after
 * a set number of tokens (answering each with a token), fails on a chosen token with an
 * error token as MIT's does, and takes as a MIC the SHA-256 of "fake-mic" and the message,
 * so a test computes the right MIC (and a wrong one) without Kerberos. It logs what it saw.
 * The real exchange, with a KDC, is test/server/GssapiKdc.test.ts.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import { type GssapiService, GssError } from "../../src/gssapi/Gssapi.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"

export interface FakeScript {
  /** Tokens until the context is complete. Default 1; Infinity never completes. */
  readonly completeAfter?: number
  /** Whether the context protects integrity. Default true. */
  readonly integrity?: boolean
  /** Default alice@X.TEST. */
  readonly principal?: string
  /** A token (as text) the acceptor fails on, with an error token "KRB-ERROR". */
  readonly failOn?: string
  /** What krb5_kuserok answers. Default: the user is the principal's first component. */
  readonly kuserok?: boolean
  /** gss_acquire_cred_from fails, as with a keytab that is not there. */
  readonly acceptorFails?: boolean
}

export interface FakeLog {
  /** Every token the acceptors were given, in order. */
  readonly tokens: Array<Uint8Array>
  acceptors: number
  released: number
}

/** What the fake takes as the MIC of `message`. */
const micOf = (message: Uint8Array) => new Uint8Array(crypto.createHash("sha256").update("fake-mic").update(message).digest())

/** The MIC a client owes for `user` on the session `sessionId` (RFC 4462 §3.5), as the fake computes it. */
export const fakeMic = (sessionId: Uint8Array, user: string): Uint8Array =>
  micOf(encode((w) => w.string(sessionId).byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("gssapi-with-mic")))

const gssError = (call: string, minorMessage: string, errorToken?: Uint8Array) =>
  new GssError({ call, major: 0xd0000, minor: 1, majorMessage: "scripted failure", minorMessage, ...(errorToken ? { errorToken } : {}) })

export const fakeGssapi = (script: FakeScript = {}): { readonly service: GssapiService; readonly log: FakeLog } => {
  const log: FakeLog = { tokens: [], acceptors: 0, released: 0 }
  const principal = script.principal ?? "alice@X.TEST"
  const service: GssapiService = {
    credentials: () => Effect.die("the fake is an acceptor only"),
    initiator: () => Effect.die("the fake is an acceptor only"),
    acceptor: () =>
      Effect.gen(function*() {
        if (script.acceptorFails) return yield* gssError("gss_acquire_cred_from", "Key table entry not found")
        log.acceptors++
        yield* Effect.addFinalizer(() => Effect.sync(() => void log.released++))
        let rounds = 0
        let complete = false
        const notComplete = (call: string) => gssError(call, "not complete")
        return {
          step: (token) =>
            Effect.suspend(() => {
              log.tokens.push(token)
              if (script.failOn !== undefined && Buffer.from(token).toString() === script.failOn) {
                return Effect.fail(gssError("gss_accept_sec_context", "Key version is not available", Buffer.from("KRB-ERROR")))
              }
              rounds++
              complete = rounds >= (script.completeAfter ?? 1)
              return Effect.succeed({ token: Buffer.from(`reply ${rounds}`), complete })
            }),
          integrity: Effect.sync(() => complete && (script.integrity ?? true)),
          clientName: Effect.suspend(() => complete ? Effect.succeed(principal) : Effect.fail(notComplete("gss_display_name"))),
          verifyMic: (message, mic) =>
            Effect.suspend(() =>
              !complete
                ? Effect.fail(notComplete("gss_verify_mic"))
                : Buffer.from(micOf(message)).equals(Buffer.from(mic))
                ? Effect.void
                : Effect.fail(gssError("gss_verify_mic", "Message stream modified"))
            ),
          userOk: (user) => Effect.succeed(script.kuserok ?? principal.split("@")[0] === user),
          localName: Effect.succeed(Option.some(principal.split("@")[0]))
        }
      })
  }
  return { service, log }
}
