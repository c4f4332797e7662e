/**
 * The spans of one login as an OpenTelemetry exporter receives them, through the example's
 * `layerTracing` (examples/opentelemetry.ts): our client against our server on 127.0.0.1,
 * a `none` probe, a key read from disk with a passphrase, then a password (the server wants
 * both). The tree is checked whole, the attributes that say what was negotiated and proven,
 * and that no attribute, event or status anywhere holds a secret, on a login that succeeds
 * and on one whose every secret is wrong.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import type { ReadableSpan } from "@opentelemetry/sdk-trace-base"
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-base"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { layerTracing, login } from "../../examples/opentelemetry.js"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import { Password } from "../../src/sources/Password.js"
import { InMemoryPrivateKey, OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import { pinned } from "../../src/transport/HostKeyPolicy.js"
import { layerTcp } from "../../src/transport/TcpTransport.js"
import * as OurServer from "../support/OurServer.js"
import { run, tempDir } from "../support/Sshd.js"

const PASSPHRASE = "tr4ce-passphrase-never-in-a-span"
const PASSWORD = "tr4ce-password-never-in-a-span"

/** An ed25519 key on disk, encrypted with PASSPHRASE. */
const encryptedKey = Effect.gen(function*() {
  const file = path.join(yield* tempDir("span-tree-"), "id_ed25519")
  const made = yield* run("ssh-keygen", ["-q", "-t", "ed25519", "-N", PASSPHRASE, "-C", "span-tree", "-f", file])
  if (made.code !== 0) return yield* Effect.dieMessage(`ssh-keygen: ${made.stderr}`)
  const publicKey = PublicKeyText.parsePublicKey(fs.readFileSync(`${file}.pub`, "utf8").trim())
  if (publicKey._tag === "Left") return yield* Effect.die(publicKey.left)
  return { file, publicKey: publicKey.right, privateText: fs.readFileSync(file, "utf8") }
})

/** Indented `name` lines, children in start order: the shape of the trace. */
const render = (spans: ReadonlyArray<ReadableSpan>): string => {
  const children = new Map<string | undefined, Array<ReadableSpan>>()
  const ids = new Set(spans.map((s) => s.spanContext().spanId))
  for (const span of spans) {
    const parent = span.parentSpanContext?.spanId
    const key = parent !== undefined && ids.has(parent) ? parent : undefined
    children.set(key, [...(children.get(key) ?? []), span])
  }
  const lines: Array<string> = []
  const walk = (parent: string | undefined, depth: number) => {
    const sorted = [...(children.get(parent) ?? [])].sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1])
    for (const span of sorted) {
      const method = span.attributes["method"]
      lines.push(`${"  ".repeat(depth)}${span.name}${method ? ` (${String(method)})` : ""}`)
      walk(span.spanContext().spanId, depth + 1)
    }
  }
  walk(undefined, 0)
  return lines.join("\n")
}

const one = (spans: ReadonlyArray<ReadableSpan>, name: string, method?: string) => {
  const found = spans.filter((s) => s.name === name && (method === undefined || s.attributes["method"] === method))
  expect(found.map((s) => s.name), `${name} ${method ?? ""}`).toHaveLength(1)
  return found[0]
}

/** Everything a span carries that a collector would store, as one string. */
const everything = (spans: ReadonlyArray<ReadableSpan>) =>
  JSON.stringify(spans.map((s) => ({
    name: s.name,
    attributes: s.attributes,
    events: s.events.map((e) => ({ name: e.name, attributes: e.attributes })),
    status: s.status,
    links: s.links.map((l) => l.attributes)
  })))

/** The key from disk with `passphrase`, then `password`: listed, or as a Stream of the caller's own. */
const diskKeyThenPassword = (key: { file: string }, secrets: { passphrase: string; password: string }, shape: "listed" | "stream" = "listed") => {
  const listed = AuthStrategy.sequence(
    AuthStrategy.make(new OnDiskPrivateKey({ username: "alice", path: key.file, passphrase: Effect.succeed(Redacted.make(secrets.passphrase)) })),
    AuthStrategy.make(new Password({ username: "alice", password: Effect.succeed(Redacted.make(secrets.password)) }))
  )
  // A stream made by the caller, not by AuthStrategy's constructors: the run walks it as a Stream.
  return shape === "listed" ? listed : Stream.flatMap(Stream.succeed(listed), (sources) => sources)
}

/** Logs in with `strategy`, a `none` probe first, while `exporter` collects the spans. */
const traced = (server: OurServer.OurServer, strategy: AuthStrategy.AuthStrategy<FileSystem.FileSystem>) =>
  Effect.gen(function*() {
    const exporter = new InMemorySpanExporter()
    return yield* AuthStrategy.authenticate(strategy, { noneFirst: true }).pipe(
      Effect.provide(AuthHandler.layer.pipe(Layer.provide(layerTcp({
        host: "127.0.0.1",
        port: server.port,
        hostKeyPolicy: pinned([PublicKey.fingerprintSha256(server.hostKey.publicKey)])
      })))),
      Effect.provide(NodeFileSystem.layer),
      Effect.withSpan("login"),
      Effect.either,
      // Read before the layer closes: shutting the provider down empties the exporter.
      Effect.map((result) => ({ result, spans: [...exporter.getFinishedSpans()] })),
      Effect.provide(layerTracing(exporter, "span-tree-test"))
    )
  })

