/**
 * Byte channels: what a connection runs over. The seam is small on purpose (open with a
 * sink, write, close), so that one SSH connection runs the same over a bare `node:net`
 * socket (the default), an `@effect/platform` `Socket` (a WebSocket tunnel, a proxy, a
 * channel of another SSH connection) or an in-memory pair (a client and a server in one
 * process, with no network).
 *
 * Incoming bytes are pushed into a sink, not pulled by a fiber: the edge feeds them to the
 * sans-IO core in the callback that delivers them, so an open connection costs no fiber.
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import { TransportError } from "./TransportError.js"

/**
 * Where a channel delivers what happens on its far side. Called in order, and never after
 * `end` or `lost`, or after the channel was closed.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChannelSink {
  readonly data: (bytes: Uint8Array) => void
  /** The peer closed its side. */
  readonly end: () => void
  /** The channel broke. */
  readonly lost: (error: TransportError) => void
}

/**
 * A connected byte stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface ByteChannel {
  readonly host: string
  readonly port: number
  /** Starts delivering to `sink`; what arrived before is delivered first. Called once. */
  open(sink: ChannelSink): void
  /** Queues bytes for the peer without waiting; a failed write surfaces as `lost`. */
  write(bytes: Uint8Array): void
  /** Closes the channel once queued bytes are out; the sink hears nothing more. Idempotent. */
  close(): void
}

type Delivery = { readonly _tag: "data"; readonly bytes: Uint8Array } | { readonly _tag: "end" } | {
  readonly _tag: "lost"
  readonly error: TransportError
}

/**
 * The sink side every channel shares: holds deliveries until `open`, drops them after
 * close or after the end, and delivers them in order. `later` defers delivery (the memory
 * pair must not re-enter a writer from its own write). For channel implementations.
 *
 * @since 0.1.0
 * @category constructors
 */
export class SinkGate {
  private sink: ChannelSink | undefined
  private held: Array<Delivery> = []
  private finished = false
  private scheduled = false
  /** In a sink's call: what arrives meanwhile waits its turn behind it. */
  private delivering = false

  constructor(private readonly later?: (run: () => void) => void) {}

  open(sink: ChannelSink): void {
    if (this.sink !== undefined) throw new Error("a byte channel is opened once")
    this.sink = sink
    this.schedule()
  }

  deliver(delivery: Delivery): void {
    if (this.finished) return
    if (delivery._tag !== "data") this.finished = true
    this.held.push(delivery)
    this.schedule()
  }

  /**
   * Bytes from the far side: straight to an open sink when nothing waits before them (every
   * read of a connection, in both roles: no delivery record or batch made for it), else in
   * turn, as `deliver`.
   */
  data(bytes: Uint8Array): void {
    const sink = this.sink
    if (sink === undefined || this.finished || this.delivering || this.held.length > 0 || this.later !== undefined) {
      return this.deliver({ _tag: "data", bytes })
    }
    this.delivering = true
    try {
      sink.data(bytes)
    } finally {
      this.delivering = false
    }
    // What a sink caused to arrive during its call.
    this.schedule()
  }

  /** Nothing more reaches the sink. */
  shut(): void {
    this.finished = true
    this.held = []
    this.sink = undefined
  }

  private schedule(): void {
    if (this.sink === undefined || this.held.length === 0 || this.scheduled) return
    if (this.later === undefined) return this.flush()
    this.scheduled = true
    this.later(() => {
      this.scheduled = false
      this.flush()
    })
  }

  private flush(): void {
    if (this.delivering) return
    this.delivering = true
    try {
      // Bounded: each delivery is taken once, and a sink that delivers more only appends.
      while (this.held.length > 0 && this.sink !== undefined) {
        const batch = this.held
        this.held = []
        for (const d of batch) {
          const sink = this.sink
          if (sink === undefined) return
          if (d._tag === "data") sink.data(d.bytes)
          else if (d._tag === "end") sink.end()
          else sink.lost(d.error)
        }
      }
    } finally {
      this.delivering = false
    }
  }
}

