/**
 * `npm run bench:sntrup761`: the time of sntrup761's three operations, two ways.
 *
 * - Cold: each of BENCH_COLD fresh node processes imports the module, idles 300 ms (so that
 *   the JIT is done with the loader's code), and times its first key pair, encapsulation and
 *   decapsulation, wall and process CPU (the CPU includes the JIT's compiler threads). A
 *   client's key exchange is this: one key pair, one decapsulation, in a process that has
 *   not run them before.
 * - Warm: in this process, after BENCH_WARMUP untimed rounds, BENCH_N timed ones.
 */
import { execFileSync } from "node:child_process"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { randomBytes } from "../src/crypto/RandomPool.js"
import * as Sntrup761 from "../src/crypto/Sntrup761.js"
import { median, quantile } from "./Stats.js"

const COLD = Number(process.env.BENCH_COLD ?? 15)
const WARMUP = Number(process.env.BENCH_WARMUP ?? 20)
const N = Number(process.env.BENCH_N ?? 100)

const modules = {
  sntrup: fileURLToPath(new URL("../src/crypto/Sntrup761.js", import.meta.url)),
  random: fileURLToPath(new URL("../src/crypto/RandomPool.js", import.meta.url))
}

/** Run in a fresh process: the first call of each operation, wall ms and CPU ms. */
const coldScript = `
const { keyPair, encapsulate, decapsulate } = await import(${JSON.stringify(modules.sntrup)})
const { randomBytes } = await import(${JSON.stringify(modules.random)})
// Let the JIT finish with the module loader's own code first: its compiler threads count in the process CPU.
await new Promise((resolve) => setTimeout(resolve, 300))
const time = (f) => {
  const c0 = process.cpuUsage(), t0 = performance.now()
  const value = f()
  const t = performance.now() - t0, c = process.cpuUsage(c0)
  return { value, wall: t, cpu: (c.user + c.system) / 1000 }
}
const k = time(() => keyPair(randomBytes))
const e = time(() => encapsulate(k.value.publicKey, randomBytes))
const d = time(() => decapsulate(e.value.ciphertext, k.value.secretKey))
if (Buffer.compare(d.value, e.value.sharedSecret) !== 0) throw new Error("shared secrets differ")
console.log(JSON.stringify({ keyPair: [k.wall, k.cpu], encapsulate: [e.wall, e.cpu], decapsulate: [d.wall, d.cpu] }))
`

type Operation = "keyPair" | "encapsulate" | "decapsulate"
const operations: ReadonlyArray<Operation> = ["keyPair", "encapsulate", "decapsulate"]

const cold = operations.map(() => ({ wall: [] as Array<number>, cpu: [] as Array<number> }))
const client: Array<number> = []
for (let i = 0; i < COLD; i++) {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", coldScript], { encoding: "utf8", timeout: 60_000 })
  const run = JSON.parse(out) as Record<Operation, [number, number]>
  operations.forEach((op, j) => {
    cold[j].wall.push(run[op][0])
    cold[j].cpu.push(run[op][1])
  })
  client.push(run.keyPair[1] + run.decapsulate[1])
}

const { publicKey, secretKey } = Sntrup761.keyPair(randomBytes)
const { ciphertext } = Sntrup761.encapsulate(publicKey, randomBytes)
const warmOps: Record<Operation, () => unknown> = {
  keyPair: () => Sntrup761.keyPair(randomBytes),
  encapsulate: () => Sntrup761.encapsulate(publicKey, randomBytes),
  decapsulate: () => Sntrup761.decapsulate(ciphertext, secretKey)
}
const warm = operations.map(() => ({ times: [] as Array<number>, cpu: 0 }))
for (let round = 0; round < WARMUP + N; round++) {
  // Interleaved, so drift in the machine's load hits the three alike.
  operations.forEach((op, j) => {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    warmOps[op]()
    const t = performance.now() - t0
    const c = process.cpuUsage(c0)
    if (round >= WARMUP) {
      warm[j].times.push(t)
      warm[j].cpu += (c.user + c.system) / 1000
    }
  })
}

const ms = (x: number) => x.toFixed(2)
console.log([
  `sntrup761 benchmark: ${COLD} fresh processes (first call of each operation), then ${N} warm rounds after ${WARMUP} warm-up`,
  `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores`,
  "",
  "| operation | cold median wall ms | cold median CPU ms | cold p90 CPU ms | warm median ms | warm p90 ms | warm CPU ms/op |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  ...operations.map((op, j) =>
    `| ${op} | ${ms(median(cold[j].wall))} | ${ms(median(cold[j].cpu))} | ${ms(quantile(cold[j].cpu, 0.9))} | ${ms(median(warm[j].times))} | ${
      ms(quantile(warm[j].times, 0.9))
    } | ${ms(warm[j].cpu / N)} |`
  ),
  "",
  `A client's share of a cold sntrup761x25519 exchange (key pair + decapsulation, process CPU): median ${ms(median(client))} ms, p90 ${
    ms(quantile(client, 0.9))
  } ms`
].join("\n"))
