/**
 * What every private key reader takes: where the key came from, how to get a passphrase,
 * and how much work a file may ask of the key derivation.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { PrivateKey } from "./PrivateKey.js"
import type { PrivateKeyError } from "./PrivateKeyError.js"

/**
 * Caps on what a key file can demand of the KDF. The file picks its own cost, so a
 * damaged or hostile one could otherwise ask for hours of bcrypt or gigabytes of Argon2
 * memory. The defaults are far above what ssh-keygen and puttygen write (16 bcrypt rounds;
 * Argon2 with 8 MiB and a few dozen passes); a file beyond them fails with a message
 * that names the option to raise.
 *
 * @since 0.1.0
 * @category models
 */
export interface KdfLimits {
  /** Default 4096 (about half a minute here; ssh-keygen's default is 16). */
  readonly bcryptRounds?: number
  /** Default 262144 KiB (256 MiB). */
  readonly argon2MemoryKiB?: number
  /** Default 1000. */
  readonly argon2Passes?: number
  /** PBKDF2 iterations of an encrypted PKCS#8 key. Default 10 000 000 (OpenSSL writes 2048). */
  readonly pbkdf2Iterations?: number
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaultKdfLimits: Required<KdfLimits> = {
  bcryptRounds: 4096,
  argon2MemoryKiB: 262144,
  argon2Passes: 1000,
  pbkdf2Iterations: 10_000_000
}

/**
 * Options for reading a private key. The passphrase getter is called only when the key is
 * encrypted.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadOptions<E, R> {
  /** A path or a label, for messages. */
  readonly source: string
  readonly passphrase?: Effect.Effect<Redacted.Redacted<string> | undefined, E, R>
  readonly kdfLimits?: KdfLimits
}

/**
 * The limits in force: the caller's, else the defaults.
 *
 * @since 0.1.0
 * @category accessors
 */
export const kdfLimits = (options: { readonly kdfLimits?: KdfLimits }): Required<KdfLimits> => ({ ...defaultKdfLimits, ...options.kdfLimits })

/**
 * What each format module's `read` is: text in, a key or a typed error out. The passphrase
 * getter's own error and requirements pass through.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyReader = <E = never, R = never>(text: string, options: ReadOptions<E, R>) => Effect.Effect<PrivateKey, PrivateKeyError | E, R>
