/**
 * User certificates, our client against our server in one process: a certificate from a CA
 * the server trusts (TrustedUserCAKeys) authenticates and the result names it; one from
 * another CA, an expired one and one for another principal do not. ssh-keygen signs them.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as UserTable from "../../src/server/UserTable.js"
import { skipInterop } from "../support/Env.js"
import { pair } from "../support/ServerPair.js"

const skip = skipInterop() // ssh-keygen comes with OpenSSH
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "server-certs-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const keygen = (...args: Array<string>) => {
  const r = spawnSync("ssh-keygen", ["-q", ...args], { encoding: "utf8" })
  if (r.status !== 0) throw new Error(`ssh-keygen ${args.join(" ")}: ${r.stderr}`)
}
const file = (name: string) => path.join(dir, name)

const setup = () => {
  keygen("-t", "ed25519", "-N", "", "-f", file("ca"))
  keygen("-t", "ed25519", "-N", "", "-f", file("other-ca"))
  keygen("-t", "ed25519", "-N", "", "-f", file("user"))
  const sign = (name: string, ca: string, ...args: Array<string>) => {
    fs.copyFileSync(file("user.pub"), file(`${name}.pub`))
    keygen("-s", file(ca), "-I", name, ...args, file(`${name}.pub`))
    return Either.getOrThrow(Certificate.fromLine(fs.readFileSync(file(`${name}-cert.pub`), "utf8")))
  }
  return {
    user: Effect.runSync(OpenSshKeyV1.read(fs.readFileSync(file("user"), "utf8"), { source: "user" })),
    ca: Either.getOrThrow(PublicKeyText.parsePublicKey(fs.readFileSync(file("ca.pub"), "utf8"))),
    good: sign("good", "ca", "-n", "alice", "-V", "-5m:+1h"),
    otherCa: sign("other", "other-ca", "-n", "alice", "-V", "-5m:+1h"),
    expired: sign("expired", "ca", "-n", "alice", "-V", "20200101:20200102"),
    wrongPrincipal: sign("bob", "ca", "-n", "bob", "-V", "-5m:+1h")
  }
}

describe.skipIf(skip)("user certificates, our client against our server", () => {
  const made = skip ? undefined : setup()

  const offer = (cert: Certificate.Certificate) =>
    Effect.gen(function*() {
      const { client, handlerLayer, server } = yield* pair(UserTable.layer({ alice: {} }, { trustedUserCaKeys: [made!.ca] }))
      const signer: PrivateKey.Signer<PrivateKey.SignerFailure> = {
        publicKey: made!.user.publicKey,
        certificate: cert,
        sign: (algorithm, data) => Effect.sync(() => PrivateKey.signSync(nodeCurves, made!.user, algorithm, data))
      }
      const outcome = yield* Effect.flatMap(AuthHandler.AuthHandler, (h) => h.publicKey("alice", signer)).pipe(Effect.provide(handlerLayer))
      if (outcome._tag !== "Success") yield* client.disconnect()
      return { outcome, server: yield* Effect.either(server) }
    })

  it.scopedLive("a certificate from a trusted CA authenticates, and the result names it", () =>
    Effect.gen(function*() {
      const { outcome, server } = yield* offer(made!.good)
      expect(outcome._tag).toBe("Success")
      if (server._tag !== "Right") throw server.left
      const credential = server.right.credentials[0]
      expect(credential._tag === "PublicKey" && credential.source).toBe("TrustedUserCAKeys")
      expect(credential._tag === "PublicKey" && credential.key.certificate?.keyId).toBe("good")
      expect(String(server.right.attempts.at(-1))).toMatch(/^Accepted publickey for alice .* ED25519-CERT ID good \(serial 0\) CA SHA256:/)
    }))

  for (
    const [name, pick] of [
      ["from a CA the server does not trust", () => made!.otherCa],
      ["that has expired", () => made!.expired],
      ["for another principal", () => made!.wrongPrincipal]
    ] as const
  ) {
    it.scopedLive(`a certificate ${name} is refused, and never proven`, () =>
      Effect.gen(function*() {
        const { outcome, server } = yield* offer(pick())
        expect(outcome._tag).toBe("Failure")
        expect(server._tag).toBe("Left")
        if (server._tag === "Left" && server.left._tag === "ServerAuthFailure") {
          expect(server.left.attempts.map((a) => a.outcome)).toEqual(["KeyRefused"])
        }
      }))
  }
})
