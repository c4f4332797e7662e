/**
 * Public-key sources: `PrivateKey` signs with any signer, `InMemoryPrivateKey` with a loaded
 * key, `OnDiskPrivateKey` loads (and if need be decrypts) a key file when it is tried.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Tracer from "effect/Tracer"
import * as AuthHandler from "../handler/AuthHandler.js"
import * as KeyFile from "../keys/KeyFile.js"
import * as Keys from "../keys/PrivateKey.js"
import type { PrivateKeyError } from "../keys/PrivateKeyError.js"
import { fingerprintSha256 } from "../keys/PublicKey.js"
import { type AuthSource, Base, CredentialError, type SourceError, userCode } from "./AuthSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface PrivateKeyOptions extends AuthHandler.PublicKeyOptions {
  readonly username: string
  readonly signer: Keys.Signer
}

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
  /** @since 0.1.0 */
  readonly username: string
  /** @since 0.1.0 */
  readonly signer: Keys.Signer
  /** @since 0.1.0 */
  readonly options: AuthHandler.PublicKeyOptions
  constructor({ signer, username, ...options }: PrivateKeyOptions) {
    super()
    this.username = username
    this.signer = signer
    this.options = options
  }
  get fingerprint(): string {
    return fingerprintSha256(this.signer.publicKey)
  }
  get description(): string {
    return `user=${this.username}, key=${this.signer.publicKey.type} ${this.fingerprint}`
  }
  get authenticate() {
    return Effect.flatMap(AuthHandler.AuthHandler, (h) => h.publicKey(this.username, this.guarded, this.options))
  }
  /** @since 0.1.0 */
  readonly steps: AuthSource["steps"] = (requests: AuthHandler.Requests, span: Tracer.AnySpan | undefined) =>
    requests.publicKey(span, this.username, this.guarded, this.options)

  /** The signer, a throw in which (it may be the user's own code) is this source's error. */
  private get guarded(): Keys.Signer<Keys.SignerFailure> {
    const signer = this.signer
    // A key in memory is the library's own signer: nothing to guard.
    if (signer instanceof Keys.PrivateKey) return signer
    const threw = (cause: unknown) => new CredentialError({ source: this.toString(), detail: "the signer threw", cause })
    return {
      ...signer,
      sign: (algorithm, data) => {
        try {
          return Effect.catchAllDefect(signer.sign(algorithm, data), (cause) => Effect.fail(threw(cause)))
        } catch (cause) {
          return Effect.fail(threw(cause))
        }
      }
    }
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface InMemoryPrivateKeyOptions extends AuthHandler.PublicKeyOptions {
  readonly username: string
  readonly key: Keys.PrivateKey
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
  /** @since 0.1.0 */
  readonly key: Keys.PrivateKey
  constructor({ key, ...options }: InMemoryPrivateKeyOptions) {
    super({ skipQuery: true, ...options, signer: key })
    this.key = key
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface OnDiskPrivateKeyOptions<E = never, R = never> extends AuthHandler.PublicKeyOptions {
  readonly username: string
  readonly path: string
  /** Runs only if the file is encrypted. */
  readonly passphrase?: Effect.Effect<Redacted.Redacted<string> | undefined, E, R>
}

/**
 * A key file, read and decrypted only when this source is tried, through the platform's
 * `FileSystem` (which it therefore needs). The passphrase getter runs only if the file is
 * encrypted.
 *
 * @since 0.1.0
 * @category sources
 */
export class OnDiskPrivateKey<E = never, R = never> extends Base implements AuthSource<R | FileSystem.FileSystem> {
  /** @since 0.1.0 */
  readonly _tag = "OnDiskPrivateKey"
  /** @since 0.1.0 */
  readonly method = "publickey"
  /** @since 0.1.0 */
  readonly username: string
  /** @since 0.1.0 */
  readonly path: string
  private readonly passphrase: Effect.Effect<Redacted.Redacted<string> | undefined, E, R> | undefined
  private readonly options: AuthHandler.PublicKeyOptions
  constructor({ passphrase, path, username, ...options }: OnDiskPrivateKeyOptions<E, R>) {
    super()
    this.username = username
    this.path = path
    this.passphrase = passphrase
    this.options = options
  }
  get description(): string {
    return `user=${this.username}, path=${this.path}`
  }
  /** Reads and decrypts the key. */
  get load(): Effect.Effect<Keys.PrivateKey, PrivateKeyError | CredentialError, R | FileSystem.FileSystem> {
    const passphrase = this.passphrase
    return KeyFile.readFile(
      this.path,
      passphrase
        ? { passphrase: userCode(passphrase, this.toString(), "the passphrase getter") }
        : {}
    )
  }
  get authenticate(): Effect.Effect<AuthHandler.AuthOutcome, SourceError, AuthHandler.AuthHandler | R | FileSystem.FileSystem> {
    return Effect.flatMap(this.load, (key) => Effect.flatMap(AuthHandler.AuthHandler, (h) => h.publicKey(this.username, key, this.options)))
  }
}

/**
 * A source that signs with `signer`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: PrivateKeyOptions): PrivateKey => new PrivateKey(options)

/**
 * A source for a decrypted key in memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const inMemory = (options: InMemoryPrivateKeyOptions): InMemoryPrivateKey => new InMemoryPrivateKey(options)

/**
 * A source for a key file, read when it is tried.
 *
 * @since 0.1.0
 * @category constructors
 */
export const onDisk = <E = never, R = never>(options: OnDiskPrivateKeyOptions<E, R>): OnDiskPrivateKey<E, R> => new OnDiskPrivateKey(options)
