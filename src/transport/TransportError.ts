/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { disconnectReasonName } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"

/**
 * Why a transport failed.
 *
 * @since 0.1.0
 * @category models
 */
export const TransportErrorReason = Schema.Literal(
  "ConnectFailed",
  "Timeout",
  "VersionExchange",
  "PacketTooLarge",
  "BadPacket",
  "MacError",
  "ConnectionClosed",
  "KexFailed",
  "ProtocolError",
  "Closed",
  "InvalidOptions",
  /** The proxy the connection runs through failed: a ProxyCommand exited, a jump host refused the channel. */
  "ProxyFailed"
)

/**
 * A transport failure, with the host and port and, for handshake failures, the step it
 * happened in.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: TransportErrorReason,
  host: Schema.String,
  port: Schema.Number,
  /** The step that failed: "connect", "version exchange", "KEXINIT", "KEXDH_REPLY"… */
  step: Schema.optional(Schema.String),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    // Details quote the peer at times; whatever slipped through unescaped is escaped here.
    return `${this.host}:${this.port}: ${this.step ? `${this.step}: ` : ""}${show(this.detail, 1000)}`
  }
}

/**
 * The server sent SSH_MSG_DISCONNECT (RFC 4253 §11.1).
 *
 * @since 0.1.0
 * @category errors
 */
export class Disconnected extends Schema.TaggedError<Disconnected>()("Disconnected", {
  host: Schema.String,
  port: Schema.Number,
  /** The RFC 4250 §4.2.2 reason code. */
  code: Schema.Number,
  description: Schema.String
}) {
  /** The RFC name of the reason code, such as "PROTOCOL_ERROR". */
  get codeName(): string {
    return disconnectReasonName(this.code)
  }

  override get message(): string {
    // The description is the server's text: shown escaped and cut.
    return `${this.host}:${this.port} disconnected: ${this.codeName} (${this.code})${this.description ? `: ${show(this.description)}` : ""}`
  }
}

/**
 * What any transport operation can fail with after the connection is up.
 *
 * @since 0.1.0
 * @category errors
 */
export type TransportFailure = TransportError | Disconnected

/**
 * Makes an error with no stack trace. For the ordinary end of a connection (the peer's
 * DISCONNECT, our own close), built once per connection: its stack would only show our
 * dispatch code, and capturing it costs three times the rest of the error.
 *
 * @since 0.1.0
 * @category constructors
 */
export const withoutStack = <E>(make: () => E): E => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}
