/**
 * The least a server does after authentication: `session` channels that take one `exec`
 * each, answered by the application's Effect with output and an exit status. Enough for
 * `ssh user@host some-command`; no pty, shell, forwarding or subsystems (each is refused
 * with CHANNEL_FAILURE or OPEN_FAILURE, as sshd refuses what it does not allow).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Effectable from "effect/Effectable"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { Channel, defaultMaxPacket, defaultWindow, openConfirmation, OpenFailure, openFailure } from "../connection/Channel.js"
import * as Conversation from "../transport/Conversation.js"
import type { ServerConnection } from "../transport/ServerHandshake.js"
import { DisconnectReason, MessageNumber } from "../wire/MessageNumber.js"
import { decode } from "../wire/Reader.js"
import type { Authenticated } from "./ServerAuthResult.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecRequest {
  readonly command: string
  readonly authenticated: Authenticated
  readonly connection: ServerConnection
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ExecResult {
  readonly stdout?: string | Uint8Array
  readonly stderr?: string | Uint8Array
  readonly exitStatus: number
}

/**
 * @since 0.1.0
 * @category models
 */
export type ExecHandler = (request: ExecRequest) => Effect.Effect<ExecResult>

/**
 * @since 0.1.0
 * @category models
 */
export interface SessionOptions {
  /** The connection is closed after this long with no message. Default 10 minutes. */
  readonly idleTimeout?: Duration.DurationInput
  /** Channels open at once. Default 10 (sshd's MaxSessions). */
  readonly maxSessions?: number
}

/** `idleTimeout`'s default as a number: parsing "10 minutes" was half of the session's set-up per connection. */
const defaultIdleMillis = 10 * 60_000

const bytes = (v: string | Uint8Array | undefined) => (v === undefined ? new Uint8Array(0) : typeof v === "string" ? Buffer.from(v, "utf8") : v)

/**
 * Serves session channels over an authenticated connection until the client closes it,
 * goes idle, or breaks the protocol. None of these is the application's failure: the
 * connection's end is the session's end.
 *
 * The session is a conversation in the connection's callbacks. Returned as it is from
 * `onAuthenticated`, `Server.listen` runs it with no fiber at all (a `ServedSession`): an
 * idle connection keeps none, and a message makes one only to run the application's
 * `exec`. Run as an Effect (inside the application's own), its fiber waits in one place.
 *
 * @since 0.1.0
 * @category running
 */
export const serveExec = (
  connection: ServerConnection,
  authenticated: Authenticated,
  exec: ExecHandler,
  options: SessionOptions = {}
): ServedSession => {
  const idleMillis = options.idleTimeout === undefined ? defaultIdleMillis : Duration.toMillis(options.idleTimeout)
  return new ServedSession(
    connection,
    Conversation.make<void>(
      (now) => sessionSteps(now, idleMillis, new Channels(options.maxSessions ?? 10), connection, (command) => exec({ command, authenticated, connection })),
      // Given to the conversation, not wrapped around it: no frame of it stays on an idle connection's fiber.
      (e) => e._tag === "TransportError" && e.reason === "Timeout" ? connection.disconnect(DisconnectReason.BY_APPLICATION, "idle timeout") : Effect.void
    )
  )
}

/**
 * `serveExec`'s session: an Effect that runs it, and the conversation itself, which
 * `Server.listen` runs without a fiber when `onAuthenticated` returns this for its
 * connection.
 *
 * @since 0.1.0
 * @category models
 */
export class ServedSession extends Effectable.Class<void> {
  constructor(readonly connection: ServerConnection, readonly conversation: Conversation.Conversation<void, never, never>) {
    super()
  }

  /**
   * The session as an Effect: its fiber waits while the conversation runs.
   *
   * @since 0.1.0
   */
  commit(): Effect.Effect<void> {
    // `onFailure` ends every failure in success.
    return Conversation.run(this.connection, this.conversation) as Effect.Effect<void>
  }
}

