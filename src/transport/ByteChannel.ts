/**
 * Byte channels: what a connection runs over. The seam is small on purpose (write, a queue
 * of incoming chunks, close), so that one SSH connection runs the same over a bare
 * `node:net` socket (the default), an `@effect/platform` `Socket` (a WebSocket tunnel, a
 * proxy, a channel of another SSH connection) or an in-memory pair (a client and a server
 * in one process, with no network).
 *
 * @since 0.1.0
 */
import type * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import { Inbox } from "./Inbox.js"
import { TransportError } from "./TransportError.js"

/**
 * A connected byte stream.
 *
 * @since 0.1.0
 * @category models
 */
export interface ByteChannel {
  readonly host: string
  readonly port: number
  /** Queues bytes for the peer without waiting; a failed write surfaces as the end of `chunks`. */
  write(bytes: Uint8Array): void
  /** Incoming chunks; ends with NoSuchElementException on EOF, or with the socket's error. */
  readonly chunks: Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>
  /** Closes the channel once queued bytes are out. Idempotent. */
  readonly close: Effect.Effect<void>
}

const ended = () => new Cause.NoSuchElementException()

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
 * and never awaited (as ssh2 and OpenSSH write), reads go straight into the queue. Closing
 * ends the socket once queued bytes are out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromNetSocket = (socket: net.Socket, host: string, port: number): ByteChannel => {
  const chunks = new Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>()
  socket.on("data", (chunk: Buffer) => chunks.offer(chunk))
  socket.on("end", () => chunks.end(ended))
  socket.on("close", () => chunks.end(ended))
  socket.on("error", (cause) => {
    const lost = new TransportError({ reason: "ConnectionClosed", host, port, detail: `connection lost: ${cause.message}`, cause }, true)
    chunks.end(() => lost)
  })
  return {
    host,
    port,
    chunks,
    write: (bytes) => {
      if (socket.writable) socket.write(bytes)
    },
    close: Effect.sync(() => {
      chunks.end(ended)
      closeNetSocket(socket)
    })
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
    const chunks = new Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>()
    const write = yield* socket.writer
    const runFiber = yield* socket.run((chunk) => chunks.offer(chunk)).pipe(
      Effect.matchCause({
        onSuccess: () => chunks.end(ended),
        onFailure: (cause) => {
          if (Cause.isInterruptedOnly(cause)) return chunks.end(ended)
          const lost = new TransportError({ reason: "ConnectionClosed", host, port, detail: "connection lost", cause }, true)
          chunks.end(() => lost)
        }
      }),
      Effect.forkScoped
    )
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    return {
      host,
      port,
      chunks,
      // The platform's writer is an Effect: run on the caller's runtime, not awaited.
      write: (bytes) => void runFork(Effect.ignore(write(bytes))),
      close: Effect.asVoid(Fiber.interrupt(runFiber))
    } satisfies ByteChannel
  })

/**
 * Two channels joined back to back in memory: what one writes, the other reads. For a
 * client and a server in one process with no network.
 *
 * @since 0.1.0
 * @category constructors
 */
export const memoryPair = (host = "memory", port = 0): readonly [ByteChannel, ByteChannel] => {
  const queues = [
    new Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>(),
    new Inbox<Uint8Array, TransportError | Cause.NoSuchElementException>()
  ] as const
  const side = (ours: 0 | 1): ByteChannel => {
    const theirs = queues[ours === 0 ? 1 : 0]
    let open = true
    return {
      host,
      port,
      chunks: queues[ours],
      // A copy: the writer may reuse its buffer.
      write: (bytes) => {
        if (open) theirs.offer(Uint8Array.from(bytes))
      },
      close: Effect.sync(() => {
        open = false
        theirs.end(ended)
        queues[ours].end(ended)
      })
    }
  }
  return [side(0), side(1)]
}
