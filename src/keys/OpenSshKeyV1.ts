/**
 * The openssh-key-v1 private key format (OpenSSH's PROTOCOL.key), read and written:
 * `ssh-keygen`'s default since 7.8. Encrypted files use the bcrypt KDF and any cipher
 * `ssh-keygen -Z` offers. The header carries the public key in the clear, so an encrypted
 * file still tells which key it is before the passphrase is asked for.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { bcryptPbkdf } from "../crypto/BcryptPbkdf.js"
import { chacha20 } from "../crypto/ChaCha20.js"
import { poly1305 } from "../crypto/Poly1305.js"
import { decode } from "../wire/Reader.js"
import type { WireError } from "../wire/WireError.js"
import { encode } from "../wire/Writer.js"
import { KeyError, unsupportedKeyType } from "./KeyError.js"
import { type PrivateKey, readBody, writeBody } from "./PrivateKey.js"
import { fromKeyError, KeyFileError, PassphraseRequired, WrongPassphrase } from "./PrivateKeyError.js"
import * as PublicKey from "./PublicKey.js"
import { kdfLimits, type KeyReader } from "./ReadOptions.js"

const MAGIC = new TextEncoder().encode("openssh-key-v1\0")
const LABEL = "OPENSSH PRIVATE KEY"

/** How one cipher encrypts the private section. `open` answers undefined when the tag is wrong. */
interface SectionCipher {
  readonly keyLength: number
  readonly ivLength: number
  readonly blockSize: number
  readonly tagLength: number
  seal(key: Uint8Array, iv: Uint8Array, data: Uint8Array): { readonly data: Uint8Array; readonly tag: Uint8Array }
  open(key: Uint8Array, iv: Uint8Array, data: Uint8Array, tag: Uint8Array): Uint8Array | undefined
}

const unauthenticated = (node: string, keyLength: number, ivLength: number, blockSize: number): SectionCipher => {
  const run = (mode: "cipher" | "decipher", key: Uint8Array, iv: Uint8Array, data: Uint8Array) => {
    const c = mode === "cipher" ? crypto.createCipheriv(node, key, iv) : crypto.createDecipheriv(node, key, iv)
    c.setAutoPadding(false)
    return new Uint8Array(Buffer.concat([c.update(data), c.final()]))
  }
  return {
    keyLength,
    ivLength,
    blockSize,
    tagLength: 0,
    seal: (key, iv, data) => ({ data: run("cipher", key, iv, data), tag: new Uint8Array(0) }),
    open: (key, iv, data) => run("decipher", key, iv, data)
  }
}

const gcm = (bits: 128 | 256): SectionCipher => {
  const node = `aes-${bits}-gcm` as const
  return {
    keyLength: bits / 8,
    ivLength: 12,
    blockSize: 16,
    tagLength: 16,
    seal(key, iv, data) {
      const c = crypto.createCipheriv(node, key, iv)
      const out = Buffer.concat([c.update(data), c.final()])
      return { data: new Uint8Array(out), tag: new Uint8Array(c.getAuthTag()) }
    },
    open(key, iv, data, tag) {
      const d = crypto.createDecipheriv(node, key, iv)
      d.setAuthTag(tag)
      try {
        return new Uint8Array(Buffer.concat([d.update(data), d.final()]))
      } catch {
        return undefined
      }
    }
  }
}

// Sequence number 0 and no length header: the first 32 bytes of the key do all the work.
const chachaPoly: SectionCipher = {
  keyLength: 64,
  ivLength: 0,
  blockSize: 8,
  tagLength: 16,
  seal(key, _iv, data) {
    const main = key.subarray(0, 32)
    const out = new Uint8Array(chacha20(main, 0, 1, data))
    return { data: out, tag: poly1305(chacha20(main, 0, 0, new Uint8Array(32)), out) }
  },
  open(key, _iv, data, tag) {
    const main = key.subarray(0, 32)
    const expected = poly1305(chacha20(main, 0, 0, new Uint8Array(32)), data)
    return crypto.timingSafeEqual(expected, tag) ? new Uint8Array(chacha20(main, 0, 1, data)) : undefined
  }
}

/**
 * The ciphers `ssh-keygen -Z` can protect a key with.
 *
 * @since 0.1.0
 * @category constants
 */
