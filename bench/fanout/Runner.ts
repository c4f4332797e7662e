/**
 * The measuring half of `bench:fanout`, shared by the runner of each client so that both are
 * measured by the same code. A runner is its own process, so the CPU and the memory it reads
 * are that client's alone. It warms up (a few logins one after another, then one whole
 * fan-out, opened and closed), then opens `logins` authenticated connections with at most
 * `inFlight` under way and reads their CPU, closes them, opens `logins` more the same way and
 * reads their memory, closes them and prints one JSON line (`Sample`). Every connection and
 * the whole run are bounded in time.
 *
 * Memory per connection is marginal: what opening the second half of the connections adds to
 * a process already holding the first half, both readings after a full collection. A baseline
 * taken with no connection open held pages V8 gave back only later, during the fan-out, and
 * made our client's RSS figure negative. RSS stays beside the verdict's figure (V8's heap in use
 * plus external memory): V8 commits and releases whole young-generation pages between
 * collections, and either client's RSS moves by more than a hundred connections hold.
 *
 * Why a whole fan-out in the warm-up: V8 grows its young generation and the allocator its
 * arenas the first time a process holds many connections at once. Without it that one-off
 * growth lands in the measured window and reads as memory per connection, more for the
 * client that started with the smaller heap.
 */
import * as fs from "node:fs"
import { median, pool } from "../Stats.js"

/** What the parent passes, as one JSON argument after `--`. */
export interface RunnerArgs {
  /** The server measured: the sequential warm-up and every fan-out but the warm ones go here. */
  readonly port: number
  /** Where the warm fan-outs go; default `port`. */
  readonly warmPort?: number
  readonly user: string
  readonly keyFile: string
  readonly logins: number
  readonly inFlight: number
  readonly warmup: number
  /** Whole fan-outs, opened and closed, after the sequential warm-up: 1 for the first reading; more for the steady state. */
  readonly warmFanOuts: number
  /** Fan-outs whose CPU is read (the median is reported): 1 for the first reading; more for the steady state. */
  readonly timedFanOuts: number
}

/** One runner's figures; CPU is user + system of the whole process, in ms. */
export interface Sample {
  readonly logins: number
  readonly inFlight: number
  /** CPU from the first connect until the last connection is authenticated, per login (the timed fan-outs: their median). */
  readonly cpuMsPerLogin: number
  /** RSS with every connection open minus RSS with the first half open, per connection of the second half (bytes; the second fan-out). */
  readonly rssPerConnection: number
  /** The same for V8's heap in use and for memory outside it (Buffers and the like): their sum is the verdict's figure. */
  readonly heapPerConnection: number
  readonly externalPerConnection: number
  /** RSS before the first timed connect, after the warm-up, with no collection forced (bytes). */
  readonly rssBaseline: number
  /** CPU of closing them all, per connection (not part of the targets). */
  readonly closeCpuMsPerConnection: number
  /** From the first connect until the last connection is authenticated. */
  readonly wallMs: number
  /** Whether V8's collector ran before each memory reading (node --expose-gc). */
  readonly gc: boolean
}

/** Opens one authenticated connection to `port`; resolves with the function that closes it. */
export type Open = (port: number) => Promise<() => Promise<void>>

/** A connection that takes longer than this, to open or to close, fails the run. */
export const CONNECTION_TIMEOUT_MS = 20_000
const RUN_TIMEOUT_MS = 240_000

export const args = (): RunnerArgs => JSON.parse(process.argv[process.argv.length - 1]) as RunnerArgs

export const readKeyText = (a: RunnerArgs) => fs.readFileSync(a.keyFile, "utf8")

const collect = (globalThis as { gc?: () => void }).gc
/**
 * Memory after a full collection, and after V8 has freed what it found dead outside its heap:
 * it sweeps dead ArrayBuffers' memory on a background thread and counts it free only then, so
 * a reading taken at once still counted the Buffers of connections closed before it, and the
 * next reading less than a connection holds (our external figure read −5 to −12 KiB per
 * connection that way).
 */
const memory = async () => {
  collect?.()
  await new Promise((r) => setTimeout(r, 100))
  collect?.()
  return process.memoryUsage()
}

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since)
  return (d.user + d.system) / 1000
}

/** Measures one fan-out of `open` and prints its `Sample` on stdout. */
export const run = async (open: Open): Promise<void> => {
  const watchdog = setTimeout(() => {
    console.error(`fan-out runner: not done after ${RUN_TIMEOUT_MS} ms`)
    process.exit(1)
  }, RUN_TIMEOUT_MS)
  watchdog.unref()
  const a = args()

  const fanOut = async (closes: Array<() => Promise<void>>, logins: number, port = a.port) =>
    pool(logins, a.inFlight, async () => {
      closes.push(await open(port))
    })
  for (let i = 0; i < a.warmup; i++) await (await open(a.port))()
  for (let k = 0; k < a.warmFanOuts; k++) {
    const warm: Array<() => Promise<void>> = []
    await fanOut(warm, a.logins, a.warmPort)
    await Promise.all(warm.map((close) => close()))
  }
  // Let the warm-up's sockets finish closing before the baseline.
  await new Promise((r) => setTimeout(r, 200))

  const baseline = process.memoryUsage().rss

  // CPU: a fan-out of its own, with no collection forced before or inside it. A forced full
  // collection throws optimized code away (V8 deoptimizes code that holds objects weakly, and
  // an Effect program's runtime code does), so the compiles after one would be the memory
  // reading's work counted as the logins'.
  // `timedFanOuts` of them for the steady state: the median, so that one fan-out that meets a
  // late compile or a collection does not make the figure.
  const perLogin: Array<number> = []
  let wallMs = 0
  let closeCpu = 0
  let n = 0
  for (let k = 0; k < a.timedFanOuts; k++) {
    const timed: Array<() => Promise<void>> = []
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    await fanOut(timed, a.logins)
    perLogin.push(cpuMs(cpu0) / timed.length)
    wallMs = performance.now() - t0
    const cpu1 = process.cpuUsage()
    await Promise.all(timed.map((close) => close()))
    closeCpu = cpuMs(cpu1)
    n = timed.length
    await new Promise((r) => setTimeout(r, 200))
  }

  // Memory: a second fan-out, read after a full collection at its half and at its end.
  const closes: Array<() => Promise<void>> = []
  const firstHalf = Math.floor(a.logins / 2)
  await fanOut(closes, firstHalf)
  const half = await memory()
  await fanOut(closes, a.logins - firstHalf)
  const open_ = await memory()
  await Promise.all(closes.map((close) => close()))

  const added = closes.length - firstHalf
  const sample: Sample = {
    logins: n,
    inFlight: a.inFlight,
    cpuMsPerLogin: median(perLogin),
    rssPerConnection: (open_.rss - half.rss) / added,
    heapPerConnection: (open_.heapUsed - half.heapUsed) / added,
    externalPerConnection: (open_.external - half.external) / added,
    rssBaseline: baseline,
    closeCpuMsPerConnection: closeCpu / n,
    wallMs,
    gc: collect !== undefined
  }
  console.log(JSON.stringify(sample))
  clearTimeout(watchdog)
}

/** Runs `main`; any failure is printed and ends the process with status 1. */
export const main = (body: () => Promise<void>) =>
  body().catch((e) => {
    console.error(e)
    process.exit(1)
  })
