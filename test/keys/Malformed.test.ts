/**
 * Malformed input, by property: every format, truncated and bit-flipped by fast-check, gives
 * a value or a typed error. Never a thrown exception, a defect or a hang (the KDF limits are
 * set low so that a flipped cost field cannot make one run long).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import fc from "fast-check"
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AllowedSigners from "../../src/keys/AllowedSigners.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as KeyFile from "../../src/keys/KeyFile.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as SshSig from "../../src/keys/SshSig.js"
import { hasTool, requireTool } from "../support/Tools.js"

const PASSPHRASE = "fuzz passphrase"
const RUNS = 120
const limits = { bcryptRounds: 16, argon2MemoryKiB: 16384, argon2Passes: 8, pbkdf2Iterations: 100_000 }
const typedErrors = new Set(["KeyFileError", "PassphraseRequired", "WrongPassphrase"])

/** Armour around bytes, the way each PEM-like format has it. */
const armoured = (text: string) => {
  const m = /^([\s\S]*?-----BEGIN [A-Z0-9 ]+-----\n(?:[A-Za-z-]+:.*\n)*\n?)([A-Za-z0-9+/=\n]+)(-----END [\s\S]*)$/.exec(text)
  if (!m) throw new Error(`not armoured: ${text.slice(0, 40)}`)
  return { head: m[1], body: new Uint8Array(Buffer.from(m[2].replace(/\n/g, ""), "base64")), tail: m[3] }
}
const rearmour = (a: ReturnType<typeof armoured>, body: Uint8Array) => `${a.head}${Buffer.from(body).toString("base64").replace(/.{64}/g, "$&\n")}\n${a.tail}`

/** Truncate the bytes, or flip one to eight bits in them. */
const mutation = (length: number) =>
  fc.oneof(
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat({ max: Math.max(0, length - 1) }) }),
    fc.record({
      kind: fc.constant("flip" as const),
      flips: fc.array(fc.record({ at: fc.nat({ max: Math.max(0, length - 1) }), bit: fc.nat({ max: 7 }) }), { minLength: 1, maxLength: 8 })
    })
  )
type Mutation = { readonly kind: "truncate"; readonly at: number } | {
  readonly kind: "flip"
  readonly flips: ReadonlyArray<{ readonly at: number; readonly bit: number }>
}
const mutate = (bytes: Uint8Array, m: Mutation): Uint8Array => {
  if (m.kind === "truncate") return bytes.slice(0, m.at)
  const out = bytes.slice()
  for (const f of m.flips) out[f.at] ^= 1 << f.bit
  return out
}

/** Runs the reader and insists on a value or one of the typed errors; answers which. */
const readsCleanly = async (text: string): Promise<string> => {
  const exit = await Effect.runPromiseExit(KeyFile.parse(text, { source: "fuzzed", passphrase: Effect.succeed(Redacted.make(PASSPHRASE)), kdfLimits: limits }))
  if (Exit.isSuccess(exit)) return "Success"
  if (exit.cause._tag !== "Fail") throw new Error(`not a typed failure: ${String(exit.cause)}`)
  const tag = (exit.cause.error as { _tag: string })._tag
  expect(typedErrors).toContain(tag)
  return tag
}

const samples = new Map<string, string>()

beforeAll(async () => {
  const ed = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32), "fuzz")
  const ec = PrivateKey.fromKeyObject(nodeCurves, crypto.generateKeyPairSync("ec", { namedCurve: "P-384" }).privateKey, "fuzz")
  const rsa = crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey
  samples.set("openssh-key-v1 plain", OpenSshKeyV1.write(ec))
  for (const cipher of ["aes256-ctr", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-cbc"]) {
    samples.set(`openssh-key-v1 encrypted ${cipher}`, OpenSshKeyV1.write(ed, { passphrase: Redacted.make(PASSPHRASE), cipher, rounds: 1 }))
  }
  samples.set("PKCS#1", rsa.export({ format: "pem", type: "pkcs1" }) as string)
  samples.set("PKCS#1 legacy encrypted", rsa.export({ format: "pem", type: "pkcs1", cipher: "aes-128-cbc", passphrase: PASSPHRASE }) as string)
  const ecKey = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey
  samples.set("SEC1", ecKey.export({ format: "pem", type: "sec1" }) as string)
  samples.set("PKCS#8", ecKey.export({ format: "pem", type: "pkcs8" }) as string)
  samples.set("PKCS#8 encrypted", ecKey.export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: PASSPHRASE }) as string)
})