export const ciphers: Readonly<Record<string, SectionCipher>> = {
  "aes128-ctr": unauthenticated("aes-128-ctr", 16, 16, 16),
  "aes192-ctr": unauthenticated("aes-192-ctr", 24, 16, 16),
  "aes256-ctr": unauthenticated("aes-256-ctr", 32, 16, 16),
  "aes128-cbc": unauthenticated("aes-128-cbc", 16, 16, 16),
  "aes192-cbc": unauthenticated("aes-192-cbc", 24, 16, 16),
  "aes256-cbc": unauthenticated("aes-256-cbc", 32, 16, 16),
  "3des-cbc": unauthenticated("des-ede3-cbc", 24, 8, 8),
  "aes128-gcm@openssh.com": gcm(128),
  "aes256-gcm@openssh.com": gcm(256),
  "chacha20-poly1305@openssh.com": chachaPoly
}

const bcryptKdf = (passphrase: Redacted.Redacted<string>, salt: Uint8Array, rounds: number, length: number): Uint8Array => {
  const pass = Buffer.from(Redacted.value(passphrase), "utf8")
  const out = bcryptPbkdf(pass, salt, rounds, length)
  pass.fill(0)
  return out
}

/**
 * Whether `text` looks like an openssh-key-v1 file.
 *
 * @since 0.1.0
 * @category parsing
 */
export const isOpenSshKeyV1 = (text: string): boolean => text.includes(`-----BEGIN ${LABEL}-----`)

interface Outer {
  readonly cipher: string
  readonly kdf: string
  readonly kdfOptions: Uint8Array
  readonly publicBlob: Uint8Array
  readonly section: Uint8Array
  readonly tag: Uint8Array
}

/**
 * Reads an openssh-key-v1 private key from its PEM-armoured text.
 *
 * @since 0.1.0
 * @category parsing
 */
export const read: KeyReader = (text, options) =>
  Effect.gen(function*() {
    const { source } = options
    const format = "openssh-key-v1" as const
    const malformed = (detail: string, cause?: unknown) => new KeyFileError({ reason: "Malformed", source, format, detail, ...(cause ? { cause } : {}) })
    const match = new RegExp(`-----BEGIN ${LABEL}-----([\\s\\S]*?)-----END ${LABEL}-----`).exec(text)
    if (!match) return yield* malformed("no BEGIN/END OPENSSH PRIVATE KEY armour")
    const body = match[1].replace(/\s+/g, "")
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return yield* malformed("the armoured body is not base64")
    const bytes = new Uint8Array(Buffer.from(body, "base64"))
    if (bytes.length < MAGIC.length || !MAGIC.every((b, i) => bytes[i] === b)) {
      return yield* malformed("missing the openssh-key-v1 magic")
    }
    const outer = yield* Either.mapLeft(
      decode(bytes.subarray(MAGIC.length), (r): Outer => {
        const cipher = r.text("ciphername")
        const kdf = r.text("kdfname")
        const kdfOptions = r.string("kdfoptions")
        const count = r.uint32("number of keys")
        if (count !== 1) r.fail("number of keys", `expected 1 key, found ${count}`)
        const publicBlob = r.string("public key")
        const section = r.string("private section")
        const tag = r.raw(ciphers[cipher]?.tagLength ?? 0, "authentication tag")
        r.end("openssh-key-v1 file")
        return { cipher, kdf, kdfOptions, publicBlob, section, tag }
      }),
      (e) => malformed(e.message, e)
    )
    const publicKey = yield* Either.mapLeft(PublicKey.fromBlob(outer.publicBlob), (e) => fromKeyError(source, format, e))
    if (publicKey._tag === "SkEd25519" || publicKey._tag === "SkEcdsa") {
      return yield* fromKeyError(source, format, unsupportedKeyType(publicKey.type))
    }

    let section = outer.section
    if (outer.cipher !== "none" || outer.kdf !== "none") {
      const cipher = ciphers[outer.cipher]
      if (!cipher) return yield* new KeyFileError({ reason: "UnsupportedFormat", source, format, detail: `unknown cipher ${outer.cipher}` })
      if (outer.kdf !== "bcrypt") return yield* new KeyFileError({ reason: "UnsupportedFormat", source, format, detail: `unknown KDF ${outer.kdf}` })
      if (section.length % cipher.blockSize !== 0) return yield* malformed(`private section is not a multiple of the ${cipher.blockSize}-byte block`)
      const passphrase = options.passphrase ? yield* options.passphrase : undefined
      if (passphrase === undefined) return yield* new PassphraseRequired({ source, format, publicKey })
      const { rounds, salt } = yield* Either.mapLeft(
        decode(outer.kdfOptions, (r) => {
          const salt = r.string("bcrypt salt")
          const rounds = r.uint32("bcrypt rounds")
          r.end("kdfoptions")
          return { salt, rounds }
        }),
        (e) => malformed(e.message, e)
      )
      if (salt.length === 0 || rounds === 0) return yield* malformed("bcrypt salt and rounds must not be empty")
      const maxRounds = kdfLimits(options).bcryptRounds
      if (rounds > maxRounds) {
        return yield* new KeyFileError({
          reason: "UnsupportedFormat",
          source,
          format,
          detail: `the key asks for ${rounds} bcrypt rounds, more than the limit of ${maxRounds} (raise kdfLimits.bcryptRounds to read it)`
        })
      }
      const derived = bcryptKdf(passphrase, salt, rounds, cipher.keyLength + cipher.ivLength)
      const opened = cipher.open(derived.subarray(0, cipher.keyLength), derived.subarray(cipher.keyLength), section, outer.tag)
      derived.fill(0)
      if (opened === undefined) return yield* new WrongPassphrase({ source, format, publicKey })
      section = opened
    }
    const parsed = readSection(section)
    if (outer.cipher !== "none") section.fill(0)
    if (Either.isLeft(parsed)) {
      const e = parsed.left
      return yield* e instanceof KeyError ? fromKeyError(source, format, e) : malformed(e.message, e)
    }
    if (parsed.right === undefined) {
      return yield* outer.cipher === "none"
        ? malformed("check integers differ")
        : new WrongPassphrase({ source, format, publicKey })
    }
    if (!PublicKey.equals(parsed.right.publicKey, publicKey)) return yield* malformed("the private key does not match the public key in the header")
    return parsed.right
  })