/** The client's trace of the login `traced` runs, its server wanting a key and then a password. */
const loginTree = [
  "login",
  "  Transport.connect",
  "  Transport.handshake",
  "    Transport.versionExchange",
  "    Transport.keyExchange",
  "      Transport.hostKeyCheck",
  "  AuthStrategy.authenticate",
  "    AuthStrategy.attempt (none)",
  "      AuthHandler.sendAuthRequest (none)",
  "    AuthStrategy.attempt (publickey)",
  // Queried first (a key from disk, as ssh does): PK_OK, then signed in the same request's span.
  "      AuthHandler.sendAuthRequest (publickey)",
  "        AuthHandler.publicKey.sign",
  "    AuthStrategy.attempt (password)",
  "      AuthHandler.sendAuthRequest (password)"
].join("\n")

describe("tracing: the span tree of one login, through OpenTelemetry", () => {
  it.scopedLive("connect, version exchange, key exchange with its host-key check, then each attempt and request", () =>
    Effect.gen(function*() {
      const key = yield* encryptedKey
      // The server traced too, into an exporter of its own, for the test's whole scope.
      const serverExporter = new InMemorySpanExporter()
      const serverTracing = yield* Layer.build(layerTracing(serverExporter, "span-tree-server"))
      const server = yield* OurServer.start({
        alice: { keys: [key.publicKey], password: Redacted.make(PASSWORD), methods: [["publickey", "password"]] }
      }).pipe(Effect.provide(serverTracing))
      const { result, spans } = yield* traced(server, diskKeyThenPassword(key, { passphrase: PASSPHRASE, password: PASSWORD }))
      expect(result._tag === "Right" && result.right.succeeded, server.log()).toBe(true)

      // The server's side of the same login: one trace, the user named once authenticated.
      yield* server.awaitEnded(1)
      const serverSpans = [...serverExporter.getFinishedSpans()]
      expect(render(serverSpans)).toBe(["Server.login", "  Transport.versionExchange", "  Transport.keyExchange"].join("\n"))
      expect(one(serverSpans, "Server.login").attributes).toMatchObject({ "net.peer.name": "127.0.0.1", user: "alice" })
      expect(one(serverSpans, "Transport.keyExchange").attributes["ssh.kex"]).toBe("mlkem768x25519-sha256")
      for (const secret of [PASSPHRASE, PASSWORD]) expect(everything(serverSpans)).not.toContain(secret)

      expect(render(spans)).toBe(loginTree)

      expect(one(spans, "Transport.connect").attributes).toMatchObject({ "net.peer.name": "127.0.0.1", "net.peer.port": server.port })
      expect(String(one(spans, "Transport.versionExchange").attributes["ssh.peer.identification"])).toMatch(/^SSH-2\.0-/)
      expect(one(spans, "Transport.keyExchange").attributes).toMatchObject({
        "ssh.kex": "mlkem768x25519-sha256",
        "ssh.host_key_algorithm": "ssh-ed25519",
        "ssh.strict_kex": true
      })
      expect(one(spans, "Transport.keyExchange").attributes["ssh.cipher.client_to_server"]).toBeTypeOf("string")
      expect(one(spans, "Transport.hostKeyCheck").attributes["ssh.host_key.fingerprint"])
        .toBe(PublicKey.fingerprintSha256(server.hostKey.publicKey))
      // A key read from disk is named by its fingerprint once loaded; `none` has no key to name.
      expect(one(spans, "AuthStrategy.attempt", "publickey").attributes["fingerprint"]).toBe(PublicKey.fingerprintSha256(key.publicKey))
      expect(one(spans, "AuthStrategy.attempt", "none").attributes).not.toHaveProperty("fingerprint")
      // The phases happen in order, each inside its parent's time.
      const at = (name: string) => one(spans, name).startTime
      const ns = ([s, n]: readonly [number, number]) => s * 1e9 + n
      expect(ns(at("Transport.connect"))).toBeLessThanOrEqual(ns(at("Transport.versionExchange")))
      expect(ns(one(spans, "Transport.versionExchange").endTime)).toBeLessThanOrEqual(ns(at("Transport.keyExchange")))
      expect(ns(one(spans, "Transport.keyExchange").endTime)).toBeLessThanOrEqual(ns(at("AuthStrategy.authenticate")))

      const text = everything(spans)
      for (const secret of [PASSPHRASE, PASSWORD]) expect(text).not.toContain(secret)
    }))

  it.scopedLive("a strategy that is a Stream of the caller's own: the same tree, each attempt under the run's span", () =>
    Effect.gen(function*() {
      const key = yield* encryptedKey
      const server = yield* OurServer.start({
        alice: { keys: [key.publicKey], password: Redacted.make(PASSWORD), methods: [["publickey", "password"]] }
      })
      const { result, spans } = yield* traced(server, diskKeyThenPassword(key, { passphrase: PASSPHRASE, password: PASSWORD }, "stream"))
      expect(result._tag === "Right" && result.right.succeeded, server.log()).toBe(true)
      expect(render(spans)).toBe(loginTree)
    }))

  it.scopedLive("a strategy of keys in memory runs as one conversation in the connection's callbacks: the same spans, made by hand", () =>
    Effect.gen(function*() {
      const key = yield* encryptedKey
      const server = yield* OurServer.start({ alice: { keys: [key.publicKey] } })
      const loaded = yield* OpenSshKeyV1.read(key.privateText, { source: key.file, passphrase: Effect.succeed(Redacted.make(PASSPHRASE)) })
      // Queried first, as a key from disk is: PK_OK, then signed.
      const { result, spans } = yield* traced(server, AuthStrategy.make(new InMemoryPrivateKey({ username: "alice", key: loaded, skipQuery: false })))
      expect(result._tag === "Right" && result.right.succeeded, server.log()).toBe(true)
      expect(render(spans)).toBe([
        ...loginTree.split("\n").slice(0, 11),
        "        AuthHandler.publicKey.sign"
      ].join("\n"))
      expect(one(spans, "AuthStrategy.attempt", "publickey").attributes["fingerprint"]).toBe(PublicKey.fingerprintSha256(key.publicKey))
      expect(one(spans, "AuthHandler.publicKey.sign").attributes).toMatchObject({
        algorithm: "ssh-ed25519",
        fingerprint: PublicKey.fingerprintSha256(key.publicKey)
      })
      expect(one(spans, "AuthHandler.sendAuthRequest", "none").attributes).toMatchObject({ username: "alice" })
      // Each span inside its parent's time.
      const ns = ([s, n]: readonly [number, number]) => s * 1e9 + n
      for (
        const [child, parent] of [["AuthHandler.publicKey.sign", "AuthStrategy.authenticate"], ["AuthStrategy.attempt", "AuthStrategy.authenticate"]] as const
      ) {
        for (const c of spans.filter((s) => s.name === child)) {
          expect(ns(c.startTime)).toBeGreaterThanOrEqual(ns(one(spans, parent).startTime))
          expect(ns(c.endTime)).toBeLessThanOrEqual(ns(one(spans, parent).endTime))
        }
      }
      expect(everything(spans)).not.toContain(PASSPHRASE)
    }))

  it.scopedLive("a login whose every secret is wrong: the failures are in the spans, the secrets are not", () =>
    Effect.gen(function*() {
      const key = yield* encryptedKey
      const server = yield* OurServer.start({ alice: { keys: [key.publicKey], password: Redacted.make(PASSWORD) } })
      const wrong = { passphrase: `${PASSPHRASE}-typo`, password: `${PASSWORD}-typo` }
      const { result, spans } = yield* traced(server, diskKeyThenPassword(key, wrong))
      expect(result._tag, server.log()).toBe("Left")
      const failed = spans.filter((s) => s.status.code === 2).map((s) => s.name)
      expect(failed, "the failed attempt and the run are marked as errors").toContain("AuthStrategy.authenticate")
      const text = everything(spans)
      // The spans say what went wrong (so the check below reads real error text)…
      expect(text).toMatch(/passphrase/i)
      expect(text).toMatch(/password/i)
      // …and the wrong secrets, the right ones, and the private key file itself: none appears anywhere.
      for (const secret of [wrong.passphrase, wrong.password, PASSPHRASE, PASSWORD]) expect(text).not.toContain(secret)
      const body = key.privateText.split("\n").filter((line) => line.length > 0 && !line.startsWith("-----"))
      for (const line of body) expect(text).not.toContain(line)
    }))

  it.scopedLive("the example's own login runs against a real server and is traced the same way", () =>
    Effect.gen(function*() {
      const made = path.join(yield* tempDir("span-tree-plain-"), "id_ed25519")
      yield* run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", made])
      const publicKey = PublicKeyText.parsePublicKey(fs.readFileSync(`${made}.pub`, "utf8").trim())
      if (publicKey._tag === "Left") return yield* Effect.die(publicKey.left)
      const server = yield* OurServer.start({ alice: { keys: [publicKey.right] } })
      const exporter = new InMemorySpanExporter()
      const { result, spans } = yield* login({
        user: "alice",
        host: "127.0.0.1",
        port: server.port,
        keyPath: made,
        hostKey: PublicKey.fingerprintSha256(server.hostKey.publicKey)
      }).pipe(
        Effect.map((result) => ({ result, spans: [...exporter.getFinishedSpans()] })),
        Effect.provide(layerTracing(exporter))
      )
      expect(result.succeeded, server.log()).toBe(true)
      expect(render(spans).split("\n")[0]).toBe("login")
      expect(spans.map((s) => s.name)).toEqual(expect.arrayContaining(["Transport.keyExchange", "Transport.hostKeyCheck", "AuthStrategy.attempt"]))
    }))
})
