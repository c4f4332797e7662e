/**
 * The README's first command on a machine without sshd: the demo runs in a mount namespace
 * where the system's sshd is an empty, unexecutable file, and must still show every step
 * against our own server and exit 0.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync, spawn } from "node:child_process"
import * as path from "node:path"
import { isCI, skipUnlessRoot, sshdPath } from "../support/Env.js"

const root = path.resolve(import.meta.dirname, "../..")

const canHide = (): boolean => {
  if (skipUnlessRoot("the demo without sshd (a mount namespace hides sshd)")) return false
  try {
    execFileSync("unshare", ["-m", "true"])
    return true
  } catch (e) {
    if (isCI) throw new Error(`CI=true but unshare -m fails, which hiding sshd needs: ${String(e)}`)
    console.warn("\n*** the demo without sshd: SKIPPED: unshare -m is not available ***\n")
    return false
  }
}

describe("npm run demo", () => {
  it.skipIf(!canHide())("runs every step against our server with sshd hidden, and exits 0", async () => {
    const hidden = sshdPath ?? "/usr/sbin/sshd"
    const script = [
      // Only if there is something to hide: a machine with no sshd at all is the case itself.
      `if [ -e ${hidden} ]; then mount --bind /dev/null ${hidden}; fi`,
      `exec ${process.execPath} node_modules/vite-node/vite-node.mjs scripts/demo.ts`
    ].join(" && ")
    // Not spawnSync: the worker's event loop must keep answering vitest while the demo runs.
    const child = spawn("unshare", ["-m", "sh", "-c", script], { cwd: root, timeout: 90_000 })
    let output = ""
    child.stdout.on("data", (d) => (output += d))
    child.stderr.on("data", (d) => (output += d))
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve))
    expect(status, output).toBe(0)
    for (
      const step of [
        "# the plan, without connecting",
        "# a key",
        "# a password",
        "# a two-factor chain",
        "# a key the server does not know: exit 255",
        "(no usable sshd here"
      ]
    ) expect(output).toContain(step)
    expect(output).toContain("[server] Partial publickey for bob")
    expect(output).toContain("[server] Accepted password for bob")
    expect(output).toMatch(/wrong-key\n[\s\S]*\(exit 255\)/)
    expect(output).not.toContain("expected")
  }, 120_000)
})
