/**
 * The auth pipeline against the suite's own sshd: keys made by ssh-keygen at test time,
 * a password user created when running as root.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { inspect } from "node:util"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as KeyFile from "../../src/keys/KeyFile.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { NoneAuth } from "../../src/sources/NoneAuth.js"
import { Password } from "../../src/sources/Password.js"
import { InMemoryPrivateKey, OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { skipInterop, skipUnlessRoot } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as Sshd from "../support/Sshd.js"

interface ClientKey {
  readonly file: string
  readonly publicLine: string
}

class Fixture extends Context.Tag("test/AuthFixture")<Fixture, {
  readonly hostKeys: Sshd.HostKeys
  readonly keys: Readonly<Record<string, ClientKey>>
  readonly passphrase: string
}>() {}

const keyTypes = {
  "ed25519": ["-t", "ed25519"],
  "ecdsa-256": ["-t", "ecdsa", "-b", "256"],
  "ecdsa-384": ["-t", "ecdsa", "-b", "384"],
  "ecdsa-521": ["-t", "ecdsa", "-b", "521"],
  "rsa": ["-t", "rsa", "-b", "2048"],
  "wrong-1": ["-t", "ed25519"],
  "wrong-2": ["-t", "ed25519"],
  "wrong-3": ["-t", "ed25519"]
} as const

const PASSPHRASE = "open sesame, 7 times"

const fixture = Layer.scoped(
  Fixture,
  Effect.gen(function*() {
    const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
    const dir = yield* Sshd.tempDir("client-keys-")
    const make = (name: string, args: ReadonlyArray<string>, passphrase = "") =>
      Effect.gen(function*() {
        const file = path.join(dir, name)
        const r = yield* Sshd.run("ssh-keygen", ["-q", "-N", passphrase, ...args, "-f", file, "-C", `test-${name}`])
        if (r.code !== 0) return yield* Effect.die(new Error(`ssh-keygen ${name}: ${r.stderr}`))
        return [name, { file, publicLine: fs.readFileSync(`${file}.pub`, "utf8").trim() }] as const
      })
    const entries = yield* Effect.all(
      [
        ...Object.entries(keyTypes).map(([name, args]) => make(name, args)),
        make("encrypted", ["-t", "ed25519", "-a", "4"], PASSPHRASE)
      ],
      { concurrency: "unbounded" }
    )
    return { hostKeys, keys: Object.fromEntries(entries), passphrase: PASSPHRASE }
  })
)

const me = os.userInfo().username

/** An sshd that trusts every key but the wrong ones, and a connected AuthHandler. */
const connect = (config: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const { hostKeys, keys } = yield* Fixture
    const authorizedKeys = Object.entries(keys).filter(([n]) => !n.startsWith("wrong")).map(([, k]) => k.publicLine)
    const sshd = yield* Sshd.start({ hostKeys, config, authorizedKeys })
    yield* logOnFailure(sshd)
    const transport = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure })
    return { sshd, layer: AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))) }
  })

const keySource = (name: string, user = me) => Effect.map(Fixture, ({ keys }) => new OnDiskPrivateKey({ username: user, path: keys[name].file }))

