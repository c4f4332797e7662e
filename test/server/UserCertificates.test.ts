/**
 * TrustedUserCAKeys as sshd decides it: the CA file (one key a line, read up to the first
 * bad line), and certificates made by `ssh-keygen -s` at test time checked against it, with
 * and without an AuthorizedPrincipalsFile's names.
 */
import * as Either from "effect/Either"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import type * as AuthorizedKeys from "../../src/server/AuthorizedKeys.js"
import { unrestricted } from "../../src/server/AuthPolicy.js"
import * as UserCertificates from "../../src/server/UserCertificates.js"
import { hasTool, requireTool } from "../support/Tools.js"

const CA_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIJi17zhmP5DDSAjn4/IF6fKUvEirWWw8MvkpBZPPV96"
const CA_B =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKE+0BsRn11R3Fj/k7AZKyFmYnKS7l76qkQRuNoYHBk+tMph3VIw6kpNC5GiNpGysoP27gUkjsRCKk94lR2I79Y="

describe("UserCertificates.parseTrustedCaKeys", () => {
  it("one key a line, comments and blank lines skipped, CRLF read", () => {
    const { errors, keys } = UserCertificates.parseTrustedCaKeys(`# our CAs\n\n${CA_A} primary CA\r\n  ${CA_B}\n`)
    expect(errors).toEqual([])
    expect(keys.map((k) => [k.line, k.key.type, k.comment])).toEqual([[3, "ssh-ed25519", "primary CA"], [4, "ecdsa-sha2-nistp256", ""]])
  })

  it("sshd stops at the first line it cannot read: the CAs after it are not trusted, and that is said", () => {
    const { errors, keys } = UserCertificates.parseTrustedCaKeys([CA_A, "garbage here", CA_B, CA_A].join("\n"))
    expect(keys.map((k) => k.line)).toEqual([1])
    expect(errors).toEqual([
      { line: 2, detail: expect.any(String) },
      { line: 2, detail: "2 keys after line 2 are not trusted: sshd stops reading the file at a bad line" }
    ])
  })

  it("options are not allowed (sshd cannot read such a line), and stop the file too", () => {
    const { errors, keys } = UserCertificates.parseTrustedCaKeys([`cert-authority ${CA_A}`, CA_B].join("\n"))
    expect(keys).toEqual([])
    expect(errors[0]).toEqual({ line: 1, detail: "options are not allowed in a TrustedUserCAKeys file" })
  })
})

const reasonOf = <A>(result: Either.Either<A, AuthorizedKeys.KeyNotAuthorized>) => Either.isLeft(result) ? result.left.reason : "trusted"

