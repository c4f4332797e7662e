/**
 * Three client libraries log in to our server through every method each has, by one suite:
 * paramiko and asyncssh (Debian's python3-paramiko and python3-asyncssh, run by
 * /usr/bin/python3) and ssh2's `Client` (npm, in this process). Publickey with ed25519,
 * ecdsa and rsa keys and with a user certificate (not ssh2: it has none), password,
 * keyboard-interactive, a publickey,password chain; then one exec, output and exit status.
 * Each also fails where it must: a wrong key, a wrong password, an expired certificate,
 * MaxAuthTries. Each client pins our host key and nothing else; the server's result must
 * name exactly the key ssh-keygen fingerprinted.
 *
 * A login is a list of steps the client tries in order on one connection. The Python
 * clients are test/support/clients/{paramiko,asyncssh}_login.py: one JSON spec in, one JSON
 * line out.
 */
import { describe, expect, layer, type Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { type AnyAuthMethod, Client } from "ssh2"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import { ClientKeys, type ClientKeysShape, type KeyFile, layer as clientKeysLayer } from "../support/ClientKeys.js"
import { debianPythonHas, skipWithoutPeer } from "../support/Env.js"
import { alice, carol, CODE, concurrent, PASSWORD, provenKey } from "../support/OurServer.js"
import * as OurServer from "../support/OurServer.js"
import { run } from "../support/Sshd.js"

/** One step of a login, in the order a client is to try them. */
type Step =
  | { readonly method: "publickey"; readonly key: KeyFile; readonly certificate?: boolean }
  | { readonly method: "password"; readonly password: string }
  | { readonly method: "keyboard-interactive"; readonly answers: Readonly<Record<string, string>> }

interface Outcome {
  readonly authenticated: boolean
  readonly stdout?: string
  readonly stderr?: string
  readonly exitStatus?: number
  /** The client's errors, class and text, joined. */
  readonly error?: string
  /** Where the client tells it: whether each failure after a step was a partial success. */
  readonly partial?: ReadonlyArray<boolean>
  /** Where the client tells it: the keyboard-interactive prompts it was shown. */
  readonly prompts?: ReadonlyArray<string>
  /** What the client printed, and the server's log, for assertion messages. */
  readonly why: string
}

interface StepClient {
  readonly name: string
  /** Why its tests would skip: the peer and the package that brings it. */
  readonly missing?: { readonly peer: string; readonly available: boolean; readonly install: string }
  readonly certificates: boolean
  /** Its error for a refused login. */
  readonly refused: RegExp
  /** Its error (or log) for the DISCONNECT after too many failures. */
  readonly tooMany: RegExp
  readonly login: (server: OurServer.OurServer, user: string, steps: ReadonlyArray<Step>, command?: string) => Effect.Effect<Outcome>
}

// ---- the Python clients ----

const scripts = path.resolve(import.meta.dirname, "../support/clients")

const python = (script: string, spec: unknown, server: OurServer.OurServer) =>
  Effect.gen(function*() {
    // -W ignore: asyncssh imports ciphers that python3-cryptography warns about.
    const r = yield* run("/usr/bin/python3", ["-W", "ignore", path.join(scripts, script), JSON.stringify(spec)], { timeoutMs: 30_000 })
    const why = `${script} exited ${r.code}\n${r.stdout}\n${r.stderr}\n${server.log()}`
    expect(r.code, why).toBe(0)
    return { ...JSON.parse(r.stdout), why }
  })

const keySpec = (s: Step & { method: "publickey" }) => ({ key: s.key.path, ...(s.certificate ? { cert: s.key.certificate } : {}) })

const paramiko: StepClient = {
  name: "paramiko",
  missing: { peer: "paramiko", available: debianPythonHas("paramiko"), install: "python3-paramiko" },
  certificates: true,
  refused: /AuthenticationException: Authentication failed\./,
  tooMany: /Disconnect \(code 2\): Too many authentication failures/,
  login: (server, user, steps, command) =>
    Effect.map(
      python("paramiko_login.py", {
        port: server.port,
        user,
        hostKey: server.hostKeyLine,
        steps: steps.map((s) => s.method === "publickey" ? { method: s.method, ...keySpec(s) } : s),
        ...(command !== undefined ? { command } : {})
      }, server),
      (out): Outcome => {
        expect(out.hostKey, out.why).toBe(server.hostKeyLine)
        const steps: ReadonlyArray<{ ok: boolean; error?: string; partial?: ReadonlyArray<string> }> = out.steps
        const error = [out.error, ...steps.map((s) => s.error), ...out.log].filter(Boolean).join("; ")
        // A step that succeeded with methods still to go was a partial success.
        const partial = steps.slice(0, -1).map((s) => s.ok && (s.partial ?? []).length > 0)
        return { ...out, partial, ...(error ? { error } : {}) }
      }
    )
}

const asyncssh: StepClient = {
  name: "asyncssh",
  missing: { peer: "asyncssh", available: debianPythonHas("asyncssh"), install: "python3-asyncssh" },
  certificates: true,
  refused: /PermissionDenied: Permission denied/,
  tooMany: /Too many authentication failures/,
  login: (server, user, steps, command) =>
    python("asyncssh_login.py", {
      port: server.port,
      user,
      hostKey: server.hostKeyLine,
      // asyncssh runs the methods in this order, each as long as it has something to give.
      methods: [...new Set(steps.map((s) => s.method))].join(","),
      keys: steps.flatMap((s) => s.method === "publickey" ? [keySpec(s)] : []),
      passwords: steps.flatMap((s) => s.method === "password" ? [s.password] : []),
      interactive: steps.flatMap((s) => s.method === "keyboard-interactive" ? [s.answers] : []),
      ...(command !== undefined ? { command } : {})
    }, server)
}

// ---- ssh2's Client, in this process ----

/** One ssh2 connection trying `steps` in order through its authHandler, then `command`; bounded to 20 s. */
const ssh2Login = (server: OurServer.OurServer, user: string, steps: ReadonlyArray<Step>, command = "whoami") =>
  Effect.async<Omit<Outcome, "why">>((resume) => {
    const client = new Client()
    const partial: Array<boolean> = []
    const prompts: Array<string> = []
    let authenticated = false
    let settled = false
    const finish = (outcome: Partial<Outcome>) => {
      if (settled) return
      settled = true
      client.end()
      resume(Effect.succeed({ authenticated, partial, prompts, ...outcome }))
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
      hostVerifier: (key: Buffer) => Buffer.compare(key, server.hostKey.publicKey.blob) === 0,
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
    Effect.map((outcome): Outcome => ({ ...outcome, why: `${JSON.stringify(outcome)}\n${server.log()}` }))
  )

const ssh2: StepClient = {
  name: "ssh2's Client",
  certificates: false,
  refused: /^All configured authentication methods failed$/,
  tooMany: /Too many authentication failures/,
  login: ssh2Login
}

// ---- the suite, for each client ----

/** The server of most cases: alice with the three keys, a password and two prompts; carol's chain; certificates by the CA. */
const standard = (keys: ClientKeysShape, auth: ServerAuthOptions = {}) =>
  OurServer.start(
    { alice: alice([keys.ed25519, keys.ecdsa, keys.rsa]), carol: carol(keys.ed25519) },
    { table: { trustedUserCaKeys: [keys.ca.publicKey] }, auth }
  )

const suite = (it: Vitest.MethodsNonLive<ClientKeys, true>, client: StepClient) =>
  describe.skipIf(client.missing !== undefined && skipWithoutPeer(client.missing.peer, client.missing.available, client.missing.install))(
    `${client.name} against our server`,
    () => {
      for (const name of ["ed25519", "ecdsa", "rsa"] as const) {
        it.scoped(`publickey with an ${name} key: the server proves exactly that key`, () =>
          Effect.gen(function*() {
            const keys = yield* ClientKeys
            const server = yield* standard(keys)
            const r = yield* client.login(server, "alice", [{ method: "publickey", key: keys[name] }], "whoami")
            expect(r.authenticated, r.why).toBe(true)
            expect(r.stdout).toBe("ran whoami as alice by publickey\n")
            const credential = provenKey(server, r.why)
            expect(credential.key.fingerprint).toBe(keys[name].fingerprint)
            if (name === "rsa") expect(["rsa-sha2-256", "rsa-sha2-512"]).toContain(credential.algorithm)
            expect(server.authenticated[0].methods).toEqual(["publickey"])
          }), concurrent)
      }

      // ssh2 has no user certificates: the case is not one of its tests, rather than a skipped one.
      if (client.certificates) {
        it.scoped("a user certificate, by TrustedUserCAKeys; an expired one is refused", () =>
          Effect.gen(function*() {
            const keys = yield* ClientKeys
            const server = yield* standard(keys)
            const r = yield* client.login(server, "alice", [{ method: "publickey", key: keys.certified, certificate: true }], "whoami")
            expect(r.authenticated, r.why).toBe(true)
            const credential = provenKey(server, r.why)
            expect(credential.key.fingerprint).toBe(keys.certified.fingerprint)
            expect(credential.key.certificate).toEqual({ keyId: "certified-id", serial: "0", caFingerprint: keys.ca.fingerprint })
            expect(credential.source).toBe("TrustedUserCAKeys")

            const expired = yield* client.login(server, "alice", [{ method: "publickey", key: keys.expired, certificate: true }], "whoami")
            expect(expired.authenticated, expired.why).toBe(false)
            expect(expired.error, expired.why).toMatch(client.refused)
            expect(server.authenticated).toHaveLength(1)
            const offered = server.attempts.filter((a) => a.key?.certificate?.keyId === "expired-id")
            expect(offered.length, expired.why).toBeGreaterThan(0)
            expect(offered.every((a) => a.outcome === "Failed" || a.outcome === "KeyRefused"), expired.why).toBe(true)
          }), concurrent)
      }

      it.scoped("password: a wrong one is refused, and the next on the same connection succeeds", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys)
          const r = yield* client.login(
            server,
            "alice",
            [{ method: "password", password: "wrong horse" }, { method: "password", password: PASSWORD }],
            "whoami"
          )
          expect(r.authenticated, r.why).toBe(true)
          expect(r.stdout).toBe("ran whoami as alice by password\n")
          if (r.partial) expect(r.partial).toEqual([false])
          expect(server.authenticated[0].credentials).toEqual([{ _tag: "Password" }])
          expect(server.attempts.filter((a) => a.method === "password").map((a) => a.outcome)).toEqual(["Failed", "Accepted"])

          const wrong = yield* client.login(server, "alice", [{ method: "password", password: "wrong horse" }], "whoami")
          expect(wrong.authenticated, wrong.why).toBe(false)
          expect(wrong.error, wrong.why).toMatch(client.refused)
          expect(server.authenticated).toHaveLength(1)
        }), concurrent)

      it.scoped("keyboard-interactive, two prompts in one round; a wrong answer is refused", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys)
          const r = yield* client.login(server, "alice", [{ method: "keyboard-interactive", answers: { "Password:": PASSWORD, "Code:": CODE } }], "whoami")
          expect(r.authenticated, r.why).toBe(true)
          expect(r.stdout).toBe("ran whoami as alice by keyboard-interactive\n")
          if (r.prompts) expect(r.prompts).toEqual(["Password: ", "Code: "])
          expect(server.authenticated[0].credentials).toEqual([{ _tag: "KeyboardInteractive" }])

          const wrong = yield* client.login(
            server,
            "alice",
            [{ method: "keyboard-interactive", answers: { "Password:": PASSWORD, "Code:": "654321" } }],
            "whoami"
          )
          expect(wrong.authenticated, wrong.why).toBe(false)
          expect(wrong.error, wrong.why).toMatch(client.refused)
          expect(server.authenticated).toHaveLength(1)
          expect(server.attempts.map(String)).toContainEqual(expect.stringMatching(/^Failed keyboard-interactive for alice/))
        }), concurrent)

      it.scoped("a publickey,password chain: partial success after the key, then the password", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys)
          const r = yield* client.login(server, "carol", [{ method: "publickey", key: keys.ed25519 }, { method: "password", password: PASSWORD }], "whoami")
          expect(r.authenticated, r.why).toBe(true)
          expect(r.stdout).toBe("ran whoami as carol by publickey,password\n")
          if (r.partial) expect(r.partial).toEqual([true])
          expect(server.authenticated[0].methods).toEqual(["publickey", "password"])
          expect(provenKey(server, r.why).key.fingerprint).toBe(keys.ed25519.fingerprint)
          expect(server.attempts.map((a) => a.outcome).filter((o) => o === "Partial" || o === "Accepted")).toEqual(["Partial", "Accepted"])
        }), concurrent)

      it.scoped("exec: the command's stdout, stderr and exit status 3", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys)
          const r = yield* client.login(server, "alice", [{ method: "publickey", key: keys.ed25519 }], "exit 3")
          expect(r.authenticated, r.why).toBe(true)
          expect(r.stdout).toBe("ran exit 3 as alice by publickey\n")
          expect(r.stderr).toBe("exiting 3\n")
          expect(r.exitStatus).toBe(3)
          expect(server.commands).toEqual(["exit 3"])
        }), concurrent)

      it.scoped("a wrong key is refused, and the server refused exactly that key", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys)
          const wrong = keys.wrong[0]
          const r = yield* client.login(server, "alice", [{ method: "publickey", key: wrong }], "whoami")
          expect(r.authenticated, r.why).toBe(false)
          expect(r.error, r.why).toMatch(client.refused)
          expect(server.authenticated).toEqual([])
          const withKeys = server.attempts.filter((a) => a.key !== undefined)
          expect(withKeys.length, r.why).toBeGreaterThan(0)
          expect(withKeys.every((a) => a.key?.fingerprint === wrong.fingerprint && (a.outcome === "Failed" || a.outcome === "KeyRefused")), r.why).toBe(true)
        }), concurrent)

      it.scoped("MaxAuthTries 3: five wrong passwords end in sshd's \"Too many authentication failures\"", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys, { maxAuthTries: 3 })
          const steps = [1, 2, 3, 4, 5].map((i): Step => ({ method: "password", password: `wrong ${i}` }))
          const r = yield* client.login(server, "alice", steps, "whoami")
          expect(r.authenticated, r.why).toBe(false)
          expect(r.error, r.why).toMatch(client.tooMany)
          yield* server.awaitEnded(1)
          const failure = server.failures()[0]
          expect(failure?.reason, r.why).toBe("TooManyAttempts")
          expect(failure.attempts.filter((a) => a.method === "password").map((a) => a.outcome)).toEqual(["Failed", "Failed", "Failed"])
        }), concurrent)

      it.scoped("MaxAuthTries 3: five wrong keys end the connection too", () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* standard(keys, { maxAuthTries: 3 })
          const r = yield* client.login(server, "alice", keys.wrong.map((key): Step => ({ method: "publickey", key })), "whoami")
          expect(r.authenticated, r.why).toBe(false)
          expect(r.error, r.why).toMatch(client.tooMany)
          yield* server.awaitEnded(1)
          expect(server.failures()[0]?.reason, r.why).toBe("TooManyAttempts")
        }), concurrent)
    }
  )

// One set of keys for all three clients.
layer(clientKeysLayer, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
  suite(it, paramiko)
  suite(it, asyncssh)
  suite(it, ssh2)
})
