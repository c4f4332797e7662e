/**
 * Every key a user may have, made at test time by the real tools (ssh-keygen, openssl,
 * puttygen), read by us and judged by ssh-keygen: the fingerprint `ssh-keygen -l` prints,
 * the public key `ssh-keygen -y` prints, and a signature of ours that `ssh-keygen -Y verify`
 * accepts. Encrypted keys also show the two passphrase errors apart.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as KeyFile from "../../src/keys/KeyFile.js"
import type { PrivateKey } from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as SshSig from "../../src/keys/SshSig.js"
import { hasTool, requireTool } from "../support/Tools.js"

const PASSPHRASE = "correct horse 42"

interface Case {
  readonly name: string
  /** Makes the key file in `dir`, returns its path. */
  readonly make: (file: string) => void
  readonly encrypted: boolean
  /** Where the expected public key comes from: ssh-keygen reads the file, or the tool that made it says. */
  readonly oracle: (file: string) => string
  readonly tool: "ssh-keygen" | "openssl" | "puttygen"
}

const exec = (cmd: string, args: ReadonlyArray<string>, input?: string) =>
  execFileSync(cmd, [...args], { encoding: "utf8", timeout: 60_000, ...(input !== undefined ? { input } : {}), stdio: ["pipe", "pipe", "pipe"] })

let dir = ""
const passFile = () => path.join(dir, "passphrase")

const sshKeygenOracle = (encrypted: boolean) => (file: string) => exec("ssh-keygen", ["-y", "-P", encrypted ? PASSPHRASE : "", "-f", file]).trim()

/** ssh-keygen 9.2 cannot read PKCS#8 Ed25519: take the raw key from openssl instead. */
const opensslEd25519Oracle = (encrypted: boolean) => (file: string) => {
  const der = execFileSync("openssl", ["pkey", "-in", file, "-pubout", "-outform", "DER", "-passin", `pass:${encrypted ? PASSPHRASE : ""}`], {
    timeout: 30_000
  })
  const raw = der.subarray(der.length - 32)
  const blob = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), raw])
  return `ssh-ed25519 ${blob.toString("base64")}`
}

const puttyOracle = (encrypted: boolean) => (file: string) => {
  exec("puttygen", [file, ...(encrypted ? ["--old-passphrase", passFile()] : []), "-O", "public-openssh", "-o", `${file}.putty.pub`])
  return fs.readFileSync(`${file}.putty.pub`, "utf8").trim()
}

const sshKeygen = (label: string, args: ReadonlyArray<string>, encrypted: boolean): Case => ({
  name: `ssh-keygen ${label}${encrypted ? " encrypted" : ""}`,
  tool: "ssh-keygen",
  encrypted,
  make: (file) => void exec("ssh-keygen", ["-q", "-C", `test ${label}`, "-N", encrypted ? PASSPHRASE : "", ...args, "-f", file]),
  oracle: sshKeygenOracle(encrypted)
})

const types: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["ed25519", ["-t", "ed25519"]],
  ["ecdsa-256", ["-t", "ecdsa", "-b", "256"]],
  ["ecdsa-384", ["-t", "ecdsa", "-b", "384"]],
  ["ecdsa-521", ["-t", "ecdsa", "-b", "521"]],
  ["rsa-2048", ["-t", "rsa", "-b", "2048"]],
  ["rsa-1024", ["-t", "rsa", "-b", "1024"]]
]
const pemTypes = types.filter(([name]) => name !== "ed25519")
// `ssh -Q cipher` on OpenSSH 9.2: every cipher ssh-keygen -Z takes.
const keyCiphers = [
  "3des-cbc",
  "aes128-cbc",
  "aes192-cbc",
  "aes256-cbc",
  "aes128-ctr",
  "aes192-ctr",
  "aes256-ctr",
  "aes128-gcm@openssh.com",
  "aes256-gcm@openssh.com",
  "chacha20-poly1305@openssh.com"
]

const openssl = (label: string, script: (file: string) => void, encrypted: boolean, oracle: Case["oracle"]): Case => ({
  name: `openssl ${label}`,
  tool: "openssl",
  encrypted,
  make: script,
  oracle
})
const genpkey = (algorithm: ReadonlyArray<string>) => execFileSync("openssl", ["genpkey", ...algorithm], { timeout: 60_000 })
const opensslPipe = (file: string, algorithm: ReadonlyArray<string>, convert: ReadonlyArray<string>) =>
  fs.writeFileSync(file, execFileSync("openssl", [...convert], { input: genpkey(algorithm), timeout: 60_000 }), { mode: 0o600 })

const puttygen = (label: string, args: ReadonlyArray<string>, version: 2 | 3, encrypted: boolean): Case => ({
  name: `puttygen ${label} v${version}${encrypted ? " encrypted" : ""}`,
  tool: "puttygen",
  encrypted,
  make: (file) =>
    void exec("puttygen", [
      ...args,
      "-C",
      `putty ${label}`,
      "--new-passphrase",
      encrypted ? passFile() : "/dev/null",
      // Few Argon2 passes keep the suite fast; the parameters are read from the file either way.
      "--ppk-param",
      version === 3 ? "version=3,kdf=argon2id,memory=8192,passes=2,parallelism=1" : "version=2",
      "-o",
      file,
      "-q"
    ]),
  oracle: puttyOracle(encrypted)
})

