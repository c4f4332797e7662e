/**
 * `bench:server`'s process for this library's server: `Server.listen` on 127.0.0.1 with the
 * user table (one user, one key), as `ssh-auth serve` runs it but without its log lines, and
 * each authenticated connection served by `serveExec` (what `serve` does: session channels
 * answering exec) until the client closes it. MaxStartups 200, sshd's fixture's first value,
 * so 20 logins in flight are never dropped. bench/server.ts runs it as one minified bundle,
 * as `ssh-auth serve` ships.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as fs from "node:fs"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as Server from "../../src/server/Server.js"
import { serveExec } from "../../src/server/Session.js"
import * as UserTable from "../../src/server/UserTable.js"
import { args, main, serve } from "./Control.js"

await main(async () => {
  const a = args()
  const hostKey = await Effect.runPromise(OpenSshKeyV1.read(fs.readFileSync(a.hostKeyFile, "utf8"), { source: a.hostKeyFile }))
  const userKey = Either.getOrThrow(PublicKeyText.parsePublicKey(fs.readFileSync(a.publicKeyFile, "utf8").trim()))
  const program = Effect.gen(function*() {
    const listening = yield* Server.listen({
      port: 0,
      hostKeys: [hostKey],
      maxStartups: 200,
      onAuthenticated: ({ connection, result }) =>
        serveExec(connection, result, () => Effect.succeed({ stdout: `authenticated ${result.user} by ${result.methods.join(",")}\n`, exitStatus: 0 }))
    })
    serve(listening.port, listening.connections)
    return yield* Effect.never
  })
  await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(UserTable.layer({ [a.user]: { keys: [userKey] } }))))
})
