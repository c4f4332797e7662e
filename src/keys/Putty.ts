/**
 * PuTTY private key files (`.ppk`), versions 2 and 3, per PuTTY's documentation (appendix C,
 * "PPK file format"). The public half is in the clear; the private half is aes256-cbc
 * encrypted when there is a passphrase and is always covered by a MAC, which is how a wrong
 * passphrase is told apart from a damaged file:
 * - v2: key from SHA-1 of the passphrase, zero IV, HMAC-SHA-1;
 * - v3: key, IV and MAC key from Argon2 (id, i or d), HMAC-SHA-256.
 *
 * @since 0.1.0
 */
import { argon2d, argon2i, argon2id } from "@noble/hashes/argon2.js"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { type Curves, CurvesImpl } from "../crypto/Curves.js"
import { decode } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { KeyError, unsupportedKeyType } from "./KeyError.js"
import { fromEcdsaScalar, fromEd25519Seed, fromRsaKeyObject, type PrivateKey, rsaKeyObject } from "./PrivateKey.js"
import { fromKeyError, KeyFileError, type KeyFormat, PassphraseRequired, WrongPassphrase } from "./PrivateKeyError.js"
import * as PublicKey from "./PublicKey.js"
import { type KdfLimits, kdfLimits, type KeyReader } from "./ReadOptions.js"

/**
 * Whether `text` is a PuTTY key file.
 *
 * @since 0.1.0
 * @category parsing
 */
export const isPutty = (text: string): boolean => /^PuTTY-User-Key-File-\d+:/.test(text.trimStart())

/**
 * The Comment header of a PuTTY key file: in the clear, even when the key is encrypted.
 *
 * @since 0.1.0
 * @category parsing
 */
export const comment = (text: string): string => /^Comment: ?(.*)$/m.exec(text.replace(/\r/g, ""))?.[1] ?? ""

interface PpkFile {
  readonly version: 2 | 3
  readonly algorithm: string
  readonly encryption: string
  readonly comment: string
  readonly publicBlob: Uint8Array
  readonly privateBlob: Uint8Array
  readonly mac: Uint8Array
  readonly headers: ReadonlyMap<string, string>
}

/** Reads the `Name: value` headers and the two base64 sections. */
const parseFile = (text: string): Either.Either<PpkFile, string> => {
  const lines = text.replace(/\r/g, "").split("\n")
  const headers = new Map<string, string>()
  const blobs = new Map<string, Uint8Array>()
  let version: 2 | 3 | undefined
  let algorithm = ""
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line.trim() === "") continue
    const m = /^([A-Za-z0-9-]+): ?(.*)$/.exec(line)
    if (!m) return Either.left(`line ${i + 1} is not a "Name: value" header`)
    const [, name, value] = m
    const fileVersion = /^PuTTY-User-Key-File-(\d+)$/.exec(name)
    if (fileVersion) {
      if (fileVersion[1] !== "2" && fileVersion[1] !== "3") return Either.left(`PuTTY key file version ${fileVersion[1]} is not supported (2 and 3 are)`)
      version = fileVersion[1] === "2" ? 2 : 3
      algorithm = value
      continue
    }
    const section = /^(Public|Private)-Lines$/.exec(name)
    if (section) {
      const count = Number(value)
      if (!Number.isInteger(count) || count < 0 || i + count >= lines.length + 1 || count > 1000) return Either.left(`bad ${name}: ${value}`)
      const body = lines.slice(i + 1, i + 1 + count).join("")
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return Either.left(`${section[1]} section is not base64`)
      blobs.set(section[1], new Uint8Array(Buffer.from(body, "base64")))
      i += count
      continue
    }
    headers.set(name, value)
  }
  if (version === undefined) return Either.left("no PuTTY-User-Key-File header")
  const publicBlob = blobs.get("Public")
  const privateBlob = blobs.get("Private")
  const mac = headers.get("Private-MAC")
  if (!publicBlob || !privateBlob || !mac || !/^[0-9a-fA-F]+$/.test(mac)) return Either.left("missing Public-Lines, Private-Lines or Private-MAC")
  return Either.right({
    version,
    algorithm,
    encryption: headers.get("Encryption") ?? "",
    comment: headers.get("Comment") ?? "",
    publicBlob,
    privateBlob,
    mac: new Uint8Array(Buffer.from(mac, "hex")),
    headers
  })
}

interface Keys {
  readonly cipherKey: Uint8Array
  readonly iv: Uint8Array
  readonly macKey: Uint8Array
  readonly macHash: "sha1" | "sha256"
}

const argon2 = { Argon2id: argon2id, Argon2i: argon2i, Argon2d: argon2d } as const

