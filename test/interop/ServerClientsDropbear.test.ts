/**
 * Dropbear's `dbclient` (Debian's dropbear-bin) logs in to our server through every method
 * it has: publickey with ed25519, ecdsa and rsa keys (dbclient 2022.83 reads only its own
 * key format, so `dropbearconvert` turns ssh-keygen's keys into it), password and
 * keyboard-interactive (DROPBEAR_PASSWORD answers hidden prompts, stdin an echoed one), a
 * publickey,password chain; then `dbclient host cmd` with output and exit status. It also
 * fails where it must: a wrong key, wrong passwords until MaxAuthTries, too many wrong keys
 * (dbclient has no user certificates). dbclient runs without a terminal and with a HOME of
 * its own whose known_hosts holds our host key, so it accepts that key and no other.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import type * as UserTable from "../../src/server/UserTable.js"
import { ClientKeys, type ClientKeysShape, layer as clientKeysLayer } from "../support/ClientKeys.js"
import { onPath, skipWithoutPeer } from "../support/Env.js"
import { alice, carol, CODE, concurrent, PASSWORD, provenKey } from "../support/OurServer.js"
import * as OurServer from "../support/OurServer.js"
import { run, tempDir } from "../support/Sshd.js"

const skip = skipWithoutPeer("dropbear's dbclient", onPath("dbclient") && onPath("dropbearconvert"), "dropbear-bin")

/** The client keys in dropbear's format, by name, beside their OpenSSH originals. */
class DropbearKeys extends Context.Tag("test/DropbearKeys")<DropbearKeys, Readonly<Record<"ed25519" | "ecdsa" | "rsa" | `wrong${number}`, string>>>() {}

const dropbearKeys = Layer.effect(
  DropbearKeys,
  Effect.gen(function*() {
    const keys = yield* ClientKeys
    const named = { ed25519: keys.ed25519, ecdsa: keys.ecdsa, rsa: keys.rsa, ...Object.fromEntries(keys.wrong.map((k, i) => [`wrong${i}`, k])) }
    const converted = yield* Effect.forEach(Object.entries(named), ([name, key]) =>
      Effect.gen(function*() {
        const out = `${key.path}.dropbear`
        const r = yield* run("dropbearconvert", ["openssh", "dropbear", key.path, out])
        if (r.code !== 0) return yield* Effect.dieMessage(`dropbearconvert ${name}: ${r.stderr}`)
        return [name, out] as const
      }), { concurrency: "unbounded" })
    return Object.fromEntries(converted) as Context.Tag.Service<DropbearKeys>
  })
).pipe(Layer.provideMerge(clientKeysLayer))

interface DbclientOptions {
  readonly user: string
  readonly identities?: ReadonlyArray<string>
  /** Answers every hidden prompt (password, keyboard-interactive). */
  readonly password?: string
  /** What stdin gives an echoed keyboard-interactive prompt. */
  readonly input?: string
  readonly command?: string
}

/** `dbclient host cmd` against `server`, bounded to 20 s, without a terminal. */
const dbclient = (server: OurServer.OurServer, options: DbclientOptions) =>
  Effect.gen(function*() {
    const home = yield* tempDir("dbclient-home-")
    fs.mkdirSync(path.join(home, ".ssh"), { mode: 0o700 })
    // dbclient 2022.83 looks a host up by name alone; later ones by [host]:port.
    fs.writeFileSync(path.join(home, ".ssh", "known_hosts"), `127.0.0.1 ${server.hostKeyLine}\n${server.knownHostsLine}\n`)
    const env: Record<string, string> = { HOME: home, SSH_ASKPASS: "", DISPLAY: "" }
    if (options.password !== undefined) env.DROPBEAR_PASSWORD = options.password
    const args = [
      "-p",
      String(server.port),
      ...(options.identities ?? []).flatMap((i) => ["-i", i]),
      `${options.user}@127.0.0.1`,
      options.command ?? "whoami"
    ]
    const r = yield* run("dbclient", args, { timeoutMs: 20_000, env, detached: true, input: options.input ?? "" })
    return { ...r, why: `dbclient exited ${r.code}\n${r.stdout}\n${r.stderr}\n${server.log()}` }
  })

/** alice may use any method; the others one each (alice's secrets), so that dbclient, which tries methods in its own order, uses that one. */
const users = (keys: ClientKeysShape): Readonly<Record<string, UserTable.UserEntry>> => ({
  alice: alice([keys.ed25519, keys.ecdsa, keys.rsa]),
  keyonly: { keys: [keys.ed25519.publicKey], methods: [["publickey"]] },
  pw: { ...alice([]), methods: [["password"]] },
  kbd: { ...alice([]), methods: [["keyboard-interactive"]] },
  carol: carol(keys.ed25519)
})
const start = (keys: ClientKeysShape, auth: ServerAuthOptions = {}) => OurServer.start(users(keys), { auth })

