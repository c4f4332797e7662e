/**
 * The agent client against a real `ssh-agent` started by the test, with `ssh-add` as the
 * oracle, and agent sources against the suite's sshd: plain keys, a certificate, a key
 * restricted with `ssh-add -h` (host-bound), a locked agent, a confirm key, no agent.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Agent from "../../src/agent/Agent.js"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as KeyFile from "../../src/keys/KeyFile.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { AgentKey, agentKeys } from "../../src/sources/AgentKey.js"
import { OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { skipInterop } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as SshAgent from "../support/SshAgent.js"
import * as Sshd from "../support/Sshd.js"

const me = os.userInfo().username
const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")

class Keys extends Context.Tag("test/Agent/Keys")<Keys, {
  readonly dir: string
  readonly files: Readonly<Record<string, string>>
  readonly ca: string
  readonly hostKeys: Sshd.HostKeys
}>() {}

const keyTypes: Record<string, ReadonlyArray<string>> = {
  ed25519: ["-t", "ed25519"],
  ecdsa: ["-t", "ecdsa", "-b", "384"],
  rsa: ["-t", "rsa", "-b", "2048"],
  certified: ["-t", "ed25519"],
  restricted: ["-t", "ed25519"],
  confirm: ["-t", "ed25519"],
  other: ["-t", "ed25519"]
}

const keysLayer = Layer.scoped(
  Keys,
  Effect.gen(function*() {
    const dir = yield* Sshd.tempDir("agent-keys-")
    const files: Record<string, string> = {}
    for (const [name, args] of Object.entries(keyTypes)) {
      files[name] = path.join(dir, name)
      yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-C", `agent-${name}`, ...args, "-f", files[name]])
    }
    const ca = path.join(dir, "user_ca")
    yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", ca])
    yield* Sshd.run("ssh-keygen", ["-q", "-s", ca, "-I", "agent-cert", "-n", me, `${files.certified}.pub`])
    const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
    return { dir, files, ca, hostKeys }
  })
)

const pub = (file: string) => fs.readFileSync(`${file}.pub`, "utf8").trim()

/** An sshd trusting the plain keys (not "certified", whose certificate the CA vouches for), and a handler on it. */
const connect = (keys: Context.Tag.Service<Keys>) =>
  Effect.gen(function*() {
    const sshd = yield* Sshd.start({
      hostKeys: keys.hostKeys,
      config: [`TrustedUserCAKeys ${keys.ca}.pub`],
      authorizedKeys: ["ed25519", "ecdsa", "rsa", "restricted", "confirm"].map((n) => pub(keys.files[n]))
    })
    yield* logOnFailure(sshd)
    const transport = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure })
    return { sshd, transport, handler: AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))) }
  })

