/**
 * A TCP server on 127.0.0.1 at a free port for the life of a Scope: closing the scope
 * destroys every accepted socket and closes the server.
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"

export const listenLoopback = (onConnection: (socket: net.Socket) => void) =>
  Effect.gen(function*() {
    const sockets = new Set<net.Socket>()
    const server = net.createServer((socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      onConnection(socket)
    })
    yield* Effect.acquireRelease(
      Effect.async<void>((resume) => {
        server.listen(0, "127.0.0.1", () => resume(Effect.void))
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const s of sockets) s.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    return (server.address() as net.AddressInfo).port
  })
