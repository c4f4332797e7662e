/**
 * The core and the wire parsers against garbage, at a quick count (FUZZ_RUNS, default
 * 10,000 a property); `npm test` runs the same properties at 100,000 each afterwards
 * (test/fuzz/run.ts), outside the test runner's workers.
 */
import { describe, it } from "vitest"
import { assertMany, parsers, phases } from "../fuzz/Properties.js"

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000)

describe("the connection core against garbage", () => {
  for (const p of phases) it(`${p.name}: ${RUNS} cases`, () => assertMany(p, RUNS), 300_000)
})

describe("the wire parsers against garbage", () => {
  for (const p of parsers) it(`${p.name}: ${RUNS} cases, a value or a typed error, never a throw`, () => assertMany(p, RUNS), 300_000)
})
