/**
 * Keys both ways with ssh-keygen: a key we write is read by `ssh-keygen -y`, a signature
 * `ssh-keygen -Y sign` makes passes our SSHSIG check, and the key types we refuse are
 * refused with the reason.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as KeyFile from "../../src/keys/KeyFile.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as SshSig from "../../src/keys/SshSig.js"
import { encode } from "../../src/wire/Writer.js"
import { hasTool, requireTool } from "../support/Tools.js"

const exec = (cmd: string, args: ReadonlyArray<string>, input?: string) =>
  execFileSync(cmd, [...args], { encoding: "utf8", timeout: 60_000, stdio: ["pipe", "pipe", "pipe"], ...(input !== undefined ? { input } : {}) })

let dir = ""
const fresh = (name: string, args: ReadonlyArray<string>) => {
  const file = path.join(dir, name)
  exec("ssh-keygen", ["-q", "-N", "", "-C", name, ...args, "-f", file])
  return file
}
const load = (file: string, passphrase?: string) =>
  Effect.runPromise(
    KeyFile.readFile(file, passphrase === undefined ? {} : { passphrase: Effect.succeed(Redacted.make(passphrase)) }).pipe(Effect.provide(NodeFileSystem.layer))
  )
const failure = async (effect: Effect.Effect<unknown, unknown, FileSystem.FileSystem>) => {
  const exit = await Effect.runPromiseExit(Effect.provide(effect, NodeFileSystem.layer))
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit)}`)
  return exit.cause.error as { readonly _tag: string; readonly reason?: string; readonly message: string }
}

const keyTypes: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["ed25519", ["-t", "ed25519"]],
  ["ecdsa-256", ["-t", "ecdsa", "-b", "256"]],
  ["ecdsa-521", ["-t", "ecdsa", "-b", "521"]],
  ["rsa-2048", ["-t", "rsa", "-b", "2048"]]
]

describe.skipIf(!hasTool("ssh-keygen"))("keys both ways with ssh-keygen", () => {
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "key-roundtrip-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  for (const [name, args] of keyTypes) {
    it(`${name}: written plain and encrypted by us, read back by ssh-keygen -y`, async () => {
      const original = await load(fresh(`orig-${name}`, args))
      const expected = PublicKeyText.format(original.publicKey)
      const plain = path.join(dir, `ours-${name}`)
      fs.writeFileSync(plain, OpenSshKeyV1.write(original), { mode: 0o600 })
      expect(exec("ssh-keygen", ["-y", "-f", plain]).trim().split(" ").slice(0, 2).join(" ")).toBe(expected)
      for (const cipher of ["aes256-ctr", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-cbc"]) {
        const file = path.join(dir, `ours-${name}-${cipher}`)
        fs.writeFileSync(file, OpenSshKeyV1.write(original, { passphrase: Redacted.make("round trip"), cipher, rounds: 2 }), { mode: 0o600 })
        expect(exec("ssh-keygen", ["-y", "-P", "round trip", "-f", file]).trim().split(" ").slice(0, 2).join(" ")).toBe(expected)
        // And we read our own file back, comment included.
        const again = await load(file, "round trip")
        expect(PublicKey.equals(again.publicKey, original.publicKey)).toBe(true)
        expect(again.comment).toBe(`orig-${name}`)
      }
    })

    it(`${name}: ssh-keygen -Y sign passes our SSHSIG verify, and a changed message or namespace does not`, async () => {
      const file = fresh(`sig-${name}`, args)
      const message = `a message signed by ssh-keygen with ${name}\n`
      fs.writeFileSync(`${file}.msg`, message)
      exec("ssh-keygen", ["-Y", "sign", "-f", file, "-n", "git", `${file}.msg`])
      const signature = fs.readFileSync(`${file}.msg.sig`, "utf8")
      const verified = await Effect.runPromise(SshSig.verify(signature, new TextEncoder().encode(message), "git"))
      const key = await load(file)
      expect(PublicKey.equals(verified.publicKey, key.publicKey)).toBe(true)
      expect(verified.hashAlgorithm).toBe("sha512")
      const tampered = await failure(SshSig.verify(signature, new TextEncoder().encode(`${message}!`), "git"))
      expect(tampered.reason).toBe("BadSignature")
      const otherNamespace = await failure(SshSig.verify(signature, new TextEncoder().encode(message), "file"))
      expect(otherNamespace.reason).toBe("NamespaceMismatch")
    })
  }

  it("DSA keys are refused with the reason, in openssh-key-v1 and PEM", async () => {
    for (const format of [[], ["-m", "PEM"]]) {
      const file = fresh(`dsa${format.length}`, ["-t", "dsa", ...format])
      const e = await failure(KeyFile.readFile(file))
      expect(e._tag).toBe("KeyFileError")
      expect(e.reason).toBe("UnsupportedKeyType")
      expect(e.message).toMatch(/DSA keys are not supported/)
    }
  })

  it("RSA keys under 1024 bits are refused, as OpenSSH refuses them", async () => {
    const weak = crypto.generateKeyPairSync("rsa", { modulusLength: 768 }).privateKey.export({ format: "pem", type: "pkcs1" }) as string
    const e = await failure(KeyFile.parse(weak, { source: "weak.pem" }))
    expect(e.reason).toBe("UnsupportedKeyType")
    expect(e.message).toMatch(/768-bit RSA key/)
  })

  it("a public key where a private one is wanted is named as such", async () => {
    const file = fresh("pub-not-priv", ["-t", "ed25519"])
    const e = await failure(KeyFile.readFile(`${file}.pub`))
    expect(e.reason).toBe("UnsupportedFormat")
    expect(e.message).toMatch(/this is a public key/)
  })
})

describe("security-key (FIDO) keys", () => {
  const skEd25519Blob = encode((w) => w.string("sk-ssh-ed25519@openssh.com").string(new Uint8Array(32).fill(7)).string("ssh:"))
  const skEcdsaPoint = new Uint8Array(65).fill(1)
  skEcdsaPoint[0] = 4
  const skEcdsaBlob = encode((w) => w.string("sk-ecdsa-sha2-nistp256@openssh.com").string("nistp256").string(skEcdsaPoint).string("ssh:"))

  it("public keys parse, for use through an agent", () => {
    for (const blob of [skEd25519Blob, skEcdsaBlob]) {
      const line = `${new TextDecoder().decode(blob.subarray(4, 4 + blob[3]))} ${Buffer.from(blob).toString("base64")} me@token`
      const key = PublicKeyText.parsePublicKey(line)
      expect(Either.isRight(key)).toBe(true)
      if (Either.isRight(key)) {
        expect(key.right.comment).toBe("me@token")
        expect((key.right as PublicKey.SkEd25519PublicKey).application).toBe("ssh:")
        expect(PublicKey.algorithmsFor(key.right)).toEqual([key.right.type])
      }
    }
  })

  it("a private key file is refused: it needs the FIDO device", async () => {
    // An openssh-key-v1 file holding a security-key handle, as ssh-keygen -t ed25519-sk writes one.
    const section = encode((w) =>
      w.uint32(1).uint32(1).string("sk-ssh-ed25519@openssh.com").string(new Uint8Array(32)).string("ssh:").byte(1).string("handle").string("").string("c")
    )
    const bytes = encode((w) =>
      w.raw(new TextEncoder().encode("openssh-key-v1\0")).string("none").string("none").string("").uint32(1).string(skEd25519Blob).string(section)
    )
    const text = `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.from(bytes).toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`
    const e = await failure(KeyFile.parse(text, { source: "id_ed25519_sk" }))
    expect(e.reason).toBe("UnsupportedKeyType")
    expect(e.message).toMatch(/FIDO/)
  })
})

describe("authorized_keys lines", () => {
  const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq4bTQbzkIPqzZHvm6jhJ4Q7JZs0KD2fXXH3N4Pvt8f"
  it("options, quoted values with commas, spaces and escaped quotes", () => {
    const parsed = PublicKeyText.parseAuthorizedKey(`from="10.0.0.0/8,!10.1.0.0/16",command="echo \\"hi there\\"",no-pty,restrict ${key} admin@host`)
    expect(Either.getOrThrow(parsed).options).toEqual([
      { name: "from", value: "10.0.0.0/8,!10.1.0.0/16" },
      { name: "command", value: "echo \"hi there\"" },
      { name: "no-pty" },
      { name: "restrict" }
    ])
    expect(Either.getOrThrow(parsed).comment).toBe("admin@host")
  })
  it("no options", () => {
    expect(Either.getOrThrow(PublicKeyText.parseAuthorizedKey(`${key} c`)).options).toEqual([])
  })
  it("an unterminated quote is a typed error", () => {
    const parsed = PublicKeyText.parseAuthorizedKey(`command="oops ${key}`)
    expect(Either.isLeft(parsed) && parsed.left.reason).toBe("Malformed")
  })
})
