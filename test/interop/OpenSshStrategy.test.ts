/**
 * The OpenSSH strategy against the suite's sshd, each test with a throwaway HOME
 * (~/.ssh/config and keys) and, where it matters, a real ssh-agent.
 */
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
import * as SshConfig from "../../src/config/SshConfig.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as OpenSshStrategy from "../../src/OpenSshStrategy.js"
import { agentKeys } from "../../src/sources/AgentKey.js"
import { OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import * as Prompts from "../../src/sources/Prompter.js"
import type { Prompter } from "../../src/sources/Prompter.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { skipInterop, skipUnlessRoot } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as NodeFiles from "../support/NodeFiles.js"
import * as SshAgent from "../support/SshAgent.js"
import * as Sshd from "../support/Sshd.js"

const me = os.userInfo().username

class HostKeys extends Context.Tag("test/OpenSsh/HostKeys")<HostKeys, Sshd.HostKeys>() {}

/** A throwaway HOME with ~/.ssh; keys made there by ssh-keygen. */
const home = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("home-")
  fs.mkdirSync(path.join(dir, ".ssh"), { mode: 0o700 })
  const key = (name: string, passphrase = "") =>
    Effect.gen(function*() {
      const file = path.join(dir, ".ssh", name)
      yield* Sshd.run("ssh-keygen", ["-q", "-t", "ed25519", "-a", "2", "-N", passphrase, "-C", name, "-f", file])
      return { file, publicLine: fs.readFileSync(`${file}.pub`, "utf8").trim() }
    })
  const writeConfig = (text: string) => fs.writeFileSync(path.join(dir, ".ssh", "config"), text)
  return { dir, key, writeConfig }
})

/** A prompter that answers from a table and counts what it was asked. */
const countingPrompter = (answers: Record<string, string>) => {
  const asked: Array<string> = []
  const echoes: Array<boolean> = []
  const prompter: Prompter = {
    ask: (question) =>
      Effect.sync(() => {
        const prompt = Prompts.display(question)
        asked.push(prompt)
        echoes.push(Prompts.echoes(question))
        const hit = Object.entries(answers).find(([k]) => prompt.includes(k))
        return Redacted.make(hit ? hit[1] : "wrong answer")
      })
  }
  return { asked, echoes, prompter }
}

/** Resolves the HOME's config for the sshd and runs the OpenSSH strategy over a fresh connection. */
const runStrategy = (
  h: Effect.Effect.Success<typeof home>,
  sshd: Sshd.Sshd,
  options: { readonly prompter?: Prompter; readonly agentSocket?: string; readonly maxAuthTries?: number; readonly user?: string } = {}
) =>
  Effect.gen(function*() {
    const config = yield* SshConfig.resolve({
      host: "testhost",
      configFile: path.join(h.dir, ".ssh", "config"),
      local: { ...SshConfig.localContext(), homeDir: h.dir, env: options.agentSocket ? { SSH_AUTH_SOCK: options.agentSocket } : {} }
    })
    const transport = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure })
    const handler = AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))
    const agentLayer = Agent.layer(options.agentSocket ?? path.join(h.dir, "no-agent.sock"))
    return yield* AuthStrategy.authenticate(OpenSshStrategy.make({
      config,
      ...(options.prompter ? { prompter: options.prompter } : {}),
      ...(options.maxAuthTries ? { maxAuthTries: options.maxAuthTries } : {})
    })).pipe(Effect.provide(Layer.merge(handler, agentLayer)), Effect.either)
  })

/** The HOME's config points "testhost" at the sshd; `extra` lines go inside the Host block. */
const hostBlock = (sshd: Sshd.Sshd, extra: ReadonlyArray<string>, user = me) =>
  ["Host testhost", `  HostName ${sshd.host}`, `  Port ${sshd.port}`, `  User ${user}`, ...extra.map((l) => `  ${l}`), ""].join("\n")

