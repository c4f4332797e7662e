/**
 * `ssh-auth key …` as a user runs it (the built bin), its output compared with the ssh-keygen
 * command it stands in for, on the same files.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, requireTool } from "../support/Tools.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const run = (cmd: string, args: ReadonlyArray<string>, input = "") => {
  const r = spawnSync(cmd, [...args], { encoding: "utf8", input, timeout: 60_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}
const ours = (args: ReadonlyArray<string>, input = "") => run(process.execPath, [bin, "key", ...args], input)
const keygen = (args: ReadonlyArray<string>, input = "") => run("ssh-keygen", args, input)

let dir = ""
const PASSPHRASE = "cli passphrase"

describe.skipIf(!hasTool("ssh-keygen"))("ssh-auth key, against ssh-keygen", () => {
  const keys: Array<{ readonly name: string; readonly file: string; readonly encrypted: boolean }> = []
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-key-"))
    const make = (name: string, args: ReadonlyArray<string>, encrypted: boolean, keepPub: boolean) => {
      const file = path.join(dir, name)
      execFileSync("ssh-keygen", ["-q", "-N", encrypted ? PASSPHRASE : "", "-C", `comment of ${name}`, "-a", "2", ...args, "-f", file], { timeout: 60_000 })
      if (!keepPub) fs.rmSync(`${file}.pub`)
      keys.push({ name, file, encrypted })
    }
    make("ed25519", ["-t", "ed25519"], false, true)
    make("ed25519-nopub", ["-t", "ed25519"], false, false)
    make("ed25519-encrypted-nopub", ["-t", "ed25519"], true, false)
    make("ecdsa-384", ["-t", "ecdsa", "-b", "384"], true, true)
    make("rsa-pem-nopub", ["-t", "rsa", "-b", "2048", "-m", "PEM"], false, false)
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("fingerprint prints what ssh-keygen -lf prints, in SHA256 and MD5, for private files with and without a .pub and for .pub files", () => {
    for (const { file } of keys) {
      for (const target of [file, ...(fs.existsSync(`${file}.pub`) ? [`${file}.pub`] : [])]) {
        for (const hash of ["sha256", "md5"]) {
          const expected = keygen(["-l", "-E", hash, "-f", target])
          expect(expected.code).toBe(0)
          const got = ours(["fingerprint", target, "-E", hash])
          expect(got.stderr).toBe("")
          expect(got.stdout).toBe(expected.stdout)
        }
      }
    }
  })

  it("public prints what ssh-keygen -y prints, with -P for an encrypted key", () => {
    for (const { encrypted, file } of keys) {
      const pass = encrypted ? ["-P", PASSPHRASE] : []
      const expected = keygen(["-y", ...pass, "-f", file])
      expect(expected.code).toBe(0)
      const got = ours(["public", file, ...pass])
      expect(got.stdout).toBe(expected.stdout)
    }
  })

  it("public without the passphrase fails with exit 255 and says so; a wrong one says it is wrong", () => {
    const encrypted = keys.find((k) => k.encrypted)!.file
    const missing = ours(["public", encrypted])
    expect(missing.code).toBe(255)
    expect(missing.stderr).toMatch(/is encrypted and no passphrase was given/)
    const wrong = ours(["public", encrypted, "-P", "nope"])
    expect(wrong.code).toBe(255)
    expect(wrong.stderr).toMatch(/wrong passphrase/)
    expect(wrong.stderr).not.toContain("nope")
  })

  it("sign and verify interoperate with ssh-keygen -Y in both directions; a bad signature exits 255 as ssh-keygen does", () => {
    const message = "release v1.2.3\n"
    for (const { encrypted, file } of keys) {
      const pub = keygen(["-y", ...(encrypted ? ["-P", PASSPHRASE] : []), "-f", file]).stdout.trim()
      const allowed = path.join(dir, "allowed_signers")
      fs.writeFileSync(allowed, `# who may sign\nrelease@example.com namespaces="git,file" ${pub}\n`)
      const sigFile = path.join(dir, "ours.sig")
      const signed = ours(["sign", "-f", file, "-n", "git", ...(encrypted ? ["-P", PASSPHRASE] : [])], message)
      expect(signed.code).toBe(0)
      fs.writeFileSync(sigFile, signed.stdout)
      const byKeygen = keygen(["-Y", "verify", "-f", allowed, "-I", "release@example.com", "-n", "git", "-s", sigFile], message)
      expect(byKeygen.code).toBe(0)
      const byUs = ours(["verify", "-f", allowed, "-I", "release@example.com", "-n", "git", "-s", sigFile], message)
      expect(byUs.code).toBe(0)
      expect(byUs.stdout).toBe(byKeygen.stdout)

      // ssh-keygen -Y sign asks for a passphrase on the terminal, and cannot sign with a PEM key
      // that has no .pub beside it: only the keys it can use here.
      if (!encrypted && !file.endsWith("rsa-pem-nopub")) {
        const msgFile = path.join(dir, "message.txt")
        fs.writeFileSync(msgFile, message)
        fs.rmSync(`${msgFile}.sig`, { force: true })
        expect(keygen(["-Y", "sign", "-f", file, "-n", "file", msgFile]).code).toBe(0)
        expect(ours(["verify", "-f", allowed, "-I", "release@example.com", "-n", "file", "-s", `${msgFile}.sig`], message).code).toBe(0)
      }

      for (const [args, input] of [
        [["-I", "release@example.com", "-n", "git"], "tampered\n"],
        [["-I", "someone@else", "-n", "git"], message],
        [["-I", "release@example.com", "-n", "email"], message]
      ] as const) {
        const theirs = keygen(["-Y", "verify", "-f", allowed, ...args, "-s", sigFile], input)
        const mine = ours(["verify", "-f", allowed, ...args, "-s", sigFile], input)
        expect(theirs.code).toBe(255)
        expect(mine.code).toBe(255)
        expect(mine.stderr).toMatch(/Could not verify signature/)
      }
    }
  })
})
