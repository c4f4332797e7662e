/**
 * Connections that run through something else: a `direct-tcpip` channel of an sshd bastion
 * (ProxyJump's hop), and a ProxyCommand's pipes. The target is our own server on 127.0.0.1,
 * so the test reads from the server's own account who logged in and how; the bastion's log
 * shows the forwarding it did.
 */
import { NodeContext } from "@effect/platform-node"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as DirectTcpip from "../../src/connection/DirectTcpip.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import type { AuthSource } from "../../src/sources/AuthSource.js"
import { OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure, pinned } from "../../src/transport/HostKeyPolicy.js"
import * as Jump from "../../src/transport/Jump.js"
import * as ProxyCommand from "../../src/transport/ProxyCommand.js"
import { makeOver, makeTcp } from "../../src/transport/TcpTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { ClientKeys, layer as clientKeysLayer } from "../support/ClientKeys.js"
import { skipInterop, skipUnlessRoot } from "../support/Env.js"
import * as Firewall from "../support/Firewall.js"
import * as OurServer from "../support/OurServer.js"
import * as Sshd from "../support/Sshd.js"
import { hasTool, requireTool } from "../support/Tools.js"

const me = os.userInfo().username

const login = <R>(transport: Transport, source: AuthSource<R>) =>
  AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(
    Effect.provide(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))),
    // Key files are read through the platform's FileSystem.
    Effect.provide(NodeFileSystem.layer)
  )

/** Our server, where alice logs in with the suite's ed25519 key. */
const target = Effect.flatMap(ClientKeys, (keys) => OurServer.start({ alice: OurServer.alice([keys.ed25519]) }))
/** The fingerprint of a `.pub` file, as ssh-keygen -l prints it. */
const fingerprintOf = (pubFile: string) => {
  const parsed = PublicKeyText.parsePublicKey(fs.readFileSync(pubFile, "utf8").trim())
  if (Either.isLeft(parsed)) throw parsed.left
  return PublicKey.fingerprintSha256(parsed.right)
}
const pinnedTo = (server: OurServer.OurServer) => pinned([PublicKey.fingerprintSha256(server.hostKey.publicKey)])

/** An sshd bastion that lets us in with the same key, logging at DEBUG1 so its forwarding shows. */
const bastion = (config: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const keys = yield* ClientKeys
    const sshd = yield* Sshd.start({ authorizedKeys: [keys.ed25519.line], config: ["LogLevel DEBUG1", ...config] })
    const transport = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure })
    const result = yield* login(transport, new OnDiskPrivateKey({ username: me, path: keys.ed25519.path }))
    expect(result.succeeded, yield* sshd.readLog).toBe(true)
    return { sshd, transport }
  })

describe("ProxyCommand's % tokens", () => {
  const to = { host: "db.internal", port: 2222, user: "deploy", alias: "db" }
  it("expands %h %p %r %n and %%, as ssh_config(5) lists them for ProxyCommand", () => {
    expect(ProxyCommand.expandTokens("nc %h %p # %r@%n 100%%", to)).toEqual(Either.right("nc db.internal 2222 # deploy@db 100%"))
  })
  it("refuses any other token rather than run a guess", () => {
    const bad = ProxyCommand.expandTokens("nc %h %d", to)
    expect(Either.isLeft(bad) && bad.left.message).toBe(`ProxyCommand "nc %h %d": unknown token %d`)
    const lone = ProxyCommand.expandTokens("nc %h %", to)
    expect(Either.isLeft(lone) && lone.left.detail).toBe("a lone % at the end")
  })
})