describe("private key files, truncated and bit-flipped", () => {
  it("every armoured format: a key or a typed error", async () => {
    for (const [name, text] of samples) {
      const a = armoured(text)
      const seen = new Set<string>()
      await fc.assert(
        fc.asyncProperty(mutation(a.body.length), async (m) => {
          seen.add(await readsCleanly(rearmour(a, mutate(a.body, m))))
        }),
        { numRuns: RUNS, seed: 42, endOnFailure: true }
      ).catch((e) => {
        throw new Error(`${name}: ${(e as Error).message}`)
      })
      // The mutations reach past the armour: structural damage is seen, and for encrypted
      // keys so is damage that only the decryption can notice.
      expect([name, seen.has("KeyFileError")]).toEqual([name, true])
      if (name.includes("encrypted")) expect([name, seen.has("WrongPassphrase")]).toEqual([name, true])
    }
  }, 120_000)

  it("the text itself cut anywhere", async () => {
    for (const text of samples.values()) {
      await fc.assert(
        fc.asyncProperty(fc.nat({ max: text.length }), async (at) => {
          await readsCleanly(text.slice(0, at))
        }),
        { numRuns: 40, seed: 7 }
      )
    }
  }, 60_000)

  it.skipIf(!hasTool("puttygen"))("PuTTY v2 and v3 files: every character position may be changed", async () => {
    requireTool("puttygen")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fuzz-ppk-"))
    try {
      fs.writeFileSync(path.join(dir, "pass"), `${PASSPHRASE}\n`)
      for (const version of ["version=2", "version=3,kdf=argon2id,memory=1024,passes=1,parallelism=1"]) {
        const file = path.join(dir, "k.ppk")
        execFileSync("puttygen", ["-t", "ed25519", "--new-passphrase", path.join(dir, "pass"), "--ppk-param", version, "-o", file, "-q"], { timeout: 60_000 })
        const text = fs.readFileSync(file, "utf8")
        await fc.assert(
          fc.asyncProperty(fc.nat({ max: text.length - 1 }), fc.constantFrom("A", "0", "\n", " ", ":", "z", "9", "-"), async (at, ch) => {
            await readsCleanly(text.slice(0, at) + ch + text.slice(at + 1))
          }),
          { numRuns: RUNS, seed: 3 }
        )
        await fc.assert(
          fc.asyncProperty(fc.nat({ max: text.length }), async (at) => {
            await readsCleanly(text.slice(0, at))
          }),
          { numRuns: 40, seed: 4 }
        )
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})

describe("public keys, certificates and signatures, truncated and bit-flipped", () => {
  /** A pure parser must return an Either and never throw. */
  const neverThrows = <A, E>(f: (bytes: Uint8Array) => Either.Either<A, E>, sample: Uint8Array) =>
    fc.assert(
      fc.property(mutation(sample.length), (m) => {
        const result = f(mutate(sample, m))
        expect(Either.isEither(result)).toBe(true)
      }),
      { numRuns: 300, seed: 11 }
    )

  it("public key blobs, .pub lines and authorized_keys lines", () => {
    for (const type of ["ed25519", "P-256", "rsa"] as const) {
      const key = type === "ed25519"
        ? PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
        : PrivateKey.fromKeyObject(
          nodeCurves,
          type === "rsa"
            ? crypto.generateKeyPairSync("rsa", { modulusLength: 1024 }).privateKey
            : crypto.generateKeyPairSync("ec", { namedCurve: type }).privateKey
        )
      neverThrows(PublicKey.fromBlob, key.publicKey.blob)
      const line = `command="x",no-pty ${PublicKeyText.format(key.publicKey, "c")}`
      neverThrows((b) => PublicKeyText.parseAuthorizedKey(Buffer.from(b).toString("latin1")), new TextEncoder().encode(line))
      neverThrows((b) => PublicKeyText.parsePublicKey(Buffer.from(b).toString("latin1")), new TextEncoder().encode(PublicKeyText.format(key.publicKey, "c")))
      neverThrows(
        (b) => AllowedSigners.parse(Buffer.from(b).toString("latin1")),
        new TextEncoder().encode(`a@b namespaces="git" ${PublicKeyText.format(key.publicKey)}`)
      )
    }
  })

  it.skipIf(!hasTool("ssh-keygen"))("certificates: parsing and checking never throw", () => {
    requireTool("ssh-keygen")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fuzz-cert-"))
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "ca")], { timeout: 30_000 })
      execFileSync("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-f", path.join(dir, "k")], { timeout: 30_000 })
      execFileSync("ssh-keygen", ["-q", "-s", path.join(dir, "ca"), "-I", "id", "-n", "a,b", "-O", "force-command=ls", path.join(dir, "k.pub")], {
        timeout: 30_000
      })
      const line = fs.readFileSync(path.join(dir, "k-cert.pub"), "utf8")
      const blob = Either.getOrThrowWith(PublicKeyText.parseLine(line), (e) => e).blob
      neverThrows(
        (b) => Either.flatMap(Certificate.fromBlob(b), (c) => Either.mapLeft(Certificate.check(nodeCurves, c, { now: Date.now() / 1000 }), (e) => e)),
        blob
      )
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it("SSHSIG signatures: a verdict or a typed error", async () => {
    const key = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
    const message = new TextEncoder().encode("fuzz me")
    const a = armoured(await Effect.runPromise(SshSig.sign(key, "file", message)))
    await fc.assert(
      fc.asyncProperty(mutation(a.body.length), async (m) => {
        const exit = await Effect.runPromiseExit(SshSig.verify(rearmour(a, mutate(a.body, m)), message, "file"))
        if (Exit.isFailure(exit)) {
          expect(exit.cause._tag).toBe("Fail")
          expect(exit.cause._tag === "Fail" && exit.cause.error._tag).toBe("SshSigError")
        }
      }),
      { numRuns: 300, seed: 5 }
    )
  })
})
