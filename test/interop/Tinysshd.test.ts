/**
 * Our client against tinysshd (Debian's tinysshd), the library and `ssh-auth connect` both.
 * tinysshd has one of each: an ssh-ed25519 host key, curve25519-sha256 and
 * sntrup761x25519-sha512@openssh.com (`-P` turns the second off; `-S` turns off ed25519 and
 * curve25519 together, which leaves it no host key, so it is not used here),
 * chacha20-poly1305@openssh.com, and publickey with ssh-ed25519 keys. The matrix below is
 * every algorithm we support, judged by what tinysshd's KEXINIT offers (ClientInterop.ts):
 * sntrup761x25519 is tried the day `supported.kex` has it, without an edit here. The host key
 * is checked through a known_hosts file holding `tinysshd-printkey`'s line, everywhere.
 *
 * The transport tests run as anyone; logins need root (tinysshd becomes the user it logs in,
 * and reads that user's ~/.ssh/authorized_keys: the run's test user, see ClientInterop.ts).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import { fingerprintSha256 } from "../../src/keys/PublicKey.js"
import { KeyboardInteractive } from "../../src/sources/KeyboardInteractive.js"
import { Password } from "../../src/sources/Password.js"
import { OnDiskPrivateKey } from "../../src/sources/PrivateKey.js"
import { defaultPreferences, hostKeyAlgorithms, supported } from "../../src/transport/Algorithms.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import type { KexInit } from "../../src/transport/KexInit.js"
import { makeTcp, type TcpOptions } from "../../src/transport/TcpTransport.js"
import { Transport } from "../../src/transport/Transport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import {
  authorizeKeys,
  checkForced,
  cliConnect,
  type ClientKey,
  closedConfig,
  forcedCases,
  knownHostsFile,
  knownHostsPolicy,
  makeClientKeys
} from "../support/ClientInterop.js"
import { skipUnlessRoot, skipWithoutPeer } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as NodeFiles from "../support/NodeFiles.js"
import { ensureTestUser, tempDir } from "../support/Sshd.js"
import * as Tinysshd from "../support/Tinysshd.js"

const skip = skipWithoutPeer("tinysshd", Tinysshd.available, "tinysshd")

const SNTRUP = "sntrup761x25519-sha512@openssh.com"

class Fixture extends Context.Tag("test/TinysshdFixture")<Fixture, {
  readonly keyDir: Tinysshd.KeyDir
  /** Another tinysshd key: the "changed host key" of the known_hosts tests. */
  readonly otherKeyDir: Tinysshd.KeyDir
  readonly dir: string
  readonly keys: Readonly<Record<"ed25519" | "ecdsa-256" | "ecdsa-384" | "ecdsa-521" | "rsa", ClientKey>>
  /** tinysshd's KEXINIT, as it sends it with its defaults. */
  readonly offered: KexInit
}>() {}

const fixture = Layer.scoped(
  Fixture,
  Effect.gen(function*() {
    const [keyDir, otherKeyDir] = yield* Effect.all([Tinysshd.makeKeyDir, Tinysshd.makeKeyDir], { concurrency: 2 })
    const dir = yield* tempDir("tinysshd-client-")
    const keys = yield* makeClientKeys(dir, {
      "ed25519": ["-t", "ed25519"],
      "ecdsa-256": ["-t", "ecdsa", "-b", "256"],
      "ecdsa-384": ["-t", "ecdsa", "-b", "384"],
      "ecdsa-521": ["-t", "ecdsa", "-b", "521"],
      "rsa": ["-t", "rsa", "-b", "2048"]
    })
    // What tinysshd offers, read from its KEXINIT (our default offer shares curve25519-sha256 with it).
    const offered = yield* Effect.scoped(Effect.gen(function*() {
      const server = yield* Tinysshd.start({ keyDir })
      const probe = yield* makeTcp({ host: server.host, port: server.port, hostKeyPolicy: acceptAnyInsecure })
      return probe.proposals.server
    }))
    return { keyDir, otherKeyDir, dir, keys, offered }
  })
)