const tried = (
  result: Either.Either<
    { readonly attempts: ReadonlyArray<{ readonly attempt: { readonly _tag: string } }> },
    { readonly result: { readonly attempts: ReadonlyArray<{ readonly attempt: { readonly _tag: string } }> } }
  >
) => (Either.isRight(result) ? result.right.attempts : result.left.result.attempts).filter((a) => a.attempt._tag !== "Skipped")

/** The password user (root makes it), a key authorized for it, and an sshd asking for two factors. */
const twoFactorServer = (config: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const user = yield* Sshd.ensureTestUser()
    const h = yield* home
    const right = yield* h.key("id_right")
    const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, authorizedKeys: [right.publicLine], config })
    yield* logOnFailure(sshd)
    return { h, right, sshd, user }
  })

describe.skipIf(skipInterop())("interop: the OpenSSH strategy", () => {
  layer(Layer.merge(Layer.scoped(HostKeys, Sshd.makeHostKeys(["ed25519"])), NodeFiles.layer), { excludeTestServices: true, timeout: "90 seconds" })((it) => {
    it.scoped("IdentitiesOnly: with 5 unrelated keys in the agent, only the configured key is offered", () =>
      Effect.gen(function*() {
        const h = yield* home
        const right = yield* h.key("id_right")
        const agent = yield* SshAgent.start
        for (let i = 0; i < 5; i++) yield* agent.run("ssh-add", [(yield* h.key(`unrelated_${i}`)).file])
        const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, authorizedKeys: [right.publicLine] })
        yield* logOnFailure(sshd)
        h.writeConfig(hostBlock(sshd, [`IdentityFile ${right.file}`, "IdentitiesOnly yes"]))
        const result = yield* runStrategy(h, sshd, { agentSocket: agent.socket })
        expect(Either.isRight(result) && result.right.succeeded).toBe(true)
        expect(tried(result).length).toBe(1)
        expect(yield* sshd.readLog).not.toMatch(/Failed publickey/)
      }))

    it.scoped("the MaxAuthTries budget: 8 agent keys and the right IdentityFile succeed; agent order as ssh2/paramiko do ends in Too many authentication failures", () =>
      Effect.gen(function*() {
        const h = yield* home
        const right = yield* h.key("id_right")
        const agent = yield* SshAgent.start
        for (let i = 0; i < 8; i++) yield* agent.run("ssh-add", [(yield* h.key(`agent_${i}`)).file])
        const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, authorizedKeys: [right.publicLine], config: ["MaxAuthTries 6"] })
        yield* logOnFailure(sshd)
        h.writeConfig(hostBlock(sshd, [`IdentityFile ${right.file}`]))
        const result = yield* runStrategy(h, sshd, { agentSocket: agent.socket })
        expect(Either.isRight(result) && result.right.succeeded).toBe(true)

        // The peers' order: every agent key, then the file.
        const transport = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure })
        const naive = yield* AuthStrategy.authenticate(
          Stream.concat(agentKeys({ username: me }), AuthStrategy.make(new OnDiskPrivateKey({ username: me, path: right.file })))
        ).pipe(
          Effect.provide(Layer.merge(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))), Agent.layer(agent.socket))),
          Effect.flip
        )
        expect(naive.reason).toBe("Disconnected")
        expect(naive.message).toMatch(/Too many authentication failures/)
      }))

    it.scoped("decrypt late: a refused encrypted key never asks for its passphrase; an accepted one asks exactly once", () =>
      Effect.gen(function*() {
        const h = yield* home
        const refused = yield* h.key("id_refused", "refused passphrase")
        const accepted = yield* h.key("id_accepted", "accepted passphrase")
        const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, authorizedKeys: [accepted.publicLine] })
        yield* logOnFailure(sshd)
        h.writeConfig(hostBlock(sshd, [`IdentityFile ${refused.file}`, `IdentityFile ${accepted.file}`, "PreferredAuthentications publickey"]))
        const { asked, prompter } = countingPrompter({ id_accepted: "accepted passphrase", id_refused: "refused passphrase" })
        const result = yield* runStrategy(h, sshd, { prompter })
        expect(Either.isRight(result) && result.right.succeeded).toBe(true)
        expect(asked.filter((p) => p.includes("id_refused"))).toEqual([])
        expect(asked.filter((p) => p.includes("id_accepted")).length).toBe(1)
      }))

    it.scoped("BatchMode, and PasswordAuthentication no: no prompt is ever made", () =>
      Effect.gen(function*() {
        const h = yield* home
        const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, config: ["PasswordAuthentication yes", "KbdInteractiveAuthentication yes"] })
        yield* logOnFailure(sshd)
        for (const lines of [["BatchMode yes"], ["PasswordAuthentication no", "KbdInteractiveAuthentication no"]]) {
          h.writeConfig(hostBlock(sshd, lines))
          const { asked, prompter } = countingPrompter({})
          const result = yield* runStrategy(h, sshd, { prompter })
          expect(Either.isLeft(result)).toBe(true)
          expect(asked).toEqual([])
        }
      }))

    it.scoped("certificates first: a -cert.pub beside the identity file, and a CertificateFile, signed by the server's TrustedUserCAKeys", () =>
      Effect.gen(function*() {
        const h = yield* home
        const ca = yield* h.key("user_ca")
        const beside = yield* h.key("id_beside")
        const named = yield* h.key("id_named")
        for (const key of [beside, named]) yield* Sshd.run("ssh-keygen", ["-q", "-s", ca.file, "-I", path.basename(key.file), "-n", me, `${key.file}.pub`])
        // The named key's certificate lives elsewhere, found through CertificateFile.
        const elsewhere = path.join(h.dir, "named-cert.pub")
        fs.renameSync(`${named.file}-cert.pub`, elsewhere)
        const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, config: [`TrustedUserCAKeys ${ca.file}.pub`] })
        yield* logOnFailure(sshd)
        for (const [identity, lines] of [[beside.file, []], [named.file, [`CertificateFile ${elsewhere}`]]] as const) {
          h.writeConfig(hostBlock(sshd, [`IdentityFile ${identity}`, ...lines]))
          const result = yield* runStrategy(h, sshd)
          expect(Either.isRight(result) && result.right.succeeded).toBe(true)
          if (Either.isRight(result)) {
            const first = result.right.attempts.find((a) => a.attempt._tag !== "Skipped")!
            expect(first.source.description).toMatch(/certificate ssh-ed25519-cert-v01@openssh.com/)
            expect(first.attempt._tag).toBe("Success")
          }
        }
        expect(yield* sshd.readLog).toMatch(/Accepted publickey for .* ED25519-CERT .* ID id_named/)

        // A CertificateFile whose key only the agent holds: the agent signs, the certificate is offered.
        const agentOnly = yield* h.key("id_agent_only")
        yield* Sshd.run("ssh-keygen", ["-q", "-s", ca.file, "-I", "agent-only", "-n", me, `${agentOnly.file}.pub`])
        const certFile = path.join(h.dir, "agent-only-cert.pub")
        fs.renameSync(`${agentOnly.file}-cert.pub`, certFile)
        const agent = yield* SshAgent.start
        yield* agent.run("ssh-add", [agentOnly.file])
        h.writeConfig(hostBlock(sshd, [`CertificateFile ${certFile}`, "IdentitiesOnly yes"]))
        const viaAgent = yield* runStrategy(h, sshd, { agentSocket: agent.socket })
        expect(Either.isRight(viaAgent) && viaAgent.right.succeeded).toBe(true)
        expect(yield* sshd.readLog).toMatch(/Accepted publickey for .* ED25519-CERT .* ID agent-only/)
      }))

    it.scoped("bad files: an unreadable and a corrupt identity file are recorded for their sources, and the strategy goes on", () =>
      Effect.gen(function*() {
        const h = yield* home
        const right = yield* h.key("id_right")
        const corrupt = path.join(h.dir, ".ssh", "id_corrupt")
        fs.writeFileSync(corrupt, "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n")
        const unreadable = path.join(h.dir, ".ssh", "id_directory")
        fs.mkdirSync(unreadable)
        const sshd = yield* Sshd.start({ hostKeys: yield* HostKeys, authorizedKeys: [right.publicLine] })
        yield* logOnFailure(sshd)
        h.writeConfig(hostBlock(sshd, [`IdentityFile ${corrupt}`, `IdentityFile ${unreadable}`, `IdentityFile ${right.file}`]))
        const result = yield* runStrategy(h, sshd)
        expect(Either.isRight(result) && result.right.succeeded).toBe(true)
        if (Either.isRight(result)) {
          const errors = result.right.attempts.filter((a) => a.attempt._tag === "Error").map((a) =>
            a.attempt._tag === "Error" ? `${a.attempt.error._tag} ${a.attempt.error.message}` : ""
          )
          expect(errors.some((e) => e.startsWith("KeyFileError") && e.includes("id_corrupt"))).toBe(true)
          expect(errors.some((e) => e.startsWith("KeyFileError") && e.includes("id_directory"))).toBe(true)
        }
      }))

    it.scoped.skipIf(skipUnlessRoot("OpenSSH strategy: AuthenticationMethods password,publickey (a password user)"))(
      "a new method list restarts the plan from the top: AuthenticationMethods password,publickey with keys tried first",
      () =>
        Effect.gen(function*() {
          const { h, right, sshd, user } = yield* twoFactorServer(["PasswordAuthentication yes", "AuthenticationMethods password,publickey"])
          h.writeConfig(hostBlock(sshd, [`IdentityFile ${right.file}`, "KbdInteractiveAuthentication no"], user.name))
          const { asked, prompter } = countingPrompter({ "password": user.password })
          const result = yield* runStrategy(h, sshd, { prompter })
          expect(Either.isRight(result) && result.right.succeeded).toBe(true)
          if (Either.isRight(result)) {
            const methods = result.right.attempts.filter((a) => a.attempt._tag !== "Skipped").map((a) => `${a.source.method}:${a.attempt._tag}`)
            // The key first (not allowed yet), the password (partial success), the key again: success.
            expect(methods).toEqual(["publickey:Failure", "password:Failure", "publickey:Success"])
          }
          expect(asked.length).toBe(1)
        })
    )

    it.scoped.skipIf(skipUnlessRoot("OpenSSH strategy: AuthenticationMethods publickey,keyboard-interactive (a password user)"))(
      "partial success: AuthenticationMethods publickey,keyboard-interactive completes the chain",
      () =>
        Effect.gen(function*() {
          const { h, right, sshd, user } = yield* twoFactorServer([
            "UsePAM yes",
            "KbdInteractiveAuthentication yes",
            "AuthenticationMethods publickey,keyboard-interactive"
          ])
          h.writeConfig(hostBlock(sshd, [`IdentityFile ${right.file}`], user.name))
          const { asked, echoes, prompter } = countingPrompter({ "Password": user.password })
          const result = yield* runStrategy(h, sshd, { prompter })
          expect(Either.isRight(result) && result.right.succeeded).toBe(true)
          // PAM's "Password:" prompt says echo off, and so it was asked.
          expect(asked.some((p) => p.includes("Password"))).toBe(true)
          expect(echoes.every((e) => e === false)).toBe(true)
          if (Either.isRight(result)) {
            const first = result.right.attempts.find((a) => a.attempt._tag === "Failure")
            expect(first?.attempt._tag === "Failure" && first.attempt.partialSuccess).toBe(true)
          }
          expect(asked.length).toBeGreaterThanOrEqual(1)
        })
    )
  })
})
