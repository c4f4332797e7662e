/**
 * Throwaway system users of a run (the test suite's password user, the server benchmark's
 * login user): a random `sshauth…` name, a GECOS marker naming the run's pid, and the sweep
 * that deletes users whose run has died. Plain Node, no vitest: vitest's global setup and the
 * benchmarks both use it.
 */
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"

/** The GECOS field that marks a user as ours, with the pid of the run that made it. */
export const marker = (pid: number) => `effect-ssh-auth test user, run pid ${pid}`
const markerPattern = /^effect-ssh-auth test user, run pid (\d+)$/
const namePattern = /^sshauth[a-z0-9]{6}$/

/** Runs a command to its end (bounded), with its status and its complaint. */
export const sh = (file: string, args: ReadonlyArray<string>, input?: string) => {
  const r = spawnSync(file, [...args], { encoding: "utf8", timeout: 30_000, ...(input !== undefined ? { input } : {}) })
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: (r.stderr ?? "").trim() || (r.error?.message ?? "") }
}

/** `sshauth` and 6 random lowercase letters and digits: a valid Linux user name of 13 characters. */
export const randomName = () => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  return "sshauth" + Array.from(crypto.randomBytes(6), (b) => alphabet[b % alphabet.length]).join("")
}

/** Whether a process still runs (EPERM: it does, under another user). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/** Deletes users of ours whose run is no longer alive, and any `alsoRemove` names; `remove` deletes one. */
export const removeStale = (remove: (name: string) => void, alsoRemove: ReadonlyArray<string> = []) => {
  for (const line of sh("getent", ["passwd"]).stdout.split("\n")) {
    const [name, , , , gecos] = line.split(":")
    if (alsoRemove.includes(name)) remove(name)
    const pid = markerPattern.exec(gecos ?? "")?.[1]
    if (pid !== undefined && namePattern.test(name) && !alive(Number(pid))) remove(name)
  }
}
