/**
 * Private key files in any format a user may have: openssh-key-v1, PEM (PKCS#1, SEC1,
 * PKCS#8, legacy encrypted) and PuTTY `.ppk`. `parse` picks the format from the text;
 * `readFile` also looks at the `.pub` beside the file, so that a missing or wrong
 * passphrase still says which key it was. Files are read through @effect/platform's
 * `FileSystem`: a file that cannot be read is a `KeyFileError` naming the path and why
 * (`NotFound`, `PermissionDenied`); only a missing `.pub` is taken as no `.pub`.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as OpenSshKeyV1 from "./OpenSshKeyV1.js"
import * as Pem from "./Pem.js"
import type { PrivateKey } from "./PrivateKey.js"
import { KeyFileError, PassphraseRequired, type PrivateKeyError, WrongPassphrase } from "./PrivateKeyError.js"
import type * as PublicKey from "./PublicKey.js"
import * as PublicKeyText from "./PublicKeyText.js"
import * as Putty from "./Putty.js"
import type { ReadOptions } from "./ReadOptions.js"

/**
 * Reads a private key from text in any supported format.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = <E = never, R = never>(
  text: string,
  options: ReadOptions<E, R>
): Effect.Effect<PrivateKey, PrivateKeyError | E, R> => {
  if (OpenSshKeyV1.isOpenSshKeyV1(text)) return OpenSshKeyV1.read(text, options)
  if (Putty.isPutty(text)) return Putty.read(text, options)
  if (Pem.isPem(text)) return Pem.read(text, options)
  const detail = Either.isRight(PublicKeyText.parseLine(text.trim().split("\n")[0]))
    ? "this is a public key; a private key file is needed"
    : "not a private key in a format we know (openssh-key-v1, PEM PKCS#1/SEC1/PKCS#8, PuTTY .ppk)"
  return Effect.fail(new KeyFileError({ reason: "UnsupportedFormat", source: options.source, format: "unknown", detail }))
}

/**
 * A file's text, or a `KeyFileError` naming `path` and why it cannot be read.
 *
 * @since 0.1.0
 * @category reading
 */
export const readText = (path: string, source = path): Effect.Effect<string, KeyFileError, FileSystem.FileSystem> =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((cause) => {
      const reason = cause._tag === "SystemError" && (cause.reason === "NotFound" || cause.reason === "PermissionDenied") ? cause.reason : "Unreadable"
      const why = { NotFound: "no such file", PermissionDenied: "permission denied", Unreadable: cause.message }[reason]
      return new KeyFileError({ reason, source, path, detail: `cannot read ${path}: ${why}`, cause })
    })
  )

/**
 * A file's text, or undefined when there is no such file; any other failure (permission
 * denied) is an error.
 *
 * @since 0.1.0
 * @category reading
 */
export const readTextIfPresent = (path: string): Effect.Effect<string | undefined, KeyFileError, FileSystem.FileSystem> =>
  readText(path).pipe(
    Effect.catchIf((e) => e.reason === "NotFound", () => Effect.succeed(undefined))
  )

/**
 * The public key in `path.pub`, if there is one that parses. A `.pub` that exists and
 * cannot be read fails, rather than pass for a missing one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const readPublicBeside = (path: string): Effect.Effect<PublicKey.PublicKey | undefined, KeyFileError, FileSystem.FileSystem> =>
  readTextIfPresent(`${path}.pub`).pipe(
    Effect.map((text) => {
      if (text === undefined) return undefined
      const parsed = PublicKeyText.parsePublicKey(text.trim())
      return Either.isRight(parsed) ? parsed.right : undefined
    })
  )

/**
 * Reads and, if need be, decrypts a private key file. The passphrase getter runs only if
 * the file is encrypted.
 *
 * @since 0.1.0
 * @category parsing
 */
export const readFile = <E = never, R = never>(
  path: string,
  options: Omit<ReadOptions<E, R>, "source"> & { readonly source?: string } = {}
): Effect.Effect<PrivateKey, PrivateKeyError | E, R | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const source = options.source ?? path
    const text = yield* readText(path, source)
    // A missing or wrong passphrase should still say which key: take it from the .pub.
    const withPublicKey = (e: PassphraseRequired | WrongPassphrase) =>
      e.publicKey !== undefined
        ? Effect.fail(e)
        : Effect.flatMap(readPublicBeside(path), (publicKey) => {
          if (publicKey === undefined) return Effect.fail(e)
          const fields = { source: e.source, format: e.format, publicKey }
          return Effect.fail(e._tag === "PassphraseRequired" ? new PassphraseRequired(fields) : new WrongPassphrase(fields))
        })
    return yield* parse(text, { ...options, source }).pipe(
      Effect.catchIf((e): e is PassphraseRequired | WrongPassphrase => e instanceof PassphraseRequired || e instanceof WrongPassphrase, withPublicKey)
    )
  })

/**
 * A public key and its comment, as `ssh-keygen -l` finds them for a file.
 *
 * @since 0.1.0
 * @category models
 */
export interface PublicKeyWithComment {
  readonly publicKey: PublicKey.PublicKey
  readonly comment: string
}

/**
 * The public key of a key file without any passphrase, the way `ssh-keygen -l` looks for
 * it: the file as a public key line, else the `.pub` beside it, else the public half of the
 * private key (an encrypted openssh-key-v1 or PuTTY file shows it in the clear; its comment
 * is then only known for PuTTY).
 *
 * @since 0.1.0
 * @category parsing
 */
export const readPublic = (path: string): Effect.Effect<PublicKeyWithComment, PrivateKeyError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const text = yield* readText(path)
    const asLine = PublicKeyText.parsePublicKey(text.trim().split("\n")[0])
    if (Either.isRight(asLine)) return { publicKey: asLine.right, comment: asLine.right.comment }
    const beside = yield* readTextIfPresent(`${path}.pub`)
    const besideKey = beside === undefined ? undefined : PublicKeyText.parsePublicKey(beside.trim())
    if (besideKey && Either.isRight(besideKey)) return { publicKey: besideKey.right, comment: besideKey.right.comment }
    return yield* parse(text, { source: path }).pipe(
      Effect.map((key) => ({ publicKey: key.publicKey, comment: key.comment })),
      Effect.catchIf(
        (e): e is PassphraseRequired => e instanceof PassphraseRequired && e.publicKey !== undefined,
        (e) => Effect.succeed({ publicKey: e.publicKey!, comment: Putty.isPutty(text) ? Putty.comment(text) : "" })
      )
    )
  })
