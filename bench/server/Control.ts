/**
 * The process half of `bench:server` for a Node server (bench/server/ours.ts,
 * bench/server/ssh2.ts), shared so both are run the same way. The parent passes `ServerArgs`
 * as one JSON argument after `--`; the server prints `{"port":N}` once it listens, then
 * answers one JSON line per "stat" line on stdin (`Count`) and per "memory" line (`Status`,
 * after a full collection when node runs with --expose-gc). When stdin ends (the parent is
 * done, or gone) the process exits normally, so `node --cpu-prof` writes its profile.
 *
 * Only a memory reading collects: a full collection throws optimized code away (V8
 * deoptimizes code that holds objects weakly, and an Effect program's runtime code does), so
 * one forced between the throughput blocks would put its recompiles into the next block's CPU.
 */
import * as readline from "node:readline"
import * as v8 from "node:v8"

/** What the parent passes. */
export interface ServerArgs {
  /** The host's private key (OpenSSH format, ed25519), the same file for every server. */
  readonly hostKeyFile: string
  /** The one user, and their one public key (a `.pub` line). */
  readonly user: string
  readonly publicKeyFile: string
}

/** The answer to "stat". */
export interface Count {
  /** Connections open now, authenticated or not. */
  readonly connections: number
}

/** The answer to "memory". */
export interface Status extends Count {
  readonly rss: number
  readonly heapUsed: number
  readonly external: number
  /**
   * V8's young generation as committed now. Its pages count in RSS only once first written,
   * so a young generation larger than what the process has used so far grows RSS while
   * connections are opened, whatever each of them keeps.
   */
  readonly youngGeneration: number
}

export const args = (): ServerArgs => JSON.parse(process.argv[process.argv.length - 1]) as ServerArgs

const collect = (globalThis as { gc?: () => void }).gc

/** Announces the port and serves the control lines until stdin ends. */
export const serve = (port: number, connections: () => number): void => {
  console.log(JSON.stringify({ port }))
  const lines = readline.createInterface({ input: process.stdin })
  lines.on("line", (line) => {
    const request = line.trim()
    // "stat" is polled while the throughput is measured: it counts connections, nothing more.
    if (request === "stat") return console.log(JSON.stringify({ connections: connections() } satisfies Count))
    if (request !== "memory") return
    collect?.()
    const m = process.memoryUsage()
    const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0
    const status: Status = { connections: connections(), rss: m.rss, heapUsed: m.heapUsed, external: m.external, youngGeneration: young }
    console.log(JSON.stringify(status))
  })
  lines.on("close", () => process.exit(0))
}

/** Runs `body`; any failure is printed and ends the process with status 1. */
export const main = (body: () => Promise<void>) =>
  body().catch((e) => {
    console.error(e)
    process.exit(1)
  })
