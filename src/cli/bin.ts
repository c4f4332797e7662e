/**
 * The entry point of the `ssh-auth` bundle, `dist/cli/ssh-auth.mjs`, which `bin/ssh-auth.js`
 * imports: it runs the command on `process.argv`. Built into a V8 startup snapshot
 * (`node --build-snapshot`), it rehearses a login at build time (`Rehearsal.ts`: the functions
 * a login runs are compiled once, there), and runs the command on every start from the
 * snapshot, where `process.argv` is `[node, ...arguments]`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as v8 from "node:v8"
import { main } from "./main.js"
import { forget, rehearse } from "./Rehearsal.js"

/**
 * bin/ssh-auth.js starts node with an environment for a short process (without
 * NODE_EXTRA_CA_CERTS, with glibc malloc settings) and notes what it changed: the programs the
 * command runs (ProxyCommand, Match exec) get the environment they would have had.
 */
const restoreEnvironment = (): void => {
  const env = process.env
  if (env.SSH_AUTH_NODE_EXTRA_CA_CERTS !== undefined) {
    env.NODE_EXTRA_CA_CERTS = env.SSH_AUTH_NODE_EXTRA_CA_CERTS
    delete env.SSH_AUTH_NODE_EXTRA_CA_CERTS
  }
  // The names of the variables the launcher set where they were unset.
  for (const name of (env.SSH_AUTH_UNSET ?? "").split(" ")) if (name !== "") delete env[name]
  delete env.SSH_AUTH_UNSET
}

if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.addSerializeCallback(forget)
  v8.startupSnapshot.setDeserializeMainFunction(() => {
    restoreEnvironment()
    main([process.execPath, "ssh-auth", ...process.argv.slice(1)])
  })
  // Without a rehearsal the snapshot still works: each start compiles what it runs.
  // bin/build-snapshot.js names the bundle whose `serve` the rehearsal logs in to.
  const server = process.env.SSH_AUTH_REHEARSAL_SERVER
  if (server === undefined) {
    process.stderr.write("ssh-auth snapshot: no rehearsal: SSH_AUTH_REHEARSAL_SERVER names no bundle to serve\n")
  } else {
    Effect.runPromiseExit(rehearse([process.execPath, server])).then((exit) => {
      if (exit._tag === "Failure") process.stderr.write(`ssh-auth snapshot: no rehearsal: ${Cause.pretty(exit.cause).split("\n")[0]}\n`)
    })
  }
} else {
  restoreEnvironment()
  main(process.argv)
}
