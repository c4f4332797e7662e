/**
 * `bench:server`'s floor row: the least SSH server in plain node (bench/Least.ts's
 * pieces: curve25519-sha256, ssh-ed25519, aes128-gcm@openssh.com and nothing else offered),
 * with the benchmark's one user and key checked as ssh2's and ours check them: the user name
 * and the key's blob, a query answered with PK_OK, a signature over the session identifier
 * verified before USERAUTH_SUCCESS. After SUCCESS the connection stays open, answering
 * nothing, until the client closes it. Not a server: what the node:crypto work and a bare
 * socket of a login cost on this machine, with no negotiation, bounds or policy above them.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as net from "node:net"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as Least from "../Least.js"
import { args, main, serve } from "./Control.js"

/** A USERAUTH_REQUEST's fields up to its signature, if any (RFC 4252 §7); `publickey` undefined for another method. */
const readRequest = (payload: Buffer) => {
  const fields = new Least.Fields(payload, 1)
  const user = fields.string().toString()
  const service = fields.string().toString()
  const method = fields.string().toString()
  if (method !== "publickey" || service !== "ssh-connection") return { user, publickey: undefined }
  const signed = fields.byte() === 1
  const algorithm = fields.string().toString()
  const blob = fields.string()
  const signedLength = fields.offset
  return { user, publickey: { algorithm, blob, signedLength, signature: signed ? fields.string() : undefined } }
}

await main(async () => {
  const a = args()
  const host = await Effect.runPromise(OpenSshKeyV1.read(fs.readFileSync(a.hostKeyFile, "utf8"), { source: a.hostKeyFile }))
  if (host.material._tag !== "Ed25519") throw new Error("least server: the host key is not ed25519")
  const hostKey = Least.ed25519Key(host.material.seed)
  const allowed = Buffer.from(Either.getOrThrow(PublicKeyText.parsePublicKey(fs.readFileSync(a.publicKeyFile, "utf8").trim())).blob)
  const failure = Buffer.concat([Buffer.of(51), Least.text("publickey"), Buffer.of(0)])
  const serviceAccept = Buffer.concat([Buffer.of(6), Least.text("ssh-userauth")])
  let open = 0

  const server = net.createServer({ noDelay: true }, (socket) => {
    open++
    socket.once("close", () => open--)
    const inbound = new Least.Inbound()
    const serverKexInit = Least.kexInit()
    let clientKexInit: Buffer | undefined
    let sessionId: Buffer | undefined
    let send: Least.Gcm | undefined
    let receive: Least.Gcm | undefined
    let authenticated = false
    const reply = (payload: Buffer) => socket.write(Least.packet(payload, send))

    const userauth = (payload: Buffer) => {
      if (authenticated) return
      const { user, publickey: key } = readRequest(payload)
      if (key === undefined || user !== a.user || key.algorithm !== "ssh-ed25519" || !key.blob.equals(allowed)) return reply(failure)
      if (key.signature === undefined) return reply(Buffer.concat([Buffer.of(60), Least.text(key.algorithm), Least.string(key.blob)]))
      const signed = Buffer.concat([Least.string(sessionId!), payload.subarray(0, key.signedLength)])
      if (!Least.verify(key.blob, key.signature, signed)) return reply(failure)
      authenticated = true
      reply(Buffer.of(52))
    }
    const onPayload = (payload: Buffer) => {
      switch (payload[0]) {
        case 20:
          clientKexInit = payload
          return
        case 30: {
          if (clientKexInit === undefined || sessionId !== undefined) throw new Error("least server: KEX_ECDH_INIT out of turn")
          const clientPublic = new Least.Fields(payload, 1).string()
          const { privateKey, publicKey: serverPublic } = Least.ephemeral()
          const secret = Least.sharedSecret(privateKey, clientPublic)
          const exchange = {
            clientVersion: inbound.version!,
            serverVersion: Least.VERSION,
            clientKexInit,
            serverKexInit,
            hostKey: hostKey.blob,
            clientPublic,
            serverPublic
          }
          const hash = Least.exchangeHash(exchange, secret)
          const signature = Least.sign(hostKey, hash)
          sessionId = hash
          const ecdhReply = Buffer.concat([Buffer.of(31), Least.string(hostKey.blob), Least.string(serverPublic), Least.string(signature)])
          socket.write(Buffer.concat([Least.packet(ecdhReply), Least.packet(Buffer.of(21))]))
          send = Least.keys(secret, hash, "server")
          receive = Least.keys(secret, hash, "client")
          return
        }
        case 21:
          if (receive === undefined) throw new Error("least server: NEWKEYS before the kex")
          inbound.gcm = receive
          return
        case 5:
          return reply(serviceAccept)
        case 50:
          return userauth(payload)
        case 1:
          return void socket.destroy()
        default:
          return
      }
    }
    socket.on("data", (chunk) => {
      try {
        inbound.push(chunk)
        for (let payload = inbound.next(); payload !== undefined; payload = inbound.next()) onPayload(payload)
      } catch {
        socket.destroy()
      }
    })
    socket.on("error", () => socket.destroy())
    socket.write(Buffer.concat([Least.VERSION, Buffer.from("\r\n"), Least.packet(serverKexInit)]))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  serve((server.address() as net.AddressInfo).port, () => open)
})
