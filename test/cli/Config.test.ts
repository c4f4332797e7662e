/**
 * `ssh-auth config` as a user runs it: every line it prints is a line `ssh -G` prints for the
 * same arguments, and a bad config exits 255 naming the file and line.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hasTool, requireTool } from "../support/Tools.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const run = (cmd: string, args: ReadonlyArray<string>) => spawnSync(cmd, [...args], { encoding: "utf8", timeout: 60_000 })
let dir = ""

describe.skipIf(!hasTool("ssh"))("ssh-auth config", () => {
  beforeAll(() => {
    requireTool("ssh")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-config-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("prints what ssh -G prints, with -F, -l, -p, -o and user@host", () => {
    const file = path.join(dir, "config")
    fs.writeFileSync(
      file,
      "Host web\n  HostName web1.example.com\n  User deploy\n  IdentityFile ~/.ssh/web_%h\n  HostKeyAlgorithms ^ssh-ed25519\nMatch host web1.*\n  ProxyJump bastion\n"
    )
    for (
      const args of [["web"], ["-l", "alice", "-p", "2300", "web"], ["-o", "StrictHostKeyChecking=accept-new", "bob@web"], ["-o", "User=opt", "other.example"]]
    ) {
      const ours = run(process.execPath, [bin, "config", "-F", file, ...args])
      expect(ours.status, ours.stderr).toBe(0)
      const theirs = run("ssh", ["-G", "-F", file, ...args])
      expect(theirs.status).toBe(0)
      const oracle = new Set(theirs.stdout.split("\n"))
      const printed = ours.stdout.trim().split("\n")
      expect(printed.length).toBeGreaterThanOrEqual(20)
      // ssh here is 9.2, whose default kex list predates ML-KEM (test/config/KexAlgorithms.test.ts holds ours to OpenSSH 10).
      for (const line of printed.filter((l) => !l.startsWith("kexalgorithms "))) {
        expect([args.join(" "), line, oracle.has(line)]).toEqual([args.join(" "), line, true])
      }
    }
  })

  it("a bad config exits 255 and names the file and line", () => {
    const file = path.join(dir, "bad")
    fs.writeFileSync(file, "User ok\nPort seventy\n")
    const ours = run(process.execPath, [bin, "config", "-F", file, "x"])
    expect(ours.status).toBe(255)
    expect(ours.stderr).toContain(`${file} line 2: Bad port 'seventy'.`)
  })
})