/** A tinysshd with these flags, its log shown if the test fails. */
const serve = (flags: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const { keyDir } = yield* Fixture
    const server = yield* Tinysshd.start({ keyDir, flags })
    yield* logOnFailure(server, "tinysshd")
    return server
  })

/** Connects to `server`, trusting the host key only as known_hosts holds it (tinysshd-printkey's line unless told). */
const connect = (server: Tinysshd.Tinysshd, options: Partial<TcpOptions> = {}, knownLine?: string) =>
  Effect.gen(function*() {
    const { dir, keyDir } = yield* Fixture
    const hostKeyPolicy = yield* knownHostsPolicy(knownHostsFile(dir, server.port, knownLine ?? keyDir.line))
    return yield* makeTcp({ host: server.host, port: server.port, hostKeyPolicy, ...options })
  })

/** Waits (at most ~5 s) until tinysshd's log matches `pattern` `times` times; answers the log. */
const logShows = (server: Tinysshd.Tinysshd, pattern: RegExp, times = 1) =>
  Effect.gen(function*() {
    const count = (log: string) => log.match(new RegExp(pattern.source, "g"))?.length ?? 0
    let log = yield* server.readLog
    for (let i = 0; i < 100 && count(log) < times; i++) log = yield* Effect.zipRight(Effect.sleep("50 millis"), server.readLog)
    return log
  })

const authLayer = (transport: Transport) => AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport)))

