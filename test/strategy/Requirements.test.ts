/**
 * Getters that need services: a password fetched from a secrets service. The requirement
 * shows in the strategy's type and in `authenticate`'s, a layer meets it, and the login
 * goes through: over the scripted transport, and over TCP to our server through the
 * one-call `AuthHandler.layerTcp`.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type { AuthFailure, AuthResult } from "../../src/AuthResult.js"
import * as AuthStrategy from "../../src/AuthStrategy.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as KeyboardInteractive from "../../src/sources/KeyboardInteractive.js"
import * as NoneAuth from "../../src/sources/NoneAuth.js"
import * as Password from "../../src/sources/Password.js"
import * as PrivateKeySource from "../../src/sources/PrivateKey.js"
import * as Scripted from "../../src/transport/ScriptedTransport.js"
import * as OurServer from "../support/OurServer.js"

class SecretMissing extends Schema.TaggedError<SecretMissing>()("SecretMissing", { name: Schema.String }) {}

/** A secrets service, as an application would have one. */
class Secrets extends Context.Tag("test/Secrets")<Secrets, {
  readonly get: (name: string) => Effect.Effect<Redacted.Redacted<string>, SecretMissing>
}>() {}

const vault = (entries: Readonly<Record<string, string>>) =>
  Layer.succeed(Secrets, {
    get: (name) => name in entries ? Effect.succeed(Redacted.make(entries[name])) : Effect.fail(new SecretMissing({ name }))
  })

/** Another service, to see requirements add up. */
class Audit extends Context.Tag("test/Audit")<Audit, { readonly note: (line: string) => Effect.Effect<void> }>() {}

const fromVault = (username: string) =>
  Password.make({ username, password: Effect.flatMap(Secrets, (s) => s.get(username)), keyboardInteractiveFallback: false })