describe.skipIf(skipInterop())("interop: a login through a jump host's direct-tcpip channel", () => {
  it.scopedLive("sshd as the bastion forwards; our server, reached only through it, authenticates alice", () =>
    Effect.gen(function*() {
      const keys = yield* ClientKeys
      const server = yield* target
      const { sshd, transport } = yield* bastion()
      const tunnel = yield* DirectTcpip.open(transport, { host: "127.0.0.1", port: server.port })
      const inner = yield* makeOver(tunnel, { hostKeyPolicy: pinnedTo(server) })
      const result = yield* login(inner, new OnDiskPrivateKey({ username: "alice", path: keys.ed25519.path }))
      expect(result.succeeded, server.log()).toBe(true)
      expect(server.authenticated.map((a) => a.user)).toEqual(["alice"])
      // The bastion did the forwarding: its own log names the target.
      expect(yield* sshd.readLog).toMatch(
        new RegExp(`server_request_direct_tcpip: originator 127\\.0\\.0\\.1 port 65535, target 127\\.0\\.0\\.1 port ${server.port}`)
      )
    }).pipe(Effect.provide(clientKeysLayer)))

  it.scopedLive("a chain: two sshd jump hosts, each a connection of its own inside the one before, then our server", () =>
    Effect.gen(function*() {
      const keys = yield* ClientKeys
      const server = yield* target
      const first = yield* bastion()
      const second = yield* Sshd.start({ authorizedKeys: [keys.ed25519.line], config: ["LogLevel DEBUG1"] })
      // The second jump host is reached through the first, and checked by its own host key.
      const hop = yield* Jump.through(first.transport, {
        host: "127.0.0.1",
        port: second.port,
        hostKeyPolicy: pinned([fingerprintOf(`${second.hostKeys.files.ed25519}.pub`)])
      })
      expect((yield* login(hop, new OnDiskPrivateKey({ username: me, path: keys.ed25519.path }))).succeeded).toBe(true)
      const inner = yield* Jump.through(hop, { host: "127.0.0.1", port: server.port, hostKeyPolicy: pinnedTo(server) })
      expect((yield* login(inner, new OnDiskPrivateKey({ username: "alice", path: keys.ed25519.path }))).succeeded, server.log()).toBe(true)
      expect(server.authenticated.map((a) => a.user)).toEqual(["alice"])
      expect(yield* first.sshd.readLog).toMatch(new RegExp(`server_request_direct_tcpip: .* target 127\\.0\\.0\\.1 port ${second.port}`))
      expect(yield* second.readLog).toMatch(new RegExp(`server_request_direct_tcpip: .* target 127\\.0\\.0\\.1 port ${server.port}`))
    }).pipe(Effect.provide(clientKeysLayer)))

  it.scopedLive("a bastion with AllowTcpForwarding no refuses the channel: ChannelOpenRefused names it and the reason", () =>
    Effect.gen(function*() {
      const server = yield* target
      const { sshd, transport } = yield* bastion(["AllowTcpForwarding no"])
      const refused = yield* Effect.flip(DirectTcpip.open(transport, { host: "127.0.0.1", port: server.port }))
      expect(refused._tag).toBe("ChannelOpenRefused")
      if (refused._tag !== "ChannelOpenRefused") return
      expect(refused.code).toBe(1)
      expect(refused.message).toMatch(
        new RegExp(`^127\\.0\\.0\\.1:${sshd.port} refused a channel to 127\\.0\\.0\\.1:${server.port}: ADMINISTRATIVELY_PROHIBITED \\(1\\)`)
      )
      expect(server.attempts).toHaveLength(0)
    }).pipe(Effect.provide(clientKeysLayer)))
})

/** nftables, for the target that refuses us directly; .ci/run installs it. */
const nftMissing = (): boolean => {
  if (hasTool("nft")) return false
  if (process.env.CI === "true") requireTool("nft")
  console.warn("\n*** jump tests with a refused direct path SKIPPED: nft not found; install nftables (.ci/run does) ***\n")
  return true
}

