/**
 * ssh2's `Client` (the npm package, in this process) logs in to our server through every
 * method it has: publickey with ed25519, ecdsa and rsa keys, password, keyboard-interactive,
 * a publickey,password chain; then one exec, output and exit status. It also fails where it
 * must: a wrong key, a wrong password, MaxAuthTries (ssh2 has no user certificates). Its host
 * verifier accepts our host key and nothing else; the server's result must name exactly the
 * key ssh-keygen fingerprinted.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import { type AnyAuthMethod, Client } from "ssh2"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import { authorizedKeys, ClientKeys, type ClientKeysShape, type KeyFile, layer as clientKeysLayer } from "../support/ClientKeys.js"
import * as OurServer from "../support/OurServer.js"

const PASSWORD = "correct horse battery"
const CODE = "123456"
const secret = (s: string) => Redacted.make(s)
const concurrent = { concurrent: true, timeout: 30_000 }

type Step =
  | { readonly method: "publickey"; readonly key: KeyFile }
  | { readonly method: "password"; readonly password: string }
  | { readonly method: "keyboard-interactive"; readonly answers: Readonly<Record<string, string>> }

interface Outcome {
  readonly authenticated: boolean
  readonly hostKeyMatched: boolean
  /** What ssh2's authHandler was told before each step after the first: partial success or not. */
  readonly partial: ReadonlyArray<boolean>
  readonly prompts: ReadonlyArray<string>
  readonly stdout?: string
  readonly stderr?: string
  readonly exitStatus?: number
  readonly error?: string
}

/** One ssh2 connection trying `steps` in order, then `command`; bounded to 20 s. */
const ssh2 = (server: OurServer.OurServer, user: string, steps: ReadonlyArray<Step>, command = "whoami") =>
  Effect.async<Outcome>((resume) => {
    const client = new Client()
    const partial: Array<boolean> = []
    const prompts: Array<string> = []
    let authenticated = false
    let hostKeyMatched = false
    let settled = false
    const finish = (outcome: Partial<Outcome>) => {
      if (settled) return
      settled = true
      client.end()
      resume(Effect.succeed({ authenticated, hostKeyMatched, partial, prompts, ...outcome }))
    }
    const toMethod = (step: Step): AnyAuthMethod => {
      switch (step.method) {
        case "publickey":
          return { type: "publickey", username: user, key: fs.readFileSync(step.key.path) }
        case "password":
          return { type: "password", username: user, password: step.password }
        case "keyboard-interactive":
          return {
            type: "keyboard-interactive",
            username: user,
            prompt: (_name, _instructions, _lang, asked, answer) => {
              prompts.push(...asked.map((p) => p.prompt))
              answer(asked.map((p) => step.answers[p.prompt.trim()] ?? ""))
            }
          }
      }
    }
    let next = 0
    client.on("ready", () => {
      authenticated = true
      client.exec(command, (error, stream) => {
        if (error) return finish({ error: error.message })
        let stdout = ""
        let stderr = ""
        let exitStatus: number | undefined
        stream.on("data", (d: Buffer) => void (stdout += d.toString("utf8")))
        stream.stderr.on("data", (d: Buffer) => void (stderr += d.toString("utf8")))
        stream.on("exit", (code: number) => void (exitStatus = code))
        stream.on("close", () => finish({ stdout, stderr, ...(exitStatus !== undefined ? { exitStatus } : {}) }))
      })
    })
    client.on("error", (e) => finish({ error: e.message }))
    client.on("close", () => finish({ error: "connection closed" }))
    client.connect({
      host: "127.0.0.1",
      port: server.port,
      username: user,
      readyTimeout: 15_000,
      hostVerifier: (key: Buffer) => (hostKeyMatched = Buffer.compare(key, server.hostKey.publicKey.blob) === 0),
      authHandler: (methodsLeft, partialSuccess, callback) => {
        if (methodsLeft !== null) partial.push(partialSuccess)
        const step = steps[next++]
        // `false` ends the attempts: ssh2 then fails with "All configured authentication methods failed".
        callback(step === undefined ? (false as never) : toMethod(step))
      }
    })
    return Effect.sync(() => client.end())
  }).pipe(
    Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("ssh2 did not finish within 20 s") }),
    Effect.orDie,
    Effect.map((outcome) => ({ ...outcome, why: `${JSON.stringify(outcome)}\n${server.log()}` }))
  )

const standard = (keys: ClientKeysShape, auth: ServerAuthOptions = {}) =>
  OurServer.start({
    alice: {
      authorizedKeys: authorizedKeys(keys.ed25519.line, keys.ecdsa.line, keys.rsa.line),
      password: secret(PASSWORD),
      interactive: [
        { prompt: "Password: ", echo: false, answer: secret(PASSWORD) },
        { prompt: "Code: ", echo: true, answer: secret(CODE) }
      ]
    },
    carol: { keys: [keys.ed25519.publicKey], password: secret(PASSWORD), methods: [["publickey", "password"]] }
  }, { auth })

const provenKey = (server: OurServer.OurServer, why: string) => {
  expect(server.authenticated, why).toHaveLength(1)
  const credential = server.authenticated[0].credentials.find((c) => c._tag === "PublicKey")
  if (credential?._tag !== "PublicKey") throw new Error(`no key was proven\n${why}`)
  return credential
}

