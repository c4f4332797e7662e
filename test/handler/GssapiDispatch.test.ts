/**
 * The dispatch proof for the client: messages 60-66 are read as the method in flight says.
 * A scripted server sends them in an order only gssapi-with-mic's table accepts (RESPONSE,
 * an ERROR, a TOKEN; then an ERRTOK), and then the same numbers during publickey and
 * keyboard-interactive, where 60 is PK_OK or INFO_REQUEST and 61, 64 and 65 are protocol
 * errors. The GSS-API side is a scripted initiator that records what it was given, so the
 * tokens are the server's own bytes; real Kerberos runs in test/interop/Gssapi*.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import { micData } from "../../src/handler/GssapiExchange.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as GssapiWithMic from "../../src/sources/GssapiWithMic.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { PrivateKey } from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"

const bytes = (text: string) => new Uint8Array(Buffer.from(text))
const text = (b: Uint8Array | undefined) => (b === undefined ? "(none)" : Buffer.from(b).toString())
const mic = (data: Uint8Array) => new Uint8Array(crypto.createHash("sha256").update(data).digest())

/**
 * A scripted initiator: each server token it is given is answered from `answers` (by the
 * token's text); the first step gives `first`. It records every token it saw.
 */
const scriptedGssapi = (options: {
  readonly first: Effect.Effect<Gssapi.Step, Gssapi.GssError>
  readonly answers?: Record<string, Effect.Effect<Gssapi.Step, Gssapi.GssError>>
  readonly integrity?: boolean
}) => {
  const seen: Array<string> = []
  const targets: Array<string> = []
  const initiator: Gssapi.Initiator = {
    step: (token) => {
      if (token === undefined) return options.first
      seen.push(text(token))
      return options.answers?.[text(token)] ?? Effect.die(`no answer scripted for ${text(token)}`)
    },
    integrity: Effect.succeed(options.integrity ?? true),
    getMic: (message) => Effect.succeed(mic(message))
  }
  const service: Gssapi.GssapiService = {
    credentials: () => Effect.succeed({ principal: "alice@TEST", lifetime: 3600 }),
    initiator: (o) => Effect.sync(() => (targets.push(o.target), initiator)),
    acceptor: () => Effect.die("the client test needs no acceptor")
  }
  return { layer: Layer.succeed(Gssapi.Gssapi, service), seen, targets }
}

const gssError = (call: string, minorMessage: string) =>
  new Gssapi.GssError({ call, major: 0xd0000, minor: 39756033, majorMessage: "Unspecified GSS failure", minorMessage })

/** Runs `strategy` against the steps `script` makes for the transport (whose session id a MIC covers). */
const run = <R>(
  script: (sessionId: Uint8Array) => ReadonlyArray<Scripted.Step>,
  strategy: AuthStrategy.AuthStrategy<R>,
  gss: Layer.Layer<Gssapi.Gssapi>
) =>
  Effect.gen(function*() {
    let sessionId: Uint8Array = new Uint8Array(0)
    const transport = yield* Scripted.makeScripted({
      // The steps are read as the client sends; the session id is known by then.
      get steps() {
        return script(sessionId)
      }
    })
    sessionId = transport.sessionId
    const layer = Layer.merge(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))), gss)
    const result = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer), Effect.either)
    return { result, sent: transport.sent }
  })

const gssapiRequest = (m: Scripted.ClientMessage) =>
  m._tag === "UserauthRequest" && m.method === "gssapi-with-mic" && m.fields?._tag === "Gssapi" &&
    m.fields.mechanisms.length === 1 && Buffer.compare(m.fields.mechanisms[0], Gssapi.krb5MechanismDer) === 0
    ? true as const
    : `expected a gssapi-with-mic request offering krb5, got ${JSON.stringify(m._tag)}`

/** A client message of number `n` whose one string field is `expected`. */
const stringMessage = (n: number, expected: (field: Uint8Array) => true | string) => (m: Scripted.ClientMessage) => {
  if (m._tag !== "Other" || m.messageNumber !== n) return `expected message ${n}, got ${JSON.stringify(m)}`
  return Either.match(decode(m.payload, (r) => (r.byte(), r.string())), { onLeft: (e) => e.message, onRight: expected })
}
const tokenIs = (expected: string) => stringMessage(MessageNumber.USERAUTH_GSSAPI_TOKEN, (t) => text(t) === expected || `token ${text(t)}`)

