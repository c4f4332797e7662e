/**
 * `bench:server`'s process for ssh2's `Server`, as its README's example server checks a key:
 * the user name, the key's type and blob against the one allowed key, a query (no signature)
 * answered with PK_OK, and a signature verified with `utils.parseKey(...).verify(blob,
 * signature, hashAlgo)` before `accept()`. Its sockets come from our own `net.Server` with
 * TCP_NODELAY, handed over with `injectSocket` (ssh2's documented way in; its own listener
 * leaves Nagle on, which stalls every login ~40 ms). After 'ready' it answers session
 * channels' exec, as our server does; the client of the benchmark opens none.
 */
import { timingSafeEqual } from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import ssh2, { type AuthContext } from "ssh2"
import { args, main, serve } from "./Control.js"

// ssh2 is CommonJS, and node finds no named export `Server` in it: take both from its exports object.
const { Server, utils } = ssh2

await main(async () => {
  const a = args()
  const parsed = utils.parseKey(fs.readFileSync(a.publicKeyFile))
  if (parsed instanceof Error) throw parsed
  const allowed = Array.isArray(parsed) ? parsed[0] : parsed
  const allowedBlob = allowed.getPublicSSH()
  const allowedUser = Buffer.from(a.user)
  const same = (given: Buffer, expected: Buffer) => given.length === expected.length && timingSafeEqual(given, expected)

  const check = (ctx: AuthContext) => {
    if (ctx.method !== "publickey" || !same(Buffer.from(ctx.username), allowedUser)) return ctx.reject(["publickey"])
    if (ctx.key.algo !== allowed.type || !same(ctx.key.data, allowedBlob)) return ctx.reject(["publickey"])
    // No signature: the client asks whether the key would do; accept() answers PK_OK.
    if (ctx.signature === undefined || ctx.blob === undefined) return ctx.accept()
    if (allowed.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(["publickey"])
    ctx.accept()
  }

  const ssh = new Server({ hostKeys: [fs.readFileSync(a.hostKeyFile)] }, (client) => {
    client.on("error", () => {})
    client.on("authentication", check)
    client.on("ready", () => {
      client.on("session", (accept) => {
        accept().once("exec", (acceptExec) => {
          const stream = acceptExec()
          stream.write(`authenticated ${a.user} by publickey\n`)
          stream.exit(0)
          stream.end()
        })
      })
    })
  })
  // Connections open now: counted by socket, from accept to close.
  let open = 0
  const tcp = net.createServer({ noDelay: true }, (socket) => {
    open++
    socket.once("close", () => open--)
    socket.setNoDelay(true)
    ssh.injectSocket(socket)
  })
  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject)
    tcp.listen(0, "127.0.0.1", resolve)
  })
  serve((tcp.address() as net.AddressInfo).port, () => open)
})
