/**
 * Whatever a server sends, the client ends in a typed error, promptly, with its socket closed:
 * never a defect, never a hang. fast-check generates the server's side of the conversation —
 * garbage from the first byte, garbage after a good version line, well-framed packets with
 * random payloads after a good KEXINIT, and a good opening with flipped bits — each followed
 * by either silence or a closed connection.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fc from "fast-check"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { fakeServer, plainPacket, serverKexInit } from "../support/FakeServer.js"

const VERSION = Buffer.from("SSH-2.0-Garbage_1.0\r\n")
const KEXINIT = plainPacket(serverKexInit({ strict: true }))

const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max })

/** The server's whole side of one connection. */
const serverStream = fc.oneof(
  bytes(600),
  bytes(600).map((b) => Buffer.concat([VERSION, b])),
  fc.array(bytes(300), { minLength: 1, maxLength: 4 }).map((payloads) => Buffer.concat([VERSION, KEXINIT, ...payloads.map((p, i) => plainPacket(p, i + 1))])),
  fc.tuple(fc.nat(VERSION.length + KEXINIT.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, mask]) => {
    const opening = Buffer.concat([VERSION, KEXINIT])
    opening[at] ^= mask
    return opening
  })
)

/** What the client ends with against one such server, and whether it let go of the socket. */
const against = (stream: Uint8Array, hangUp: boolean) =>
  Effect.gen(function*() {
    const server = yield* fakeServer((socket) => (hangUp ? socket.end(stream) : socket.write(stream)))
    const exit = yield* makeTcp({ host: "127.0.0.1", port: server.port, hostKeyPolicy: acceptAnyInsecure, handshakeTimeout: "150 millis" }).pipe(
      Effect.scoped,
      Effect.exit
    )
    const closed = yield* server.clientClosed.pipe(Effect.timeout("2 seconds"), Effect.option)
    return { exit, closed }
  }).pipe(Effect.scoped)

describe("garbage from the server", () => {
  it.live("always a typed failure, never a defect or a hang, and the socket closed", () =>
    Effect.promise(() =>
      fc.assert(
        fc.asyncProperty(serverStream, fc.boolean(), async (stream, hangUp) => {
          const { exit, closed } = await Effect.runPromise(against(stream, hangUp))
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            // Only expected failures: no defect, no interruption.
            const failure = Cause.failureOption(exit.cause)
            expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
            expect(failure._tag).toBe("Some")
            if (failure._tag === "Some") expect(["TransportError", "Disconnected", "HostKeyRejected"]).toContain(failure.value._tag)
          }
          expect(closed._tag).toBe("Some")
        }),
        { numRuns: 60 }
      )
    ), 60_000)
})
