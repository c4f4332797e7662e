/**
 * The client keys of the server interop tests, made by `ssh-keygen` in a temp dir that lives
 * as long as the Scope: ed25519, ecdsa (nistp256) and rsa keys, spare keys no server trusts,
 * a user CA, a key with a certificate valid for an hour and one whose certificate expired.
 * Each key comes with its fingerprint as `ssh-keygen -l` prints it, the judge of which key
 * the server says was proven.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as AuthorizedKeys from "../../src/server/AuthorizedKeys.js"
import { run, tempDir } from "./Sshd.js"

export interface KeyFile {
  /** The private key, OpenSSH format, no passphrase; `${path}.pub` beside it. */
  readonly path: string
  /** The `.pub` line. */
  readonly line: string
  readonly publicKey: PublicKey.PublicKey
  /** `SHA256:…`, from `ssh-keygen -l`. */
  readonly fingerprint: string
  /** The key's certificate, `${path}-cert.pub` (where ssh looks for it), if it has one. */
  readonly certificate?: string
}

export interface ClientKeysShape {
  readonly dir: string
  readonly ed25519: KeyFile
  readonly ecdsa: KeyFile
  readonly rsa: KeyFile
  /** Keys no server trusts. */
  readonly wrong: ReadonlyArray<KeyFile>
  readonly ca: KeyFile
  /** A certificate for principal `alice`, valid for an hour. */
  readonly certified: KeyFile
  /** A certificate for principal `alice` that expired in 2020. */
  readonly expired: KeyFile
}

export class ClientKeys extends Context.Tag("test/ClientKeys")<ClientKeys, ClientKeysShape>() {}

const keygen = (args: ReadonlyArray<string>) =>
  Effect.flatMap(run("ssh-keygen", args), (r) => r.code === 0 ? Effect.succeed(r.stdout) : Effect.dieMessage(`ssh-keygen ${args.join(" ")}: ${r.stderr}`))

const make = Effect.gen(function*() {
  const dir = yield* tempDir("client-keys-")
  const key = (name: string, type: ReadonlyArray<string>, certify?: { readonly validity: string }) =>
    Effect.gen(function*() {
      const file = path.join(dir, name)
      yield* keygen(["-q", "-N", "", "-C", `client-${name}`, ...type, "-f", file])
      if (certify) yield* keygen(["-q", "-s", path.join(dir, "ca"), "-I", `${name}-id`, "-n", "alice", "-V", certify.validity, `${file}.pub`])
      const line = fs.readFileSync(`${file}.pub`, "utf8").trim()
      const parsed = PublicKeyText.parsePublicKey(line)
      if (Either.isLeft(parsed)) return yield* Effect.dieMessage(`${file}.pub: ${parsed.left.message}`)
      const fingerprint = (yield* keygen(["-l", "-E", "sha256", "-f", `${file}.pub`])).split(" ")[1]
      return { path: file, line, publicKey: parsed.right, fingerprint, ...(certify ? { certificate: `${file}-cert.pub` } : {}) } satisfies KeyFile
    })
  const ed25519 = ["-t", "ed25519"]
  // The CA first: the certified keys need it.
  const ca = yield* key("ca", ed25519)
  const [plain, wrong, certified, expired] = yield* Effect.all([
    Effect.all([key("ed25519", ed25519), key("ecdsa", ["-t", "ecdsa", "-b", "256"]), key("rsa", ["-t", "rsa", "-b", "2048"])], { concurrency: "unbounded" }),
    Effect.forEach([1, 2, 3, 4, 5], (i) => key(`wrong${i}`, ed25519), { concurrency: "unbounded" }),
    key("certified", ed25519, { validity: "-5m:+1h" }),
    key("expired", ed25519, { validity: "20200101:20200102" })
  ], { concurrency: "unbounded" })
  return { dir, ed25519: plain[0], ecdsa: plain[1], rsa: plain[2], wrong, ca, certified, expired } satisfies ClientKeysShape
})

export const layer = Layer.scoped(ClientKeys, make)

/** An authorized_keys file of these lines, parsed as the server reads one. */
export const authorizedKeys = (...lines: ReadonlyArray<string>): ReadonlyArray<AuthorizedKeys.AuthorizedKey> => {
  const parsed = AuthorizedKeys.parse(lines.join("\n") + "\n")
  if (parsed.errors.length > 0) throw new Error(`authorized_keys: ${parsed.errors.map((e) => `line ${e.line}: ${e.detail}`).join("; ")}`)
  return parsed.keys
}
