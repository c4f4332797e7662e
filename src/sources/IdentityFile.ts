/**
 * Identity files offered the way ssh offers them: the public half (from the `.pub` or the
 * openssh-key-v1 header) goes to the server first; the file is decrypted only after the
 * server answers PK_OK, trying the empty passphrase before asking, and asking at most
 * once per key for the whole run. A key the server refuses never costs a prompt.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as AuthHandler from "../handler/AuthHandler.js"
import type { Certificate } from "../keys/Certificate.js"
import * as KeyFile from "../keys/KeyFile.js"
import type { PrivateKey, Signer, SignerFailure } from "../keys/PrivateKey.js"
import { type KeyFileError, PassphraseRequired, type PrivateKeyError, WrongPassphrase } from "../keys/PrivateKeyError.js"
import * as PublicKey from "../keys/PublicKey.js"
import { type AuthSource, Base, type CredentialError, type SourceError, surfaceSignerFailure } from "./AuthSource.js"
import { passphrase, type Prompter } from "./Prompter.js"

/**
 * A key file whose public half is known, decrypted on first use and then kept.
 *
 * @since 0.1.0
 * @category models
 */
export class LazyKey {
  private loaded: PrivateKey | undefined
  /**
   * How many times a person was asked for this key's passphrase.
   *
   * @since 0.1.0
   */
  prompts = 0
  readonly path: string
  readonly publicKey: PublicKey.PublicKey
  private readonly prompter: Prompter | undefined
  private readonly attempts: number
  constructor(options: {
    readonly path: string
    /** The public half, from the `.pub` or the file's header. */
    readonly publicKey: PublicKey.PublicKey
    /** Who to ask for the passphrase; none means only the empty one is tried. */
    readonly prompter?: Prompter | undefined
    /** Passphrase prompts at most. Default 3. */
    readonly attempts?: number
  }) {
    this.path = options.path
    this.publicKey = options.publicKey
    this.prompter = options.prompter
    this.attempts = options.attempts ?? 3
  }

  /** The decrypted key: no passphrase, then the empty one, then the prompter. */
  get load(): Effect.Effect<PrivateKey, PrivateKeyError | CredentialError, FileSystem.FileSystem> {
    const self = this
    return Effect.gen(function*() {
      if (self.loaded) return self.loaded
      const read = (passphrase: Redacted.Redacted<string>) => KeyFile.readFile(self.path, { passphrase: Effect.succeed(passphrase) })
      let last: PrivateKeyError = new PassphraseRequired({ source: self.path, format: "unknown", publicKey: self.publicKey })
      const plain = yield* Effect.either(read(Redacted.make("")))
      if (plain._tag === "Right") return (self.loaded = plain.right)
      last = plain.left
      for (let i = 0; i < self.attempts && self.prompter && isPassphraseProblem(last); i++) {
        self.prompts++
        const answer = yield* self.prompter.ask(passphrase(self.path))
        const tried = yield* Effect.either(read(answer))
        if (tried._tag === "Right") return (self.loaded = tried.right)
        last = tried.left
      }
      return yield* Effect.fail(last)
    })
  }
}

const isPassphraseProblem = (e: PrivateKeyError) => e instanceof PassphraseRequired || e instanceof WrongPassphrase

const ownFailure = (cause: unknown): SourceError | undefined =>
  typeof cause === "object" && cause !== null && "_tag" in cause &&
    ["PassphraseRequired", "WrongPassphrase", "KeyFileError", "CredentialError"].includes(String(cause._tag))
    ? cause as SourceError
    : undefined

/**
 * An identity file (or its certificate), offered before it is decrypted.
 *
 * @since 0.1.0
 * @category sources
 */
export class IdentityFileKey extends Base implements AuthSource<FileSystem.FileSystem> {
  /** @since 0.1.0 */
  readonly _tag = "IdentityFileKey"
  /** @since 0.1.0 */
  readonly method = "publickey"
  readonly username: string
  readonly key: LazyKey
  /** Where this key was named: "IdentityFile ~/.ssh/id_ed25519", "-i", "CertificateFile …". */
  readonly origins: ReadonlyArray<string>
  readonly certificate: Certificate | undefined
  readonly options: AuthHandler.PublicKeyOptions
  constructor({ certificate, key, origins, username, ...options }: AuthHandler.PublicKeyOptions & {
    readonly username: string
    readonly key: LazyKey
    readonly origins: ReadonlyArray<string>
    /** Offer this certificate of the key instead of the bare key. */
    readonly certificate?: Certificate | undefined
  }) {
    super()
    this.username = username
    this.key = key
    this.origins = origins
    this.certificate = certificate
    this.options = options
  }
  get fingerprint(): string {
    return PublicKey.fingerprintSha256(this.key.publicKey)
  }
  get description(): string {
    const what = this.certificate ? `certificate ${this.certificate.type} "${this.certificate.keyId}"` : this.key.publicKey.type
    return `user=${this.username}, ${what} ${this.fingerprint}, path=${this.key.path}`
  }
  get authenticate() {
    const key = this.key
    return Effect.gen(this, function*() {
      // A signer needs nothing from context: the file system is taken now, used on PK_OK.
      const fs = yield* FileSystem.FileSystem
      const signer: Signer<SignerFailure> = {
        publicKey: key.publicKey,
        ...(this.certificate ? { certificate: this.certificate } : {}),
        sign: (algorithm, data) => Effect.flatMap(Effect.provideService(key.load, FileSystem.FileSystem, fs), (k) => k.sign(algorithm, data))
      }
      const handler = yield* AuthHandler.AuthHandler
      return yield* surfaceSignerFailure(handler.publicKey(this.username, signer, this.options), ownFailure)
    })
  }
}

/**
 * An identity file that cannot be used (unreadable, corrupt, an unsupported type): its
 * error is recorded for it and the strategy goes on.
 *
 * @since 0.1.0
 * @category sources
 */
export class BrokenIdentityFile extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "BrokenIdentityFile"
  /** @since 0.1.0 */
  readonly method = "publickey"
  readonly username: string
  readonly path: string
  readonly error: KeyFileError | PrivateKeyError
  constructor(options: { readonly username: string; readonly path: string; readonly error: KeyFileError | PrivateKeyError }) {
    super()
    this.username = options.username
    this.path = options.path
    this.error = options.error
  }
  get description(): string {
    return `user=${this.username}, path=${this.path}`
  }
  get authenticate() {
    return Effect.fail(this.error)
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface IdentityFileOptions extends AuthHandler.PublicKeyOptions {
  readonly username: string
  readonly path: string
  /** Who to ask for the passphrase; none means only the empty one is tried. */
  readonly prompter?: Prompter | undefined
  /** Passphrase prompts at most. Default 3. */
  readonly attempts?: number
}

/**
 * An identity file as ssh offers one: its public half read now (the `.pub`, or the file's
 * own header), the file decrypted only after the server accepts the key.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromFile = (
  { attempts, path, prompter, username, ...options }: IdentityFileOptions
): Effect.Effect<IdentityFileKey, PrivateKeyError, FileSystem.FileSystem> =>
  Effect.map(KeyFile.readPublic(path), ({ publicKey }) =>
    new IdentityFileKey({
      ...options,
      username,
      origins: [path],
      key: new LazyKey({ path, publicKey, prompter, ...(attempts !== undefined ? { attempts } : {}) })
    }))
