/**
 * A man in the middle on 127.0.0.1 that forwards to a real server and flips one bit in the
 * first encrypted packet the server sends, so the client sees a bad MAC on a connection
 * whose keys are otherwise real.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as net from "node:net"
import { listenLoopback } from "./Loopback.js"

export interface TamperProxy {
  readonly port: number
  /** Resolves when the client's socket to the proxy has closed. */
  readonly clientClosed: Effect.Effect<void>
  /** True once a byte was flipped. */
  readonly tampered: () => boolean
}

/** Byte offset, past the first encrypted packet's start, to flip: beyond any encrypted length header. */
const FLIP_OFFSET = 24

export const tamperProxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    const closed = yield* Deferred.make<void>()
    let tampered = false
    const upstreams = new Set<net.Socket>()
    yield* Effect.addFinalizer(() => Effect.sync(() => upstreams.forEach((s) => s.destroy())))
    const port = yield* listenLoopback((client) => {
      const upstream = net.connect(target.port, target.host)
      upstreams.add(upstream)
      client.on("error", () => upstream.destroy())
      upstream.on("error", () => client.destroy())
      client.on("close", () => {
        upstream.destroy()
        Deferred.unsafeDone(closed, Effect.void)
      })
      upstream.on("close", () => client.destroy())
      client.pipe(upstream)

      // Server -> client: skip the version line, walk the plaintext packets until NEWKEYS (21),
      // then flip a bit FLIP_OFFSET bytes into what follows.
      let pending = Buffer.alloc(0)
      let stage: "version" | "plain" | "encrypted" = "version"
      let encryptedSeen = 0
      upstream.on("data", (chunk: Buffer) => {
        if (stage === "encrypted") {
          if (!tampered && encryptedSeen + chunk.length > FLIP_OFFSET) {
            chunk = Buffer.from(chunk)
            chunk[FLIP_OFFSET - encryptedSeen] ^= 0x01
            tampered = true
          }
          encryptedSeen += chunk.length
          client.write(chunk)
          return
        }
        pending = Buffer.concat([pending, chunk])
        let forwardUpTo = 0
        for (let guard = 0; guard < 1000; guard++) {
          if (stage === "version") {
            const nl = pending.indexOf(0x0a, forwardUpTo)
            if (nl < 0) break
            if (pending.subarray(forwardUpTo, nl).toString("latin1").startsWith("SSH-")) stage = "plain"
            forwardUpTo = nl + 1
            continue
          }
          if (stage !== "plain" || pending.length - forwardUpTo < 6) break
          const length = pending.readUInt32BE(forwardUpTo)
          if (pending.length - forwardUpTo < 4 + length) break
          const type = pending[forwardUpTo + 5]
          forwardUpTo += 4 + length
          if (type === 21) {
            stage = "encrypted"
            break
          }
        }
        client.write(pending.subarray(0, forwardUpTo))
        const rest = pending.subarray(forwardUpTo)
        pending = Buffer.alloc(0)
        if (stage === "encrypted" && rest.length > 0) upstream.emit("data", rest)
        else pending = Buffer.from(rest)
      })
    })
    return {
      port,
      clientClosed: Deferred.await(closed),
      tampered: () => tampered
    } satisfies TamperProxy
  })