/** The cipher key, IV and MAC key, from the passphrase ("" for an unencrypted file). */
const deriveKeys = (file: PpkFile, passphrase: string, limits: Required<KdfLimits>): Either.Either<Keys, string> => {
  const pass = Buffer.from(passphrase, "utf8")
  if (file.version === 2) {
    const sha1 = (...parts: Array<Uint8Array>) => crypto.createHash("sha1").update(Buffer.concat(parts)).digest()
    const cipherKey = Buffer.concat([sha1(Buffer.from([0, 0, 0, 0]), pass), sha1(Buffer.from([0, 0, 0, 1]), pass)]).subarray(0, 32)
    const macKey = sha1(Buffer.from("putty-private-key-file-mac-key"), pass)
    return Either.right({ cipherKey, iv: new Uint8Array(16), macKey, macHash: "sha1" })
  }
  if (file.encryption === "none") return Either.right({ cipherKey: new Uint8Array(0), iv: new Uint8Array(0), macKey: new Uint8Array(0), macHash: "sha256" })
  const kdf = argon2[file.headers.get("Key-Derivation") as keyof typeof argon2]
  if (!kdf) return Either.left(`unknown Key-Derivation ${file.headers.get("Key-Derivation")}`)
  const number = (name: string, max: number) => {
    const v = Number(file.headers.get(name))
    return Number.isInteger(v) && v >= 1 && v <= max ? v : undefined
  }
  const m = number("Argon2-Memory", limits.argon2MemoryKiB)
  const t = number("Argon2-Passes", limits.argon2Passes)
  const p = number("Argon2-Parallelism", 255)
  const salt = file.headers.get("Argon2-Salt")
  if (!m || !t || !p || !salt || !/^([0-9a-fA-F]{2})+$/.test(salt)) {
    return Either.left(
      `missing or out-of-range Argon2 parameters (the limits are ${limits.argon2MemoryKiB} KiB and ${limits.argon2Passes} passes: raise kdfLimits to read a costlier file)`
    )
  }
  const out = kdf(pass, Buffer.from(salt, "hex"), { m, t, p, dkLen: 80, maxmem: 2 ** 31 })
  return Either.right({ cipherKey: out.subarray(0, 32), iv: out.subarray(32, 48), macKey: out.subarray(48, 80), macHash: "sha256" })
}

/** The private fields, in PuTTY's own layout (not OpenSSH's). Throws WireError or KeyError. */
const readPrivate = (curves: Curves, pub: PublicKey.PublicKey, blob: Uint8Array, comment: string): PrivateKey => {
  const parsed = decode(blob, (r) => {
    switch (pub._tag) {
      case "Ed25519":
        return fromEd25519Seed(curves, r.string("ed25519 private key"), comment)
      case "Ecdsa":
        return fromEcdsaScalar(curves, pub.curve, r.mpintUnsigned("ecdsa private scalar"), comment)
      case "Rsa": {
        const d = r.mpintUnsigned("rsa d")
        const p = r.mpintUnsigned("rsa p")
        const q = r.mpintUnsigned("rsa q")
        const iqmp = r.mpintUnsigned("rsa iqmp")
        return fromRsaKeyObject(rsaKeyObject({ n: pub.n, e: pub.e, d, p, q, iqmp }), comment)
      }
      default:
        throw unsupportedKeyType(pub.type)
    }
  })
  if (Either.isLeft(parsed)) throw parsed.left
  const key = parsed.right
  if (!PublicKey.equals(key.publicKey, pub)) {
    throw new KeyError({ reason: "Malformed", keyType: pub.type, detail: "the private key does not match the public key" })
  }
  return key
}

/**
 * Reads a PuTTY `.ppk` file, version 2 or 3.
 *
 * @since 0.1.0
 * @category parsing
 */
export const read: KeyReader = (text, options) =>
  Effect.gen(function*() {
    const { source } = options
    const parsedFile = parseFile(text)
    const version: KeyFormat = /^\s*PuTTY-User-Key-File-3/.test(text) ? "PuTTY v3" : "PuTTY v2"
    const malformed = (detail: string, cause?: unknown) =>
      new KeyFileError({ reason: "Malformed", source, format: version, detail, ...(cause ? { cause } : {}) })
    if (Either.isLeft(parsedFile)) return yield* malformed(parsedFile.left)
    const file = parsedFile.right
    const format: KeyFormat = file.version === 3 ? "PuTTY v3" : "PuTTY v2"
    const publicKey = yield* Either.mapLeft(PublicKey.fromBlob(file.publicBlob), (e) => fromKeyError(source, format, e))
    if (publicKey.type !== file.algorithm) return yield* malformed(`header says ${file.algorithm} but the public key is ${publicKey.type}`)
    if (file.encryption !== "none" && file.encryption !== "aes256-cbc") {
      return yield* new KeyFileError({ reason: "UnsupportedFormat", source, format, detail: `unknown encryption ${file.encryption}` })
    }
    const encrypted = file.encryption === "aes256-cbc"
    let passphrase = ""
    if (encrypted) {
      const given = options.passphrase ? yield* options.passphrase : undefined
      if (given === undefined) return yield* new PassphraseRequired({ source, format, publicKey })
      passphrase = Redacted.value(given)
      if (file.privateBlob.length % 16 !== 0) return yield* malformed("private section is not a multiple of the AES block")
    }
    const keys = yield* Either.mapLeft(deriveKeys(file, passphrase, kdfLimits(options)), (detail) => malformed(detail))
    let privateBlob = file.privateBlob
    if (encrypted) {
      const d = crypto.createDecipheriv("aes-256-cbc", keys.cipherKey, keys.iv)
      d.setAutoPadding(false)
      privateBlob = new Uint8Array(Buffer.concat([d.update(privateBlob), d.final()]))
    }
    const macData = encode((w) => w.string(file.algorithm).string(file.encryption).string(file.comment).string(file.publicBlob).string(privateBlob))
    const mac = crypto.createHmac(keys.macHash, keys.macKey).update(macData).digest()
    if (mac.length !== file.mac.length || !crypto.timingSafeEqual(mac, file.mac)) {
      return yield* encrypted ? new WrongPassphrase({ source, format, publicKey }) : malformed("Private-MAC does not match: the file is damaged")
    }
    const curves = yield* CurvesImpl
    return yield* Effect.try({
      try: () => readPrivate(curves, publicKey, privateBlob, file.comment),
      catch: (e) => e instanceof KeyError ? fromKeyError(source, format, e) : malformed(String(e), e)
    })
  })
