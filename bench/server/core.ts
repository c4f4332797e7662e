/**
 * `bench:server`'s optional floor row (BENCH_SERVER_CORE=1): this library's connection core in
 * the server role (test/support/CoreServer.ts's `serverCore`) driven by plain `node:net`
 * callbacks, with no Effect anywhere, and a minimal userauth in the same callbacks: `none`
 * answered with FAILURE, a publickey request checked as the real handler checks it (user, key,
 * algorithm, then the signature over the session identifier with `PublicKey.verify`) and
 * answered with SUCCESS; a query (no signature) gets PK_OK. Not a product: what our
 * protocol code costs when the Effect edge, the handler's Effect code and the per-connection
 * fiber cost nothing. After SUCCESS the connection stays open, answering nothing, until the
 * client closes it.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as net from "node:net"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { decode } from "../../src/wire/Reader.js"
import { encode } from "../../src/wire/Writer.js"
import { serverCore } from "../../test/support/CoreServer.js"
import { args, main, serve } from "./Control.js"

await main(async () => {
  const a = args()
  const hostKey = await Effect.runPromise(OpenSshKeyV1.read(fs.readFileSync(a.hostKeyFile, "utf8"), { source: a.hostKeyFile }))
  const allowed = Either.getOrThrow(PublicKeyText.parsePublicKey(fs.readFileSync(a.publicKeyFile, "utf8").trim()))
  const failure = encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).nameList(["publickey"]).boolean(false))
  let open = 0

  const server = net.createServer({ noDelay: true }, (socket) => {
    open++
    socket.once("close", () => open--)
    socket.on("error", () => {})
    const core = serverCore([hostKey], socket.remoteAddress ?? "127.0.0.1", socket.remotePort ?? 0)
    let authenticated = false

    const userauth = (payload: Uint8Array) => {
      if (authenticated) return
      const request = decode(payload, (r) => {
        r.byte()
        const user = r.text("user")
        const service = r.text("service")
        const method = r.text("method")
        if (method !== "publickey" || service !== "ssh-connection" || user !== a.user) return undefined
        const signed = r.boolean("has signature")
        const algorithm = r.text("algorithm")
        const blob = r.string("key blob")
        return { algorithm, blob, signature: signed ? r.string("signature") : undefined }
      })
      if (Either.isLeft(request)) return core.disconnect(2, "bad USERAUTH_REQUEST")
      const q = request.right
      if (q === undefined) return core.send(failure)
      const key = PublicKey.fromBlob(q.blob)
      if (Either.isLeft(key) || !PublicKey.equals(key.right, allowed) || !PublicKey.algorithmsFor(key.right).includes(q.algorithm)) {
        return core.send(failure)
      }
      if (q.signature === undefined) {
        return core.send(encode((w) => w.byte(MessageNumber.USERAUTH_PK_OK).string(q.algorithm).string(q.blob)))
      }
      const signedLength = payload.length - (4 + q.signature.length)
      const signedData = encode((w) => w.string(core.sessionId!).raw(payload.subarray(0, signedLength)))
      const verified = PublicKey.verify(nodeCurves, key.right, q.signature, signedData, [q.algorithm])
      if (Either.isLeft(verified) || !verified.right) return core.send(failure)
      authenticated = true
      core.send(new Uint8Array([MessageNumber.USERAUTH_SUCCESS]))
    }

    const pump = () => {
      for (let e = core.pollEvent(); e; e = core.pollEvent()) {
        if (e._tag === "ServiceRequest") {
          if (e.name === "ssh-userauth") core.acceptService(e.name)
          else core.disconnect(7, "service not available")
        } else if (e._tag === "Message" && e.payload[0] === MessageNumber.USERAUTH_REQUEST) userauth(e.payload)
        else if (e._tag === "Closed") socket.destroySoon()
      }
      const out = core.pollTransmit()
      if (out && socket.writable) socket.write(out)
    }
    socket.on("data", (chunk) => {
      core.receive(chunk)
      pump()
    })
    socket.on("end", () => {
      core.receiveEnd()
      pump()
    })
    pump()
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", resolve)
  })
  serve((server.address() as net.AddressInfo).port, () => open)
})
