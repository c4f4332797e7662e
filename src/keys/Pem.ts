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
import { fromKeyObject, type PrivateKey } from "./PrivateKey.js"
import { fromKeyError, KeyFileError, type KeyFormat, PassphraseRequired, WrongPassphrase } from "./PrivateKeyError.js"
import type { ReadOptions } from "./OpenSshKeyV1.js"

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
export const read = <E = never, R = never>(
  text: string,
  options: ReadOptions<E, R>
): Effect.Effect<PrivateKey, KeyFileError | PassphraseRequired | WrongPassphrase | E, R> =>
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
    const passphrase = encrypted && options.passphrase ? yield* options.passphrase : undefined
    if (encrypted && passphrase === undefined) return yield* new PassphraseRequired({ source, format })
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
      catch: (e) => e instanceof KeyError ? fromKeyError(source, format, e) : new KeyFileError({ reason: "Malformed", source, format, detail: String(e), cause: e })
    })
  })
