/**
 * The transport against a real OpenSSH sshd started by the suite on 127.0.0.1.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { CurvesImpl } from "../../src/crypto/Curves.js"
import { nobleCurves } from "../../src/crypto/NobleCurves.js"
import { fingerprintSha256 } from "../../src/keys/PublicKey.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { acceptAnyInsecure, pinned } from "../../src/transport/HostKeyPolicy.js"
import { makeTcp, type TcpOptions } from "../../src/transport/TcpTransport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { skipInterop, skipUnlessRoot } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import { passwordLogin, pingPayload } from "../support/PasswordLogin.js"
import * as Sshd from "../support/Sshd.js"
import { tamperProxy } from "../support/Tamper.js"
import { openSshHasKex } from "../support/Tools.js"

class HostKeys extends Context.Tag("test/HostKeys")<HostKeys, Sshd.HostKeys>() {}

/** Which host key file serves each host key algorithm. */
const keyFileFor: Record<string, Sshd.HostKeyType> = {
  "ssh-ed25519": "ed25519",
  "ecdsa-sha2-nistp256": "ecdsa-p256",
  "ecdsa-sha2-nistp384": "ecdsa-p384",
  "ecdsa-sha2-nistp521": "ecdsa-p521",
  "rsa-sha2-512": "rsa",
  "rsa-sha2-256": "rsa"
}

const fingerprintOf = (pubFile: string) => Effect.map(Sshd.run("ssh-keygen", ["-lf", pubFile]), ({ stdout }) => stdout.split(" ")[1])

/** Starts an sshd with extra config lines and connects to it. */
const serverAndClient = (config: ReadonlyArray<string>, client: Partial<TcpOptions> = {}, types?: ReadonlyArray<Sshd.HostKeyType>) =>
  Effect.gen(function*() {
    const hostKeys = yield* HostKeys
    const sshd = yield* Sshd.start({ hostKeys, config, ...(types ? { hostKeyTypes: types } : {}) })
    yield* logOnFailure(sshd)
    const connection = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure, ...client })
    return { sshd, connection }
  })