/**
 * One session's messages, each answered in turn; bounded by the connection: each turn takes
 * one message, and the wait has a deadline. What each message does is `Channels`' plain
 * code: this generator, whose registers an idle connection keeps, holds little.
 */
function* sessionSteps(
  now: () => number,
  idleMillis: number,
  channels: Channels,
  connection: ServerConnection,
  exec: (command: string) => Effect.Effect<ExecResult>
): Conversation.Steps<void, never> {
  for (;;) {
    const receive: Conversation.ConversationStep = { _tag: "Receive", deadline: now() + idleMillis }
    const turn = channels.answer((yield receive) as Uint8Array)
    if (turn === undefined) continue
    if ("violation" in turn) {
      yield* Conversation.call(connection.disconnect(DisconnectReason.PROTOCOL_ERROR, turn.violation))
      return Exit.void
    }
    if ("command" in turn) {
      if (turn.reply) yield* Conversation.send(turn.reply)
      const result = yield* Conversation.call(exec(turn.command))
      yield* sendAll(channels.executed(turn.channel, result))
      continue
    }
    yield* sendAll(turn)
  }
}

function* sendAll(messages: ReadonlyArray<Uint8Array>) {
  for (const m of messages) yield* Conversation.send(m)
}

/** What a message asks of the session: messages to send, an `exec` to run, or the end for a protocol violation. */
type Turn = ReadonlyArray<Uint8Array> | { readonly command: string; readonly channel: Channel; readonly reply: Uint8Array | undefined } | {
  readonly violation: string
}

/** The session's channels, and what each message does to them. */
class Channels {
  // Made at the first channel open: an idle connection with no channel keeps neither map.
  private open: Map<number, Channel> | undefined
  /** Exit statuses held until the client's window takes the output before them. */
  private exitPending: Map<number, number> | undefined
  private nextId = 0

  constructor(private readonly maxSessions: number) {}

  answer(payload: Uint8Array): Turn | undefined {
    const parsed = parse(payload)
    if (Either.isLeft(parsed)) return { violation: `malformed message: ${parsed.left.message}` }
    const m = parsed.right
    if ("unknown" in m) {
      // USERAUTH messages after authentication (RFC 4252 §5.1: ignored), anything else is refused.
      return m.type >= 50 && m.type <= 79 ? undefined : { violation: `unexpected message ${m.type}` }
    }
    switch (m.type) {
      case MessageNumber.GLOBAL_REQUEST:
        return m.wantReply ? [Uint8Array.of(MessageNumber.REQUEST_FAILURE)] : undefined
      case MessageNumber.REQUEST_SUCCESS:
      case MessageNumber.REQUEST_FAILURE:
        return undefined
      case MessageNumber.CHANNEL_OPEN: {
        if (m.kind !== "session") return [openFailure(m.sender, OpenFailure.UNKNOWN_CHANNEL_TYPE, "only session channels are served")]
        const open = this.open ??= new Map()
        if (open.size >= this.maxSessions) return [openFailure(m.sender, OpenFailure.RESOURCE_SHORTAGE, "too many sessions")]
        const channel = new Channel(this.nextId++, m.sender, m.window, Math.max(1, Math.min(m.maxPacket, defaultMaxPacket)))
        open.set(channel.localId, channel)
        return [openConfirmation(channel, defaultWindow, defaultMaxPacket)]
      }
    }
    const channel = this.open?.get(m.id)
    if (channel === undefined) return { violation: `message ${m.type} for channel ${m.id}, which is not open` }
    switch (m.type) {
      case MessageNumber.CHANNEL_REQUEST:
        if (m.request === "exec" && m.command !== undefined && !this.exitPending?.has(channel.localId) && !channel.eofSent) {
          return { command: m.command, channel, reply: m.wantReply ? channel.reply(true) : undefined }
        }
        return m.wantReply ? [channel.reply(false)] : undefined
      case MessageNumber.CHANNEL_WINDOW_ADJUST: {
        const adjusted = channel.windowAdjust(m.bytes)
        const status = this.exitPending?.get(channel.localId)
        if (status === undefined || !channel.drained) return adjusted
        this.exitPending!.delete(channel.localId)
        return [...adjusted, ...finish(channel, status)]
      }
      case MessageNumber.CHANNEL_DATA:
      case MessageNumber.CHANNEL_EXTENDED_DATA: {
        // Input is not read by an exec of ours, but the window still holds.
        const got = channel.received(m.length)
        if (!got.ok) return { violation: `channel ${m.id}: data beyond the window` }
        return got.adjust ? [got.adjust] : undefined
      }
      case MessageNumber.CHANNEL_EOF:
        channel.eofReceived = true
        return undefined
      case MessageNumber.CHANNEL_CLOSE:
        channel.closeReceived = true
        this.open!.delete(channel.localId)
        this.exitPending?.delete(channel.localId)
        return channel.close()
      default:
        return undefined
    }
  }

