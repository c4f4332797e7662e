/**
 * Public-key sources: `PrivateKey` signs with any signer, `InMemoryPrivateKey` with a loaded
 * key, `OnDiskPrivateKey` loads (and if need be decrypts) a key file when it is tried.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import * as AuthHandler from "../handler/AuthHandler.js"
import * as KeyFile from "../keys/KeyFile.js"
import type * as Keys from "../keys/PrivateKey.js"
import type { PrivateKeyError } from "../keys/PrivateKeyError.js"
import { fingerprintSha256 } from "../keys/PublicKey.js"
import { type AuthSource, Base, CredentialError, userCode } from "./AuthSource.js"

/**
 * Authenticates with whatever signer it is given.
 *
 * @since 0.1.0
 * @category sources
 */
export class PrivateKey extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag: string = "PrivateKey"
  /** @since 0.1.0 */
  readonly method = "publickey"
  constructor(
    readonly username: string,
    readonly signer: Keys.Signer,
    readonly options: AuthHandler.PublicKeyOptions = {}
  ) {
    super()
  }
  get fingerprint(): string {
    return fingerprintSha256(this.signer.publicKey)
  }
  get description(): string {
    return `user=${this.username}, key=${this.signer.publicKey.type} ${this.fingerprint}`
  }
  get authenticate() {
    // The signer may be the user's own code: a throw in it is this source's error.
    const signer = this.signer
    const guarded: Keys.Signer<Keys.SignerFailure> = {
      ...signer,
      sign: (algorithm, data) =>
        Effect.catchAllDefect(signer.sign(algorithm, data), (cause) =>
          Effect.fail(new CredentialError({ source: this.toString(), detail: "the signer threw", cause })))
    }
    return Effect.flatMap(AuthHandler.AuthHandler, (h) => h.publicKey(this.username, guarded, this.options))
  }
}

/**
 * A decrypted key already in memory. It signs at once instead of asking first
 * (`skipQuery`): signing costs nothing and needs nobody, and the query costs a round trip
 * and a second authorized_keys lookup in sshd. Pass `skipQuery: false` to ask first.
 *
 * @since 0.1.0
 * @category sources
 */
export class InMemoryPrivateKey extends PrivateKey {
  /** @since 0.1.0 */
  override readonly _tag = "InMemoryPrivateKey"
  constructor(username: string, readonly key: Keys.PrivateKey, options: AuthHandler.PublicKeyOptions = {}) {
    super(username, key, { skipQuery: true, ...options })
  }
}

/**
 * A key file, read and decrypted only when this source is tried. The passphrase getter runs
 * only if the file is encrypted.
 *
 * @since 0.1.0
 * @category sources
 */
export class OnDiskPrivateKey<E = never> extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "OnDiskPrivateKey"
  /** @since 0.1.0 */
  readonly method = "publickey"
  constructor(
    readonly username: string,
    /** Where the path came from, e.g. "IdentityFile" or "cli -i". */
    readonly source: string,
    readonly path: string,
    private readonly passphrase?: Effect.Effect<Redacted.Redacted<string> | undefined, E>
  ) {
    super()
  }
  get description(): string {
    return `user=${this.username}, source=${this.source}, path=${this.path}`
  }
  /** Reads and decrypts the key. */
  get load(): Effect.Effect<Keys.PrivateKey, PrivateKeyError | CredentialError> {
    const passphrase = this.passphrase
    return KeyFile.readFile(this.path, passphrase
      ? { passphrase: userCode(passphrase, this.toString(), "the passphrase getter") }
      : {})
  }
  get authenticate() {
    return Effect.flatMap(this.load, (key) => Effect.flatMap(AuthHandler.AuthHandler, (h) => h.publicKey(this.username, key)))
  }
}
