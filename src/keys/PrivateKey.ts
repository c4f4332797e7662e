/**
 * Private keys and signers. A `Signer` is anything that can produce an SSH signature blob
 * for a public key: an in-memory key here, an agent key later.
 *
 * This module reads the openssh-key-v1 format (what `ssh-keygen` writes by default): ed25519,
 * ecdsa and rsa keys, plain or encrypted with bcrypt-pbkdf and aes256-ctr/aes128-ctr.
 *
 * @since 0.1.0
 */
import { pbkdf } from "bcrypt-pbkdf"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import { CurvesImpl, type Curves } from "../crypto/Curves.js"
import { type Reader, decode } from "../wire/Reader.js"
import { encode } from "../wire/Writer.js"
import { KeyError } from "./KeyError.js"
import * as PublicKey from "./PublicKey.js"

/**
 * A private key could not be loaded. Never carries key material or the passphrase.
 *
 * @since 0.1.0
 * @category errors
 */
export class PrivateKeyError extends Schema.TaggedError<PrivateKeyError>()("PrivateKeyError", {
  reason: Schema.Literal("PassphraseRequired", "WrongPassphrase", "UnsupportedFormat", "Malformed", "Unreadable"),
  /** Where the key came from: a path or a label. */
  source: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.source}: ${this.detail}`
  }
}

/**
 * Signs data for one public key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Signer {
  readonly publicKey: PublicKey.PublicKey
  /** A signature blob (`string algorithm, string signature`) over `data`. */
  sign(algorithm: string, data: Uint8Array): Effect.Effect<Uint8Array, KeyError>
}

type Material =
  | { readonly _tag: "Ed25519"; readonly seed: Uint8Array }
  | { readonly _tag: "Ecdsa"; readonly d: Uint8Array }
  | { readonly _tag: "Rsa"; readonly key: crypto.KeyObject }

/**
 * A decrypted private key. Its string and JSON forms show the public half only.
 *
 * @since 0.1.0
 * @category models
 */
export class PrivateKey implements Signer {
  /** @internal */
  constructor(
    readonly publicKey: PublicKey.PublicKey,
    readonly comment: string,
    private readonly material: Material
  ) {}

  sign(algorithm: string, data: Uint8Array): Effect.Effect<Uint8Array, KeyError> {
    return Effect.flatMap(CurvesImpl, (curves) =>
      Effect.try({
        try: () => signWith(curves, this.publicKey, this.material, algorithm, data),
        catch: (cause) =>
          cause instanceof KeyError
            ? cause
            : new KeyError({ reason: "Malformed", keyType: this.publicKey.type, detail: "signing failed", cause })
      }))
  }

  toString(): string {
    return `PrivateKey(${this.publicKey.type} ${PublicKey.fingerprintSha256(this.publicKey)})`
  }

  toJSON(): unknown {
    return { _tag: "PrivateKey", type: this.publicKey.type, fingerprint: PublicKey.fingerprintSha256(this.publicKey) }
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString()
  }
}

const rsaHash: Record<string, string> = { "rsa-sha2-512": "sha512", "rsa-sha2-256": "sha256", "ssh-rsa": "sha1" }

const signWith = (curves: Curves, pub: PublicKey.PublicKey, material: Material, algorithm: string, data: Uint8Array): Uint8Array => {
  if (!PublicKey.algorithmsFor(pub).includes(algorithm)) {
    throw new KeyError({ reason: "AlgorithmMismatch", keyType: pub.type, detail: `cannot sign with ${algorithm}` })
  }
  switch (material._tag) {
    case "Ed25519":
      return encode((w) => w.string(algorithm).string(curves.ed25519.sign(material.seed, data)))
    case "Ecdsa": {
      const sig = curves.ecdsa.sign((pub as PublicKey.EcdsaPublicKey).curve, material.d, data)
      return encode((w) => w.string(algorithm).string(encode((i) => i.mpintUnsigned(sig.r).mpintUnsigned(sig.s))))
    }
    case "Rsa":
      return encode((w) => w.string(algorithm).string(crypto.sign(rsaHash[algorithm], data, material.key)))
  }
}

const MAGIC = Buffer.from("openssh-key-v1\0", "latin1")
const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url")
const toBig = (b: Uint8Array) => (b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString("hex")}`))
const fromBig = (n: bigint) => {
  const hex = n.toString(16)
  return Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex")
}

/** Ciphers ssh-keygen may use for the private section that we read here. */
const sectionCiphers: Record<string, { readonly node: string; readonly keyLength: number; readonly ivLength: number }> = {
  "aes256-ctr": { node: "aes-256-ctr", keyLength: 32, ivLength: 16 },
  "aes192-ctr": { node: "aes-192-ctr", keyLength: 24, ivLength: 16 },
  "aes128-ctr": { node: "aes-128-ctr", keyLength: 16, ivLength: 16 },
  "aes256-cbc": { node: "aes-256-cbc", keyLength: 32, ivLength: 16 },
  "aes128-cbc": { node: "aes-128-cbc", keyLength: 16, ivLength: 16 }
}

