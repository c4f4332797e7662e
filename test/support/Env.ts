/**
 * What the machine offers the interop tests, and honest skipping: without sshd (or root, for
 * the tests that need it) the suites skip with one loud warning; under CI=true they fail instead.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

export const isCI = process.env.CI === "true" || process.env.CI === "1"
export const isRoot = typeof process.getuid === "function" && process.getuid() === 0

const findSshd = (): string | undefined => {
  for (const candidate of ["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/usr/bin/sshd"]) {
    if (fs.existsSync(candidate)) return candidate
  }
  try {
    return execFileSync("sh", ["-c", "command -v sshd"], { encoding: "utf8" }).trim() || undefined
  } catch {
    return undefined
  }
}

export const sshdPath = findSshd()
export const hasSshd = sshdPath !== undefined

let warned = false
/**
 * True when interop tests should skip (no sshd, not CI). Under CI a missing sshd throws, so
 * the run fails loudly instead of passing on skipped tests.
 */
export const skipInterop = (): boolean => {
  if (hasSshd) return false
  if (isCI) throw new Error("CI=true but sshd is not installed: install openssh-server (.ci/run does)")
  if (!warned) {
    warned = true
    console.warn("\n*** interop tests SKIPPED: sshd not found; install openssh-server to run them ***\n")
  }
  return true
}

const warnedRoot = new Set<string>()
/**
 * True when a test that needs root should skip (not root, not CI), after one loud warning that
 * names it. Under CI a missing root throws, so the file fails instead of passing on skipped tests.
 */
export const skipUnlessRoot = (what: string): boolean => {
  if (isRoot) return false
  if (isCI) throw new Error(`CI=true but not running as root, which ${what} needs (.ci/run runs as root)`)
  if (!warnedRoot.has(what)) {
    warnedRoot.add(what)
    console.warn(`\n*** ${what}: SKIPPED: needs root (run the suite as root to include it) ***\n`)
  }
  return true
}

/** Whether `name` is a command on PATH. */
export const onPath = (name: string): boolean => {
  try {
    execFileSync("sh", ["-c", `command -v ${name}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

/** Whether Debian's python (/usr/bin/python3, not the python3 on PATH) can import `module`. */
export const debianPythonHas = (module: string): boolean => {
  try {
    execFileSync("/usr/bin/python3", ["-c", `import ${module}`], { stdio: "ignore" })
    return true
  } catch {
    return false
  }
}

const warnedPeers = new Set<string>()
/**
 * True when the tests of a missing peer (a real client or server) should skip, after one loud
 * warning that names it and the package that brings it. Under CI a missing peer throws, so the
 * file fails instead of passing on skipped tests.
 */
export const skipWithoutPeer = (peer: string, available: boolean, install: string): boolean => {
  if (available) return false
  if (isCI) throw new Error(`CI=true but ${peer} is not available: install ${install} (.ci/run must)`)
  if (!warnedPeers.has(peer)) {
    warnedPeers.add(peer)
    console.warn(`\n*** tests against ${peer} SKIPPED: it is not available; install ${install} to run them ***\n`)
  }
  return true
}