  /** The output of an `exec`, and its exit status once the client's window has taken the output. */
  executed(channel: Channel, result: ExecResult): ReadonlyArray<Uint8Array> {
    // Output past the channel's queue bound is not sent, and the client is told so.
    const write = (data: Uint8Array, stream?: number) =>
      channel.write(data, stream) ?? channel.write(Buffer.from(`output of ${data.length} bytes not sent: over the session's limit\n`), 1) ?? []
    const output = [...write(bytes(result.stdout)), ...write(bytes(result.stderr), 1)]
    if (channel.drained) return [...output, ...finish(channel, result.exitStatus)]
    ;(this.exitPending ??= new Map()).set(channel.localId, result.exitStatus)
    return output
  }
}

const finish = (channel: Channel, exitStatus: number): ReadonlyArray<Uint8Array> => [
  channel.request("exit-status", (w) => w.uint32(exitStatus >>> 0)),
  ...channel.eof(),
  ...channel.close()
]

/** The session's messages, as far as this session reads them. */
const parse = (payload: Uint8Array) =>
  decode(payload, (r) => {
    const type = r.byte()
    switch (type) {
      case MessageNumber.GLOBAL_REQUEST: {
        r.text("request name")
        return { type, wantReply: r.boolean("want reply") } as const
      }
      case MessageNumber.CHANNEL_OPEN: {
        const kind = r.text("channel type")
        return { type, kind, sender: r.uint32("sender channel"), window: r.uint32("initial window"), maxPacket: r.uint32("maximum packet") } as const
      }
      case MessageNumber.CHANNEL_REQUEST: {
        const id = r.uint32("recipient channel")
        const request = r.text("request type")
        const wantReply = r.boolean("want reply")
        const command = request === "exec" ? r.text("command") : undefined
        return { type, id, request, wantReply, command } as const
      }
      case MessageNumber.CHANNEL_DATA:
      case MessageNumber.CHANNEL_EXTENDED_DATA: {
        const id = r.uint32("recipient channel")
        if (type === MessageNumber.CHANNEL_EXTENDED_DATA) r.uint32("data type")
        return { type, id, length: r.string("data").length } as const
      }
      case MessageNumber.CHANNEL_WINDOW_ADJUST:
        return { type, id: r.uint32("recipient channel"), bytes: r.uint32("bytes to add") } as const
      case MessageNumber.CHANNEL_EOF:
      case MessageNumber.CHANNEL_CLOSE:
      case MessageNumber.CHANNEL_SUCCESS:
      case MessageNumber.CHANNEL_FAILURE:
      case MessageNumber.REQUEST_SUCCESS:
      case MessageNumber.REQUEST_FAILURE:
        return { type, id: type >= 90 ? r.uint32("recipient channel") : 0 } as const
      default:
        return { type, unknown: true } as const
    }
  })