const readPrivateBody = (r: Reader, pub: PublicKey.PublicKey): Material => {
  const type = r.text("key type")
  if (type !== pub.type) r.fail("key type", `private key is ${type} but the public key is ${pub.type}`)
  switch (pub._tag) {
    case "Ed25519": {
      r.string("ed25519 public key")
      const secret = r.string("ed25519 private key")
      if (secret.length !== 64) r.fail("ed25519 private key", "expected 64 bytes")
      return { _tag: "Ed25519", seed: secret.slice(0, 32) }
    }
    case "Ecdsa": {
      r.text("curve")
      r.string("ecdsa public point")
      return { _tag: "Ecdsa", d: r.mpintUnsigned("ecdsa private scalar").slice() }
    }
    case "Rsa": {
      const n = r.mpintUnsigned("rsa n")
      const e = r.mpintUnsigned("rsa e")
      const d = r.mpintUnsigned("rsa d")
      const iqmp = r.mpintUnsigned("rsa iqmp")
      const p = r.mpintUnsigned("rsa p")
      const q = r.mpintUnsigned("rsa q")
      const dBig = toBig(d)
      const key = crypto.createPrivateKey({
        key: {
          kty: "RSA",
          n: b64url(n),
          e: b64url(e),
          d: b64url(d),
          p: b64url(p),
          q: b64url(q),
          dp: b64url(fromBig(dBig % (toBig(p) - 1n))),
          dq: b64url(fromBig(dBig % (toBig(q) - 1n))),
          qi: b64url(iqmp)
        },
        format: "jwk"
      })
      return { _tag: "Rsa", key }
    }
  }
}

/**
 * Reads an openssh-key-v1 private key (the PEM-armoured text `ssh-keygen` writes). The
 * passphrase getter is called only when the key is encrypted.
 *
 * @since 0.1.0
 * @category parsing
 */
export const fromOpenSsh = <E = never, R = never>(
  text: string,
  options: {
    readonly source: string
    readonly passphrase?: Effect.Effect<Redacted.Redacted<string> | undefined, E, R>
  }
): Effect.Effect<PrivateKey, PrivateKeyError | E, R> =>
  Effect.gen(function*() {
    const fail = (reason: PrivateKeyError["reason"], detail: string) =>
      new PrivateKeyError({ reason, source: options.source, detail })
    const match = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text)
    if (!match) {
      return yield* fail("UnsupportedFormat", "not an OpenSSH private key (only openssh-key-v1 is read so far)")
    }
    const bytes = Buffer.from(match[1].replace(/\s+/g, ""), "base64")
    if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
      return yield* fail("Malformed", "missing openssh-key-v1 magic")
    }
    const outer = yield* Either.mapLeft(
      decode(bytes.subarray(MAGIC.length), (r) => {
        const cipher = r.text("ciphername")
        const kdf = r.text("kdfname")
        const kdfOptions = r.string("kdfoptions")
        const count = r.uint32("number of keys")
        if (count !== 1) r.fail("number of keys", `expected 1 key, found ${count}`)
        const publicBlob = r.string("public key")
        const section = r.string("private section")
        return { cipher, kdf, kdfOptions, publicBlob, section }
      }),
      (e) => fail("Malformed", e.message)
    )
    const pub = yield* Either.mapLeft(PublicKey.fromBlob(outer.publicBlob), (e) => fail("Malformed", e.message))

    let section: Uint8Array = outer.section
    if (outer.cipher !== "none") {
      const cipher = sectionCiphers[outer.cipher]
      if (!cipher || outer.kdf !== "bcrypt") {
        return yield* fail("UnsupportedFormat", `encrypted with ${outer.cipher}/${outer.kdf}, not supported yet`)
      }
      const passphrase = options.passphrase ? yield* options.passphrase : undefined
      if (passphrase === undefined) {
        return yield* fail("PassphraseRequired", `key ${pub.type} ${PublicKey.fingerprintSha256(pub)} is encrypted and no passphrase was given`)
      }
      const { salt, rounds } = yield* Either.mapLeft(
        decode(outer.kdfOptions, (r) => ({ salt: r.string("salt"), rounds: r.uint32("rounds") })),
        (e) => fail("Malformed", e.message)
      )
      const pass = Buffer.from(Redacted.value(passphrase), "utf8")
      const derived = new Uint8Array(cipher.keyLength + cipher.ivLength)
      pbkdf(pass, pass.length, salt, salt.length, derived, derived.length, rounds)
      pass.fill(0)
      const decipher = crypto.createDecipheriv(cipher.node, derived.subarray(0, cipher.keyLength), derived.subarray(cipher.keyLength))
      decipher.setAutoPadding(false)
      section = Buffer.concat([decipher.update(section), decipher.final()])
      derived.fill(0)
    }
    const material = yield* Either.mapLeft(
      decode(section, (r) => {
        const check1 = r.uint32("check1")
        const check2 = r.uint32("check2")
        if (check1 !== check2) return undefined
        const material = readPrivateBody(r, pub)
        const comment = r.text("comment")
        return { material, comment }
      }),
      (e) => fail("Malformed", e.message)
    )
    if (outer.cipher !== "none") section.fill(0)
    if (material === undefined) {
      return yield* outer.cipher === "none"
        ? fail("Malformed", "check integers differ")
        : fail("WrongPassphrase", `wrong passphrase for ${pub.type} ${PublicKey.fingerprintSha256(pub)}`)
    }
    return new PrivateKey(pub, material.comment, material.material)
  })
