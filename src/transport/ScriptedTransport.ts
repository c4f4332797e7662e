/**
 * A scripted, in-memory `Transport` for testing auth strategies without a network. The test
 * states what the "server" answers to each message the client sends; the transport checks
 * the client's messages against the script and records them, decoded: `layerScripted`
 * provides the `ScriptedTransport` service beside the `Transport`, and `sent` reads them.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as PublicKey from "../keys/PublicKey.js"
import { messageName, MessageNumber } from "../wire/MessageNumber.js"
import { decode } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import type { NegotiatedAlgorithms } from "./KexInit.js"
import { Transport } from "./Transport.js"
import { Disconnected, TransportError, type TransportFailure } from "./TransportError.js"

/**
 * A client message as the script sees it. Passwords and responses are visible here: this
 * is a test double, and the test owns them.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientMessage =
  | {
    readonly _tag: "UserauthRequest"
    readonly username: string
    readonly service: string
    readonly method: string
    /** The method-specific fields, undecoded. */
    readonly rest: Uint8Array
    /** The method-specific fields, decoded, for the methods the client sends. */
    readonly fields?: RequestFields
  }
  | { readonly _tag: "InfoResponse"; readonly responses: ReadonlyArray<string> }
  | { readonly _tag: "Other"; readonly messageNumber: number; readonly payload: Uint8Array }

/**
 * The method-specific fields of a USERAUTH_REQUEST (RFC 4252 §5.2, §7, §8; RFC 4256 §3.1).
 *
 * @since 0.1.0
 * @category models
 */
export type RequestFields =
  | { readonly _tag: "None" }
  | { readonly _tag: "Password"; readonly password: string; readonly newPassword?: string }
  | {
    readonly _tag: "PublicKey"
    readonly algorithm: string
    readonly blob: Uint8Array
    /** True for the signed request, false for a query. */
    readonly signed: boolean
  }
  | { readonly _tag: "KeyboardInteractive"; readonly submethods: string }
  /** The mechanism OIDs offered, DER-encoded (RFC 4462 §3.2). */
  | { readonly _tag: "Gssapi"; readonly mechanisms: ReadonlyArray<Uint8Array> }

/**
 * @since 0.1.0
 * @category models
 */