describe.skipIf(skipInterop())("interop: ssh-agent", () => {
  layer(Layer.merge(keysLayer, NodeFileSystem.layer), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.scoped("ssh-auth agent list -L and -l print what ssh-add -L and -l print, certificate included", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const agent = yield* SshAgent.start
        for (const name of ["ed25519", "ecdsa", "rsa", "certified"]) expect((yield* agent.run("ssh-add", [keys.files[name]])).code).toBe(0)
        for (const flag of ["-L", "-l"]) {
          const theirs = yield* agent.run("ssh-add", [flag])
          const ours = yield* agent.run(process.execPath, [bin, "agent", "list", flag])
          expect(ours.stderr).toBe("")
          expect(ours.stdout).toBe(theirs.stdout)
        }
        expect((yield* agent.run("ssh-add", ["-L"])).stdout).toMatch(/ssh-ed25519-cert-v01@openssh.com/)
      }))

    it.scoped("agent signatures verify for each type; the RSA flags make rsa-sha2-256 and rsa-sha2-512", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const sshAgent = yield* SshAgent.start
        for (const name of ["ed25519", "ecdsa", "rsa"]) yield* sshAgent.run("ssh-add", [keys.files[name]])
        const agent = yield* Agent.make({ path: sshAgent.socket })
        const identities = yield* agent.identities
        expect(identities.map((i) => i.publicKey.type).sort()).toEqual(["ecdsa-sha2-nistp384", "ssh-ed25519", "ssh-rsa"])
        const data = new TextEncoder().encode("sign me, agent")
        for (const id of identities) {
          const algorithms = id.publicKey._tag === "Rsa" ? ["rsa-sha2-256", "rsa-sha2-512"] : [id.publicKey.type]
          for (const algorithm of algorithms) {
            const signature = yield* agent.sign(id.blob, algorithm, data)
            expect(Either.getOrThrow(PublicKey.parseSignature(signature)).algorithm).toBe(algorithm)
            expect(Either.getOrThrow(PublicKey.verify(nodeCurves, id.publicKey, signature, data, [algorithm]))).toBe(true)
          }
        }
      }))

    it.scoped("keys added through our client (and ssh-auth agent add) appear in ssh-add -l, with their lifetime and confirm constraints", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const sshAgent = yield* SshAgent.start
        const agent = yield* Agent.make({ path: sshAgent.socket })
        const key = yield* KeyFile.readFile(keys.files.ed25519)
        // The CLI first: a process start can take longer than the lifetime on a busy machine.
        const ours = yield* sshAgent.run(process.execPath, [bin, "agent", "add", keys.files.ecdsa, "-c"])
        expect(ours.code).toBe(0)
        yield* agent.add(key, { lifetime: 3 })
        const listed = (yield* sshAgent.run("ssh-add", ["-l"])).stdout
        expect(listed).toContain(PublicKey.fingerprintSha256(key.publicKey))
        expect(listed).toContain("(ECDSA)")
        // The confirm constraint: with no askpass to ask, the agent refuses to sign.
        const ecdsa = (yield* agent.identities).find((i) => i.publicKey.type === "ecdsa-sha2-nistp384")!
        const refused = yield* Effect.flip(agent.sign(ecdsa.blob, ecdsa.publicKey.type, new Uint8Array(8)))
        expect(refused._tag === "AgentError" && refused.reason).toBe("SignRefused")
        // The lifetime: the ed25519 key is gone after 3 s (bounded wait).
        let gone = false
        for (let i = 0; i < 40 && !gone; i++) {
          yield* Effect.sleep("250 millis")
          gone = !(yield* sshAgent.run("ssh-add", ["-l"])).stdout.includes(PublicKey.fingerprintSha256(key.publicKey))
        }
        expect(gone).toBe(true)
        yield* agent.remove(ecdsa.blob)
        expect((yield* sshAgent.run("ssh-add", ["-l"])).stdout).not.toContain("(ECDSA)")
        yield* agent.add(key)
        yield* agent.removeAll
        expect((yield* sshAgent.run("ssh-add", ["-l"])).code).toBe(1)
      }))

    it.scoped("against sshd: an agent key and an agent-held certificate (TrustedUserCAKeys) authenticate", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const sshAgent = yield* SshAgent.start
        yield* sshAgent.run("ssh-add", [keys.files.certified])
        yield* sshAgent.run("ssh-add", [keys.files.ed25519])
        const agentLayer = Agent.layer(sshAgent.socket)
        // agentKeys puts certificates first, whatever the agent's order.
        const order = yield* Stream.runCollect(agentKeys({ username: me })).pipe(Effect.provide(agentLayer))
        expect([...order].map((source) => source instanceof AgentKey && source.identity.certificate !== undefined)).toEqual([true, false, false])
        for (const pick of ["certificate", "key"] as const) {
          const { handler, sshd } = yield* connect(keys)
          const result = yield* Effect.gen(function*() {
            const agent = yield* Agent.Agent
            const ids = yield* agent.identities
            const id = ids.find((i) => (pick === "certificate") === (i.certificate !== undefined) && (pick === "certificate" || i.comment === "agent-ed25519"))!
            return yield* AuthStrategy.authenticate(AuthStrategy.make(new AgentKey({ username: me, agent, identity: id })))
          }).pipe(Effect.provide(Layer.merge(handler, agentLayer)))
          expect(result.succeeded).toBe(true)
          const log = yield* sshd.readLog
          expect(log).toMatch(pick === "certificate" ? /Accepted publickey for .* ED25519-CERT .* ID agent-cert/ : /Accepted publickey for .* ED25519 SHA256/)
        }
      }))

    it.scoped("a key restricted with ssh-add -h to the sshd's host key authenticates host-bound; unbound, the agent refuses it", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const sshAgent = yield* SshAgent.start
        const knownHosts = path.join(keys.dir, "restricted_known_hosts")
        fs.writeFileSync(knownHosts, `test-sshd ${pub(keys.hostKeys.files.ed25519)}\n`)
        const added = yield* sshAgent.run("ssh-add", ["-H", knownHosts, "-h", "test-sshd", keys.files.restricted])
        expect(added.code, added.stderr).toBe(0)
        const agentLayer = Agent.layer(sshAgent.socket)
        const run = (hostBinding: boolean) =>
          Effect.gen(function*() {
            const { handler, sshd } = yield* connect(keys)
            const result = yield* AuthStrategy.authenticate(agentKeys({ username: me, hostBinding })).pipe(
              Effect.provide(Layer.merge(handler, agentLayer)),
              Effect.either
            )
            return { result, log: yield* sshd.readLog }
          })
        const bound = yield* run(true)
        expect(Either.isRight(bound.result) && bound.result.right.succeeded).toBe(true)
        // sshd logs the query under the host-bound method, the acceptance under "publickey".
        expect(bound.log).toMatch(/Postponed publickey-hostbound-v00@openssh.com for /)
        expect(bound.log).toMatch(/Accepted publickey for /)
        const unbound = yield* run(false)
        expect(Either.isLeft(unbound.result)).toBe(true)
        if (Either.isLeft(unbound.result)) {
          const attempt = unbound.result.left.result.attempts[0].attempt
          expect(attempt._tag === "Error" && attempt.error).toBe("AgentError")
          expect(attempt._tag === "Error" && attempt.message).toMatch(/refused to sign/)
        }
      }))

    it.scoped("a locked agent and a confirm key without askpass are each that source's typed error; the strategy moves on", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const sshAgent = yield* SshAgent.start
        yield* sshAgent.run("ssh-add", ["-c", keys.files.confirm])
        const agentLayer = Agent.layer(sshAgent.socket)
        // Confirm: the agent lists the key but will not sign without asking.
        const confirmRun = yield* Effect.gen(function*() {
          const { handler } = yield* connect(keys)
          return yield* AuthStrategy.authenticate(
            Stream.concat(agentKeys({ username: me }), AuthStrategy.make(new OnDiskPrivateKey({ username: me, path: keys.files.ed25519 })))
          ).pipe(
            Effect.provide(Layer.merge(handler, agentLayer))
          )
        })
        expect(confirmRun.succeeded).toBe(true)
        const first = confirmRun.attempts[0].attempt
        expect(first._tag === "Error" && first.error instanceof Agent.AgentError && first.error.reason).toBe("SignRefused")

        // Locked: the agent signs nothing; a source that already knows the key gets Locked.
        const agent = yield* Agent.make({ path: sshAgent.socket })
        const [identity] = yield* agent.identities
        yield* agent.lock(Redacted.make("lock it"))
        const lockedRun = yield* Effect.gen(function*() {
          const { handler } = yield* connect(keys)
          return yield* AuthStrategy.authenticate(
            AuthStrategy.make(new AgentKey({ username: me, agent, identity }), new OnDiskPrivateKey({ username: me, path: keys.files.ed25519 }))
          ).pipe(Effect.provide(handler))
        })
        expect(lockedRun.succeeded).toBe(true)
        const locked = lockedRun.attempts[0].attempt
        expect(locked._tag === "Error" && locked.error instanceof Agent.AgentError && locked.error.reason).toBe("Locked")
        const wrong = yield* Effect.flip(agent.unlock(Redacted.make("wrong")))
        expect(wrong._tag === "AgentError" && wrong.reason).toBe("Refused")
        yield* agent.unlock(Redacted.make("lock it"))
        expect((yield* agent.identities).length).toBe(1)
      }))

    it.scoped("with no SSH_AUTH_SOCK, agent sources are skipped and the result says so", () =>
      Effect.gen(function*() {
        const keys = yield* Keys
        const saved = process.env.SSH_AUTH_SOCK
        delete process.env.SSH_AUTH_SOCK
        try {
          const { handler } = yield* connect(keys)
          const result = yield* AuthStrategy.authenticate(
            Stream.concat(agentKeys({ username: me }), AuthStrategy.make(new OnDiskPrivateKey({ username: me, path: keys.files.ed25519 })))
          ).pipe(Effect.provide(Layer.merge(handler, Agent.layer())))
          expect(result.succeeded).toBe(true)
          expect(result.attempts[0].attempt).toEqual({ _tag: "Skipped", reason: "no ssh-agent: SSH_AUTH_SOCK is not set" })
          // A socket path where no agent listens is the same.
          const dead = yield* Agent.make({ path: path.join(keys.dir, "no-such.sock") }).pipe(Effect.flip)
          expect(dead._tag).toBe("NoAgent")
        } finally {
          if (saved !== undefined) process.env.SSH_AUTH_SOCK = saved
        }
      }))
  })
})
