/**
 * `ssh-auth key …`: the key tools, with the output of the ssh-keygen commands they stand in for.
 * - `fingerprint FILE [-E sha256|md5]` prints what `ssh-keygen -lf` prints;
 * - `public FILE [-P passphrase]` prints what `ssh-keygen -y` prints;
 * - `sign -f KEY -n NAMESPACE [FILE]` and `verify -f ALLOWED_SIGNERS -I IDENTITY -n NAMESPACE -s SIG`
 *   behave like `ssh-keygen -Y sign` and `-Y verify`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs/promises"
import * as AllowedSigners from "../keys/AllowedSigners.js"
import * as KeyFile from "../keys/KeyFile.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as PublicKeyText from "../keys/PublicKeyText.js"
import * as SshSig from "../keys/SshSig.js"

/**
 * A key command that could not do its job; the message is what the user sees.
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyCommandError extends Schema.TaggedError<KeyCommandError>()("KeyCommandError", {
  message: Schema.String
}) {}

const readText = (path: string) =>
  Effect.tryPromise({ try: () => fs.readFile(path, "utf8"), catch: (e) => new KeyCommandError({ message: `${path}: ${(e as Error).message}` }) })

/** A file to sign, as the bytes on disk: a text decode would change what is signed. */
const readBytes = (path: string) =>
  Effect.tryPromise({
    try: async () => new Uint8Array(await fs.readFile(path)),
    catch: (e) => new KeyCommandError({ message: `${path}: ${(e as Error).message}` })
  })

const readStdin = Effect.promise(async () => {
  const chunks: Array<Buffer> = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return new Uint8Array(Buffer.concat(chunks))
})

const file = Args.text({ name: "file" }).pipe(Args.withDescription("key file"))

const fingerprint = Command.make("fingerprint", {
  file,
  hash: Options.choice("hash", ["sha256", "md5"]).pipe(Options.withAlias("E"), Options.withDefault("sha256" as const))
}, ({ file, hash }) =>
  Effect.gen(function*() {
    const { comment, publicKey } = yield* KeyFile.readPublic(file)
    const print = hash === "md5" ? PublicKey.fingerprintMd5 : PublicKey.fingerprintSha256
    yield* Console.log(`${PublicKey.bits(publicKey)} ${print(publicKey)} ${comment || "no comment"} (${PublicKey.typeLabel(publicKey)})`)
  })).pipe(Command.withDescription("print a key's fingerprint, as ssh-keygen -lf"))

const publicCommand = Command.make("public", {
  file,
  passphrase: Options.redacted("passphrase").pipe(Options.withAlias("P"), Options.optional, Options.withDescription("passphrase of an encrypted key"))
}, ({ file, passphrase }) =>
  Effect.gen(function*() {
    const key = yield* KeyFile.readFile(file, Option.isSome(passphrase) ? { passphrase: Effect.succeed(passphrase.value) } : {})
    yield* Console.log(PublicKeyText.format(key.publicKey, key.comment))
  })).pipe(Command.withDescription("print the public key of a private key, as ssh-keygen -y"))

const namespace = Options.text("namespace").pipe(Options.withAlias("n"), Options.withDescription("signature namespace, such as git or file"))

const sign = Command.make("sign", {
  keyFile: Options.text("key-file").pipe(Options.withAlias("f"), Options.withDescription("private key")),
  namespace,
  passphrase: Options.redacted("passphrase").pipe(Options.withAlias("P"), Options.optional),
  files: Args.text({ name: "file" }).pipe(Args.repeated)
}, ({ files, keyFile, namespace, passphrase }) =>
  Effect.gen(function*() {
    const key = yield* KeyFile.readFile(keyFile, Option.isSome(passphrase) ? { passphrase: Effect.succeed(passphrase.value) } : {})
    if (files.length === 0) {
      const signature = yield* SshSig.sign(key, namespace, yield* readStdin)
      return yield* Effect.sync(() => process.stdout.write(signature))
    }
    for (const path of files) {
      const signature = yield* SshSig.sign(key, namespace, yield* readBytes(path))
      yield* Effect.tryPromise({
        try: () => fs.writeFile(`${path}.sig`, signature),
        catch: (e) => new KeyCommandError({ message: `${path}.sig: ${(e as Error).message}` })
      })
      yield* Console.error(`Write signature to ${path}.sig`)
    }
  })).pipe(Command.withDescription("make an SSHSIG signature, as ssh-keygen -Y sign"))

const verify = Command.make("verify", {
  allowedSigners: Options.text("allowed-signers").pipe(Options.withAlias("f")),
  identity: Options.text("identity").pipe(Options.withAlias("I")),
  namespace,
  signatureFile: Options.text("signature-file").pipe(Options.withAlias("s"))
}, ({ allowedSigners, identity, namespace, signatureFile }) =>
  Effect.gen(function*() {
    const signers = yield* Effect.mapError(
      Effect.flatMap(readText(allowedSigners), AllowedSigners.parse),
      (e) => new KeyCommandError({ message: e.message })
    )
    const armoured = yield* readText(signatureFile)
    const verified = yield* SshSig.verify(armoured, yield* readStdin, namespace).pipe(
      Effect.mapError((e) => new KeyCommandError({ message: `Could not verify signature: ${e.message}` }))
    )
    if (!AllowedSigners.allows(signers, identity, verified.publicKey, namespace, Date.now() / 1000)) {
      return yield* new KeyCommandError({
        message: `Could not verify signature: ${PublicKey.fingerprintSha256(verified.publicKey)} is not allowed to sign as ${identity} for "${namespace}"`
      })
    }
    yield* Console.log(
      `Good "${namespace}" signature for ${identity} with ${PublicKey.typeLabel(verified.publicKey)} key ${PublicKey.fingerprintSha256(verified.publicKey)}`
    )
  })).pipe(Command.withDescription("check an SSHSIG signature of standard input, as ssh-keygen -Y verify"))

/**
 * @since 0.1.0
 * @category commands
 */
export const key = Command.make("key").pipe(
  Command.withDescription("key tools: fingerprint, public, sign, verify"),
  Command.withSubcommands([fingerprint, publicCommand, sign, verify])
)
