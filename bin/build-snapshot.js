#!/usr/bin/env node
// Makes dist/cli/ssh-auth.blob: a V8 startup snapshot of the ssh-auth bundle, for the node that
// runs this script (a snapshot only loads in the node binary and V8 flags that made it). Beside
// it, ssh-auth.blob.node names that binary, its size and the V8 flags; bin/ssh-auth.js starts
// from the snapshot, with those flags, only when the binary and size match the node on PATH.
// `npm run build` runs this in the repository; an installed package has no snapshot until you
// run `node <package>/bin/build-snapshot.js`.
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

/**
 * The V8 flags of the snapshot and of every start from it (the stamp carries them to
 * bin/ssh-auth.js), each for a login's peak RSS, measured in bench/RESULTS.md: a small young
 * generation; no baseline (Sparkplug) code, whose compiler and code cost a login 1.6 MB and
 * gained it nothing measurable; and a larger budget before a function is optimized, so that a
 * short command rarely wakes the optimizing compiler, whose code pages cost another 0.5 MB.
 */
const V8_FLAGS = ["--max-semi-space-size=1", "--no-sparkplug", "--interrupt-budget=1000000"]
const RUN_TIMEOUT_MS = 120_000

const dist = path.resolve(import.meta.dirname, "../dist/cli")
const bundle = path.join(dist, "ssh-auth.snapshot.cjs")
const moduleBundle = path.join(dist, "ssh-auth.mjs")
const blob = path.join(dist, "ssh-auth.blob")
const stamp = `${blob}.node`
const partial = `${blob}.partial`

const run = (args, env = process.env) =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], timeout: RUN_TIMEOUT_MS, env })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("close", (code) => resolve({ code, stdout, stderr }))
    child.on("error", (error) => resolve({ code: -1, stdout, stderr: String(error) }))
  })

// Node's own notes while it builds a snapshot, about builtins it has not verified there
// (child_process, readline: the bundle only holds references to them until main runs).
const nodeNote = /not yet fully verified|may still work in some cases|To request support for the module|--trace-warnings|Deleting Error.stackTraceLimit/

const fail = (why) => {
  console.error(`build-snapshot: ${why}`)
  fs.rmSync(partial, { force: true })
  process.exit(1)
}

fs.rmSync(blob, { force: true })
fs.rmSync(stamp, { force: true })
if (!fs.existsSync(bundle)) fail(`${bundle} is missing: build it first (npm run build)`)
const started = Date.now()
// The build rehearses a login (src/cli/Rehearsal.ts) against the bundle's own `serve`.
const built = await run([...V8_FLAGS, "--snapshot-blob", partial, "--build-snapshot", bundle], { ...process.env, SSH_AUTH_REHEARSAL_SERVER: moduleBundle })
// Bounded: an error in the one-line bundle would print all of it.
const said = built.stderr.split("\n").filter((line) => line.trim() !== "" && !nodeNote.test(line)).map((line) => line.slice(0, 300))
if (built.code !== 0) fail(`node --build-snapshot exited ${built.code}: ${said.join("\n")}`)
// The bundle's own words while building (a rehearsal that failed, say: the snapshot then works, only slower).
for (const line of said.filter((line) => line.startsWith("ssh-auth snapshot:"))) console.error(`build-snapshot: ${line}`)
// The snapshot must start and run a command, or no stamp is written and the bundle runs.
// ("--": what follows is the command's, not node's own --version.)
const check = await run([...V8_FLAGS, "--snapshot-blob", partial, "--", "--version"])
const expected = await run([moduleBundle, "--version"])
if (check.code !== 0 || expected.code !== 0 || check.stdout.trim() === "" || check.stdout !== expected.stdout) {
  fail(`the snapshot does not answer --version as the bundle does (${JSON.stringify(check.stdout.trim())}, ${JSON.stringify(expected.stdout.trim())}): ${check.stderr.trim().slice(0, 300)}`)
}
fs.renameSync(partial, blob)
const node = fs.realpathSync(process.execPath)
fs.writeFileSync(stamp, `${node}\n${fs.statSync(node).size}\n${V8_FLAGS.join(" ")}\n${process.version}\n`)
console.error(`build-snapshot: dist/cli/ssh-auth.blob for node ${process.version}, ${(fs.statSync(blob).size / 1048576).toFixed(1)} MiB, in ${Date.now() - started} ms`)