describe.skipIf(skip)("interop: our client against tinysshd", () => {
  layer(Layer.merge(fixture, NodeFiles.layer), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("tinysshd's KEXINIT is what its manual says, and our default offer settles on what both have", () =>
      Effect.gen(function*() {
        const { offered } = yield* Fixture
        expect(offered.serverHostKeyAlgorithms).toEqual(["ssh-ed25519"])
        expect(offered.ciphersClientToServer).toEqual(["chacha20-poly1305@openssh.com"])
        expect(offered.kexAlgorithms).toContain("curve25519-sha256")
        expect(offered.kexAlgorithms).toContain(SNTRUP)
        const c = yield* connect(yield* serve())
        yield* c.requestService("ssh-userauth")
        expect(c.algorithms.kex).toBe(defaultPreferences.kex.find((k) => offered.kexAlgorithms.includes(k)))
        expect(c.serverIdentification).toMatch(/^SSH-2\.0-tinyssh_/)
        // Strict kex only if its KEXINIT has the marker (20230101 predates it).
        expect(c.algorithms.strictKex).toBe(offered.kexAlgorithms.includes("kex-strict-s-v00@openssh.com"))
      }))

    describe("every algorithm we have, forced on our side: negotiated where tinysshd's KEXINIT offers it, refused in KEXINIT where not", () => {
      for (const [name, forced] of forcedCases(hostKeyAlgorithms)) {
        it.scoped(name, () =>
          Effect.gen(function*() {
            const { offered } = yield* Fixture
            const server = yield* serve()
            yield* checkForced(offered, forced, (algorithms) => connect(server, { algorithms }))
          }))
      }
    })

    it.scoped("the host key is checked through known_hosts: tinysshd-printkey's key is accepted, another ed25519 key for the host is refused", () =>
      Effect.gen(function*() {
        const { keyDir, otherKeyDir } = yield* Fixture
        const server = yield* serve()
        const ok = yield* connect(server)
        expect(fingerprintSha256(ok.hostKey)).toBe(keyDir.fingerprint)
        const error = yield* Effect.flip(Effect.scoped(connect(server, {}, otherKeyDir.line)))
        expect(error._tag).toBe("HostKeyRejected")
        expect(error.message).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED")
        expect(error.message).toContain(keyDir.fingerprint)
        expect(error.message).toContain(otherKeyDir.fingerprint)
      }))

    it.scoped(`tinysshd -P (no ${SNTRUP}): our default offer settles on curve25519-sha256`, () =>
      Effect.gen(function*() {
        const c = yield* connect(yield* serve(["-P"]))
        expect(c.proposals.server.kexAlgorithms).not.toContain(SNTRUP)
        expect(c.algorithms.kex).toBe(defaultPreferences.kex.find((k) => c.proposals.server.kexAlgorithms.includes(k)))
        expect(c.algorithms.kex).toBe("curve25519-sha256")
        yield* c.requestService("ssh-userauth")
      }))

    it.scoped(`tinysshd as shipped: our default offer (ML-KEM first, its guess dropped) settles on ${SNTRUP}`, () =>
      Effect.gen(function*() {
        const c = yield* connect(yield* serve([]))
        expect(c.proposals.server.kexAlgorithms).not.toContain("mlkem768x25519-sha256")
        expect(c.algorithms.kex).toBe(defaultPreferences.kex.find((k) => c.proposals.server.kexAlgorithms.includes(k)))
        expect(c.algorithms.kex).toMatch(/^sntrup761x25519-sha512/)
        yield* c.requestService("ssh-userauth")
      }))

    describe.skipIf(skipUnlessRoot("logins to tinysshd (it becomes the test user)"))("logins as the run's test user (root only)", () => {
      /** Authorizes every client key of the fixture for the test user (tinysshd ignores all but ed25519). */
      const login = Effect.gen(function*() {
        const user = yield* ensureTestUser()
        const { keys } = yield* Fixture
        yield* authorizeKeys(user, Object.values(keys).map((k) => k.line))
        return user
      })

      it.scoped("publickey with an ed25519 key; tinysshd logs that very key as accepted", () =>
        Effect.gen(function*() {
          const user = yield* login
          const { keys } = yield* Fixture
          const server = yield* serve()
          const c = yield* connect(server)
          const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new OnDiskPrivateKey({ username: user.name, path: keys.ed25519.file }))).pipe(
            Effect.provide(authLayer(c))
          )
          expect(result.succeeded).toBe(true)
          expect(yield* server.readLog).toContain(`auth: ${user.name}: ${keys.ed25519.line.split(" ").slice(0, 2).join(" ")} accepted`)
        }))

      it.scoped("ecdsa (256, 384, 521) and rsa keys are refused though authorized_keys lists them; the ed25519 key after them succeeds", () =>
        Effect.gen(function*() {
          const user = yield* login
          const { keys } = yield* Fixture
          const c = yield* connect(yield* serve())
          const order = ["ecdsa-256", "ecdsa-384", "ecdsa-521", "rsa", "ed25519"] as const
          const result = yield* AuthStrategy.authenticate(
            AuthStrategy.make(...order.map((name) => new OnDiskPrivateKey({ username: user.name, path: keys[name].file })))
          ).pipe(Effect.provide(authLayer(c)))
          expect(result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Failure", "Failure", "Failure", "Success"])
          for (const { attempt } of result.attempts.slice(0, 4)) expect(attempt._tag === "Failure" && attempt.allowedMethods).toEqual(["publickey"])
        }))

      it.scoped("none is refused with publickey the only method; password and keyboard-interactive are then skipped, their secrets never asked for", () =>
        Effect.gen(function*() {
          const user = yield* login
          const c = yield* connect(yield* serve())
          let asked = 0
          const password = new Password({ username: user.name, password: Effect.sync(() => (asked++, Redacted.make(user.password))) })
          const kbd = new KeyboardInteractive({ username: user.name, responder: () => Effect.sync(() => (asked++, [])) })
          const error = yield* AuthStrategy.authenticate(AuthStrategy.make(password, kbd), { noneFirst: true }).pipe(Effect.provide(authLayer(c)), Effect.flip)
          expect(error.reason).toBe("Exhausted")
          const [none, ...rest] = error.result.attempts.map((a) => a.attempt)
          expect(none._tag === "Failure" && none.allowedMethods).toEqual(["publickey"])
          expect(rest.map((a) => a._tag)).toEqual(["Skipped", "Skipped"])
          expect(asked).toBe(0)
        }))

      it.scoped("password, and keyboard-interactive, sent without asking first: each refused, publickey the method named", () =>
        Effect.gen(function*() {
          const user = yield* login
          const sources = [
            new Password({ username: user.name, password: Effect.succeed(Redacted.make(user.password)) }),
            new KeyboardInteractive({ username: user.name, responder: (r) => Effect.succeed(r.prompts.map(() => Redacted.make(user.password))) })
          ]
          for (const source of sources) {
            const c = yield* connect(yield* serve())
            const error = yield* AuthStrategy.authenticate(AuthStrategy.make(source)).pipe(Effect.provide(authLayer(c)), Effect.flip)
            const attempts = error.result.attempts.map((a) => a.attempt)
            expect(attempts.map((a) => a._tag)).toEqual(["Failure"])
            expect(attempts[0]._tag === "Failure" && attempts[0].allowedMethods).toEqual(["publickey"])
          }
        }))

      /** Logs in with the ed25519 key on a connection made with `options`, to a tinysshd with these flags. */
      const loggedIn = (options: Partial<TcpOptions>, flags: ReadonlyArray<string> = []) =>
        Effect.gen(function*() {
          const user = yield* login
          const { keys } = yield* Fixture
          const server = yield* serve(flags)
          const c = yield* connect(server, options)
          yield* AuthStrategy.authenticate(AuthStrategy.make(new OnDiskPrivateKey({ username: user.name, path: keys.ed25519.file }))).pipe(
            Effect.provide(authLayer(c))
          )
          return { c, server }
        })

      it.scoped("rekeys after login, our first kex one tinysshd has (so our guessed KEXDH_INIT was right): three complete, and a session channel opens after them", () =>
        Effect.gen(function*() {
          const { offered } = yield* Fixture
          const first = defaultPreferences.kex.find((k) => offered.kexAlgorithms.includes(k))!
          const { c, server } = yield* loggedIn({ algorithms: { kex: [first, ...defaultPreferences.kex.filter((k) => k !== first)] } }, ["-v"])
          // Each rekey waits for tinysshd's own word that it is done (its debug log, -vv), for
          // another tinysshd bug: what it reads together with our NEWKEYS waits in its buffer
          // until more bytes come (its main loop polls the socket before it looks at the
          // buffer), so a KEXINIT or CHANNEL_OPEN sent at once could sit there for its 60 s poll.
          for (let i = 1; i <= 3; i++) {
            yield* c.rekey
            expect((yield* logShows(server, /rekeying: done/, i)).match(/rekeying: done/g)?.length).toBe(i)
          }
          expect(c.kexCount).toBe(4)
          // A session channel, opened under the fourth keys: tinysshd confirms it.
          yield* c.send(encode((w) => w.byte(MessageNumber.CHANNEL_OPEN).string("session").uint32(0).uint32(65536).uint32(32768)))
          expect((yield* c.receive)[0]).toBe(MessageNumber.CHANNEL_OPEN_CONFIRMATION)
        }))

      it.scoped("a rekey after a first kex whose guess was wrong (our default order): tinysshd 20230101 drops our KEXDH_INIT and the rekey stalls (its bug, see the report)", () =>
        Effect.gen(function*() {
          const { offered } = yield* Fixture
          const { c, server } = yield* loggedIn({ handshakeTimeout: "2 seconds" })
          const outcome = yield* Effect.either(c.rekey)
          if (offered.kexAlgorithms.includes(defaultPreferences.kex[0])) {
            // Our first choice is tinysshd's too: no wrong guess, nothing to trip on.
            expect(outcome._tag).toBe("Right")
            return
          }
          // tinysshd keeps first_kex_packet_follows from the first KEXINIT and, on a rekey,
          // throws away the first KEXDH_INIT as the wrong guess it was the first time.
          const error = outcome._tag === "Left" ? outcome.left : undefined
          expect(error?._tag === "TransportError" && [error.reason, error.step]).toEqual(["Timeout", "KEXDH_REPLY"])
          expect(yield* logShows(server, /unable to process kexdh/)).toMatch(/fatal: unable to process kexdh/)
        }))

      describe("ssh-auth connect, with a closed-world ssh_config", () => {
        const cli = (args: ReadonlyArray<string>, key: "ed25519" | "ecdsa-256" | "rsa" = "ed25519", knownLine?: string) =>
          Effect.gen(function*() {
            const user = yield* login
            const { dir, keyDir, keys } = yield* Fixture
            const server = yield* serve()
            const knownHosts = knownHostsFile(dir, server.port, knownLine ?? keyDir.line)
            const config = closedConfig(dir, { alias: "tiny", port: server.port, user: user.name, identityFile: keys[key].file, knownHosts })
            const r = yield* cliConnect(["-F", config, ...args, "tiny"])
            return { ...r, user, server, why: `exit ${r.code}\n${r.stdout}\n${r.stderr}\n${yield* server.readLog}` }
          })

        it.scoped("an ed25519 key: exit 0, success, the host key tinysshd-printkey's", () =>
          Effect.gen(function*() {
            const { keyDir } = yield* Fixture
            const r = yield* cli(["-v"])
            expect(r.code, r.why).toBe(0)
            expect(r.stdout.trim().split("\n").at(-1)).toMatch(/^IdentityFileKey\(.*\) -> success \(\d+\.\d ms\)$/)
            expect(r.stdout + r.stderr).toContain(`Server host key: ssh-ed25519 ${keyDir.fingerprint}`)
          }))

        it.scoped("every kex and host key algorithm both sides have, forced with -o KexAlgorithms and -o HostKeyAlgorithms", () =>
          Effect.gen(function*() {
            const { offered } = yield* Fixture
            const kexes = offered.kexAlgorithms.filter((k) => supported.kex.has(k))
            const hostKeys = offered.serverHostKeyAlgorithms.filter((a) => hostKeyAlgorithms.includes(a))
            expect(kexes).toContain("curve25519-sha256")
            for (const kex of kexes) {
              const r = yield* cli(["-v", "-o", `KexAlgorithms=${kex}`])
              expect(r.code, r.why).toBe(0)
              expect(r.stdout + r.stderr).toMatch(new RegExp(`kex: algorithm: ${kex.replace(/[.]/g, "\\.")}$`, "m"))
            }
            for (const hostKey of hostKeys) {
              const r = yield* cli(["-v", "-o", `HostKeyAlgorithms=${hostKey}`])
              expect(r.code, r.why).toBe(0)
              expect(r.stdout + r.stderr).toMatch(new RegExp(`kex: host key algorithm: ${hostKey}$`, "m"))
            }
          }))

        it.scoped("known_hosts with another key for the host: exit 255, refused before any userauth", () =>
          Effect.gen(function*() {
            const { otherKeyDir } = yield* Fixture
            const r = yield* cli([], "ed25519", otherKeyDir.line)
            expect(r.code, r.why).toBe(255)
            expect(r.stderr).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED")
            expect(yield* r.server.readLog).not.toMatch(/auth:/)
          }))

        for (const key of ["ecdsa-256", "rsa"] as const) {
          it.scoped(`an ${key} key, which tinysshd does not take: exit 255, authentication failed`, () =>
            Effect.gen(function*() {
              const r = yield* cli([], key)
              expect(r.code, r.why).toBe(255)
              expect(r.stderr).toMatch(/authentication failed: no more sources to try/)
              expect(r.stderr).toMatch(/IdentityFileKey\(.*\) -> failure; can continue: publickey/)
            }))
        }
      })
    })
  })
})
