/**
 * paramiko and asyncssh (Debian's python3-paramiko and python3-asyncssh, run by
 * /usr/bin/python3) log in to our server through every method they have: publickey with
 * ed25519, ecdsa and rsa keys and with a user certificate, password, keyboard-interactive,
 * a publickey,password chain; then one exec, output and exit status. Each also fails where
 * it must: a wrong key, a wrong password, an expired certificate, MaxAuthTries. Each client
 * pins our host key and nothing else; the server's result must name exactly the client's key.
 *
 * The scripts are test/support/clients/{paramiko,asyncssh}_login.py; each takes one JSON
 * spec and prints one JSON line.
 */
import { describe, expect, layer, type Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import type * as UserTable from "../../src/server/UserTable.js"
import { authorizedKeys, ClientKeys, type ClientKeysShape, type KeyFile, layer as clientKeysLayer } from "../support/ClientKeys.js"
import { debianPythonHas, skipWithoutPeer } from "../support/Env.js"
import * as OurServer from "../support/OurServer.js"
import { run } from "../support/Sshd.js"

const PASSWORD = "correct horse battery"
const CODE = "123456"
const secret = (s: string) => Redacted.make(s)
const concurrent = { concurrent: true, timeout: 30_000 }
const scripts = path.resolve(import.meta.dirname, "../support/clients")

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
  /** The client's error, class and text. */
  readonly error?: string
  /** What the client printed, and the server's log, for assertion messages. */
  readonly why: string
}

interface PythonClient {
  readonly name: string
  readonly module: string
  readonly package: string
  /** The error text of a DISCONNECT for too many failures, as this client reports it. */
  readonly tooMany: RegExp
  readonly login: (server: OurServer.OurServer, user: string, steps: ReadonlyArray<Step>, command?: string) => Effect.Effect<Outcome>
}

const python = (script: string, spec: unknown, server: OurServer.OurServer) =>
  Effect.gen(function*() {
    // -W ignore: asyncssh imports ciphers that python3-cryptography warns about.
    const r = yield* run("/usr/bin/python3", ["-W", "ignore", path.join(scripts, script), JSON.stringify(spec)], { timeoutMs: 30_000 })
    const why = `${script} exited ${r.code}\n${r.stdout}\n${r.stderr}\n${server.log()}`
    expect(r.code, why).toBe(0)
    return { ...JSON.parse(r.stdout), why }
  })

const paramiko: PythonClient = {
  name: "paramiko",
  module: "paramiko",
  package: "python3-paramiko",
  tooMany: /Disconnect \(code 2\): Too many authentication failures/,
  login: (server, user, steps, command) =>
    Effect.map(
      python("paramiko_login.py", {
        port: server.port,
        user,
        hostKey: server.hostKeyLine,
        steps: steps.map((s) =>
          s.method === "publickey"
            ? { method: s.method, key: s.key.path, ...(s.certificate ? { cert: s.key.certificate } : {}) }
            : s
        ),
        ...(command !== undefined ? { command } : {})
      }, server),
      (out): Outcome => {
        expect(out.hostKey, out.why).toBe(server.hostKeyLine)
        const failed = out.steps.filter((s: { ok: boolean }) => !s.ok).map((s: { error: string }) => s.error)
        const error = [out.error, ...failed, ...out.log].filter(Boolean).join("; ")
        return { ...out, ...(error ? { error } : {}) }
      }
    )
}

const asyncssh: PythonClient = {
  name: "asyncssh",
  module: "asyncssh",
  package: "python3-asyncssh",
  tooMany: /Too many authentication failures/,
  login: (server, user, steps, command) =>
    python("asyncssh_login.py", {
      port: server.port,
      user,
      hostKey: server.hostKeyLine,
      // asyncssh runs the methods in this order, each as long as it has something to give.
      methods: [...new Set(steps.map((s) => s.method))].join(","),
      keys: steps.flatMap((s) => s.method === "publickey" ? [{ key: s.key.path, ...(s.certificate ? { cert: s.key.certificate } : {}) }] : []),
      passwords: steps.flatMap((s) => s.method === "password" ? [s.password] : []),
      interactive: steps.flatMap((s) => s.method === "keyboard-interactive" ? [s.answers] : []),
      ...(command !== undefined ? { command } : {})
    }, server)
}

