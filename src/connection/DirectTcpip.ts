/**
 * A `direct-tcpip` channel (RFC 4254 §7.2) of an authenticated connection, as a byte
 * channel: what `ssh -J` runs the next hop's connection over. The jump host connects to
 * the target; the next connection's bytes travel as CHANNEL_DATA inside this one.
 *
 * Once open, the channel owns the connection's incoming messages: a jump host's connection
 * carries this channel and nothing else. Windows and packet sizes are kept by `Channel`,
 * the same bookkeeping the server's session channels use.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { type ByteChannel, SinkGate } from "../transport/ByteChannel.js"
import type { Transport } from "../transport/Transport.js"
import { TransportError, type TransportFailure } from "../transport/TransportError.js"
import { DisconnectReason, MessageNumber } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import { decode } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { Channel, defaultMaxPacket, defaultWindow, OpenFailure } from "./Channel.js"

/**
 * The jump host would not open the channel: `AllowTcpForwarding no`, a `PermitOpen` that
 * leaves the target out, or a target it cannot reach.
 *
 * @since 0.1.0
 * @category errors
 */
export class ChannelOpenRefused extends Schema.TaggedError<ChannelOpenRefused>()("ChannelOpenRefused", {
  /** The jump host, as `host:port`. */
  via: Schema.String,
  host: Schema.String,
  port: Schema.Number,
  /** RFC 4254 §5.1's reason code. */
  code: Schema.Number,
  /** The jump host's own words, made printable. */
  description: Schema.String
}) {
  override get message(): string {
    const name = Object.entries(OpenFailure).find(([, code]) => code === this.code)?.[0] ?? "unknown reason"
    return `${this.via} refused a channel to ${this.host}:${this.port}: ${name} (${this.code})${this.description ? `: ${this.description}` : ""}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DirectTcpipOptions {
  /** The wait for the jump host's answer to the open. Default 10 s. */
  readonly openTimeout?: Duration.DurationInput
  /** Where the connection says it comes from; ssh -J says 127.0.0.1 port 65535. */
  readonly originator?: { readonly host: string; readonly port: number }
}

/** Messages the jump host may send while we wait for its answer, before we call it a flood. */
const MAX_MESSAGES_BEFORE_ANSWER = 64
/** Our only channel's id. */
const LOCAL_ID = 0

/**
 * Asks the jump host on `transport` for a channel to `target` and returns it as a byte
 * channel. The channel closes with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (
  transport: Transport,
  target: { readonly host: string; readonly port: number },
  options: DirectTcpipOptions = {}
): Effect.Effect<ByteChannel, ChannelOpenRefused | TransportFailure, Scope.Scope> =>
  Effect.gen(function*() {
    const via = `${transport.host}:${transport.port}`
    const violation = (detail: string) =>
      Effect.zipRight(
        transport.disconnect(DisconnectReason.PROTOCOL_ERROR, "protocol error"),
        Effect.fail(new TransportError({ reason: "ProtocolError", host: transport.host, port: transport.port, step: "direct-tcpip", detail }))
      )
    const originator = options.originator ?? { host: "127.0.0.1", port: 65535 }
    yield* transport.send(encode((w) =>
      w.byte(MessageNumber.CHANNEL_OPEN).string("direct-tcpip").uint32(LOCAL_ID).uint32(defaultWindow).uint32(defaultMaxPacket)
        .string(target.host).uint32(target.port).string(originator.host).uint32(originator.port)
    ))

    // The answer, within the deadline whatever else arrives first.
    const openMillis = Duration.toMillis(options.openTimeout ?? "10 seconds")
    const deadline = Date.now() + openMillis
    let channel: Channel | undefined
    for (let i = 0; channel === undefined; i++) {
      if (i >= MAX_MESSAGES_BEFORE_ANSWER) return yield* violation(`more than ${MAX_MESSAGES_BEFORE_ANSWER} messages before the answer to CHANNEL_OPEN`)
      const message = yield* transport.receiveWithin(deadline - Date.now())
      const answer = decode(message, (r) => {
        const type = r.byte()
        switch (type) {
          case MessageNumber.CHANNEL_OPEN_CONFIRMATION:
            return {
              type,
              recipient: r.uint32("recipient"),
              sender: r.uint32("sender"),
              window: r.uint32("window"),
              maxPacket: r.uint32("maximum packet")
            } as const
          case MessageNumber.CHANNEL_OPEN_FAILURE:
            return { type, recipient: r.uint32("recipient"), code: r.uint32("reason code"), description: r.text("description") } as const
          case MessageNumber.GLOBAL_REQUEST:
            return { type, name: r.text("request name"), wantReply: r.boolean("want reply") } as const
          default:
            return { type } as const
        }
      })
      if (Either.isLeft(answer)) return yield* violation(`malformed message: ${answer.left.message}`)
      const m = answer.right
      switch (m.type) {
        case MessageNumber.GLOBAL_REQUEST:
          // hostkeys-00@openssh.com and the like: nothing we take part in.
          if (m.wantReply) yield* transport.send(Uint8Array.of(MessageNumber.REQUEST_FAILURE))
          continue
        case MessageNumber.CHANNEL_OPEN_CONFIRMATION:
          if (m.recipient !== LOCAL_ID) return yield* violation(`CHANNEL_OPEN_CONFIRMATION for channel ${m.recipient}, which we did not open`)
          channel = new Channel(LOCAL_ID, m.sender, m.window, Math.max(1, Math.min(m.maxPacket, defaultMaxPacket)))
          continue
        case MessageNumber.CHANNEL_OPEN_FAILURE:
          if (m.recipient !== LOCAL_ID) return yield* violation(`CHANNEL_OPEN_FAILURE for channel ${m.recipient}, which we did not open`)
          return yield* new ChannelOpenRefused({ via, host: target.host, port: target.port, code: m.code, description: show(m.description, 200) })
        default:
          // Leftovers of authentication are ignored (RFC 4252 §5.1); anything else is out of place.
          if (m.type >= 50 && m.type <= 79) continue
          return yield* violation(`unexpected message ${m.type} before the answer to CHANNEL_OPEN`)
      }
    }
    return yield* running(transport, channel, target)
  })

/** Runs an open channel: one fiber takes the connection's messages, one sends ours in order. */
const running = (transport: Transport, channel: Channel, target: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    const gate = new SinkGate()
    const lost = (detail: string, cause?: unknown) =>
      gate.deliver({
        _tag: "lost",
        error: new TransportError({ reason: "ProxyFailed", host: target.host, port: target.port, step: "direct-tcpip", detail, ...(cause ? { cause } : {}) })
      })
    // Packets for the jump host, in the order the channel produced them.
    const outgoing = yield* Queue.unbounded<Uint8Array>()
    const enqueue = (packets: ReadonlyArray<Uint8Array>) => {
      for (const packet of packets) Queue.unsafeOffer(outgoing, packet)
    }
    yield* Queue.take(outgoing).pipe(
      Effect.flatMap(transport.send),
      Effect.forever,
      Effect.catchAll((e) => Effect.sync(() => lost(`the jump host's connection failed: ${e.message}`, e))),
      Effect.forkScoped
    )

    const via = `${transport.host}:${transport.port}`
    // Bounded by the connection: each turn takes one message, and a dead connection ends it.
    const dispatch = Effect.gen(function*() {
      while (true) {
        const next = yield* Effect.either(transport.receive)
        if (Either.isLeft(next)) {
          // An idle tunnel is not a broken one: the inner connection keeps its own deadlines.
          if (next.left._tag === "TransportError" && next.left.reason === "Timeout") continue
          return lost(`the connection to ${via} ended: ${next.left.message}`, next.left)
        }
        const parsed = decode(next.right, (r) => {
          const type = r.byte()
          if (type === MessageNumber.GLOBAL_REQUEST) return { _tag: "Global", wantReply: (r.text("request name"), r.boolean("want reply")) } as const
          if (type < MessageNumber.CHANNEL_WINDOW_ADJUST || type > MessageNumber.CHANNEL_FAILURE) return { _tag: "Other", type } as const
          const id = r.uint32("recipient channel")
          switch (type) {
            case MessageNumber.CHANNEL_WINDOW_ADJUST:
              return { _tag: "WindowAdjust", type, id, bytes: r.uint32("bytes to add") } as const
            case MessageNumber.CHANNEL_DATA:
              return { _tag: "Data", type, id, data: r.string("data"), extended: false } as const
            case MessageNumber.CHANNEL_EXTENDED_DATA:
              return { _tag: "Data", type, id, extended: (r.uint32("data type"), true), data: r.string("data") } as const
            case MessageNumber.CHANNEL_REQUEST:
              return { _tag: "Request", type, id, wantReply: (r.text("request type"), r.boolean("want reply")) } as const
            case MessageNumber.CHANNEL_EOF:
              return { _tag: "Eof", type, id } as const
            case MessageNumber.CHANNEL_CLOSE:
              return { _tag: "Close", type, id } as const
            default:
              return { _tag: "Ignored", type, id } as const
          }
        })
        const broken = (detail: string) => Effect.as(transport.disconnect(DisconnectReason.PROTOCOL_ERROR, "protocol error"), lost(detail))
        if (Either.isLeft(parsed)) return yield* broken(`${via} sent a malformed message: ${parsed.left.message}`)
        const m = parsed.right
        if (m._tag === "Global") {
          if (m.wantReply) enqueue([Uint8Array.of(MessageNumber.REQUEST_FAILURE)])
          continue
        }
        if (m._tag === "Other") {
          if (m.type === MessageNumber.REQUEST_SUCCESS || m.type === MessageNumber.REQUEST_FAILURE || (m.type >= 50 && m.type <= 79)) continue
          return yield* broken(`${via} sent message ${m.type}, which has no place on a forwarding connection`)
        }
        if (m.id !== channel.localId) return yield* broken(`${via} sent message ${m.type} for channel ${m.id}, which is not open`)
        switch (m._tag) {
          case "Data": {
            const got = channel.received(m.data.length)
            if (!got.ok) return yield* broken(`${via} sent data beyond the window`)
            if (got.adjust) enqueue([got.adjust])
            // Extended data has no meaning on a TCP tunnel: counted, then dropped.
            if (!m.extended) gate.data(m.data)
            continue
          }
          case "WindowAdjust":
            enqueue(channel.windowAdjust(m.bytes))
            continue
          case "Request":
            if (m.wantReply) enqueue([channel.reply(false)])
            continue
          case "Eof":
            channel.eofReceived = true
            gate.deliver({ _tag: "end" })
            continue
          case "Close":
            channel.closeReceived = true
            enqueue(channel.close())
            gate.deliver({ _tag: "end" })
            return
          case "Ignored":
            continue
        }
      }
    })
    yield* Effect.forkScoped(dispatch)

    return {
      host: target.host,
      port: target.port,
      open: (sink) => gate.open(sink),
      write: (bytes) => {
        // A copy: the writer may reuse its buffer while the window holds the data back.
        const packets = channel.write(Uint8Array.from(bytes))
        if (packets === undefined) lost("the jump host's window stayed shut while our data passed its bound")
        else enqueue(packets)
      },
      close: () => {
        gate.shut()
        enqueue([...channel.eof(), ...channel.close()])
      }
    } satisfies ByteChannel
  })