describe.skipIf(skipInterop())("interop: transport against OpenSSH", () => {
  layer(Layer.scoped(HostKeys, Sshd.makeHostKeys()), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    describe("handshake matrix: every kex × host key algorithm, forced in sshd's config", () => {
      // Only what this sshd has: 9.2 lacks ML-KEM, which the OpenSSH 10 transcript covers.
      for (const kex of defaultPreferences.kex.filter(openSshHasKex)) {
        for (const hostKey of defaultPreferences.hostKey) {
          it.scoped(`${kex} × ${hostKey}`, () =>
            Effect.gen(function*() {
              const { connection } = yield* serverAndClient(
                [`KexAlgorithms ${kex}`, `HostKeyAlgorithms ${hostKey}`],
                {},
                [keyFileFor[hostKey]]
              )
              expect(connection.algorithms.kex).toBe(kex)
              expect(connection.algorithms.hostKey).toBe(hostKey)
              expect(connection.algorithms.strictKex).toBe(true)
              yield* connection.requestService("ssh-userauth")
            }))
        }
      }
    })

    describe("handshake matrix: every cipher × MAC, forced in sshd's config", () => {
      const aead = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]
      const ctr = ["aes256-ctr", "aes192-ctr", "aes128-ctr"]
      const cases: Array<readonly [string, string]> = [
        ...aead.map((c) => [c, "<implicit>"] as const),
        ...ctr.flatMap((c) => defaultPreferences.mac.map((m) => [c, m] as const))
      ]
      for (const [cipher, mac] of cases) {
        it.scoped(`${cipher} × ${mac}`, () =>
          Effect.gen(function*() {
            const { connection } = yield* serverAndClient([`Ciphers ${cipher}`, ...(mac === "<implicit>" ? [] : [`MACs ${mac}`])])
            const a = connection.algorithms
            expect([a.cipherClientToServer, a.cipherServerToClient]).toEqual([cipher, cipher])
            expect([a.macClientToServer, a.macServerToClient]).toEqual([mac, mac])
            // Service request and accept both travel encrypted under the forced algorithms.
            yield* connection.requestService("ssh-userauth")
          }))
      }
    })

    it.scoped("the host key the client verified is the one sshd holds (ssh-keygen -lf as the oracle)", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        for (const algorithm of ["ssh-ed25519", "ecdsa-sha2-nistp384", "rsa-sha2-512"]) {
          const { connection } = yield* serverAndClient([], { algorithms: { hostKey: [algorithm] } })
          const expected = yield* fingerprintOf(`${hostKeys.files[keyFileFor[algorithm]]}.pub`)
          expect(fingerprintSha256(connection.hostKey)).toBe(expected)
        }
      }))

    it.scoped("the handshake also runs on @noble/curves, the portable implementation", () =>
      Effect.gen(function*() {
        const cases = [
          ["curve25519-sha256", "ssh-ed25519"],
          ["ecdh-sha2-nistp256", "ecdsa-sha2-nistp256"],
          ["ecdh-sha2-nistp384", "ecdsa-sha2-nistp384"],
          ["ecdh-sha2-nistp521", "ecdsa-sha2-nistp521"]
        ] as const
        // Count the ephemeral keys made, to be sure the provided implementation is the one used.
        let ephemeral = 0
        const counted: typeof nobleCurves = {
          ...nobleCurves,
          x25519: { ...nobleCurves.x25519, generateKeyPair: (random) => (ephemeral++, nobleCurves.x25519.generateKeyPair(random)) },
          ecdh: { ...nobleCurves.ecdh, generateKeyPair: (curve, random) => (ephemeral++, nobleCurves.ecdh.generateKeyPair(curve, random)) }
        }
        for (const [kex, hostKey] of cases) {
          const { connection } = yield* serverAndClient([], { algorithms: { kex: [kex], hostKey: [hostKey] } }).pipe(
            Effect.provideService(CurvesImpl, counted)
          )
          expect([connection.algorithms.kex, connection.algorithms.hostKey]).toEqual([kex, hostKey])
          yield* connection.requestService("ssh-userauth")
        }
        expect(ephemeral).toBe(cases.length)
      }))

    it.scoped("strict kex and EXT_INFO server-sig-algs are negotiated with OpenSSH", () =>
      Effect.gen(function*() {
        const { connection, sshd } = yield* serverAndClient([])
        yield* connection.requestService("ssh-userauth")
        expect(connection.algorithms.strictKex).toBe(true)
        const sigAlgs = Option.getOrThrow(connection.serverSigAlgs)
        expect(sigAlgs).toContain("rsa-sha2-512")
        expect(sigAlgs).toContain("ssh-ed25519")
        expect(connection.serverIdentification).toMatch(/^SSH-2\.0-OpenSSH_/)
        // Our default and sshd 9.2's meet on sntrup761x25519-sha512: its hash, SHA-512, makes the session id.
        expect(connection.algorithms.kex).toBe("sntrup761x25519-sha512")
        expect(connection.sessionId.length).toBe(64)
        // sshd saw our identification string.
        expect(yield* sshd.readLog).not.toMatch(/Bad protocol version/)
      }))

    it.scoped("a pinned fingerprint is accepted; any other is rejected with both fingerprints", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const sshd = yield* Sshd.start({ hostKeys, hostKeyTypes: ["ed25519"] })
        const real = yield* fingerprintOf(`${hostKeys.files.ed25519}.pub`)
        const ok = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: pinned([real]) })
        expect(fingerprintSha256(ok.hostKey)).toBe(real)
        const wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        const error = yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: pinned([wrong]) }).pipe(
          Effect.scoped,
          Effect.flip
        )
        expect(error._tag).toBe("HostKeyRejected")
        expect(error.message).toContain(real)
        expect(error.message).toContain(wrong)
        expect(error.message).toContain(`127.0.0.1:${sshd.port}`)
      }))

    it.scoped("closing the scope sends DISCONNECT; sshd logs it", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const sshd = yield* Sshd.start({ hostKeys })
        yield* Effect.scoped(
          Effect.flatMap(
            makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: acceptAnyInsecure }),
            (c) => c.requestService("ssh-userauth")
          )
        )
        // sshd writes the line when it reads our DISCONNECT; poll its log briefly.
        let log = ""
        for (let i = 0; i < 40 && !/Received disconnect/.test(log); i++) {
          yield* Effect.sleep("50 millis")
          log = yield* sshd.readLog
        }
        expect(log).toMatch(/Received disconnect from 127\.0\.0\.1 port \d+:11: closed by the client/)
      }))

    describe("a bad MAC on a real connection is a typed error and the socket is closed", () => {
      const modes: ReadonlyArray<readonly [string, string]> = [
        ["aes128-ctr", "hmac-sha2-256"],
        ["aes256-ctr", "hmac-sha2-512-etm@openssh.com"],
        ["aes128-gcm@openssh.com", "hmac-sha2-256"],
        ["chacha20-poly1305@openssh.com", "hmac-sha2-256"]
      ]
      for (const [cipher, mac] of modes) {
        it.scoped(`${cipher} / ${mac}`, () =>
          Effect.gen(function*() {
            const hostKeys = yield* HostKeys
            const sshd = yield* Sshd.start({ hostKeys })
            const proxy = yield* tamperProxy(sshd)
            const error = yield* Effect.scoped(Effect.gen(function*() {
              const c = yield* makeTcp({
                host: "127.0.0.1",
                port: proxy.port,
                hostKeyPolicy: acceptAnyInsecure,
                algorithms: { cipher: [cipher], mac: [mac] }
              })
              yield* c.requestService("ssh-userauth")
            })).pipe(Effect.flip)
            expect(proxy.tampered()).toBe(true)
            expect(error._tag === "TransportError" && error.reason).toBe("MacError")
            yield* proxy.clientClosed.pipe(Effect.timeout("2 seconds"))
          }))
      }
    })

    describe.skipIf(skipUnlessRoot("interop rekeying tests (a password user)"))(
      "rekeying (needs root for a password user: OpenSSH refuses rekeys before auth)",
      () => {
        const login = (config: ReadonlyArray<string>, client: Partial<TcpOptions> = {}) =>
          Effect.gen(function*() {
            const user = yield* Sshd.ensureTestUser()
            const { connection, sshd } = yield* serverAndClient(config, client)
            yield* passwordLogin(connection, user.name, user.password)
            return { connection, sshd }
          })

        /** One global request and its answer: traffic both ways. */
        const ping = (c: { readonly send: (p: Uint8Array) => Effect.Effect<void, unknown>; readonly receive: Effect.Effect<Uint8Array, unknown> }) =>
          Effect.gen(function*() {
            yield* c.send(pingPayload)
            // sshd announces its host keys after auth (hostkeys-00@openssh.com): skip its global requests.
            let reply = yield* c.receive
            for (let i = 0; i < 4 && reply[0] === MessageNumber.GLOBAL_REQUEST; i++) reply = yield* c.receive
            expect(reply[0]).toBe(MessageNumber.REQUEST_FAILURE)
          })

        it.scoped("client-forced rekeys keep traffic flowing", () =>
          Effect.gen(function*() {
            const { connection } = yield* login([])
            for (let i = 0; i < 5; i++) {
              yield* connection.rekey
              yield* ping(connection)
            }
            expect(connection.kexCount).toBe(6)
          }))

        it.scoped("server-initiated rekeys (sshd RekeyLimit) are invisible to the layer above", () =>
          Effect.gen(function*() {
            const { connection } = yield* login(["RekeyLimit 1K"])
            for (let i = 0; i < 60; i++) yield* ping(connection)
            // The rekeys were sshd's doing: our own limit is the default 1 GiB and we never asked.
            expect(connection.kexCount).toBeGreaterThan(2)
          }))

        it.scoped("the client rekeys by itself after its byte limit", () =>
          Effect.gen(function*() {
            const { connection } = yield* login([], { rekeyLimit: { bytes: 2048 } })
            for (let i = 0; i < 60; i++) yield* ping(connection)
            expect(connection.kexCount).toBeGreaterThan(2)
          }))

        it.scoped("sends during a rekey wait for it and go out under the new keys", () =>
          Effect.gen(function*() {
            const { connection } = yield* login([])
            // Start a rekey and immediately send: the send must wait for NEWKEYS, not break the kex.
            const rekey = yield* Effect.fork(connection.rekey)
            yield* Effect.forEach([1, 2, 3, 4], () => ping(connection), { discard: true })
            yield* rekey.await
            expect(connection.kexCount).toBe(2)
          }))
      }
    )
  })
})
