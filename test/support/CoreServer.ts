/**
 * The connection core's server role on a loopback socket, for interop tests with real
 * clients (ssh, paramiko): it handshakes, accepts ssh-userauth, and answers every userauth
 * request with a FAILURE offering `publickey` only, so a client stops there. The server's
 * userauth service layer comes later; this shows the core's half of the transport.
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import type * as net from "node:net"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import type { PrivateKey } from "../../src/keys/PrivateKey.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { Connection, type ConnectionFailure, type ConnectionOptions } from "../../src/transport/Connection.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { listenLoopback } from "./Loopback.js"

export interface CoreServerLog {
  readonly services: Array<string>
  readonly userauthRequests: Array<string>
  readonly closed: Array<ConnectionFailure>
  readonly connections: Array<Connection>
}

/** The core in the server role as these tests run it: our defaults, real randomness and clock; `overrides` win. */
export const serverCore = (
  hostKeys: ReadonlyArray<PrivateKey>,
  host: string,
  port: number,
  identification = "SSH-2.0-effect_ssh_auth_core",
  overrides: Partial<ConnectionOptions> = {}
) =>
  new Connection({
    role: "server",
    host,
    port,
    identification,
    preferences: defaultPreferences,
    hostKeys,
    extensions: [["server-sig-algs", Buffer.from("ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256")]],
    random: (n) => crypto.randomBytes(n),
    now: () => Date.now(),
    curves: nodeCurves,
    stepTimeoutMillis: 10_000,
    rekeyBytes: 2 ** 30,
    rekeyPackets: 2 ** 28,
    ...overrides
  })

export const coreServer = (hostKeys: ReadonlyArray<PrivateKey>) =>
  Effect.gen(function*() {
    const log: CoreServerLog = { services: [], userauthRequests: [], closed: [], connections: [] }
    const serve = (socket: net.Socket) => {
      const core = serverCore(hostKeys, socket.remoteAddress ?? "127.0.0.1", socket.remotePort ?? 0)
      log.connections.push(core)
      const flush = () => {
        const out = core.pollTransmit()
        if (out && socket.writable) socket.write(out)
        for (let e = core.pollEvent(); e; e = core.pollEvent()) {
          if (e._tag === "ServiceRequest") {
            log.services.push(e.name)
            if (e.name === "ssh-userauth") core.acceptService(e.name)
            else core.disconnect(7, `no service ${e.name}`)
          } else if (e._tag === "Message" && e.payload[0] === MessageNumber.USERAUTH_REQUEST) {
            log.userauthRequests.push(Buffer.from(e.payload.subarray(1)).toString("latin1"))
            core.send(encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).nameList(["publickey"]).boolean(false)))
          } else if (e._tag === "Closed") {
            log.closed.push(e.error)
            socket.end()
          }
          const more = core.pollTransmit()
          if (more && socket.writable) socket.write(more)
        }
      }
      socket.on("data", (chunk) => {
        core.receive(chunk)
        flush()
      })
      socket.on("end", () => {
        core.receiveEnd()
        flush()
      })
      socket.on("error", () => {})
      flush()
    }
    const port = yield* listenLoopback(serve)
    return { port, log }
  })
