/**
 * What paramiko's own tests expect of auth strategies and the handler, adapted to Effect
 * (exceptions become typed failures, generators Streams, str() String()), over the
 * scripted transport.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as KeyFile from "../../src/keys/KeyFile.js"
import type { Signer } from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import type { AuthSource } from "../../src/sources/AuthSource.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { Password, type PasswordOptions } from "../../src/sources/Password.js"
import { PrivateKey } from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { encode } from "../../src/wire/Writer.js"
import { requireTool } from "../support/Tools.js"

const signerKey = Either.getOrThrow(PublicKey.fromBlob(encode((w) => w.string("ssh-ed25519").string(new Uint8Array(32).fill(9)))))

const run = <R>(
  steps: ReadonlyArray<Scripted.Step>,
  strategy: AuthStrategy.AuthStrategy<R>,
  script: Partial<Scripted.ScriptOptions> = {},
  options: AuthStrategy.AuthenticateOptions = {}
) =>
  Effect.gen(function*() {
    const transport = yield* Scripted.makeScripted({ steps, ...script })
    const layer = AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))
    const result = yield* AuthStrategy.authenticate(strategy, options).pipe(Effect.provide(layer), Effect.either)
    return { result, sent: transport.sent }
  })

const methodOf = (m: Scripted.ClientMessage) => (m._tag === "UserauthRequest" ? m.method : m._tag)
const PW = "pw-for-the-server"
const password = (options: Partial<PasswordOptions> = {}) => new Password({ username: "pat", password: Effect.succeed(Redacted.make(PW)), ...options })
const passwordPrompt = Scripted.infoRequest({ prompts: [{ prompt: "Password: ", echo: false }] })

describe("password falls back to keyboard-interactive, as paramiko's does", () => {
  it.effect("the server allows only keyboard-interactive: its single hidden prompt gets the password", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [
          { reply: [Scripted.failure(["publickey", "keyboard-interactive"])] },
          { reply: [passwordPrompt] },
          { expect: (m) => (m._tag === "InfoResponse" && m.responses.join() === PW) || "the password", reply: [Scripted.infoRequest({ prompts: [] })] },
          { expect: (m) => (m._tag === "InfoResponse" && m.responses.length === 0) || "no responses", reply: [Scripted.success] }
        ],
        AuthStrategy.make(password())
      )
      expect(Either.getOrThrow(result).succeeded).toBe(true)
      expect(sent.map(methodOf)).toEqual(["password", "keyboard-interactive", "InfoResponse", "InfoResponse"])
    }))

  it.effect("when the allowed methods are known already (none first), no password request is wasted", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{ reply: [Scripted.failure(["keyboard-interactive"])] }, { reply: [passwordPrompt] }, { reply: [Scripted.success] }],
        AuthStrategy.make(password()),
        {},
        { noneFirst: true }
      )
      expect(Either.getOrThrow(result).succeeded).toBe(true)
      expect(sent.map(methodOf)).toEqual(["none", "keyboard-interactive", "InfoResponse"])
    }))

  it.effect("switched off, the password source is recorded as refused and skipped", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{ reply: [Scripted.failure(["keyboard-interactive"])] }],
        AuthStrategy.make(password({ keyboardInteractiveFallback: false }))
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      expect(failure.result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure"])
      expect(sent.map(methodOf)).toEqual(["password"])
    }))

  for (
    const [what, request] of [
      [
        "a prompt that reads like a local one",
        Scripted.infoRequest({ prompts: [{ prompt: "Enter passphrase for key '/home/pat/.ssh/id_ed25519': ", echo: false }] })
      ],
      ["a prompt that echoes", Scripted.infoRequest({ prompts: [{ prompt: "Password: ", echo: true }] })],
      ["two prompts", Scripted.infoRequest({ prompts: [{ prompt: "Password: ", echo: false }, { prompt: "Code: ", echo: false }] })]
    ] as const
  ) {
    it.effect(`${what} is not answered: the attempt ends as that source's CredentialError`, () =>
      Effect.gen(function*() {
        const { result, sent } = yield* run(
          [{ reply: [Scripted.failure(["keyboard-interactive"])] }, { reply: [request] }],
          AuthStrategy.make(password())
        )
        const failure = Either.flip(result).pipe(Either.getOrThrow)
        const attempt = failure.result.attempts[0].attempt
        expect(attempt._tag === "Error" && attempt.error).toBe("CredentialError")
        expect(sent.filter((m) => m._tag === "InfoResponse")).toEqual([])
      }))
  }

  it.effect("a second password prompt in the same attempt is not answered", () =>
    Effect.gen(function*() {
      const { sent } = yield* run(
        [{ reply: [Scripted.failure(["keyboard-interactive"])] }, { reply: [passwordPrompt] }, { reply: [passwordPrompt] }],
        AuthStrategy.make(password())
      )
      expect(sent.filter((m) => m._tag === "InfoResponse")).toHaveLength(1)
    }))
})

describe("RSA certificates against OpenSSH 7.7 and older", () => {
  let signer: Signer
  beforeAll(async () => {
    requireTool("ssh-keygen")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "legacy-cert-"))
    const keygen = (...args: ReadonlyArray<string>) => execFileSync("ssh-keygen", ["-q", ...args], { timeout: 60_000 })
    keygen("-t", "rsa", "-b", "2048", "-N", "", "-f", path.join(dir, "user"))
    keygen("-t", "ed25519", "-N", "", "-f", path.join(dir, "ca"))
    keygen("-s", path.join(dir, "ca"), "-I", "pat", "-n", "pat", path.join(dir, "user.pub"))
    const key = await Effect.runPromise(KeyFile.readFile(path.join(dir, "user")).pipe(Effect.provide(NodeFileSystem.layer)))
    const certificate = Either.getOrThrow(Certificate.fromLine(fs.readFileSync(path.join(dir, "user-cert.pub"), "utf8").trim()))
    signer = { publicKey: key.publicKey, certificate, sign: (algorithm, data) => key.sign(algorithm, data) }
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const oldServer = { serverIdentification: "SSH-2.0-OpenSSH_7.4", serverSigAlgs: ["ssh-ed25519", "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa"] }
  const algorithmOf = (m: Scripted.ClientMessage) => m._tag === "UserauthRequest" ? Buffer.from(m.rest.subarray(5, 5 + m.rest[4])).toString("latin1") : ""

  it.effect("one algorithm, chosen up front from the server's version: ssh-rsa-cert-v01, when SHA-1 is allowed", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run(
        [{ reply: [Scripted.pkOk("ssh-rsa-cert-v01@openssh.com", signer.certificate!.blob)] }, { reply: [Scripted.success] }],
        AuthStrategy.make(new PrivateKey({ username: "pat", signer, allowSshRsaSha1: true })),
        oldServer
      )
      expect(Either.getOrThrow(result).succeeded).toBe(true)
      expect(sent.map(algorithmOf)).toEqual(["ssh-rsa-cert-v01@openssh.com", "ssh-rsa-cert-v01@openssh.com"])
    }))

  it.effect("without SHA-1, nothing is sent: no try is spent on the sha2 names it lists but refuses", () =>
    Effect.gen(function*() {
      const { result, sent } = yield* run([], AuthStrategy.make(new PrivateKey({ username: "pat", signer })), oldServer)
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      const attempt = failure.result.attempts[0].attempt
      expect(attempt._tag === "Error" && attempt.message).toMatch(/OpenSSH_7\.4 accepts RSA certificates only as ssh-rsa-cert-v01@openssh\.com/)
      expect(sent).toEqual([])
    }))

  it.effect("a 7.8 server takes rsa-sha2-512-cert", () =>
    Effect.gen(function*() {
      const { sent } = yield* run(
        [{ reply: [Scripted.pkOk("rsa-sha2-512-cert-v01@openssh.com", signer.certificate!.blob)] }, { reply: [Scripted.success] }],
        AuthStrategy.make(new PrivateKey({ username: "pat", signer, allowSshRsaSha1: true })),
        { ...oldServer, serverIdentification: "SSH-2.0-OpenSSH_7.8" }
      )
      expect(sent.map(algorithmOf)[0]).toBe("rsa-sha2-512-cert-v01@openssh.com")
      expect(AuthHandler.rsaCertificatesNeedSha1("SSH-2.0-OpenSSH_6.6.1p1")).toBe(true)
      expect(AuthHandler.rsaCertificatesNeedSha1("SSH-2.0-OpenSSH_9.2p1 Debian")).toBe(false)
      expect(AuthHandler.rsaCertificatesNeedSha1("SSH-2.0-dropbear_2022.83")).toBe(false)
    }))
})

describe("a source that throws", () => {
  it.effect("a getter, a responder or a signer that throws is that source's CredentialError; the strategy moves on", () =>
    Effect.gen(function*() {
      const boom = (): never => {
        throw new Error("user code bug")
      }
      const key: Signer = {
        publicKey: signerKey,
        sign: () => Effect.sync(boom)
      }
      const { result } = yield* run(
        [
          { reply: [Scripted.failure(["password", "keyboard-interactive", "publickey"])] },
          { reply: [Scripted.infoRequest({ prompts: [{ prompt: "Code: ", echo: true }] })] },
          { reply: [Scripted.pkOk("ssh-ed25519", signerKey.blob)] },
          { reply: [Scripted.success] }
        ],
        AuthStrategy.make(
          new Password({ username: "pat", password: Effect.sync(boom) }),
          new Password({ username: "pat", password: Effect.succeed(Redacted.make(PW)) }),
          new KeyboardInteractive({ username: "pat", responder: () => Effect.sync(boom) }),
          new PrivateKey({ username: "pat", signer: key, skipQuery: false }),
          new Password({ username: "pat", password: Effect.succeed(Redacted.make(PW)) })
        )
      )
      const r = Either.getOrThrow(result)
      const attempts = r.attempts.map((a) => a.attempt)
      expect(attempts[0]._tag === "Error" && attempts[0].error.message).toMatch(/the password getter threw/)
      expect(attempts[2]._tag === "Error" && attempts[2].error.message).toMatch(/the responder threw/)
      expect(attempts[3]._tag === "Error" && attempts[3].error.message).toMatch(/the signer threw/)
      expect(attempts[4]._tag).toBe("Success")
    }))

  it.effect("a source of the library's own that dies is still a defect", () =>
    Effect.gen(function*() {
      const broken: AuthSource = {
        ...password(),
        _tag: "Broken",
        username: "pat",
        method: "password",
        description: "",
        authenticate: Effect.die("bug"),
        toString: () => "Broken()"
      }
      const exit = yield* Effect.exit(run([], AuthStrategy.make(broken)))
      expect(exit._tag === "Failure" && exit.cause._tag).toBe("Die")
    }))
})

describe("AuthResult, AuthFailure and logging", () => {
  it.effect("the result names each source it tried (the live objects), not the strategy: a strategy is a Stream, not data", () =>
    Effect.gen(function*() {
      const first = password()
      const second = password()
      const { result } = yield* run([{ reply: [Scripted.failure(["password"])] }, { reply: [Scripted.success] }], AuthStrategy.make(first, second))
      const r = Either.getOrThrow(result)
      expect(r.attempts.map((a) => a.source)).toEqual([first, second])
      expect("strategy" in r).toBe(false)
    }))

  it.effect("String(result) prints every line, paramiko's way: the last one ends in -> success", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [{ reply: [Scripted.failure(["password", "publickey"], true)] }, { reply: [Scripted.success] }],
        AuthStrategy.make(password(), password())
      )
      const lines = String(Either.getOrThrow(result)).split("\n")
      expect(lines).toHaveLength(2)
      expect(lines[0]).toMatch(/^Password\(user=pat\) -> partial success; can continue: password,publickey \(\d+\.\d ms\)$/)
      expect(lines[1]).toMatch(/^Password\(user=pat\) -> success \(\d+\.\d ms\)$/)
    }))

  it.effect("AuthFailure's text keeps the allowed methods and partial marks, and String(failure.result) prints as the result does", () =>
    Effect.gen(function*() {
      const { result } = yield* run(
        [{ reply: [Scripted.failure(["publickey", "password"], true)] }, { reply: [Scripted.failure(["publickey"])] }],
        AuthStrategy.make(password(), password())
      )
      const failure = Either.flip(result).pipe(Either.getOrThrow)
      expect(failure.message).toMatch(
        /^authentication failed: no more sources to try\n {2}Password\(user=pat\) -> partial success; can continue: publickey,password/
      )
      expect(failure.message).toMatch(/\n {2}Password\(user=pat\) -> failure; can continue: publickey \(/)
      expect(String(failure.result)).toBe(failure.message.split("\n").slice(1).map((l) => l.slice(2)).join("\n"))
      expect(String(failure.result)).not.toMatch(/object Object/)
    }))

  it.effect("a debug line names each source before its request goes out; an info line names a failure's tag", () =>
    Effect.gen(function*() {
      const events: Array<string> = []
      const logger = Logger.make(({ logLevel, message }) => events.push(`${logLevel.label}: ${Array.isArray(message) ? message.join(" ") : String(message)}`))
      const transport = yield* Scripted.makeScripted({
        steps: [
          { expect: () => (events.push("request sent"), true), reply: [Scripted.failure(["password"])] },
          { expect: () => (events.push("request sent"), true), reply: [Scripted.success] }
        ]
      })
      const layer = Layer.mergeAll(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))), Logger.replace(Logger.defaultLogger, logger))
      yield* AuthStrategy.authenticate(
        AuthStrategy.make(new Password({ username: "pat", password: Effect.fail("no password today") }), password(), password())
      ).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Debug))
      const relevant = events.filter((e) => /Trying|failed with|request sent/.test(e))
      expect(relevant).toEqual([
        "DEBUG: Trying Password(user=pat)",
        "INFO: Password(user=pat) failed with CredentialError",
        "DEBUG: Trying Password(user=pat)",
        "request sent",
        "DEBUG: Trying Password(user=pat)",
        "request sent"
      ])
    }))
})
