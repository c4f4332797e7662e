/**
 * `ssh-auth key …` as a user runs it (the built bin), its output compared with the ssh-keygen
 * command it stands in for, on the same files.
 */
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, requireTool } from "../support/Tools.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
/**
 * Runs a command without blocking the worker, byte-safe: the input bytes reach the child as
 * they are (output is read as UTF-8: signatures and messages). Never spawnSync here: a test of
 * many runs would hold the worker's event loop past vitest's 60 s RPC timeout on a busy machine.
 */
const runAsync = (cmd: string, args: ReadonlyArray<string>, input: string | Uint8Array = "") =>
  new Promise<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, [...args], { timeout: 60_000 })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout.on("data", (d: Buffer) => stdout.push(d))
    child.stderr.on("data", (d: Buffer) => stderr.push(d))
    child.on("error", reject)
    // A child that exits without reading all its input is judged by its exit code, not by EPIPE.
    child.stdin.on("error", () => {})
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") }))
    child.stdin.end(input)
  })
const ours = (args: ReadonlyArray<string>, input: string | Uint8Array = "") => runAsync(process.execPath, [bin, "key", ...args], input)
const keygen = (args: ReadonlyArray<string>, input: string | Uint8Array = "") => runAsync("ssh-keygen", args, input)

/**
 * A message that is not text: a UTF-8 BOM, NUL, every byte 0x80-0xff, the invalid UTF-8
 * sequences c3 28 and ff fe, a CR LF pair and a lone CR, and no final newline.
 */