describe.skipIf(skip)("dropbear's dbclient against our server", () => {
  layer(dropbearKeys, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    for (const name of ["ed25519", "ecdsa", "rsa"] as const) {
      it.scoped(`publickey with an ${name} key (dropbear format): the server proves exactly that key`, () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const dropbear = yield* DropbearKeys
          const server = yield* start(keys)
          const r = yield* dbclient(server, { user: "alice", identities: [dropbear[name]] })
          expect(r.code, r.why).toBe(0)
          expect(r.stdout).toBe("ran whoami as alice by publickey\n")
          const credential = provenKey(server, r.why)
          expect(credential.key.fingerprint).toBe(keys[name].fingerprint)
          if (name === "rsa") expect(["rsa-sha2-256", "rsa-sha2-512"]).toContain(credential.algorithm)
        }), concurrent)
    }

    it.scoped("password, from DROPBEAR_PASSWORD", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* start(keys)
        const r = yield* dbclient(server, { user: "pw", password: PASSWORD })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as pw by password\n")
        expect(server.authenticated[0]?.credentials).toEqual([{ _tag: "Password" }])
      }), concurrent)

    it.scoped(
      "keyboard-interactive, two prompts: the hidden one from DROPBEAR_PASSWORD, the echoed one from stdin; a wrong code is refused",
      () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* start(keys, { maxAuthTries: 1 })
          const r = yield* dbclient(server, { user: "kbd", password: PASSWORD, input: `${CODE}\n` })
          expect(r.code, r.why).toBe(0)
          expect(r.stdout).toBe("ran whoami as kbd by keyboard-interactive\n")
          expect(server.authenticated[0]?.credentials).toEqual([{ _tag: "KeyboardInteractive" }])

          const wrong = yield* dbclient(server, { user: "kbd", password: PASSWORD, input: "654321\n" })
          expect(wrong.stdout, wrong.why).toBe("")
          expect(server.authenticated).toHaveLength(1)
          expect(server.attempts.map(String)).toContainEqual(expect.stringMatching(/^Failed keyboard-interactive for kbd/))
        }),
      concurrent
    )

    it.scoped("a publickey,password chain: the key is a partial success, DROPBEAR_PASSWORD completes it", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const dropbear = yield* DropbearKeys
        const server = yield* start(keys)
        const r = yield* dbclient(server, { user: "carol", identities: [dropbear.ed25519], password: PASSWORD })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as carol by publickey,password\n")
        expect(server.authenticated[0]?.methods).toEqual(["publickey", "password"])
        expect(provenKey(server, r.why).key.fingerprint).toBe(keys.ed25519.fingerprint)
      }), concurrent)

    it.scoped("dbclient host cmd: the command's stdout, stderr and exit status 3", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const dropbear = yield* DropbearKeys
        const server = yield* start(keys)
        const r = yield* dbclient(server, { user: "alice", identities: [dropbear.ed25519], command: "exit 3" })
        expect(r.code, r.why).toBe(3)
        expect(r.stdout).toBe("ran exit 3 as alice by publickey\n")
        expect(r.stderr).toMatch(/^exiting 3$/m)
      }), concurrent)

    it.scoped("a wrong key is refused: \"No auth methods could be used\", and the server refused exactly that key", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const dropbear = yield* DropbearKeys
        const server = yield* start(keys)
        const r = yield* dbclient(server, { user: "keyonly", identities: [dropbear.wrong0] })
        expect(r.code, r.why).toBe(1)
        expect(r.stderr).toMatch(/No auth methods could be used/)
        expect(server.authenticated).toEqual([])
        const withKeys = server.attempts.filter((a) => a.key !== undefined)
        expect(withKeys.map((a) => [a.outcome, a.key?.fingerprint])).toEqual([["KeyRefused", keys.wrong[0].fingerprint]])
      }), concurrent)

    it.scoped(
      "a wrong password is refused, again as dbclient retries it, until MaxAuthTries (3) ends the connection with a DISCONNECT",
      () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const server = yield* start(keys, { maxAuthTries: 3 })
          const r = yield* dbclient(server, { user: "pw", password: "wrong horse" })
          // dbclient exits 0 on a DISCONNECT, whatever its reason; it ran nothing.
          expect(r.stdout, r.why).toBe("")
          expect(r.stderr).toMatch(/exited: Disconnect received/)
          yield* server.awaitEnded(1)
          const failure = server.failures()[0]
          expect(failure?.reason, r.why).toBe("TooManyAttempts")
          expect(failure.attempts.filter((a) => a.method === "password").map((a) => a.outcome)).toEqual(["Failed", "Failed", "Failed"])
        }),
      concurrent
    )

    it.scoped("MaxAuthTries 3: five wrong keys end the connection", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const dropbear = yield* DropbearKeys
        const server = yield* start(keys, { maxAuthTries: 3 })
        const r = yield* dbclient(server, { user: "keyonly", identities: [0, 1, 2, 3, 4].map((i) => dropbear[`wrong${i}`]) })
        expect(r.stdout, r.why).toBe("")
        expect(r.stderr).toMatch(/exited: Disconnect received/)
        yield* server.awaitEnded(1)
        const failure = server.failures()[0]
        expect(failure?.reason, r.why).toBe("TooManyAttempts")
        expect(failure.attempts.filter((a) => a.key !== undefined).map((a) => a.key?.fingerprint)).toEqual(keys.wrong.slice(0, 3).map((k) => k.fingerprint))
      }), concurrent)
  })
})
