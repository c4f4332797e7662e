/**
 * Certificates made by `ssh-keygen -s`: every field as `ssh-keygen -L` prints it, the CA
 * signature checked, and each way a certificate can be unacceptable told apart.
 */
import * as Either from "effect/Either"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import { hasTool, requireTool } from "../support/Tools.js"

const exec = (args: ReadonlyArray<string>) => execFileSync("ssh-keygen", [...args], { encoding: "utf8", timeout: 60_000, stdio: ["pipe", "pipe", "pipe"] })

let dir = ""
const keygen = (name: string, type: ReadonlyArray<string>) => {
  const file = path.join(dir, name)
  if (!fs.existsSync(file)) exec(["-q", "-N", "", "-C", name, ...type, "-f", file])
  return file
}
/** Signs a fresh copy of `subject`'s public key with `ca`; returns the certificate line and what ssh-keygen -L says. */
const certify = (ca: string, subject: string, name: string, options: ReadonlyArray<string>) => {
  const pub = path.join(dir, `${name}.pub`)
  fs.copyFileSync(`${subject}.pub`, pub)
  exec(["-q", "-s", ca, ...options, pub])
  const certFile = path.join(dir, `${name}-cert.pub`)
  return {
    line: fs.readFileSync(certFile, "utf8").trim(),
    listing: exec(["-L", "-f", certFile]).split("\n").slice(1).join("\n").trimEnd()
  }
}
const parse = (line: string) => Either.getOrThrowWith(Certificate.fromLine(line), (e) => e)
const now = () => Math.floor(Date.now() / 1000)

const types: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["ed25519", ["-t", "ed25519"]],
  ["ecdsa-256", ["-t", "ecdsa", "-b", "256"]],
  ["ecdsa-384", ["-t", "ecdsa", "-b", "384"]],
  ["ecdsa-521", ["-t", "ecdsa", "-b", "521"]],
  ["rsa", ["-t", "rsa", "-b", "2048"]]
]

describe.skipIf(!hasTool("ssh-keygen"))("certificates made by ssh-keygen -s", () => {
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "certs-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  for (const [caName, caType] of types) {
    for (const [subjectName, subjectType] of types) {
      it(`${subjectName} key, ${caName} CA: user and host certificates, every field as ssh-keygen -L prints it`, () => {
        const ca = keygen(`ca-${caName}`, caType)
        const subject = keygen(`subject-${subjectName}`, subjectType)
        const user = certify(ca, subject, `user-${caName}-${subjectName}`, [
          "-I",
          `user "${subjectName}" signed by ${caName}`,
          "-n",
          "alice,bob",
          "-V",
          "20200101:20991231",
          "-z",
          "4242",
          "-O",
          "force-command=ls -l",
          "-O",
          "source-address=127.0.0.1/32,::1",
          "-O",
          "no-pty"
        ])
        const cert = parse(user.line)
        expect(Certificate.describe(cert)).toBe(user.listing)
        expect(cert.certType).toBe("user")
        expect(cert.serial).toBe(4242n)
        expect(cert.principals).toEqual(["alice", "bob"])
        expect(cert.criticalOptions).toEqual([{ name: "force-command", value: "ls -l" }, { name: "source-address", value: "127.0.0.1/32,::1" }])
        expect(PublicKeyText.format(cert.key)).toBe(fs.readFileSync(`${subject}.pub`, "utf8").split(" ").slice(0, 2).join(" "))
        expect(Either.isRight(Certificate.check(nodeCurves, cert, { now: now(), role: "user", principal: "bob" }))).toBe(true)

        const host = certify(ca, subject, `host-${caName}-${subjectName}`, ["-h", "-I", "host", "-n", "server.example"])
        const hostCert = parse(host.line)
        expect(Certificate.describe(hostCert)).toBe(host.listing)
        expect(Either.isRight(Certificate.check(nodeCurves, hostCert, { now: now(), role: "host", principal: "server.example" }))).toBe(true)
      })
    }
  }

  const reason = (result: Either.Either<unknown, Certificate.CertificateError>) => Either.isLeft(result) ? result.left.reason : "accepted"

  it("expired, not yet valid, wrong role, wrong principal and tampered certificates are each rejected with their reason", () => {
    const ca = keygen("ca-ed25519", ["-t", "ed25519"])
    const subject = keygen("subject-ed25519", ["-t", "ed25519"])
    const expired = parse(certify(ca, subject, "expired", ["-I", "old", "-n", "alice", "-V", "20200101:20210101"]).line)
    expect(reason(Certificate.check(nodeCurves, expired, { now: now() }))).toBe("Expired")
    const future = parse(certify(ca, subject, "future", ["-I", "later", "-n", "alice", "-V", "+52w:+104w"]).line)
    expect(reason(Certificate.check(nodeCurves, future, { now: now() }))).toBe("NotYetValid")
    const good = parse(certify(ca, subject, "good", ["-I", "good", "-n", "alice"]).line)
    expect(reason(Certificate.check(nodeCurves, good, { now: now(), role: "host" }))).toBe("WrongRole")
    expect(reason(Certificate.check(nodeCurves, good, { now: now(), principal: "mallory" }))).toBe("PrincipalNotAllowed")
    expect(reason(Certificate.check(nodeCurves, good, { now: now(), principal: "alice" }))).toBe("accepted")

    // Change the principal to "mallo" (same length) and the CA signature no longer holds.
    const blob = Buffer.from(good.blob)
    const at = blob.indexOf(Buffer.from("alice"))
    blob.write("mallo", at)
    const tampered = Either.getOrThrowWith(Certificate.fromBlob(blob), (e) => e)
    expect(tampered.principals).toEqual(["mallo"])
    expect(reason(Certificate.check(nodeCurves, tampered, { now: now(), principal: "mallo" }))).toBe("BadSignature")
  })
})
