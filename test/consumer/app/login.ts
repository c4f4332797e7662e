/**
 * One login in an app that installed the packed package: our server on 127.0.0.1 at a free
 * port, and the client logging in to it with a password, both from the package's public
 * subpaths and on the app's own copy of effect. Prints the result; exits 1 on any failure.
 */
import * as AuthStrategy from "effect-ssh-auth/AuthStrategy"
import { CurvesImpl } from "effect-ssh-auth/crypto/Curves"
import * as AuthHandler from "effect-ssh-auth/handler/AuthHandler"
import * as PrivateKey from "effect-ssh-auth/keys/PrivateKey"
import { fingerprintSha256 } from "effect-ssh-auth/keys/PublicKey"
import * as Server from "effect-ssh-auth/server/Server"
import * as UserTable from "effect-ssh-auth/server/UserTable"
import * as Password from "effect-ssh-auth/sources/Password"
import { pinned } from "effect-ssh-auth/transport/HostKeyPolicy"
import { layerTcp } from "effect-ssh-auth/transport/TcpTransport"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"

const program = Effect.gen(function*() {
  const curves = yield* CurvesImpl
  const hostKey = PrivateKey.fromEd25519Seed(curves, new Uint8Array(crypto.randomBytes(32)))
  const password = Redacted.make(crypto.randomBytes(16).toString("hex"))
  const server = yield* Server.listen({ host: "127.0.0.1", port: 0, hostKeys: [hostKey], onAuthenticated: () => Effect.void }).pipe(
    Effect.provide(UserTable.layer({ alice: { password } }))
  )
  const transport = layerTcp({ host: "127.0.0.1", port: server.port, hostKeyPolicy: pinned([fingerprintSha256(hostKey.publicKey)]) })
  const result = yield* AuthStrategy.authenticate(AuthStrategy.make(Password.make({ username: "alice", password: Effect.succeed(password) })), {
    deadline: "20 seconds"
  }).pipe(
    Effect.provide(AuthHandler.layer.pipe(Layer.provide(transport)))
  )
  console.log(String(result))
})

Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`login failed: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
