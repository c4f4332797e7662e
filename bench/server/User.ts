/**
 * The user `bench:server` logs in as. As root it makes an ordinary user for the run (random
 * name, no home, no password, deleted with the Scope), so sshd does what it does for any
 * non-root login: after authentication its per-connection monitor forks a child that drops
 * to the user (a root login skips that fork). The name and the GECOS marker are those of
 * test/support/GlobalSetup.ts, so a user left by a run that was killed is deleted by the next
 * test run, and by the next benchmark run here. Without root: the current user.
 */
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as os from "node:os"

const marker = (pid: number) => `effect-ssh-auth test user, run pid ${pid}`
const markerPattern = /^effect-ssh-auth test user, run pid (\d+)$/
const namePattern = /^sshauth[a-z0-9]{6}$/

const sh = (file: string, args: ReadonlyArray<string>) => {
  const r = spawnSync(file, [...args], { encoding: "utf8", timeout: 30_000 })
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: (r.stderr ?? "").trim() || (r.error?.message ?? "") }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Users of ours whose run is gone. */
const removeStale = () => {
  for (const line of sh("getent", ["passwd"]).stdout.split("\n")) {
    const [name, , , , gecos] = line.split(":")
    const pid = markerPattern.exec(gecos ?? "")?.[1]
    if (pid !== undefined && namePattern.test(name) && !alive(Number(pid))) sh("userdel", ["-r", name])
  }
}

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
    removeStale()
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    const name = "sshauth" + Array.from(crypto.randomBytes(6), (b) => alphabet[b % alphabet.length]).join("")
    // "*": no password, but not locked ("!"), which sshd without PAM refuses.
    const add = sh("useradd", ["-M", "-s", "/bin/sh", "-p", "*", "-c", marker(process.pid), name])
    if (add.code !== 0) {
      console.log(`bench:server: useradd ${name} exited ${add.code} (${add.stderr}); logging in as ${current}`)
      return { name: current, made: false, note: `${current} (useradd failed)` }
    }
    return { name, made: true, note: `${name}, made for this run (non-root: sshd forks a post-auth child per login)` }
  }),
  (user) => Effect.sync(() => void (user.made && sh("userdel", [user.name])))
)
