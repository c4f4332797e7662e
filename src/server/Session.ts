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

/** How the client broke the protocol: the session's only end of its own (the others are the connection's). */
interface Violation {
  readonly violation: string
}

/**
 * Serves session channels over an authenticated connection until the client closes it,
 * goes idle, or breaks the protocol. None of these is the application's failure: the
 * connection's end is the session's end.
 *
 * The session is a conversation in the connection's callbacks: an idle connection's fiber
 * waits in one place, and a message wakes it only to run the application's `exec`.
 *
 * @since 0.1.0
 * @category running
 */
export const serveExec = (
  connection: ServerConnection,
  authenticated: Authenticated,
  exec: ExecHandler,
  options: SessionOptions = {}
): Effect.Effect<void> => {
  const idleMillis = options.idleTimeout === undefined ? defaultIdleMillis : Duration.toMillis(options.idleTimeout)
  const session = Conversation.make<Violation>((now) =>
    sessionSteps(now, idleMillis, options.maxSessions ?? 10, (command) => exec({ command, authenticated, connection }))
  )
  return Effect.matchEffect(Conversation.run(connection, session), {
    onFailure: (e) =>
      e._tag === "TransportError" && e.reason === "Timeout" ? connection.disconnect(DisconnectReason.BY_APPLICATION, "idle timeout") : Effect.void,
    onSuccess: ({ violation }) => connection.disconnect(DisconnectReason.PROTOCOL_ERROR, violation)
  })
}

/** One session's messages, each answered in turn; bounded by the connection: each turn takes one message, and the wait has a deadline. */
function* sessionSteps(
  now: () => number,
  idleMillis: number,
  maxSessions: number,
  exec: (command: string) => Effect.Effect<ExecResult>
): Conversation.Steps<Violation, never> {
  const channels = new Map<number, Channel>()
  const exitPending = new Map<number, number>()
  let nextId = 0
  const violation = (detail: string): Exit.Exit<Violation> => Exit.succeed({ violation: detail })
  function* sendAll(messages: ReadonlyArray<Uint8Array>) {
    for (const m of messages) yield* Conversation.send(m)
  }
  const finish = (channel: Channel, exitStatus: number) =>
    sendAll([channel.request("exit-status", (w) => w.uint32(exitStatus >>> 0)), ...channel.eof(), ...channel.close()])

  for (;;) {
    const payload = yield* Conversation.receive(now() + idleMillis)
    const parsed = parse(payload)
    if (Either.isLeft(parsed)) return violation(`malformed message: ${parsed.left.message}`)
    const m = parsed.right
    if ("unknown" in m) {
      // USERAUTH messages after authentication (RFC 4252 §5.1: ignored), anything else is refused.
      if (m.type >= 50 && m.type <= 79) continue
      return violation(`unexpected message ${m.type}`)
    }
    switch (m.type) {
      case MessageNumber.GLOBAL_REQUEST:
        if (m.wantReply) yield* Conversation.send(Uint8Array.of(MessageNumber.REQUEST_FAILURE))
        continue
      case MessageNumber.REQUEST_SUCCESS:
      case MessageNumber.REQUEST_FAILURE:
        continue
      case MessageNumber.CHANNEL_OPEN: {
        if (m.kind !== "session") {
          yield* Conversation.send(openFailure(m.sender, OpenFailure.UNKNOWN_CHANNEL_TYPE, "only session channels are served"))
          continue
        }
        if (channels.size >= maxSessions) {
          yield* Conversation.send(openFailure(m.sender, OpenFailure.RESOURCE_SHORTAGE, "too many sessions"))
          continue
        }
        const channel = new Channel(nextId++, m.sender, m.window, Math.max(1, Math.min(m.maxPacket, defaultMaxPacket)))
        channels.set(channel.localId, channel)
        yield* Conversation.send(openConfirmation(channel, defaultWindow, defaultMaxPacket))
        continue
      }
    }
    const channel = channels.get(m.id)
    if (channel === undefined) return violation(`message ${m.type} for channel ${m.id}, which is not open`)
    switch (m.type) {
      case MessageNumber.CHANNEL_REQUEST: {
        if (m.request === "exec" && m.command !== undefined && !exitPending.has(channel.localId) && !channel.eofSent) {
          if (m.wantReply) yield* Conversation.send(channel.reply(true))
          const result = yield* Conversation.call(exec(m.command))
          // Output past the channel's queue bound is not sent, and the client is told so.
          const write = (data: Uint8Array, stream?: number) =>
            channel.write(data, stream) ?? channel.write(Buffer.from(`output of ${data.length} bytes not sent: over the session's limit\n`), 1) ?? []
          yield* sendAll([...write(bytes(result.stdout)), ...write(bytes(result.stderr), 1)])
          if (channel.drained) yield* finish(channel, result.exitStatus)
          else exitPending.set(channel.localId, result.exitStatus)
        } else if (m.wantReply) {
          yield* Conversation.send(channel.reply(false))
        }
        continue
      }
      case MessageNumber.CHANNEL_WINDOW_ADJUST: {
        yield* sendAll(channel.windowAdjust(m.bytes))
        const status = exitPending.get(channel.localId)
        if (status !== undefined && channel.drained) {
          exitPending.delete(channel.localId)
          yield* finish(channel, status)
        }
        continue
      }
      case MessageNumber.CHANNEL_DATA:
      case MessageNumber.CHANNEL_EXTENDED_DATA: {
        // Input is not read by an exec of ours, but the window still holds.
        const got = channel.received(m.length)
        if (!got.ok) return violation(`channel ${m.id}: data beyond the window`)
        if (got.adjust) yield* Conversation.send(got.adjust)
        continue
      }
      case MessageNumber.CHANNEL_EOF:
        channel.eofReceived = true
        continue
      case MessageNumber.CHANNEL_CLOSE:
        channel.closeReceived = true
        yield* sendAll(channel.close())
        channels.delete(channel.localId)
        exitPending.delete(channel.localId)
        continue
      default:
        continue
    }
  }
}

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