describe.skipIf(!hasTool("ssh-keygen"))("UserCertificates.check, certificates made by ssh-keygen -s", () => {
  let dir = ""
  let serial = 0
  const exec = (args: ReadonlyArray<string>) => execFileSync("ssh-keygen", [...args], { encoding: "utf8", timeout: 60_000, stdio: "pipe" })
  /** The key's file, made on first use. */
  const key = (name: string) => {
    const file = path.join(dir, name)
    if (!fs.existsSync(file)) exec(["-q", "-N", "", "-C", name, "-t", "ed25519", "-f", file])
    return file
  }
  const publicKey = (name: string) => Either.getOrThrow(PublicKey.fromBlob(Buffer.from(fs.readFileSync(`${key(name)}.pub`, "utf8").split(" ")[1], "base64")))
  const sign = (ca: string, options: ReadonlyArray<string>) => {
    const pub = path.join(dir, `user-${++serial}.pub`)
    fs.copyFileSync(`${key("user")}.pub`, pub)
    exec(["-q", "-s", key(ca), "-I", `user-${serial}`, ...options, pub])
    return Either.getOrThrow(Certificate.fromLine(fs.readFileSync(pub.replace(/\.pub$/, "-cert.pub"), "utf8")))
  }
  const context = (over: Partial<UserCertificates.CheckContext> = {}): UserCertificates.CheckContext => ({
    user: "alice",
    clientAddress: "127.0.0.1",
    now: Math.floor(Date.now() / 1000),
    curves: nodeCurves,
    ...over
  })
  const trusted = () => UserCertificates.parseTrustedCaKeys(fs.readFileSync(`${key("ca")}.pub`, "utf8")).keys

  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "user-certs-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("a trusted CA, the user among the principals: granted with the certificate's own restrictions", () => {
    const cert = sign("ca", ["-n", "alice"])
    const granted = Either.getOrThrow(UserCertificates.check(trusted(), cert, context()))
    expect(granted.principal).toBe("alice")
    expect(PublicKey.equals(granted.ca, publicKey("ca"))).toBe(true)
    expect(granted.certificate).toBe(cert)
    // ssh-keygen's default extensions permit everything, as an authorized_keys line with no options.
    expect(granted.restrictions).toEqual(unrestricted)
    // Plain keys do as well as parsed lines.
    expect(Either.isRight(UserCertificates.check([publicKey("ca")], cert, context()))).toBe(true)
  })

  it("a certificate allows only what it names: -O clear leaves nothing, force-command and verify-required carry over", () => {
    const cert = sign("ca", [
      "-n",
      "alice",
      "-O",
      "clear",
      "-O",
      "permit-agent-forwarding",
      "-O",
      "force-command=/bin/date",
      "-O",
      "verify-required",
      "-O",
      "no-touch-required"
    ])
    expect(Either.getOrThrow(UserCertificates.check(trusted(), cert, context())).restrictions).toEqual({
      pty: false,
      portForwarding: false,
      agentForwarding: true,
      x11Forwarding: false,
      userRc: false,
      environment: [],
      permitOpen: [],
      permitListen: [],
      touchRequired: false,
      verifyRequired: true,
      forceCommand: "/bin/date"
    })
  })

  it("a CA not in the file: UntrustedCa, naming its fingerprint", () => {
    const result = UserCertificates.check(trusted(), sign("other-ca", ["-n", "alice"]), context())
    expect(reasonOf(result)).toBe("UntrustedCa")
    expect(Either.isLeft(result) && result.left.detail).toContain(PublicKey.fingerprintSha256(publicKey("other-ca")))
  })

  it("the user name must be a principal; a certificate with none is refused", () => {
    expect(reasonOf(UserCertificates.check(trusted(), sign("ca", ["-n", "bob,carol"]), context()))).toBe("PrincipalNotAllowed")
    expect(reasonOf(UserCertificates.check(trusted(), sign("ca", []), context()))).toBe("PrincipalNotAllowed")
  })

  it("with an AuthorizedPrincipalsFile's names, one of them must be a principal, and the user name no longer counts", () => {
    const cert = sign("ca", ["-n", "alice,deploy"])
    const viaFile = UserCertificates.check(trusted(), cert, context({ authorizedPrincipals: ["ops", "deploy"] }))
    expect(Either.getOrThrow(viaFile).principal).toBe("deploy")
    expect(reasonOf(UserCertificates.check(trusted(), cert, context({ authorizedPrincipals: ["ops"] })))).toBe("PrincipalNotAllowed")
    expect(reasonOf(UserCertificates.check(trusted(), cert, context({ authorizedPrincipals: [] })))).toBe("PrincipalNotAllowed")
  })

  it("expired and not-yet-valid certificates, unknown critical options, source-address", () => {
    expect(reasonOf(UserCertificates.check(trusted(), sign("ca", ["-n", "alice", "-V", "20200101:20200102"]), context()))).toBe("CertificateRejected")
    expect(reasonOf(UserCertificates.check(trusted(), sign("ca", ["-n", "alice", "-V", "20990101:20991231"]), context()))).toBe("CertificateRejected")
    expect(reasonOf(UserCertificates.check(trusted(), sign("ca", ["-n", "alice", "-O", "critical:frobnicate=1"]), context()))).toBe("BadCertificateOptions")
    const pinned = sign("ca", ["-n", "alice", "-O", "source-address=192.0.2.0/24"])
    expect(reasonOf(UserCertificates.check(trusted(), pinned, context()))).toBe("SourceAddressNotAllowed")
    expect(reasonOf(UserCertificates.check(trusted(), pinned, context({ clientAddress: "192.0.2.77" })))).toBe("trusted")
  })
})