export interface Step {
  /** Checks the client's message; return a string to fail the exchange with that complaint. */
  readonly expect?: (message: ClientMessage) => true | string
  /** What the server sends back, in order. EXT_INFO and DISCONNECT are acted on, not delivered. */
  readonly reply: ReadonlyArray<Uint8Array>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ScriptOptions {
  readonly steps: ReadonlyArray<Step>
  /** EXT_INFO's server-sig-algs as the connection starts; omit for a server that sends none. */
  readonly serverSigAlgs?: ReadonlyArray<string>
  /** The server's identification string. Default "SSH-2.0-Scripted". */
  readonly serverIdentification?: string
  /** How long `receive` waits. Default 5 s; tests use TestClock. */
  readonly receiveTimeout?: Duration.DurationInput
}

/**
 * A scripted transport, plus what the client sent.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScriptedTransport extends Transport {
  readonly sent: ReadonlyArray<ClientMessage>
}

/** The fields of the methods our client sends; undefined for any other, or a malformed one. */
const decodeFields = (method: string, rest: Uint8Array): RequestFields | undefined =>
  Either.getOrUndefined(decode<RequestFields | undefined>(rest, (r) => {
    switch (method) {
      case "none":
        return { _tag: "None" }
      case "password": {
        const change = r.boolean()
        const password = r.text()
        return change ? { _tag: "Password", password, newPassword: r.text() } : { _tag: "Password", password }
      }
      case "publickey":
      case "publickey-hostbound-v00@openssh.com": {
        const signed = r.boolean()
        return { _tag: "PublicKey", signed, algorithm: r.text(), blob: r.string().slice() }
      }
      case "keyboard-interactive":
        r.text()
        return { _tag: "KeyboardInteractive", submethods: r.text() }
      case "gssapi-with-mic": {
        const count = r.uint32()
        if (count > 64) return undefined
        return { _tag: "Gssapi", mechanisms: Array.from({ length: count }, () => r.string().slice()) }
      }
      default:
        return undefined
    }
  }))

/**
 * @since 0.1.0
 * @category decoding
 */
export const decodeClientMessage = (payload: Uint8Array): ClientMessage =>
  Either.getOrElse(
    decode<ClientMessage>(payload, (r) => {
      const n = r.byte()
      if (n === MessageNumber.USERAUTH_REQUEST) {
        const username = r.text()
        const service = r.text()
        const method = r.text()
        const rest = r.rest().slice()
        const fields = decodeFields(method, rest)
        return { _tag: "UserauthRequest", username, service, method, rest, ...(fields ? { fields } : {}) }
      }
      if (n === MessageNumber.USERAUTH_INFO_RESPONSE) {
        const count = r.uint32()
        return { _tag: "InfoResponse", responses: Array.from({ length: count }, () => r.text()) }
      }
      return { _tag: "Other", messageNumber: n, payload }
    }),
    (): ClientMessage => ({ _tag: "Other", messageNumber: payload[0], payload })
  )

/** Server messages for scripts. */
const u = MessageNumber
/**
 * @since 0.1.0
 * @category server messages
 */
export const success: Uint8Array = Uint8Array.of(u.USERAUTH_SUCCESS)
/**
 * @since 0.1.0
 * @category server messages
 */
export const failure = (allowedMethods: ReadonlyArray<string>, partialSuccess = false): Uint8Array =>
  encode((w) => w.byte(u.USERAUTH_FAILURE).nameList(allowedMethods).boolean(partialSuccess))
/**
 * @since 0.1.0
 * @category server messages
 */
export const banner = (text: string): Uint8Array => encode((w) => w.byte(u.USERAUTH_BANNER).string(text).string(""))
/**
 * @since 0.1.0
 * @category server messages
 */
export const pkOk = (algorithm: string, blob: Uint8Array): Uint8Array => encode((w) => w.byte(u.USERAUTH_PK_OK).string(algorithm).string(blob))
/**
 * @since 0.1.0
 * @category server messages
 */
export const passwordChangeRequest = (prompt: string): Uint8Array => encode((w) => w.byte(u.USERAUTH_PASSWD_CHANGEREQ).string(prompt).string(""))
/**
 * @since 0.1.0
 * @category server messages
 */
export const infoRequest = (request: {
  readonly name?: string
  readonly instruction?: string
  readonly prompts: ReadonlyArray<{ readonly prompt: string; readonly echo: boolean }>
}): Uint8Array =>
  encode((w) => {
    w.byte(u.USERAUTH_INFO_REQUEST).string(request.name ?? "").string(request.instruction ?? "").string("")
      .uint32(request.prompts.length)
    for (const p of request.prompts) w.string(p.prompt).boolean(p.echo)
  })
/**
 * SSH_MSG_USERAUTH_GSSAPI_RESPONSE: the mechanism the server chose (DER).
 *
 * @since 0.1.0
 * @category server messages
 */
export const gssapiResponse = (mechanism: Uint8Array): Uint8Array => encode((w) => w.byte(u.USERAUTH_GSSAPI_RESPONSE).string(mechanism))
/**
 * SSH_MSG_USERAUTH_GSSAPI_TOKEN.
 *
 * @since 0.1.0
 * @category server messages
 */
export const gssapiToken = (token: Uint8Array): Uint8Array => encode((w) => w.byte(u.USERAUTH_GSSAPI_TOKEN).string(token))
/**
 * SSH_MSG_USERAUTH_GSSAPI_ERROR: the server's GSS status codes and message.
 *
 * @since 0.1.0
 * @category server messages
 */
export const gssapiError = (major: number, minor: number, message: string): Uint8Array =>
  encode((w) => w.byte(u.USERAUTH_GSSAPI_ERROR).uint32(major).uint32(minor).string(message).string(""))
/**
 * SSH_MSG_USERAUTH_GSSAPI_ERRTOK: an error token for the client's GSS-API to read.
 *
 * @since 0.1.0
 * @category server messages
 */
export const gssapiErrtok = (token: Uint8Array): Uint8Array => encode((w) => w.byte(u.USERAUTH_GSSAPI_ERRTOK).string(token))
/**
 * @since 0.1.0
 * @category server messages
 */
export const extInfo = (extensions: Readonly<Record<string, string>>): Uint8Array =>
  encode((w) => {
    w.byte(u.EXT_INFO).uint32(Object.keys(extensions).length)
    for (const [k, v] of Object.entries(extensions)) w.string(k).string(v)
  })
/**
 * @since 0.1.0
 * @category server messages
 */
export const disconnect = (code: number, description: string): Uint8Array => encode((w) => w.byte(u.DISCONNECT).uint32(code).string(description).string(""))

const algorithms: NegotiatedAlgorithms = {
  kex: "scripted",
  hostKey: "ssh-ed25519",
  cipherClientToServer: "scripted",
  cipherServerToClient: "scripted",
  macClientToServer: "<implicit>",
  macServerToClient: "<implicit>",
  compressionClientToServer: "none",
  compressionServerToClient: "none",
  strictKex: true
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const makeScripted = (options: ScriptOptions): Effect.Effect<ScriptedTransport> =>
  Effect.gen(function*() {
    const host = "scripted"
    const port = 0
    const inbound = yield* Mailbox.make<Uint8Array, TransportFailure>()
    const sent: Array<ClientMessage> = []
    const extensions = new Map<string, Uint8Array>()
    if (options.serverSigAlgs) extensions.set("server-sig-algs", Buffer.from(options.serverSigAlgs.join(",")))
    let step = 0
    const error = (reason: TransportError["reason"], detail: string) => new TransportError({ reason, host, port, detail })
    const hostKey = Either.getOrThrow(
      PublicKey.fromBlob(encode((w) => w.string("ssh-ed25519").string(crypto.randomBytes(32))))
    )

    /** Delivers a reply, acting on the transport-level ones as a real transport would. */
    const deliver = (message: Uint8Array): Effect.Effect<void> => {
      if (message[0] === u.EXT_INFO) {
        return Effect.sync(() => {
          Either.map(
            decode(message, (r) => {
              r.byte()
              const n = r.uint32()
              for (let i = 0; i < n; i++) extensions.set(r.text(), r.string().slice())
            }),
            () => undefined
          )
        })
      }
      if (message[0] === u.DISCONNECT) {
        const parsed = decode(message, (r) => (r.byte(), { code: r.uint32(), description: r.text() }))
        const { code, description } = Either.getOrElse(parsed, () => ({ code: 2, description: "malformed DISCONNECT" }))
        return Effect.asVoid(inbound.fail(new Disconnected({ host, port, code, description })))
      }
      return Effect.asVoid(inbound.offer(message))
    }

    const receiveTimeout = Duration.decode(options.receiveTimeout ?? "5 seconds")
    const receiveWithin = (within: Duration.DurationInput) =>
      inbound.take.pipe(
        Effect.catchTag("NoSuchElementException", () => Effect.fail(error("ConnectionClosed", "scripted server closed"))),
        Effect.timeoutFail({
          duration: within,
          onTimeout: () => new TransportError({ reason: "Timeout", host, port, step: "receive", detail: "the script sent nothing" })
        })
      )

    const transport: ScriptedTransport = {
      host,
      port,
      sessionId: crypto.randomBytes(32),
      clientIdentification: "SSH-2.0-effect_ssh_auth_scripted",
      serverIdentification: options.serverIdentification ?? "SSH-2.0-Scripted",
      hostKey,
      // Nothing checks it in memory; a scripted server proves nothing.
      hostKeyProof: { hostKeyBlob: hostKey.blob, signature: new Uint8Array(0) },
      algorithms,
      get serverSigAlgs() {
        const v = extensions.get("server-sig-algs")
        return v ? Option.some(Buffer.from(v).toString("latin1").split(",")) : Option.none()
      },
      get extensions() {
        return extensions
      },
      get sent() {
        return sent
      },
      send: (payload) =>
        Effect.gen(function*() {
          // A mailbox that is done has no size: the script's connection is gone.
          if (Option.isNone(inbound.unsafeSize())) return yield* error("Closed", "connection is closed")
          const message = decodeClientMessage(payload)
          sent.push(message)
          const current = options.steps[step++]
          if (current === undefined) {
            return yield* error("ProtocolError", `script exhausted: no step for the client's ${messageName(payload[0])}`)
          }
          const verdict = current.expect?.(message) ?? true
          if (verdict !== true) return yield* error("ProtocolError", `script step ${step}: ${verdict}`)
          yield* Effect.forEach(current.reply, deliver, { discard: true })
        }),
      receive: receiveWithin(receiveTimeout),
      receiveWithin: (millis) => receiveWithin(Duration.min(receiveTimeout, Duration.millis(Math.max(0, millis)))),
      get pending() {
        return Option.getOrElse(inbound.unsafeSize(), () => 0)
      },
      requestService: (name) => name === "ssh-userauth" ? Effect.void : Effect.fail(new Disconnected({ host, port, code: 7, description: `no ${name}` })),
      disconnect: () => Effect.asVoid(inbound.end)
    }
    return transport
  })

/**
 * The scripted transport in context: what `layerScripted` provides beside the `Transport`,
 * so a test can read what the client sent.
 *
 * @since 0.1.0
 * @category tags
 */
export const ScriptedTransport: Context.Tag<ScriptedTransport, ScriptedTransport> = Context.GenericTag<ScriptedTransport>(
  "effect-ssh-auth/ScriptedTransport"
)

/**
 * The messages the client has sent so far, decoded, in order.
 *
 * @since 0.1.0
 * @category accessors
 */
export const sent: Effect.Effect<ReadonlyArray<ClientMessage>, never, ScriptedTransport> = Effect.map(
  ScriptedTransport,
  (transport) => [...transport.sent]
)

/**
 * A `Transport` layer that follows a script; the same transport is the `ScriptedTransport`
 * service, for `sent`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerScripted = (options: ScriptOptions): Layer.Layer<Transport | ScriptedTransport> =>
  Layer.effectContext(
    Effect.map(makeScripted(options), (transport) => Context.make(ScriptedTransport, transport).pipe(Context.add(Transport, transport)))
  )
