/**
 * Key files read through the platform's FileSystem, on an in-memory one: a file this
 * process may not read is a typed error naming it, never passed over as absent; a missing
 * identity file is skipped, as ssh skips it; and the on-disk and identity-file sources read
 * what the file system holds.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as SshConfig from "../../src/config/SshConfig.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as KeyFile from "../../src/keys/KeyFile.js"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import { KeyFileError } from "../../src/keys/PrivateKeyError.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as OpenSshStrategy from "../../src/OpenSshStrategy.js"
import * as IdentityFile from "../../src/sources/IdentityFile.js"
import * as PrivateKeySource from "../../src/sources/PrivateKey.js"
import * as Prompter from "../../src/sources/Prompter.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import * as MemoryFileSystem from "../support/MemoryFileSystem.js"

const HOME = "/home/pat"
const key = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32), "pat@test")
const other = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32), "other@test")
const plain = OpenSshKeyV1.write(key)
const encrypted = OpenSshKeyV1.write(key, { passphrase: Redacted.make("sesame"), rounds: 1 })
const publicLine = PublicKeyText.format(key.publicKey, "pat@test")

const locked = [`${HOME}/.ssh/locked`, `${HOME}/.ssh/pub_locked.pub`, `${HOME}/.ssh/id_ecdsa`]
const memory = MemoryFileSystem.layer({
  // The empty config, by the path ssh_config resolution reads it.
  "/dev/null": "",
  [`${HOME}/.ssh/id_ed25519`]: plain,
  [`${HOME}/.ssh/id_ed25519.pub`]: publicLine,
  [`${HOME}/.ssh/encrypted`]: encrypted,
  [`${HOME}/.ssh/pub_locked`]: OpenSshKeyV1.write(other),
  // There, and mode 000 to us: EACCES.
  ...Object.fromEntries(locked.map((path) => [path, "not to be read"]))
}, { unreadable: locked })

describe("key files through the platform's FileSystem", () => {
  it.effect("reads a key and its .pub from the file system in context", () =>
    Effect.gen(function*() {
      const read = yield* KeyFile.readFile(`${HOME}/.ssh/id_ed25519`)
      expect(PublicKey.equals(read.publicKey, key.publicKey)).toBe(true)
      const pub = yield* KeyFile.readPublic(`${HOME}/.ssh/id_ed25519`)
      expect(pub.comment).toBe("pat@test")
      const decrypted = yield* KeyFile.readFile(`${HOME}/.ssh/encrypted`, { passphrase: Effect.succeed(Redacted.make("sesame")) })
      expect(PublicKey.equals(decrypted.publicKey, key.publicKey)).toBe(true)
    }).pipe(Effect.provide(memory)))

  it.effect("a file that may not be read is a KeyFileError PermissionDenied naming it; a missing one is NotFound", () =>
    Effect.gen(function*() {
      const locked = yield* Effect.flip(KeyFile.readFile(`${HOME}/.ssh/locked`))
      expect(locked._tag).toBe("KeyFileError")
      expect(locked._tag === "KeyFileError" && [locked.reason, locked.path]).toEqual(["PermissionDenied", `${HOME}/.ssh/locked`])
      expect(locked.message).toBe(`key ${HOME}/.ssh/locked: cannot read ${HOME}/.ssh/locked: permission denied`)
      const missing = yield* Effect.flip(KeyFile.readPublic(`${HOME}/.ssh/nothing`))
      expect(missing._tag === "KeyFileError" && missing.reason).toBe("NotFound")
    }).pipe(Effect.provide(memory)))

  it.effect("a .pub that exists and may not be read fails, where a missing .pub is only absent", () =>
    Effect.gen(function*() {
      const beside = yield* Effect.flip(KeyFile.readPublicBeside(`${HOME}/.ssh/pub_locked`))
      expect([beside.reason, beside.path]).toEqual(["PermissionDenied", `${HOME}/.ssh/pub_locked.pub`])
      expect(yield* KeyFile.readPublicBeside(`${HOME}/.ssh/encrypted`)).toBeUndefined()
    }).pipe(Effect.provide(memory)))

  it.effect("an on-disk source reads through the file system; a locked file is that source's typed error", () =>
    Effect.gen(function*() {
      const strategy = AuthStrategy.make(
        PrivateKeySource.onDisk({ username: "pat", path: `${HOME}/.ssh/locked` }),
        PrivateKeySource.onDisk({ username: "pat", path: `${HOME}/.ssh/encrypted`, passphrase: Effect.succeed(Redacted.make("sesame")) })
      )
      const result = yield* AuthStrategy.authenticate(strategy)
      expect(result.attempts.map((a) => a.attempt._tag)).toEqual(["Error", "Success"])
      const first = result.attempts[0].attempt
      expect(first._tag === "Error" && first.error instanceof KeyFileError && first.error.reason).toBe("PermissionDenied")
      const sent = yield* Scripted.sent
      expect(sent).toHaveLength(1)
    }).pipe(
      Effect.provide(Layer.provideMerge(AuthHandler.layer, Scripted.layerScripted({ serverSigAlgs: ["ssh-ed25519"], steps: [{ reply: [Scripted.success] }] }))),
      Effect.provide(memory)
    ))
})

describe("identity files in the OpenSSH plan, on the in-memory file system", () => {
  const planFor = (options: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const config = yield* SshConfig.resolve({
        host: "h",
        configFile: "/dev/null",
        options,
        local: { ...SshConfig.localContext(), homeDir: HOME, env: {} }
      })
      return yield* OpenSshStrategy.plan({ config }).pipe(Effect.provide(OpenSshStrategy.agentLayer(config)))
    }).pipe(Effect.provide(memory))

  it.effect("a missing IdentityFile is skipped, as ssh skips it; a locked one is a step that fails with PermissionDenied", () =>
    Effect.gen(function*() {
      const steps = yield* planFor([`IdentityFile ${HOME}/.ssh/gone`, `IdentityFile ${HOME}/.ssh/locked`, `IdentityFile ${HOME}/.ssh/id_ed25519`])
      const byPath = (p: string) => steps.find((s) => s.path === `${HOME}/.ssh/${p}`)
      expect(byPath("gone")?.skipped).toBe(`no such identity file: ${HOME}/.ssh/gone`)
      const locked = byPath("locked")
      expect(locked?.skipped).toBeUndefined()
      const error = yield* Effect.flip(locked!.source.authenticate.pipe(
        Effect.provide(Layer.provideMerge(AuthHandler.layer, Scripted.layerScripted({ steps: [] }))),
        Effect.provide(memory)
      ))
      expect(error._tag === "KeyFileError" && [error.reason, error.path]).toEqual(["PermissionDenied", `${HOME}/.ssh/locked`])
      expect(byPath("id_ed25519")?.fingerprint).toBe(PublicKey.fingerprintSha256(key.publicKey))
    }))

  it.effect("ssh's default identity files: a locked one is shown, not passed over as absent", () =>
    Effect.gen(function*() {
      const steps = yield* planFor([])
      const defaults = steps.filter((s) => s.kind === "identity file").map((s) => [s.path, s.source._tag])
      expect(defaults).toEqual([[`${HOME}/.ssh/id_ecdsa`, "BrokenIdentityFile"], [`${HOME}/.ssh/id_ed25519`, "IdentityFileKey"]])
    }))

  it.effect("an identity file is decrypted through the file system after PK_OK", () =>
    Effect.gen(function*() {
      const steps = yield* planFor([`IdentityFile ${HOME}/.ssh/id_ed25519`, "IdentitiesOnly yes", "PreferredAuthentications publickey"])
      const strategy = AuthStrategy.make(...steps.filter((s) => s.skipped === undefined).map((s) => s.source))
      const result = yield* AuthStrategy.authenticate(strategy).pipe(
        Effect.provide(Layer.provideMerge(
          AuthHandler.layer,
          Scripted.layerScripted({
            serverSigAlgs: ["ssh-ed25519"],
            steps: [{ reply: [Scripted.pkOk("ssh-ed25519", key.publicKey.blob)] }, { reply: [Scripted.success] }]
          })
        )),
        Effect.provide(memory),
        Effect.either
      )
      expect(Either.isRight(result) && result.right.succeeded).toBe(true)
    }))

  it.effect("IdentityFile.fromFile: a refused key costs no prompt; an accepted one is decrypted after PK_OK, asking once", () =>
    Effect.gen(function*() {
      const asked: Array<string> = []
      const prompter: Prompter.Prompter = {
        ask: (prompt) => Effect.sync(() => (asked.push(Prompter.label(prompt)), Redacted.make("sesame")))
      }
      const source = yield* IdentityFile.fromFile({ username: "pat", path: `${HOME}/.ssh/encrypted`, prompter })
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(source, source)).pipe(
        Effect.provide(Layer.provideMerge(
          AuthHandler.layer,
          Scripted.layerScripted({
            serverSigAlgs: ["ssh-ed25519"],
            steps: [
              { reply: [Scripted.failure(["publickey"])] },
              { reply: [Scripted.pkOk("ssh-ed25519", key.publicKey.blob)] },
              { reply: [Scripted.success] }
            ]
          })
        ))
      )
      expect(result.attempts.map((a) => a.attempt._tag)).toEqual(["Failure", "Success"])
      expect(asked).toHaveLength(1)
    }).pipe(Effect.provide(memory)))
})
