/**
 * PEM private keys, read through node:crypto (OpenSSL): PKCS#1 (`RSA PRIVATE KEY`), SEC1
 * (`EC PRIVATE KEY`), PKCS#8 plain and encrypted (PBES2), and the legacy OpenSSL encryption
 * (`Proc-Type: 4,ENCRYPTED` with `DEK-Info`: AES-128/192/256-CBC, DES-EDE3-CBC).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { CurvesImpl } from "../crypto/Curves.js"
import { KeyError, unsupportedKeyType } from "./KeyError.js"
import { fromKeyObject } from "./PrivateKey.js"
import { fromKeyError, KeyFileError, type KeyFormat, PassphraseRequired, WrongPassphrase } from "./PrivateKeyError.js"
import { kdfLimits, type KeyReader } from "./ReadOptions.js"

const labels: Record<string, KeyFormat> = {
  "RSA PRIVATE KEY": "PKCS#1",
  "EC PRIVATE KEY": "SEC1",
  "PRIVATE KEY": "PKCS#8",
  "ENCRYPTED PRIVATE KEY": "PKCS#8",
  "DSA PRIVATE KEY": "PEM"
}

const armour = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/

/**
 * Whether `text` holds a PEM private key block.
 *
 * @since 0.1.0
 * @category parsing
 */
export const isPem = (text: string): boolean => {
  const m = armour.exec(text)
  return m !== null && m[1] in labels
}

/**
 * Reads a PEM private key. The passphrase getter is called only for an encrypted one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const read: KeyReader = (text, options) =>
  Effect.gen(function*() {
    const { source } = options
    const m = armour.exec(text)
    if (!m || !(m[1] in labels)) {
      return yield* new KeyFileError({ reason: "UnsupportedFormat", source, detail: "no PEM private key block" })
    }
    const [block, label, body] = m
    const format = labels[label]
    if (label === "DSA PRIVATE KEY") return yield* fromKeyError(source, format, unsupportedKeyType("ssh-dss"))
    const legacy = /^Proc-Type:\s*4,ENCRYPTED/m.test(body)
    const encrypted = legacy || label === "ENCRYPTED PRIVATE KEY"
    // Damage OpenSSL would report as a failed decryption is caught here first, by the framing.
    const framing = checkFraming(body, legacy)
    if (framing !== undefined) return yield* new KeyFileError({ reason: "Malformed", source, format, detail: framing })
    const passphrase = encrypted && options.passphrase ? yield* options.passphrase : undefined
    if (encrypted && passphrase === undefined) return yield* new PassphraseRequired({ source, format })
    const iterations = label === "ENCRYPTED PRIVATE KEY" ? pbkdf2Iterations(body) : undefined
    const maxIterations = kdfLimits(options).pbkdf2Iterations
    if (iterations !== undefined && iterations > maxIterations) {
      return yield* new KeyFileError({
        reason: "UnsupportedFormat",
        source,
        format,
        detail: `the key asks for ${iterations} PBKDF2 iterations, more than the limit of ${maxIterations} (raise kdfLimits.pbkdf2Iterations to read it)`
      })
    }
    let keyObject: crypto.KeyObject
    try {
      keyObject = crypto.createPrivateKey({
        key: block,
        format: "pem",
        ...(passphrase ? { passphrase: Buffer.from(Redacted.value(passphrase), "utf8") } : {})
      })
    } catch (cause) {
      // With a passphrase, OpenSSL's failure is the decryption's: a padding or PRF check.
      if (encrypted) return yield* new WrongPassphrase({ source, format })
      return yield* new KeyFileError({ reason: "Malformed", source, format, detail: `OpenSSL cannot read it: ${(cause as Error).message}`, cause })
    }
    const curves = yield* CurvesImpl
    return yield* Effect.try({
      try: () => fromKeyObject(curves, keyObject),
      catch: (e) =>
        e instanceof KeyError ? fromKeyError(source, format, e) : new KeyFileError({ reason: "Malformed", source, format, detail: String(e), cause: e })
    })
  })

const blockSizes: Record<string, number> = { "DES-EDE3-CBC": 8, "DES-CBC": 8, "AES-128-CBC": 16, "AES-192-CBC": 16, "AES-256-CBC": 16 }

/** A DER length at `at`: [length, where the contents start]. */
const derLength = (der: Uint8Array, at: number): [number, number] | undefined => {
  const first = der[at]
  if (first === undefined) return undefined
  if (first < 0x80) return [first, at + 1]
  const n = first & 0x7f
  if (n === 0 || n > 3 || at + n >= der.length) return undefined
  let len = 0
  for (let k = 1; k <= n; k++) len = len * 256 + der[at + k]
  return [len, at + 1 + n]
}

/**
 * Why the body cannot be a key, judged before any decryption: base64 that decodes, a DER
 * SEQUENCE that spans it exactly, or for legacy encryption whole cipher blocks.
 */
const checkFraming = (body: string, legacy: boolean): string | undefined => {
  const b64 = body.replace(/^[A-Za-z-]+:.*$/gm, "").replace(/\s+/g, "")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return "the body is not base64"
  const der = Buffer.from(b64, "base64")
  if (legacy) {
    const dek = /^DEK-Info:\s*([A-Z0-9-]+),([0-9A-Fa-f]+)\s*$/m.exec(body)
    if (!dek) return "encrypted, but the DEK-Info header is missing or malformed"
    const block = blockSizes[dek[1]]
    if (block === undefined) return `unsupported PEM encryption ${dek[1]}`
    if (dek[2].length !== block * 2) return `the DEK-Info IV is not ${block} bytes`
    if (der.length === 0 || der.length % block !== 0) return `the encrypted body is not a whole number of ${block}-byte blocks: truncated or damaged`
    return undefined
  }
  const outer = derLength(der, 1)
  if (der[0] !== 0x30 || !outer || outer[1] + outer[0] !== der.length) return "the DER structure does not span the body: truncated or damaged"
  return undefined
}

// The DER of the PBKDF2 OID (1.2.840.113549.1.5.12); its parameters follow it.
const PBKDF2_OID = Buffer.from("06092a864886f70d01050c", "hex")

/**
 * The iteration count of an encrypted PKCS#8 body's PBKDF2, read before OpenSSL runs it: a
 * SEQUENCE of the salt (OCTET STRING) and the count (INTEGER) right after the OID.
 * Undefined when it is not PBKDF2 or not laid out so; OpenSSL then judges the file.
 */
const pbkdf2Iterations = (base64Body: string): number | undefined => {
  const der = Buffer.from(base64Body.replace(/^[A-Za-z-]+:.*$/gm, "").replace(/\s+/g, ""), "base64")
  let i = der.indexOf(PBKDF2_OID)
  if (i < 0) return undefined
  i += PBKDF2_OID.length
  if (der[i] !== 0x30) return undefined
  const seq = derLength(der, i + 1)
  if (!seq || der[seq[1]] !== 0x04) return undefined
  const salt = derLength(der, seq[1] + 1)
  if (!salt) return undefined
  const at = salt[1] + salt[0]
  if (der[at] !== 0x02) return undefined
  const count = derLength(der, at + 1)
  if (!count || count[0] > 6 || count[1] + count[0] > der.length) return undefined
  let value = 0
  for (let k = 0; k < count[0]; k++) value = value * 256 + der[count[1] + k]
  return value
}
