/**
 * `bench:fanout`'s runner for this library, in a process of its own: the login of
 * bench/auth.ts's default row (bench/Login.ts), each connection kept open in a Scope of its
 * own until the runner closes it.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as Login from "../Login.js"
import { args, CONNECTION_TIMEOUT_MS, main, readKeyText, run } from "./Runner.js"

await main(async () => {
  const a = args()
  const key = await Effect.runPromise(OpenSshKeyV1.read(readKeyText(a), { source: a.keyFile }))
  await run(async (port) => {
    const scope = Effect.runSync(Scope.make())
    const close = () => Login.bounded(Scope.close(scope, Exit.void), CONNECTION_TIMEOUT_MS, "close")
    await Login.bounded(Scope.extend(Login.ours({ port, user: a.user, key }), scope), CONNECTION_TIMEOUT_MS, "login").catch(async (e) => {
      await close().catch(() => {})
      throw e
    })
    return close
  })
})