const cases: ReadonlyArray<Case> = [
  ...types.flatMap(([name, args]) => [sshKeygen(name, args, false), sshKeygen(name, [...args, "-a", "2"], true)]),
  sshKeygen("ed25519 (default 16 bcrypt rounds)", ["-t", "ed25519"], true),
  ...keyCiphers.map((cipher) => sshKeygen(`ed25519 -Z ${cipher}`, ["-t", "ed25519", "-a", "2", "-Z", cipher], true)),
  ...pemTypes.flatMap(([name, args]) => [
    sshKeygen(`${name} -m PEM`, [...args, "-m", "PEM"], false),
    sshKeygen(`${name} -m PEM`, [...args, "-m", "PEM"], true),
    sshKeygen(`${name} -m PKCS8`, [...args, "-m", "PKCS8"], false),
    sshKeygen(`${name} -m PKCS8`, [...args, "-m", "PKCS8"], true)
  ]),
  openssl("ed25519 PKCS#8", (f) => opensslPipe(f, ["-algorithm", "ed25519"], ["pkey"]), false, opensslEd25519Oracle(false)),
  openssl(
    "ed25519 PKCS#8 aes-256-cbc",
    (f) => opensslPipe(f, ["-algorithm", "ed25519"], ["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", `pass:${PASSPHRASE}`]),
    true,
    opensslEd25519Oracle(true)
  ),
  openssl(
    "P-256 PKCS#8 aes-128-cbc hmacWithSHA512",
    (f) =>
      opensslPipe(f, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], [
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-128-cbc",
        "-v2prf",
        "hmacWithSHA512",
        "-passout",
        `pass:${PASSPHRASE}`
      ]),
    true,
    sshKeygenOracle(true)
  ),
  ...["des3", "aes192", "aes256"].flatMap((cipher) => [
    openssl(
      `P-384 SEC1 legacy ${cipher}`,
      (f) => opensslPipe(f, ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"], ["ec", `-${cipher}`, "-passout", `pass:${PASSPHRASE}`]),
      true,
      sshKeygenOracle(true)
    ),
    openssl(
      `RSA PKCS#1 legacy ${cipher}`,
      (f) => opensslPipe(f, ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], ["rsa", "-traditional", `-${cipher}`, "-passout", `pass:${PASSPHRASE}`]),
      true,
      sshKeygenOracle(true)
    )
  ]),
  ...([2, 3] as const).flatMap((version) =>
    [["ed25519", ["-t", "ed25519"]], ["ecdsa-384", ["-t", "ecdsa", "-b", "384"]], ["rsa-2048", ["-t", "rsa", "-b", "2048"]]].flatMap(
      ([name, args]) => [puttygen(name as string, args as Array<string>, version, false), puttygen(name as string, args as Array<string>, version, true)]
    )
  )
]

const readKey = (file: string, passphrase: string | undefined) =>
  Effect.runPromiseExit(
    KeyFile.readFile(file, passphrase === undefined ? {} : { passphrase: Effect.succeed(Redacted.make(passphrase)) }).pipe(Effect.provide(NodeFileSystem.layer))
  )

const failureTag = (exit: Exit.Exit<PrivateKey, unknown>) =>
  Exit.isFailure(exit) && exit.cause._tag === "Fail" ? (exit.cause.error as { _tag: string })._tag : `not a typed failure: ${String(exit)}`

describe.skipIf(!hasTool("ssh-keygen"))("the key matrix, judged by ssh-keygen", () => {
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "key-matrix-"))
    fs.writeFileSync(passFile(), `${PASSPHRASE}\n`, { mode: 0o600 })
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  for (const [i, c] of cases.entries()) {
    it.skipIf(!hasTool(c.tool))(c.name, async () => {
      requireTool(c.tool)
      const file = path.join(dir, `key${i}`)
      c.make(file)
      const expected = c.oracle(file).split(" ").slice(0, 2).join(" ")

      const exit = await readKey(file, c.encrypted ? PASSPHRASE : undefined)
      if (Exit.isFailure(exit)) throw new Error(`${c.name}: ${String(exit.cause)}`)
      const key = exit.value
      expect(PublicKeyText.format(key.publicKey)).toBe(expected)

      const pubFile = path.join(dir, `key${i}.oracle.pub`)
      fs.writeFileSync(pubFile, `${expected}\n`)
      const keygenLine = exec("ssh-keygen", ["-lf", pubFile]).split(" ")
      expect(PublicKey.fingerprintSha256(key.publicKey)).toBe(keygenLine[1])
      const keygenMd5 = exec("ssh-keygen", ["-l", "-E", "md5", "-f", pubFile]).split(" ")
      expect(PublicKey.fingerprintMd5(key.publicKey)).toBe(keygenMd5[1])

      // A signature of ours, judged by ssh-keygen -Y verify.
      const message = `signed by ${c.name}\n`
      const signature = await Effect.runPromise(SshSig.sign(key, "file", new TextEncoder().encode(message)))
      const sigFile = path.join(dir, `key${i}.sig`)
      fs.writeFileSync(sigFile, signature)
      const allowed = path.join(dir, `key${i}.allowed`)
      fs.writeFileSync(allowed, `tester ${expected}\n`)
      exec("ssh-keygen", ["-Y", "verify", "-f", allowed, "-I", "tester", "-n", "file", "-s", sigFile], message)

      if (c.encrypted) {
        const missing = await readKey(file, undefined)
        expect(failureTag(missing)).toBe("PassphraseRequired")
        const wrong = await readKey(file, "not the passphrase")
        expect(failureTag(wrong)).toBe("WrongPassphrase")
        // The public half is still offered: from the file itself or the .pub beside it.
        const offered = Exit.isFailure(missing) && missing.cause._tag === "Fail"
          ? (missing.cause.error as { publicKey?: PublicKey.PublicKey }).publicKey
          : undefined
        if (c.tool === "puttygen" || (c.tool === "ssh-keygen" && fs.existsSync(`${file}.pub`))) {
          expect(offered && PublicKeyText.format(offered)).toBe(expected)
        }
      }
    })
  }
})
