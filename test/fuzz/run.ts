/**
 * The CI-sized fuzz run: every property of Properties.ts at FUZZ_RUNS cases (default
 * 100,000). The properties are split over FUZZ_SHARDS processes (default: one per core, at
 * most four) that run side by side, each taking every n-th property; with one shard, they run
 * one after another in this process. Prints a line per property and a closing
 * "N passed, N failed"; exits 1 on any failure, a shard that dies included.
 */
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { assertMany, type FuzzProperty, parsers, phases } from "./Properties.js"

const RUNS = Number(process.env.FUZZ_RUNS ?? 100_000)
const properties: ReadonlyArray<FuzzProperty> = [...phases, ...parsers]

/** Runs the properties whose index is `shard` modulo `of`; the numbers passed and failed. */
const runShard = async (shard: number, of: number) => {
  let passed = 0
  let failed = 0
  for (const [i, p] of properties.entries()) {
    if (i % of !== shard) continue
    const started = Date.now()
    try {
      await assertMany(p, RUNS)
      passed++
      console.log(`fuzz: ${p.name}: ${RUNS} cases passed (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    } catch (e) {
      failed++
      console.log(`fuzz: ${p.name}: FAILED\n${e instanceof Error ? e.message : String(e)}`)
    }
  }
  return { passed, failed }
}

/** One shard in a process of its own (this script again, under vite-node): its counts from its last line. */
const spawnShard = (shard: number, of: number) =>
  new Promise<{ passed: number; failed: number }>((resolve) => {
    const viteNode = createRequire(import.meta.url).resolve("vite-node/vite-node.mjs")
    const child = spawn(process.execPath, [viteNode, fileURLToPath(import.meta.url)], {
      env: { ...process.env, FUZZ_SHARD: `${shard}/${of}` },
      stdio: ["ignore", "pipe", "inherit"]
    })
    let out = ""
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      out += chunk
      // Whole lines only, so that two shards' lines never interleave mid-line.
      const end = out.lastIndexOf("\n")
      if (end < 0) return
      process.stdout.write(out.slice(0, end + 1))
      out = out.slice(end + 1)
    })
    child.on("close", (code) => {
      const counts = /fuzz shard: (\d+) passed, (\d+) failed/.exec(out)
      if (code === 0 && counts) return resolve({ passed: Number(counts[1]), failed: Number(counts[2]) })
      console.log(`fuzz: shard ${shard + 1} of ${of} ended with ${code === null ? "a signal" : `exit status ${code}`}${out ? `:\n${out}` : ""}`)
      resolve({ passed: 0, failed: 1 })
    })
  })

const main = async () => {
  const shard = /^(\d+)\/(\d+)$/.exec(process.env.FUZZ_SHARD ?? "")
  if (shard) {
    const { failed, passed } = await runShard(Number(shard[1]), Number(shard[2]))
    // The parent's tally, with no newline: the parent keeps a partial line back, so it never prints it.
    process.stdout.write(`fuzz shard: ${passed} passed, ${failed} failed`)
    return
  }
  const shards = Math.min(4, Number(process.env.FUZZ_SHARDS ?? os.availableParallelism()))
  if (!Number.isInteger(shards) || shards < 1) throw new Error("FUZZ_SHARDS must be a positive whole number")
  const results = shards === 1
    ? [await runShard(0, 1)]
    : await Promise.all(Array.from({ length: shards }, (_, i) => spawnShard(i, shards)))
  const passed = results.reduce((n, r) => n + r.passed, 0)
  const failed = results.reduce((n, r) => n + r.failed, 0)
  console.log(`fuzz: ${passed} passed, ${failed} failed`)
  if (failed > 0 || passed + failed < properties.length) process.exitCode = 1
}

main()
