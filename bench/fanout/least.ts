/**
 * `bench:fanout`'s floor runner, in a process of its own: the least SSH login in plain node
 * (bench/Least.ts), each connection held until the runner closes it. Not a client: what the
 * node:crypto work and a bare socket of a login cost, for the other rows to be read against.
 */
import * as Effect from "effect/Effect"
import * as OpenSshKeyV1 from "../../src/keys/OpenSshKeyV1.js"
import * as Least from "../Least.js"
import { args, main, readKeyText, run } from "./Runner.js"

await main(async () => {
  const a = args()
  const key = await Effect.runPromise(OpenSshKeyV1.read(readKeyText(a), { source: a.keyFile }))
  if (key.material._tag !== "Ed25519") throw new Error("bench:fanout's key is not ed25519")
  const login = { user: a.user, key: Least.ed25519Key(key.material.seed) }
  await run((port) => Least.connect(port, login))
})