const source = () => GssapiWithMic.make({ username: "alice", host: "server.example" })
/** The typed error of the strategy's first attempt. */
const errorOf = <A>(result: Either.Either<A, unknown>) =>
  (Either.isLeft(result) ? (result.left as { errors: ReadonlyArray<unknown> }).errors[0] : undefined) as
    | { readonly _tag: string; readonly reason?: string; readonly message: string; readonly [k: string]: unknown }
    | undefined

const micOver = (sessionId: Uint8Array) =>
  stringMessage(
    MessageNumber.USERAUTH_GSSAPI_MIC,
    (m) => Buffer.compare(m, mic(micData(sessionId, "alice"))) === 0 || "the MIC is not over this session's data"
  )

const kerberos = () =>
  scriptedGssapi({
    first: Effect.succeed({ token: bytes("ap-req"), complete: false }),
    answers: {
      "ap-rep": Effect.succeed({ token: undefined, complete: true }),
      "krb-error": Effect.fail(gssError("gss_init_sec_context", "Clock skew too great"))
    }
  })

const numbers = (sent: ReadonlyArray<Scripted.ClientMessage>) =>
  sent.map((m) => m._tag === "Other" ? m.messageNumber : m._tag === "UserauthRequest" ? m.method : m._tag)

/** A signer whose signatures the scripted server does not check. */
const signer = {
  publicKey: Either.getOrThrow(PublicKey.fromBlob(encode((w) => w.string("ssh-ed25519").string(new Uint8Array(32).fill(7))))),
  sign: (algorithm: string) => Effect.succeed(encode((w) => w.string(algorithm).string(new Uint8Array(64))))
}

