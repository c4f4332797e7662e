/**
 * Configs ssh refuses: we refuse them too, with a typed error naming the file and line that
 * ssh names.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { ConfigError } from "../../src/config/ConfigError.js"
import * as SshConfig from "../../src/config/SshConfig.js"
import * as NodeFiles from "../support/NodeFiles.js"
import { hasTool, requireTool } from "../support/Tools.js"

let dir = ""

const bad: ReadonlyArray<
  {
    readonly name: string
    readonly files: Readonly<Record<string, string>>
    readonly reason: ConfigError["reason"]
    readonly file: string
    readonly line: number
  }
> = [
  { name: "an unknown keyword", files: { config: "Host x\n  User a\n  Frobnicate yes\n" }, reason: "BadOption", file: "config", line: 3 },
  { name: "a bad port, even in a block that does not apply", files: { config: "Host other\n  Port abc\n" }, reason: "BadValue", file: "config", line: 2 },
  { name: "extra arguments", files: { config: "\n\nUser a b\n" }, reason: "BadValue", file: "config", line: 3 },
  { name: "a bad yes/no value", files: { config: "BatchMode maybe\n" }, reason: "BadValue", file: "config", line: 1 },
  { name: "an unsupported Match attribute", files: { config: "Host x\nMatch colour blue\n  User a\n" }, reason: "BadMatch", file: "config", line: 2 },
  { name: "Match all combined with another attribute", files: { config: "Match all host x\n" }, reason: "BadMatch", file: "config", line: 1 },
  { name: "a Match attribute without its argument", files: { config: "Match user\n" }, reason: "BadMatch", file: "config", line: 1 },
  {
    name: "a bad line inside an included file",
    files: { config: "Include $DIR/inc.conf\n", "inc.conf": "User ok\nNoSuchOption x\n" },
    reason: "BadOption",
    file: "inc.conf",
    line: 2
  },
  {
    name: "an Include loop",
    files: { config: "Include $DIR/a.conf\n", "a.conf": "Include $DIR/b.conf\n", "b.conf": "Include $DIR/a.conf\n" },
    reason: "IncludeDepth",
    file: "",
    line: 1
  }
]

describe.skipIf(!hasTool("ssh"))("bad configs: typed errors with the file and line ssh names", () => {
  beforeAll(() => {
    requireTool("ssh")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssh-config-bad-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  for (const [i, c] of bad.entries()) {
    it(c.name, async () => {
      const caseDir = path.join(dir, String(i))
      fs.mkdirSync(caseDir)
      for (const [name, text] of Object.entries(c.files)) fs.writeFileSync(path.join(caseDir, name), text.replaceAll("$DIR", caseDir))
      const configFile = path.join(caseDir, "config")
      const oracle = spawnSync("ssh", ["-G", "-F", configFile, "x"], { encoding: "utf8", timeout: 30_000 })
      expect(oracle.status).toBe(255)
      const exit = await Effect.runPromiseExit(SshConfig.resolve({ host: "x", configFile }).pipe(Effect.provide(NodeFiles.layer)))
      if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error(`expected a ConfigError, got ${String(exit)}`)
      const error = exit.cause.error
      expect(error._tag).toBe("ConfigError")
      expect(error.reason).toBe(c.reason)
      if (c.reason === "IncludeDepth") {
        expect(oracle.stderr).toMatch(/Too many recursive configuration includes/)
        expect(error.message).toMatch(/Too many recursive configuration includes/)
        return
      }
      expect(error.file).toBe(path.join(caseDir, c.file))
      expect(error.line).toBe(c.line)
      // ssh names the same place: "<file> line <n>" or "<file>: line <n>".
      expect(oracle.stderr).toContain(`${path.join(caseDir, c.file)}`)
      expect(oracle.stderr).toMatch(new RegExp(`line ${c.line}\\b`))
      expect(error.message).toContain(`${path.join(caseDir, c.file)} line ${c.line}:`)
    })
  }
})