/** The decrypted private section: check integers, key, comment, padding. Undefined when the check integers differ. */
const readSection = (section: Uint8Array): Either.Either<PrivateKey | undefined, WireError | KeyError> => {
  try {
    return decode(section, (r) => {
      const check1 = r.uint32("check1")
      const check2 = r.uint32("check2")
      if (check1 !== check2) return undefined
      const key = readBody(r)
      const comment = r.text("comment")
      const padding = r.rest()
      if (!padding.every((b, i) => b === ((i + 1) & 0xff))) r.fail("padding", "padding bytes are not 1, 2, 3…")
      return key.withComment(comment)
    })
  } catch (e) {
    // readBody throws KeyError for the types we do not load (DSA, security keys).
    if (e instanceof KeyError) return Either.left(e)
    throw e
  }
}

/**
 * How to write a key. Without a passphrase the key is written in the clear.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions {
  readonly passphrase?: Redacted.Redacted<string>
  /** Default aes256-ctr, as ssh-keygen. */
  readonly cipher?: string
  /** bcrypt rounds. Default 16, as ssh-keygen. */
  readonly rounds?: number
}

/**
 * Writes a key as openssh-key-v1 text that `ssh-keygen` reads. Throws RangeError for an
 * unknown cipher or rounds below 1.
 *
 * @since 0.1.0
 * @category encoding
 */
export const write = (key: PrivateKey, options: WriteOptions = {}): string => {
  const encrypted = options.passphrase !== undefined
  const cipherName = encrypted ? options.cipher ?? "aes256-ctr" : "none"
  const cipher = encrypted ? ciphers[cipherName] : undefined
  if (encrypted && !cipher) throw new RangeError(`unknown cipher ${cipherName}`)
  const rounds = options.rounds ?? 16
  if (encrypted && !(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`bcrypt rounds must be a positive integer, got ${rounds}`)
  const salt = crypto.randomBytes(16)
  const check = crypto.randomBytes(4).readUInt32BE(0)
  const blockSize = cipher?.blockSize ?? 8
  const plain = encode((w) => {
    w.uint32(check).uint32(check)
    writeBody(w, key).string(key.comment)
    for (let i = 1; (w.length % blockSize) !== 0; i++) w.byte(i)
  })
  let section = plain
  let tag: Uint8Array = new Uint8Array(0)
  if (cipher) {
    const derived = bcryptKdf(options.passphrase!, salt, rounds, cipher.keyLength + cipher.ivLength)
    const sealed = cipher.seal(derived.subarray(0, cipher.keyLength), derived.subarray(cipher.keyLength), plain)
    derived.fill(0)
    plain.fill(0)
    section = sealed.data
    tag = sealed.tag
  }
  const bytes = encode((w) =>
    w.raw(MAGIC)
      .string(cipherName)
      .string(encrypted ? "bcrypt" : "none")
      .string(encrypted ? encode((o) => o.string(salt).uint32(rounds)) : new Uint8Array(0))
      .uint32(1)
      .string(key.publicKey.blob)
      .string(section)
      .raw(tag)
  )
  const b64 = Buffer.from(bytes).toString("base64").replace(/.{70}/g, "$&\n").replace(/\n$/, "")
  return `-----BEGIN ${LABEL}-----\n${b64}\n-----END ${LABEL}-----\n`
}