describe("ssh2's Client against our server", () => {
  layer(clientKeysLayer, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    for (const name of ["ed25519", "ecdsa", "rsa"] as const) {
      it.scoped(`publickey with an ${name} key: the server proves exactly that key`, () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys)
          const r = yield* ssh2(server, "alice", [{ method: "publickey", key: keys[name] }])
          expect(r.hostKeyMatched).toBe(true)
          expect(r.authenticated, r.why).toBe(true)
          expect(r.stdout).toBe("ran whoami as alice by publickey\n")
          const credential = provenKey(server, r.why)
          expect(credential.key.fingerprint).toBe(keys[name].fingerprint)
          if (name === "rsa") expect(["rsa-sha2-256", "rsa-sha2-512"]).toContain(credential.algorithm)
        }), concurrent)
    }

    it.scoped("password; a wrong one first, then the right one on the same connection", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const r = yield* ssh2(server, "alice", [{ method: "password", password: "wrong horse" }, { method: "password", password: PASSWORD }])
        expect(r.authenticated, r.why).toBe(true)
        expect(r.partial).toEqual([false])
        expect(r.stdout).toBe("ran whoami as alice by password\n")
        expect(server.authenticated[0].credentials).toEqual([{ _tag: "Password" }])
        expect(server.attempts.filter((a) => a.method === "password").map((a) => a.outcome)).toEqual(["Failed", "Accepted"])

        const wrong = yield* ssh2(server, "alice", [{ method: "password", password: "wrong horse" }])
        expect(wrong.authenticated, wrong.why).toBe(false)
        expect(wrong.error).toBe("All configured authentication methods failed")
        expect(server.authenticated).toHaveLength(1)
      }), concurrent)

    it.scoped("keyboard-interactive, two prompts in one round; a wrong answer is refused", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const r = yield* ssh2(server, "alice", [{ method: "keyboard-interactive", answers: { "Password:": PASSWORD, "Code:": CODE } }])
        expect(r.authenticated, r.why).toBe(true)
        expect(r.prompts).toEqual(["Password: ", "Code: "])
        expect(r.stdout).toBe("ran whoami as alice by keyboard-interactive\n")
        expect(server.authenticated[0].credentials).toEqual([{ _tag: "KeyboardInteractive" }])

        const wrong = yield* ssh2(server, "alice", [{ method: "keyboard-interactive", answers: { "Password:": PASSWORD, "Code:": "654321" } }])
        expect(wrong.authenticated, wrong.why).toBe(false)
        expect(server.authenticated).toHaveLength(1)
      }), concurrent)

    it.scoped("a publickey,password chain: ssh2 is told of partial success after the key", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const r = yield* ssh2(server, "carol", [{ method: "publickey", key: keys.ed25519 }, { method: "password", password: PASSWORD }])
        expect(r.authenticated, r.why).toBe(true)
        expect(r.partial).toEqual([true])
        expect(r.stdout).toBe("ran whoami as carol by publickey,password\n")
        expect(server.authenticated[0].methods).toEqual(["publickey", "password"])
        expect(provenKey(server, r.why).key.fingerprint).toBe(keys.ed25519.fingerprint)
      }), concurrent)

    it.scoped("exec: the command's stdout, stderr and exit status 3", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const r = yield* ssh2(server, "alice", [{ method: "publickey", key: keys.ed25519 }], "exit 3")
        expect(r.stdout, r.why).toBe("ran exit 3 as alice by publickey\n")
        expect(r.stderr).toBe("exiting 3\n")
        expect(r.exitStatus).toBe(3)
      }), concurrent)

    it.scoped("a wrong key is refused, and the server refused exactly that key", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const wrong = keys.wrong[0]
        const r = yield* ssh2(server, "alice", [{ method: "publickey", key: wrong }])
        expect(r.authenticated, r.why).toBe(false)
        expect(r.error).toBe("All configured authentication methods failed")
        const withKeys = server.attempts.filter((a) => a.key !== undefined)
        expect(withKeys.map((a) => a.key?.fingerprint)).toEqual([wrong.fingerprint])
        expect(withKeys.every((a) => a.outcome === "Failed" || a.outcome === "KeyRefused")).toBe(true)
      }), concurrent)

    it.scoped("MaxAuthTries 3: wrong passwords, then wrong keys, end in sshd's \"Too many authentication failures\"", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys, { maxAuthTries: 3 })
        const passwords = yield* ssh2(server, "alice", [1, 2, 3, 4, 5].map((i): Step => ({ method: "password", password: `wrong ${i}` })))
        expect(passwords.authenticated, passwords.why).toBe(false)
        expect(passwords.error, passwords.why).toMatch(/Too many authentication failures/)
        const wrongKeys = yield* ssh2(server, "alice", keys.wrong.map((key): Step => ({ method: "publickey", key })))
        expect(wrongKeys.error, wrongKeys.why).toMatch(/Too many authentication failures/)
        yield* server.awaitEnded(2)
        expect(server.failures().map((f) => f.reason), wrongKeys.why).toEqual(["TooManyAttempts", "TooManyAttempts"])
        expect(server.authenticated).toEqual([])
      }), concurrent)
  })
})