/**
 * Closes a `node:net` socket: once its queued bytes are out, or at once while it is still
 * connecting (a connect may never end).
 *
 * @since 0.1.0
 * @category constructors
 */
export const closeNetSocket = (socket: net.Socket): void => {
  if (socket.connecting) socket.destroy()
  else socket.destroySoon()
}

/**
 * A channel over a connected `node:net` socket: writes are queued on the socket at once
 * and never awaited (as ssh2 and OpenSSH write); reads go to the sink from the socket's own
 * `data` event. The socket stays paused until `open`. Closing ends the socket once queued
 * bytes are out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromNetSocket = (socket: net.Socket, host: string, port: number): ByteChannel => new NetSocketChannel(socket, host, port)

const socketEnded: Delivery = { _tag: "end" }

/** `fromNetSocket`'s channel. A class: an open connection keeps one object, not a closure per method. */
class NetSocketChannel implements ByteChannel {
  private readonly gate = new SinkGate()

  constructor(private readonly socket: net.Socket, readonly host: string, readonly port: number) {
    const ended = () => this.gate.deliver(socketEnded)
    socket.on("end", ended)
    socket.on("close", ended)
    socket.on("error", (cause) => {
      const error = new TransportError({ reason: "ConnectionClosed", host, port, detail: `connection lost: ${cause.message}`, cause }, true)
      this.gate.deliver({ _tag: "lost", error })
    })
  }

  open(sink: ChannelSink): void {
    this.gate.open(sink)
    // Attached last: a `data` listener starts the flow.
    this.socket.on("data", (bytes: Buffer) => this.gate.data(bytes))
  }

  write(bytes: Uint8Array): void {
    if (this.socket.writable) this.socket.write(bytes)
  }

  close(): void {
    this.gate.shut()
    closeNetSocket(this.socket)
  }
}

/**
 * A channel over an `@effect/platform` `Socket`, for a stream someone else opened. The
 * socket runs in a fiber of the current scope; closing the channel interrupts it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPlatformSocket = (
  socket: Socket.Socket,
  host: string,
  port: number
): Effect.Effect<ByteChannel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const gate = new SinkGate()
    const write = yield* socket.writer
    const runFiber = yield* socket.run((bytes) => gate.data(bytes)).pipe(
      Effect.matchCause({
        onSuccess: () => gate.deliver({ _tag: "end" }),
        onFailure: (cause) => {
          if (Cause.isInterruptedOnly(cause)) return gate.deliver({ _tag: "end" })
          const error = new TransportError({ reason: "ConnectionClosed", host, port, detail: "connection lost", cause }, true)
          gate.deliver({ _tag: "lost", error })
        }
      }),
      Effect.forkScoped
    )
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    return {
      host,
      port,
      open: (sink) => gate.open(sink),
      // The platform's writer is an Effect: run on the caller's runtime, not awaited.
      write: (bytes) => void runFork(Effect.ignore(write(bytes))),
      close: () => {
        gate.shut()
        runFiber.unsafeInterruptAsFork(runFiber.id())
      }
    } satisfies ByteChannel
  })

/**
 * Two channels joined back to back in memory: what one writes, the other reads, in a later
 * microtask (never inside the writer's own call). For a client and a server in one process
 * with no network.
 *
 * @since 0.1.0
 * @category constructors
 */
export const memoryPair = (host = "memory", port = 0): readonly [ByteChannel, ByteChannel] => {
  const gates = [new SinkGate(queueMicrotask), new SinkGate(queueMicrotask)] as const
  const side = (ours: 0 | 1): ByteChannel => {
    const theirs = gates[ours === 0 ? 1 : 0]
    let open = true
    return {
      host,
      port,
      open: (sink) => gates[ours].open(sink),
      // A copy: the writer may reuse its buffer.
      write: (bytes) => {
        if (open) theirs.data(Uint8Array.from(bytes))
      },
      close: () => {
        if (!open) return
        open = false
        theirs.deliver({ _tag: "end" })
        gates[ours].shut()
      }
    }
  }
  return [side(0), side(1)]
}