describe.skipIf(skipInterop() || skipUnlessRoot("the two-sshd chain (an nftables rule)") || nftMissing())(
  "interop: two sshd, the target refusing every direct connection",
  () => {
    it.scopedLive("our client reaches the target sshd only through the bastion sshd, which logs the forwarding", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const user = yield* Sshd.ensureTestUser()
        const bastion = yield* Sshd.start({ authorizedKeys: [keys.ed25519.line], config: ["LogLevel DEBUG1"] })
        const target = yield* Sshd.start({ authorizedKeys: [keys.ed25519.line], config: ["LogLevel DEBUG1"] })
        // Only the bastion's session process (it runs as the test user) may connect to the target.
        yield* Firewall.refuseAllBut(target.port, yield* Firewall.uidOf(user.name))
        const direct = yield* Effect.flip(makeTcp({ host: "127.0.0.1", port: target.port, hostKeyPolicy: acceptAnyInsecure }))
        expect(direct._tag === "TransportError" && direct.reason).toBe("ConnectFailed")

        const jump = yield* makeTcp({ host: "127.0.0.1", port: bastion.port, hostKeyPolicy: pinned([fingerprintOf(`${bastion.hostKeys.files.ed25519}.pub`)]) })
        expect((yield* login(jump, new OnDiskPrivateKey({ username: user.name, path: keys.ed25519.path }))).succeeded, yield* bastion.readLog).toBe(true)
        const inner = yield* Jump.through(jump, {
          host: "127.0.0.1",
          port: target.port,
          hostKeyPolicy: pinned([fingerprintOf(`${target.hostKeys.files.ed25519}.pub`)])
        })
        const result = yield* login(inner, new OnDiskPrivateKey({ username: user.name, path: keys.ed25519.path }))
        expect(result.succeeded, yield* target.readLog).toBe(true)
        expect(yield* bastion.readLog).toMatch(new RegExp(`server_request_direct_tcpip: .* target 127\\.0\\.0\\.1 port ${target.port}`))
        expect(yield* target.readLog).toMatch(new RegExp(`Accepted publickey for ${user.name}`))
      }).pipe(Effect.provide(clientKeysLayer)))
  }
)

const ncMissing = (): boolean => {
  if (hasTool("nc")) return false
  if (process.env.CI === "true") requireTool("nc")
  console.warn("\n*** ProxyCommand nc tests SKIPPED: nc not found; install netcat-openbsd (.ci/run does) ***\n")
  return true
}

describe("a login over a ProxyCommand's pipes", () => {
  it.scopedLive.skipIf(ncMissing())("ProxyCommand nc %h %p carries the login to our server", () =>
    Effect.gen(function*() {
      const keys = yield* ClientKeys
      const server = yield* target
      const channel = yield* ProxyCommand.open("nc %h %p", { host: "127.0.0.1", port: server.port, user: "alice" })
      const inner = yield* makeOver(channel, { hostKeyPolicy: pinnedTo(server) })
      const result = yield* login(inner, new OnDiskPrivateKey({ username: "alice", path: keys.ed25519.path }))
      expect(result.succeeded, server.log()).toBe(true)
    }).pipe(Effect.provide(Layer.merge(clientKeysLayer, NodeContext.layer))))

  it.scopedLive("a ProxyCommand that exits at once ends the connection with its command and exit status", () =>
    Effect.gen(function*() {
      const channel = yield* ProxyCommand.open(`sh -c "echo proxy says no >&2; exit 3"`, { host: "127.0.0.1", port: 1, user: "alice" })
      const failed = yield* Effect.flip(makeOver(channel, { hostKeyPolicy: acceptAnyInsecure }))
      expect(failed._tag).toBe("TransportError")
      if (failed._tag !== "TransportError") return
      expect(failed.reason).toBe("ProxyFailed")
      expect(failed.message).toBe(`127.0.0.1:1: ProxyCommand: ProxyCommand "sh -c \\"echo proxy says no >&2; exit 3\\"" exited with status 3`)
    }).pipe(Effect.provide(NodeContext.layer)))

  it.scopedLive("a ProxyCommand that never speaks is held to connectTimeout, and killed", () =>
    Effect.gen(function*() {
      const channel = yield* ProxyCommand.open("sleep 30", { host: "127.0.0.1", port: 1, user: "alice" })
      const started = Date.now()
      const failed = yield* Effect.flip(makeOver(channel, { hostKeyPolicy: acceptAnyInsecure, connectTimeout: "300 millis" }))
      expect(failed._tag === "TransportError" && failed.reason).toBe("Timeout")
      expect(Date.now() - started).toBeLessThan(5_000)
    }).pipe(Effect.provide(NodeContext.layer)))
})
