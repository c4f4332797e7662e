/**
 * The user `bench:server` logs in as. As root it makes an ordinary user for the run (random
 * name, no home, no password, deleted with the Scope), so sshd does what it does for any
 * non-root login: after authentication its per-connection monitor forks a child that drops
 * to the user (a root login skips that fork). The name and the GECOS marker are those of
 * test/support/GlobalSetup.ts, so a user left by a run that was killed is deleted by the next
 * test run, and by the next benchmark run here. Without root: the current user.
 */
import * as Effect from "effect/Effect"
import * as os from "node:os"
import { marker, randomName, removeStale, sh } from "../../test/support/RunUser.js"

/** Bench users have no home: `userdel` without -r. */
const removeUser = (name: string) => void sh("userdel", [name])

export interface BenchUser {
  readonly name: string
  /** How it was chosen, for the report. */
  readonly note: string
}

/** This run's user, deleted when the Scope closes (root only; otherwise the current user). */
export const acquire = Effect.acquireRelease(
  Effect.sync((): BenchUser & { readonly made: boolean } => {
    const current = os.userInfo().username
    if (process.getuid?.() !== 0) return { name: current, made: false, note: `${current} (not root: no user of its own)` }
    // A stale user may be the test suite's, with a home: those go with it.
    removeStale((name) => void sh("userdel", ["-r", name]))
    const name = randomName()
    // "*": no password, but not locked ("!"), which sshd without PAM refuses.
    const add = sh("useradd", ["-M", "-s", "/bin/sh", "-p", "*", "-c", marker(process.pid), name])
    if (add.code !== 0) {
      console.log(`bench:server: useradd ${name} exited ${add.code} (${add.stderr}); logging in as ${current}`)
      return { name: current, made: false, note: `${current} (useradd failed)` }
    }
    return { name, made: true, note: `${name}, made for this run (non-root: sshd forks a post-auth child per login)` }
  }),
  (user) => Effect.sync(() => void (user.made && removeUser(user.name)))
)