describe.skipIf(skipInterop())("interop: authentication against OpenSSH", () => {
  layer(Layer.merge(fixture, NodeFileSystem.layer), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    describe("publickey with every key type", () => {
      for (const name of ["ed25519", "ecdsa-256", "ecdsa-384", "ecdsa-521"]) {
        it.scoped(name, () =>
          Effect.gen(function*() {
            const { layer } = yield* connect()
            const result = yield* AuthStrategy.authenticate(AuthStrategy.make(yield* keySource(name))).pipe(Effect.provide(layer))
            expect(result.succeeded).toBe(true)
            expect(String(result)).toMatch(new RegExp(`^OnDiskPrivateKey\\(user=${me}, path=.*\\) -> success \\(\\d+\\.\\d ms\\)$`))
          }))
      }
      for (const algorithm of ["rsa-sha2-512", "rsa-sha2-256"]) {
        it.scoped(`rsa with ${algorithm}, forced through PubkeyAcceptedAlgorithms on both sides`, () =>
          Effect.gen(function*() {
            const { keys } = yield* Fixture
            const key = yield* KeyFile.readFile(keys.rsa.file)
            const { layer, sshd } = yield* connect([`PubkeyAcceptedAlgorithms ${algorithm}`])
            const source = new InMemoryPrivateKey({ username: me, key, acceptedAlgorithms: [algorithm] })
            const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(layer))
            expect(result.succeeded).toBe(true)
            expect(yield* sshd.readLog).toMatch(new RegExp(`Accepted publickey for ${me} .* RSA SHA256:`))
          }))
      }
      it.scoped("an RSA key is offered once, with the best algorithm server-sig-algs lists, as ssh offers it", () =>
        Effect.gen(function*() {
          // sshd 9.2 lists every algorithm in server-sig-algs whatever PubkeyAcceptedAlgorithms
          // says; ssh then offers rsa-sha2-512 once and is refused, and so are we.
          const { layer, sshd } = yield* connect(["PubkeyAcceptedAlgorithms rsa-sha2-256"])
          const error = yield* AuthStrategy.authenticate(AuthStrategy.make(yield* keySource("rsa"))).pipe(Effect.provide(layer), Effect.flip)
          expect(error.result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure"])
          const log = yield* sshd.readLog
          expect(log.match(/signature algorithm rsa-sha2-512 not in PubkeyAcceptedAlgorithms/g)?.length).toBe(1)
          expect(log).not.toMatch(/rsa-sha2-256 not in/)
        }))
      it.scoped("rsa with ssh-rsa (SHA-1), only when both sides allow it", () =>
        Effect.gen(function*() {
          const { keys } = yield* Fixture
          const { layer } = yield* connect(["PubkeyAcceptedAlgorithms ssh-rsa"])
          const key = yield* KeyFile.readFile(keys.rsa.file)
          const refused = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: me, key }))).pipe(
            Effect.provide(layer),
            Effect.either
          )
          expect(Either.isLeft(refused)).toBe(true)
          const { layer: again, sshd } = yield* connect(["PubkeyAcceptedAlgorithms ssh-rsa"])
          const sha1 = new InMemoryPrivateKey({ username: me, key, allowSshRsaSha1: true, acceptedAlgorithms: ["ssh-rsa"] })
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(sha1)).pipe(Effect.provide(again))
          expect(result.succeeded).toBe(true)
          expect(yield* sshd.readLog).toMatch(new RegExp(`Accepted publickey for ${me} .* RSA SHA256:`))
        }))
      it.scoped("a passphrase-protected OpenSSH key; the getter runs once", () =>
        Effect.gen(function*() {
          const { keys, passphrase } = yield* Fixture
          const { layer } = yield* connect()
          let asked = 0
          const source = new OnDiskPrivateKey({ username: me, path: keys.encrypted.file, passphrase: Effect.sync(() => (asked++, Redacted.make(passphrase))) })
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(layer))
          expect(result.succeeded).toBe(true)
          expect(asked).toBe(1)
        }))
    })

    it.scoped("an in-memory key signs at once by default (sshd sees no query); with skipQuery: false it asks first", () =>
      Effect.gen(function*() {
        const { keys } = yield* Fixture
        const key = yield* OpenSshKeyV1.read(fs.readFileSync(keys.ed25519.file, "utf8"), { source: keys.ed25519.file })
        for (const [options, queried] of [[{}, false], [{ skipQuery: false }, true]] as const) {
          const { layer, sshd } = yield* connect()
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey({ username: me, key, ...options }))).pipe(
            Effect.provide(layer)
          )
          expect(result.succeeded).toBe(true)
          const log = yield* sshd.readLog
          expect(log).toMatch(/Accepted publickey for /)
          // A query shows up in sshd's log as "Postponed publickey".
          expect(/Postponed publickey/.test(log)).toBe(queried)
        }
      }))

    it.scoped("a wrong key is recorded with the allowed methods, and the strategy moves on", () =>
      Effect.gen(function*() {
        const { layer } = yield* connect()
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(yield* keySource("wrong-1"), yield* keySource("ed25519"))).pipe(
          Effect.provide(layer)
        )
        expect(result.succeeded).toBe(true)
        const first = result.attempts[0].attempt
        expect(first._tag).toBe("Failure")
        expect(first._tag === "Failure" && first.allowedMethods).toContain("publickey")
      }))

    it.scoped("a wrong passphrase is that source's error; the next source still runs", () =>
      Effect.gen(function*() {
        const { keys } = yield* Fixture
        const { layer } = yield* connect()
        const bad = new OnDiskPrivateKey({ username: me, path: keys.encrypted.file, passphrase: Effect.succeed(Redacted.make("not it")) })
        const result = yield* AuthStrategy.authenticate(AuthStrategy.make(bad, yield* keySource("ed25519"))).pipe(Effect.provide(layer))
        expect(result.succeeded).toBe(true)
        const first = result.attempts[0].attempt
        expect(first._tag === "Error" && first.error._tag).toBe("WrongPassphrase")
        expect(first._tag === "Error" && first.error.message).toMatch(/wrong passphrase/)
      }))

    it.scoped("none first: a method the server does not offer is skipped and its getter never runs", () =>
      Effect.gen(function*() {
        const { layer } = yield* connect(["PasswordAuthentication no", "KbdInteractiveAuthentication no"])
        let asked = 0
        const password = new Password({ username: me, password: Effect.sync(() => (asked++, Redacted.make("x"))) })
        const error = yield* AuthStrategy.authenticate(AuthStrategy.make(password), { noneFirst: true }).pipe(
          Effect.provide(layer),
          Effect.flip
        )
        expect(asked).toBe(0)
        expect(error.reason).toBe("Exhausted")
        expect(error.result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Skipped"])
        expect(error.result.attempts[0].source.kind).toBe("NoneAuth")
      }))

    it.scoped("a connection closed under the strategy stops it: MaxAuthTries 2, three wrong keys, then a password", () =>
      Effect.gen(function*() {
        const { layer } = yield* connect(["MaxAuthTries 2"])
        let asked = 0
        const password = new Password({ username: me, password: Effect.sync(() => (asked++, Redacted.make("x"))) })
        const strategy = AuthStrategy.make(
          yield* keySource("wrong-1"),
          yield* keySource("wrong-2"),
          yield* keySource("wrong-3"),
          password
        )
        const error = yield* AuthStrategy.authenticate(strategy).pipe(Effect.provide(layer), Effect.flip)
        expect(error._tag).toBe("AuthFailure")
        expect(["Disconnected", "ConnectionLost"]).toContain(error.reason)
        expect(error.message).toMatch(/Too many authentication failures|disconnect|connection/i)
        expect(asked).toBe(0)
      }))

    describe.skipIf(skipUnlessRoot("interop auth tests with a password user"))("with a password user (root only)", () => {
      it.scoped("password succeeds; a wrong one fails with the allowed methods first", () =>
        Effect.gen(function*() {
          const user = yield* Sshd.ensureTestUser()
          const { layer } = yield* connect()
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(
            new Password({ username: user.name, password: Effect.succeed(Redacted.make("wrong password")) }),
            new Password({ username: user.name, password: Effect.succeed(Redacted.make(user.password)) })
          )).pipe(Effect.provide(layer))
          expect(result.succeeded).toBe(true)
          const first = result.attempts[0].attempt
          expect(first._tag === "Failure" && first.allowedMethods).toContain("password")
        }))

      it.scoped("PasswordAuthentication no with PAM keyboard-interactive: a Password source answers the PAM prompt (paramiko's fallback); switched off, it does not", () =>
        Effect.gen(function*() {
          const user = yield* Sshd.ensureTestUser()
          const config = ["UsePAM yes", "PasswordAuthentication no", "KbdInteractiveAuthentication yes"]
          const { layer, sshd } = yield* connect(config)
          const result = yield* AuthStrategy.authenticate(
            AuthStrategy.make(new Password({ username: user.name, password: Effect.succeed(Redacted.make(user.password)) })),
            { noneFirst: true }
          ).pipe(Effect.provide(layer))
          expect(result.succeeded).toBe(true)
          const [none, password] = result.attempts.map((a) => a.attempt)
          expect(none._tag === "Failure" && none.allowedMethods).not.toContain("password")
          expect(password._tag).toBe("Success")
          // sshd's monitor may write the line a moment after the success went out.
          const accepted = new RegExp(`Accepted keyboard-interactive/pam for ${user.name}`)
          for (let i = 0; i < 40 && !accepted.test(yield* sshd.readLog); i++) yield* Effect.sleep("50 millis")
          expect(yield* sshd.readLog).toMatch(accepted)
          const { layer: again } = yield* connect(config)
          const off = yield* AuthStrategy.authenticate(
            AuthStrategy.make(new Password({ username: user.name, password: Effect.succeed(Redacted.make(user.password)), keyboardInteractiveFallback: false }))
          ).pipe(Effect.provide(again), Effect.flip)
          expect(off.result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure"])
        }))

      it.scoped("keyboard-interactive through PAM: one Password: prompt, then a zero-prompt round answered empty", () =>
        Effect.gen(function*() {
          const user = yield* Sshd.ensureTestUser()
          const { layer } = yield* connect(["UsePAM yes"])
          const rounds: Array<ReadonlyArray<{ readonly prompt: string; readonly echo: boolean }>> = []
          const source = new KeyboardInteractive({
            username: user.name,
            responder: (request) =>
              Effect.sync(() => {
                rounds.push(request.prompts)
                return request.prompts.map(() => Redacted.make(user.password))
              })
          })
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(layer))
          expect(result.succeeded).toBe(true)
          expect(rounds).toEqual([[{ prompt: "Password: ", echo: false }], []])
        }))

      it.scoped("with UsePAM no, sshd lists keyboard-interactive but fails it at once", () =>
        Effect.gen(function*() {
          const user = yield* Sshd.ensureTestUser()
          const { layer } = yield* connect(["UsePAM no"])
          let asked = 0
          const source = new KeyboardInteractive({
            username: user.name,
            responder: (request) => Effect.sync(() => (asked++, request.prompts.map(() => Redacted.make(user.password))))
          })
          const error = yield* AuthStrategy.authenticate(AuthStrategy.make(source), { noneFirst: true }).pipe(
            Effect.provide(layer),
            Effect.flip
          )
          const [none, kbd] = error.result.attempts.map((a) => a.attempt)
          expect(none._tag === "Failure" && none.allowedMethods).toContain("keyboard-interactive")
          expect(kbd._tag).toBe("Failure")
          expect(asked).toBe(0)
        }))

      it.scoped("two factors: AuthenticationMethods publickey,password; partial success keeps going", () =>
        Effect.gen(function*() {
          const user = yield* Sshd.ensureTestUser()
          const { keys } = yield* Fixture
          const { layer } = yield* connect(["AuthenticationMethods publickey,password"])
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(
            new OnDiskPrivateKey({ username: user.name, path: keys.ed25519.file }),
            new Password({ username: user.name, password: Effect.succeed(Redacted.make(user.password)) })
          )).pipe(Effect.provide(layer))
          expect(result.succeeded).toBe(true)
          const first = result.attempts[0].attempt
          expect(first._tag === "Failure" && first.partialSuccess).toBe(true)
          expect(result.attempts[1].attempt._tag).toBe("Success")
        }))

      it.scoped("no secret leaks into the result's string or JSON form, or the logs", () =>
        Effect.gen(function*() {
          const user = yield* Sshd.ensureTestUser()
          const { keys, passphrase } = yield* Fixture
          const secrets = ["hunter2-secret", "wrong-passphrase-secret", passphrase]
          const logs: Array<string> = []
          const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => logs.push(JSON.stringify(message))))
          const run = <R>(strategy: AuthStrategy.AuthStrategy<R>) =>
            Effect.flatMap(connect(), ({ layer }) =>
              AuthStrategy.authenticate(strategy).pipe(
                Effect.provide(layer),
                Effect.provide(capture),
                Logger.withMinimumLogLevel(LogLevel.All),
                Effect.either
              ))
          // A run that succeeds after a wrong password and a wrong passphrase…
          const ok = yield* run(AuthStrategy.make(
            new Password({ username: user.name, password: Effect.succeed(Redacted.make(secrets[0])) }),
            new OnDiskPrivateKey({ username: user.name, path: keys.encrypted.file, passphrase: Effect.succeed(Redacted.make(secrets[1])) }),
            new OnDiskPrivateKey({ username: user.name, path: keys.encrypted.file, passphrase: Effect.succeed(Redacted.make(passphrase)) })
          ))
          expect(Either.isRight(ok)).toBe(true)
          const result = Either.getOrThrow(ok)
          expect(result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Error", "Success"])
          // …and one that fails.
          const failed = yield* run(AuthStrategy.make(new Password({ username: user.name, password: Effect.succeed(Redacted.make(secrets[0])) })))
          expect(Either.isLeft(failed)).toBe(true)
          const error = Either.flip(failed).pipe(Either.getOrThrow)
          const forms = [
            String(result),
            JSON.stringify(result),
            inspect(result, { depth: 10 }),
            result.attempts.map((a) => `${a.source}`).join("\n"),
            String(error),
            error.message,
            JSON.stringify(error),
            inspect(error, { depth: 10 }),
            ...logs
          ].join("\n")
          expect(forms).toContain(`Password(user=${user.name})`)
          expect(logs.length).toBeGreaterThan(0)
          for (const secret of secrets) expect(forms).not.toContain(secret)
        }))
    })

    it.scoped("the none source succeeds nowhere here, and says which methods are allowed", () =>
      Effect.gen(function*() {
        const { layer } = yield* connect()
        const error = yield* AuthStrategy.authenticate(AuthStrategy.make(new NoneAuth({ username: me }))).pipe(Effect.provide(layer), Effect.flip)
        const attempt = error.result.attempts[0].attempt
        expect(attempt._tag === "Failure" && attempt.allowedMethods).toContain("publickey")
      }))
  })
})