describe("gssapi-with-mic: 60-66 are read as the method in flight says", () => {
  it.effect("gssapi: RESPONSE, an ERROR, then a TOKEN: the token reaches the GSS-API, the MIC covers the session, success", () =>
    Effect.gen(function*() {
      const gss = kerberos()
      const { result, sent } = yield* run(
        (sessionId) => [
          { expect: gssapiRequest, reply: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)] },
          // 64 in the middle is information only; 61 is the server's token.
          { expect: tokenIs("ap-req"), reply: [Scripted.gssapiError(0, 0, "just saying"), Scripted.gssapiToken(bytes("ap-rep"))] },
          { expect: micOver(sessionId), reply: [Scripted.success] }
        ],
        AuthStrategy.make(source()),
        gss.layer
      )
      expect(Either.isRight(result)).toBe(true)
      expect(gss.seen).toEqual(["ap-rep"])
      expect(gss.targets).toEqual(["host@server.example"])
      expect(numbers(sent)).toEqual(["gssapi-with-mic", 61, 66])
    }))

  it.effect("gssapi without integrity: EXCHANGE_COMPLETE (63) instead of a MIC", () =>
    Effect.gen(function*() {
      const gss = scriptedGssapi({ first: Effect.succeed({ token: bytes("only"), complete: true }), integrity: false })
      const { result, sent } = yield* run(
        () => [
          { expect: gssapiRequest, reply: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)] },
          { expect: tokenIs("only"), reply: [] },
          { expect: (m) => m._tag === "Other" && m.messageNumber === 63 || "expected EXCHANGE_COMPLETE", reply: [Scripted.success] }
        ],
        AuthStrategy.make(source()),
        gss.layer
      )
      expect(Either.isRight(result)).toBe(true)
      expect(numbers(sent)).toEqual(["gssapi-with-mic", 61, 63])
    }))

  it.effect("gssapi: an ERRTOK is read by our GSS-API into the server's status, a typed GssapiServerError", () =>
    Effect.gen(function*() {
      const gss = kerberos()
      const { result } = yield* run(
        () => [
          { expect: gssapiRequest, reply: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)] },
          { expect: tokenIs("ap-req"), reply: [Scripted.gssapiErrtok(bytes("krb-error")), Scripted.failure(["publickey"])] }
        ],
        AuthStrategy.make(source()),
        gss.layer
      )
      expect(gss.seen).toEqual(["krb-error"])
      const error = errorOf(result)!
      expect([error._tag, error.via, error.minorMessage, error.major]).toEqual(["GssapiServerError", "GSSAPI_ERRTOK", "Clock skew too great", 0xd0000])
    }))

  it.effect("gssapi: an ERROR then FAILURE is a GssapiServerError with the server's codes, its text escaped", () =>
    Effect.gen(function*() {
      const gss = kerberos()
      const { result } = yield* run(
        () => [
          { expect: gssapiRequest, reply: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)] },
          { expect: tokenIs("ap-req"), reply: [Scripted.gssapiError(851968, 2529638919, "no key\u001b[2J for host"), Scripted.failure(["publickey"])] }
        ],
        AuthStrategy.make(source()),
        gss.layer
      )
      const error = errorOf(result)!
      expect([error._tag, error.via, error.major, error.minor]).toEqual(["GssapiServerError", "GSSAPI_ERROR", 851968, 2529638919])
      expect(error.message).not.toContain("\u001b")
      expect(error.message).toContain("no key")
    }))

  const outOfOrder: ReadonlyArray<
    {
      readonly name: string
      readonly first: ReadonlyArray<Uint8Array>
      readonly then?: ReadonlyArray<Uint8Array>
      readonly afterMic?: ReadonlyArray<Uint8Array>
      readonly says: RegExp
    }
  > = [
    { name: "a TOKEN before the RESPONSE", first: [Scripted.gssapiToken(bytes("early"))], says: /GSSAPI_TOKEN before GSSAPI_RESPONSE/ },
    { name: "an ERRTOK before the RESPONSE", first: [Scripted.gssapiErrtok(bytes("early"))], says: /GSSAPI_ERRTOK before GSSAPI_RESPONSE/ },
    { name: "a RESPONSE naming another mechanism", first: [Scripted.gssapiResponse(Uint8Array.of(6, 1, 42))], says: /mechanism we did not offer/ },
    {
      name: "a second RESPONSE",
      first: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)],
      then: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)],
      says: /a second GSSAPI_RESPONSE/
    },
    {
      name: "a TOKEN after the context is established",
      first: [Scripted.gssapiResponse(Gssapi.krb5MechanismDer)],
      then: [Scripted.gssapiToken(bytes("ap-rep"))],
      afterMic: [Scripted.gssapiToken(bytes("more"))],
      says: /GSSAPI_TOKEN after the context was established/
    },
    {
      name: "a MIC (66) from the server",
      first: [encode((w) => w.byte(66).string(bytes("mic")))],
      says: /MSG_66|USERAUTH_GSSAPI_MIC is not a gssapi-with-mic reply/
    },
    { name: "an EXCHANGE_COMPLETE (63) from the server", first: [Uint8Array.of(63)], says: /is not a gssapi-with-mic reply/ },
    { name: "62, which RFC 4462 leaves unused", first: [Uint8Array.of(62)], says: /MSG_62 is not a gssapi-with-mic reply/ }
  ]
  for (const c of outOfOrder) {
    it.effect(`gssapi: ${c.name} is the server's protocol error, and the connection is closed`, () =>
      Effect.gen(function*() {
        const gss = kerberos()
        const { result, sent } = yield* run(
          () => [
            { expect: gssapiRequest, reply: c.first },
            ...(c.then ? [{ expect: tokenIs("ap-req"), reply: c.then }] : []),
            ...(c.afterMic ? [{ expect: (m: Scripted.ClientMessage) => m._tag === "Other" && m.messageNumber === 66 || "MIC", reply: c.afterMic }] : [])
          ],
          AuthStrategy.make(source(), source()),
          gss.layer
        )
        const error = errorOf(result)
        expect([error?._tag, error?.reason]).toEqual(["AuthError", "ProtocolError"])
        expect(error?.message).toMatch(c.says)
        // Nothing more goes to a server that broke the protocol: the second source sends nothing.
        expect(numbers(sent).filter((n) => n === "gssapi-with-mic")).toHaveLength(1)
      }))
  }

  it.effect("publickey: 60 is PK_OK; 61, 64 and 65 are not gssapi messages there but protocol errors", () =>
    Effect.gen(function*() {
      const query = (m: Scripted.ClientMessage) => m._tag === "UserauthRequest" && m.fields?._tag === "PublicKey" && !m.fields.signed || "expected a query"
      const signed = (m: Scripted.ClientMessage) =>
        m._tag === "UserauthRequest" && m.fields?._tag === "PublicKey" && m.fields.signed || "expected a signed request"
      const ok = yield* run(
        () => [{ expect: query, reply: [Scripted.pkOk("ssh-ed25519", signer.publicKey.blob)] }, { expect: signed, reply: [Scripted.success] }],
        AuthStrategy.make(new PrivateKey({ username: "alice", signer })),
        kerberos().layer
      )
      expect(Either.isRight(ok.result)).toBe(true)
      for (const n of [61, 64, 65]) {
        const message = n === 64 ? Scripted.gssapiError(1, 2, "x") : encode((w) => w.byte(n).string(bytes("token")))
        const { result } = yield* run(
          () => [{ expect: query, reply: [message] }],
          AuthStrategy.make(new PrivateKey({ username: "alice", signer })),
          kerberos().layer
        )
        const error = errorOf(result)
        expect([n, error?._tag, error?.reason]).toEqual([n, "AuthError", "ProtocolError"])
        expect(error?.message).toMatch(/unexpected .* in reply to a publickey request/)
      }
    }))

  it.effect("keyboard-interactive: 60 is INFO_REQUEST; 64 and 65 are protocol errors there", () =>
    Effect.gen(function*() {
      const answered: Array<string> = []
      const kbd = () =>
        new KeyboardInteractive({
          username: "alice",
          responder: (request) => Effect.sync(() => (answered.push(...request.prompts.map((p) => p.prompt)), request.prompts.map(() => Redacted.make("otp"))))
        })
      const ok = yield* run(
        () => [
          {
            expect: (m) => m._tag === "UserauthRequest" && m.method === "keyboard-interactive" || "kbd",
            reply: [Scripted.infoRequest({ prompts: [{ prompt: "Code: ", echo: false }] })]
          },
          { expect: (m) => m._tag === "InfoResponse" && m.responses[0] === "otp" || "responses", reply: [Scripted.success] }
        ],
        AuthStrategy.make(kbd()),
        kerberos().layer
      )
      expect(Either.isRight(ok.result)).toBe(true)
      expect(answered).toEqual(["Code: "])
      for (const n of [64, 65]) {
        const message = n === 64 ? Scripted.gssapiError(1, 2, "x") : Scripted.gssapiErrtok(bytes("t"))
        const { result } = yield* run(
          () => [{ expect: (m) => m._tag === "UserauthRequest" || "kbd", reply: [message] }],
          AuthStrategy.make(kbd()),
          kerberos().layer
        )
        const error = errorOf(result)
        expect([n, error?._tag, error?.reason]).toEqual([n, "AuthError", "ProtocolError"])
      }
    }))

  it.effect("no ticket: the source's GssError, nothing sent for it, and the strategy goes on to the next source", () =>
    Effect.gen(function*() {
      const gss = scriptedGssapi({ first: Effect.fail(gssError("gss_init_sec_context", "No Kerberos credentials available")) })
      const { result, sent } = yield* run(
        () => [{ expect: (m) => m._tag === "UserauthRequest" && m.method === "keyboard-interactive" || "only kbd", reply: [Scripted.success] }],
        AuthStrategy.make(source(), new KeyboardInteractive({ username: "alice", responder: () => Effect.succeed([]) })),
        gss.layer
      )
      expect(Either.isRight(result)).toBe(true)
      const r = Either.getOrThrow(result)
      expect(r.attempts.map((a) => a.attempt._tag)).toEqual(["Error", "Success"])
      expect((r.attempts[0].attempt as { error: { _tag: string; minorMessage: string } }).error).toMatchObject({
        _tag: "GssError",
        minorMessage: "No Kerberos credentials available"
      })
      expect(numbers(sent)).toEqual(["keyboard-interactive"])
    }))
})
