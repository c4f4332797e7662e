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