const alice = (keys: ReadonlyArray<KeyFile>): UserTable.UserEntry => ({
  authorizedKeys: authorizedKeys(...keys.map((k) => k.line)),
  password: secret(PASSWORD),
  interactive: [
    { prompt: "Password: ", echo: false, answer: secret(PASSWORD) },
    { prompt: "Code: ", echo: true, answer: secret(CODE) }
  ]
})

/** The server for most cases: alice with the three keys, a password, two prompts; certificates by the CA. */
const standard = (keys: ClientKeysShape, auth: ServerAuthOptions = {}) =>
  OurServer.start({ alice: alice([keys.ed25519, keys.ecdsa, keys.rsa]) }, { table: { trustedUserCaKeys: [keys.ca.publicKey] }, auth })

const provenKey = (server: OurServer.OurServer, why: string) => {
  expect(server.authenticated, why).toHaveLength(1)
  const credential = server.authenticated[0].credentials.find((c) => c._tag === "PublicKey")
  if (credential?._tag !== "PublicKey") throw new Error(`no key was proven\n${why}`)
  return credential
}

const suite = (it: Vitest.MethodsNonLive<ClientKeys, true>, client: PythonClient) =>
  describe.skipIf(skipWithoutPeer(client.name, debianPythonHas(client.module), client.package))(`${client.name} against our server`, () => {
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
        expect(server.authenticated).toHaveLength(1)
        const offered = server.attempts.filter((a) => a.key?.certificate?.keyId === "expired-id")
        expect(offered.length, expired.why).toBeGreaterThan(0)
        expect(offered.every((a) => a.outcome === "Failed" || a.outcome === "KeyRefused"), expired.why).toBe(true)
      }), concurrent)

    it.scoped("password; a wrong one is refused, and the next on the same connection succeeds", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const r = yield* client.login(server, "alice", [{ method: "password", password: "wrong horse" }, { method: "password", password: PASSWORD }], "whoami")
        expect(r.authenticated, r.why).toBe(true)
        expect(r.stdout).toBe("ran whoami as alice by password\n")
        expect(server.authenticated[0].credentials).toEqual([{ _tag: "Password" }])
        expect(server.attempts.filter((a) => a.method === "password").map((a) => a.outcome)).toEqual(["Failed", "Accepted"])

        const wrong = yield* client.login(server, "alice", [{ method: "password", password: "wrong horse" }], "whoami")
        expect(wrong.authenticated, wrong.why).toBe(false)
        expect(server.authenticated).toHaveLength(1)
      }), concurrent)

    it.scoped("keyboard-interactive, two prompts in one round; a wrong answer is refused", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* standard(keys)
        const r = yield* client.login(server, "alice", [{ method: "keyboard-interactive", answers: { "Password:": PASSWORD, "Code:": CODE } }], "whoami")
        expect(r.authenticated, r.why).toBe(true)
        expect(r.stdout).toBe("ran whoami as alice by keyboard-interactive\n")
        expect(server.authenticated[0].credentials).toEqual([{ _tag: "KeyboardInteractive" }])

        const wrong = yield* client.login(server, "alice", [{ method: "keyboard-interactive", answers: { "Password:": PASSWORD, "Code:": "654321" } }], "whoami")
        expect(wrong.authenticated, wrong.why).toBe(false)
        expect(server.authenticated).toHaveLength(1)
        expect(server.attempts.map(String)).toContainEqual(expect.stringMatching(/^Failed keyboard-interactive for alice/))
      }), concurrent)

    it.scoped("a publickey,password chain: partial success after the key, then the password", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* OurServer.start({
          carol: { keys: [keys.ed25519.publicKey], password: secret(PASSWORD), methods: [["publickey", "password"]] }
        })
        const r = yield* client.login(server, "carol", [{ method: "publickey", key: keys.ed25519 }, { method: "password", password: PASSWORD }], "whoami")
        expect(r.authenticated, r.why).toBe(true)
        expect(r.stdout).toBe("ran whoami as carol by publickey,password\n")
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
  })

// One set of keys for both clients.
layer(clientKeysLayer, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
  suite(it, paramiko)
  suite(it, asyncssh)
})