describe("sources whose getters need services", () => {
  it("the requirement shows in the source, the strategy and authenticate", () => {
    const source = fromVault("alice")
    expectTypeOf(source).toEqualTypeOf<Password.Password<SecretMissing, Secrets>>()
    const strategy = AuthStrategy.make(NoneAuth.make({ username: "alice" }), source)
    expectTypeOf(strategy).toEqualTypeOf<AuthStrategy.AuthStrategy<Secrets>>()
    expectTypeOf(AuthStrategy.authenticate(strategy)).toEqualTypeOf<
      Effect.Effect<AuthResult, AuthFailure, AuthHandler.AuthHandler | Secrets>
    >()
    // Requirements add up across sequence, from sources and from a stream's own.
    const audited: AuthStrategy.AuthStrategy<Audit> = Stream.unwrap(
      Effect.as(Effect.flatMap(Audit, (a) => a.note("building")), Stream.empty)
    )
    const both = AuthStrategy.sequence(strategy, audited)
    expectTypeOf(AuthStrategy.authenticate(both)).toEqualTypeOf<
      Effect.Effect<AuthResult, AuthFailure, AuthHandler.AuthHandler | Secrets | Audit>
    >()
    // Without the secrets service the program is not runnable: its R is not just the handler.
    // @ts-expect-error Secrets is still required
    const _unmet: Effect.Effect<unknown, unknown, AuthHandler.AuthHandler> = AuthStrategy.authenticate(strategy)
    expect(String(source)).toBe("Password(user=alice)")
  })

  it("every getter may need services: a passphrase, a keyboard-interactive responder, a change-password callback", () => {
    const fromSecrets = Effect.flatMap(Secrets, (s) => s.get("key"))
    const onDisk = PrivateKeySource.onDisk({ username: "alice", path: "/home/alice/.ssh/id_ed25519", passphrase: fromSecrets })
    // A key file is read through the platform's FileSystem, which shows too.
    expectTypeOf(AuthStrategy.make(onDisk)).toEqualTypeOf<AuthStrategy.AuthStrategy<Secrets | FileSystem.FileSystem>>()
    const interactive = KeyboardInteractive.make({
      username: "alice",
      responder: (request) => Effect.forEach(request.prompts, () => Effect.zipLeft(fromSecrets, Effect.flatMap(Audit, (a) => a.note("asked"))))
    })
    expectTypeOf(AuthStrategy.make(interactive)).toEqualTypeOf<AuthStrategy.AuthStrategy<Secrets | Audit>>()
    const changing = Password.make({
      username: "alice",
      password: Effect.succeed(Redacted.make("old")),
      changePassword: () => Effect.as(Effect.flatMap(Audit, (a) => a.note("changed")), Redacted.make("new"))
    })
    expectTypeOf(AuthStrategy.make(changing)).toEqualTypeOf<AuthStrategy.AuthStrategy<Audit>>()
    // Sources that need nothing make a strategy that needs nothing.
    expectTypeOf(AuthStrategy.make(NoneAuth.make({ username: "alice" }))).toEqualTypeOf<AuthStrategy.AuthStrategy<never>>()
  })

  it.effect("a password from a secrets service, provided by a layer, logs in; the client sent it", () =>
    Effect.gen(function*() {
      // Piped, data last: the same requirements.
      const login = AuthStrategy.make(fromVault("alice")).pipe(AuthStrategy.authenticate({ noneFirst: true }))
      expectTypeOf(login).toEqualTypeOf<Effect.Effect<AuthResult, AuthFailure, AuthHandler.AuthHandler | Secrets>>()
      const result = yield* login
      expect(result.succeeded).toBe(true)
      const sent = yield* Scripted.sent
      expect(sent.map((m) => m._tag === "UserauthRequest" ? m.fields : m._tag)).toEqual([
        { _tag: "None" },
        { _tag: "Password", password: "from the vault" }
      ])
    }).pipe(
      Effect.provide(Layer.provideMerge(
        AuthHandler.layer,
        Scripted.layerScripted({
          steps: [
            { reply: [Scripted.failure(["publickey", "password"])] },
            { reply: [Scripted.success] }
          ]
        })
      )),
      Effect.provide(vault({ alice: "from the vault" }))
    ))

  it.effect("a secret the service does not have is that source's CredentialError, and nothing is sent for it", () =>
    Effect.gen(function*() {
      const failure = yield* Effect.flip(AuthStrategy.authenticate(AuthStrategy.make(fromVault("bob"))))
      expect(failure.errors.map((e) => e._tag)).toEqual(["CredentialError"])
      expect(yield* Scripted.sent).toEqual([])
    }).pipe(
      Effect.provide(Layer.provideMerge(AuthHandler.layer, Scripted.layerScripted({ steps: [] }))),
      Effect.provide(vault({ alice: "from the vault" }))
    ))

  it.scopedLive("over TCP to our server, in one layer: transport, pinned host key and handler", () =>
    Effect.gen(function*() {
      const server = yield* OurServer.start({ alice: { password: Redacted.make("from the vault") } })
      const pin = PublicKey.fingerprintSha256(server.hostKey.publicKey)
      const login = AuthStrategy.authenticate(AuthStrategy.make(fromVault("alice"))).pipe(Effect.provide(vault({ alice: "from the vault" })))
      const result = yield* login.pipe(Effect.provide(AuthHandler.layerTcp({ host: "127.0.0.1", port: server.port, hostKey: pin })))
      expect(result.succeeded, server.log()).toBe(true)
      expect(server.authenticated.map((a) => [a.user, a.methods]), server.log()).toEqual([["alice", ["password"]]])
      // Another pin: the connection is refused before any secret goes out.
      const refused = yield* login.pipe(
        Effect.provide(AuthHandler.layerTcp({ host: "127.0.0.1", port: server.port, hostKey: ["SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] })),
        Effect.flip
      )
      expect(refused._tag).toBe("HostKeyRejected")
      expect(server.attempts.filter((a) => a.method === "password"), server.log()).toHaveLength(1)
    }), { timeout: 30_000 })
})
