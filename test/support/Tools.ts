/**
 * The command-line tools the key tests use as oracles (ssh-keygen, openssl, puttygen).
 * Missing tools skip their tests with one loud warning each; under CI=true they fail.
 */
import { execFileSync } from "node:child_process"
import { isCI } from "./Env.js"

const found = new Map<string, boolean>()

export const hasTool = (name: string): boolean => {
  let ok = found.get(name)
  if (ok === undefined) {
    try {
      execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" })
      ok = true
    } catch {
      ok = false
    }
    found.set(name, ok)
    if (!ok && !isCI) console.warn(`\n*** tests that need ${name} are SKIPPED: it is not installed ***\n`)
  }
  return ok || isCI
}

/** Throws when the tool is missing: reached only under CI, where skipping is not allowed. */
export const requireTool = (name: string): void => {
  hasTool(name)
  if (!found.get(name)) throw new Error(`CI=true but ${name} is not installed (.ci/run installs it)`)
}

let openSshKex: ReadonlySet<string> | undefined

/**
 * The kex methods this machine's OpenSSH has (`ssh -Q kex`): Debian's 9.2 predates ML-KEM, so
 * the interop matrices leave mlkem768x25519-sha256 to the transcript recorded from OpenSSH 10
 * (test/transport/MlKemTranscript.test.ts) and say so.
 */
export const openSshHasKex = (name: string): boolean => {
  if (openSshKex === undefined) {
    try {
      openSshKex = new Set(execFileSync("ssh", ["-Q", "kex"], { encoding: "utf8", timeout: 10_000 }).split("\n").filter((l) => l !== ""))
    } catch {
      openSshKex = new Set()
    }
  }
  const has = openSshKex.has(name)
  if (!has) console.warn(`\n*** ${name}: this OpenSSH does not have it; the interop matrices leave it out ***\n`)
  return has
}
