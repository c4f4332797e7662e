/**
 * The CI-sized fuzz run: every property of Properties.ts at FUZZ_RUNS cases (default
 * 100,000), one after another in this process. Prints a line per property and a closing
 * "N passed, N failed"; exits 1 on any failure.
 */
import { assertMany, type FuzzProperty, parsers, phases } from "./Properties.js"

const RUNS = Number(process.env.FUZZ_RUNS ?? 100_000)

const main = async () => {
  let passed = 0
  let failed = 0
  for (const p of [...phases, ...parsers] as ReadonlyArray<FuzzProperty>) {
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
  console.log(`fuzz: ${passed} passed, ${failed} failed`)
  if (failed > 0) process.exitCode = 1
}

main()