const binaryMessage = new Uint8Array([
  0xef,
  0xbb,
  0xbf,
  ...new TextEncoder().encode("bin"),
  0x00,
  ...Array.from({ length: 0x80 }, (_, i) => 0x80 + i),
  0xc3,
  0x28,
  0xff,
  0xfe,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  ...new TextEncoder().encode("end")
])

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

  it("fingerprint prints what ssh-keygen -lf prints, in SHA256 and MD5, for private files with and without a .pub and for .pub files", async () => {
    for (const { file } of keys) {
      for (const target of [file, ...(fs.existsSync(`${file}.pub`) ? [`${file}.pub`] : [])]) {
        for (const hash of ["sha256", "md5"]) {
          const expected = await keygen(["-l", "-E", hash, "-f", target])
          expect(expected.code).toBe(0)
          const got = await ours(["fingerprint", target, "-E", hash])
          expect(got.stderr).toBe("")
          expect(got.stdout).toBe(expected.stdout)
        }
      }
    }
  }, 150_000)

  it("public prints what ssh-keygen -y prints, with -P for an encrypted key", async () => {
    for (const { encrypted, file } of keys) {
      const pass = encrypted ? ["-P", PASSPHRASE] : []
      const expected = await keygen(["-y", ...pass, "-f", file])
      expect(expected.code).toBe(0)
      const got = await ours(["public", file, ...pass])
      expect(got.stdout).toBe(expected.stdout)
    }
  })

  it("public without the passphrase fails with exit 255 and says so; a wrong one says it is wrong", async () => {
    const encrypted = keys.find((k) => k.encrypted)!.file
    const missing = await ours(["public", encrypted])
    expect(missing.code).toBe(255)
    expect(missing.stderr).toMatch(/is encrypted and no passphrase was given/)
    const wrong = await ours(["public", encrypted, "-P", "nope"])
    expect(wrong.code).toBe(255)
    expect(wrong.stderr).toMatch(/wrong passphrase/)
    expect(wrong.stderr).not.toContain("nope")
  })

  it("sign and verify interoperate with ssh-keygen -Y in both directions; a bad signature exits 255 as ssh-keygen does", async () => {
    const message = "release v1.2.3\n"
    for (const { encrypted, file } of keys) {
      const pub = (await keygen(["-y", ...(encrypted ? ["-P", PASSPHRASE] : []), "-f", file])).stdout.trim()
      const allowed = path.join(dir, "allowed_signers")
      fs.writeFileSync(allowed, `# who may sign\nrelease@example.com namespaces="git,file" ${pub}\n`)
      const sigFile = path.join(dir, "ours.sig")
      const signed = await ours(["sign", "-f", file, "-n", "git", ...(encrypted ? ["-P", PASSPHRASE] : [])], message)
      expect(signed.code).toBe(0)
      fs.writeFileSync(sigFile, signed.stdout)
      const byKeygen = await keygen(["-Y", "verify", "-f", allowed, "-I", "release@example.com", "-n", "git", "-s", sigFile], message)
      expect(byKeygen.code).toBe(0)
      const byUs = await ours(["verify", "-f", allowed, "-I", "release@example.com", "-n", "git", "-s", sigFile], message)
      expect(byUs.code).toBe(0)
      expect(byUs.stdout).toBe(byKeygen.stdout)

      // ssh-keygen -Y sign asks for a passphrase on the terminal, and cannot sign with a PEM key
      // that has no .pub beside it: only the keys it can use here.
      if (!encrypted && !file.endsWith("rsa-pem-nopub")) {
        const msgFile = path.join(dir, "message.txt")
        fs.writeFileSync(msgFile, message)
        fs.rmSync(`${msgFile}.sig`, { force: true })
        expect((await keygen(["-Y", "sign", "-f", file, "-n", "file", msgFile])).code).toBe(0)
        expect((await ours(["verify", "-f", allowed, "-I", "release@example.com", "-n", "file", "-s", `${msgFile}.sig`], message)).code).toBe(0)
      }

      for (
        const [args, input] of [
          [["-I", "release@example.com", "-n", "git"], "tampered\n"],
          [["-I", "someone@else", "-n", "git"], message],
          [["-I", "release@example.com", "-n", "email"], message]
        ] as const
      ) {
        const theirs = await keygen(["-Y", "verify", "-f", allowed, ...args, "-s", sigFile], input)
        const mine = await ours(["verify", "-f", allowed, ...args, "-s", sigFile], input)
        expect(theirs.code).toBe(255)
        expect(mine.code).toBe(255)
        expect(mine.stderr).toMatch(/Could not verify signature/)
      }
    }
  }, 150_000)

  it("binary files: what ours signs (FILE argument and stdin) ssh-keygen -Y verify accepts, and the reverse, byte for byte", async () => {
    // The message must not survive a text round trip, or it would not test the bytes path.
    expect(() => new TextDecoder("utf-8", { fatal: true }).decode(binaryMessage)).toThrow()
    const msgFile = path.join(dir, "message.bin")
    fs.writeFileSync(msgFile, binaryMessage)
    for (const { encrypted, file, name } of keys) {
      const pass = encrypted ? ["-P", PASSPHRASE] : []
      const pub = (await keygen(["-y", ...pass, "-f", file])).stdout.trim()
      const allowed = path.join(dir, "allowed_signers")
      fs.writeFileSync(allowed, `release@example.com ${pub}\n`)
      const byKeygen = (sigFile: string) => keygen(["-Y", "verify", "-f", allowed, "-I", "release@example.com", "-n", "file", "-s", sigFile], binaryMessage)

      // FILE argument: writes FILE.sig.
      fs.rmSync(`${msgFile}.sig`, { force: true })
      const signedFile = await ours(["sign", "-f", file, "-n", "file", ...pass, msgFile])
      expect(signedFile.code, `${name}: ${signedFile.stderr}`).toBe(0)
      expect(signedFile.stderr).toContain(`Write signature to ${msgFile}.sig`)
      const fileVerdict = await byKeygen(`${msgFile}.sig`)
      expect(fileVerdict.stdout, `${name}: ${fileVerdict.stderr}`).toMatch(/^Good "file" signature for release@example.com/)
      expect(fileVerdict.code).toBe(0)

      // Standard input: the signature goes to stdout.
      const signedStdin = await ours(["sign", "-f", file, "-n", "file", ...pass], binaryMessage)
      expect(signedStdin.code, `${name}: ${signedStdin.stderr}`).toBe(0)
      const stdinSig = path.join(dir, "stdin.sig")
      fs.writeFileSync(stdinSig, signedStdin.stdout)
      const stdinVerdict = await byKeygen(stdinSig)
      expect(stdinVerdict.stdout, `${name}: ${stdinVerdict.stderr}`).toMatch(/^Good "file" signature for release@example.com/)
      expect(stdinVerdict.code).toBe(0)

      // The reverse: ssh-keygen signs the file, ours verifies it from stdin. (ssh-keygen cannot
      // sign with an encrypted key without a terminal, nor with a PEM key that has no .pub.)
      if (!encrypted && !file.endsWith("rsa-pem-nopub")) {
        fs.rmSync(`${msgFile}.sig`, { force: true })
        expect((await keygen(["-Y", "sign", "-f", file, "-n", "file", msgFile])).code).toBe(0)
        const theirs = path.join(dir, "theirs.sig")
        fs.renameSync(`${msgFile}.sig`, theirs)
        const verified = await ours(["verify", "-f", allowed, "-I", "release@example.com", "-n", "file", "-s", theirs], binaryMessage)
        expect(verified.stderr).toBe("")
        expect(verified.stdout).toBe((await byKeygen(theirs)).stdout)
        expect(verified.code).toBe(0)
        // One byte changed (in the 0x80-0xff run) is a bad signature.
        const flipped = Uint8Array.from(binaryMessage, (b, i) => (i === 100 ? b ^ 1 : b))
        expect((await ours(["verify", "-f", allowed, "-I", "release@example.com", "-n", "file", "-s", theirs], flipped)).code).toBe(255)
      }
    }
  }, 150_000)
})
