/**
 * `npm run bench:fanout`: 200 logins (connect + publickey, ed25519) against one throwaway
 * sshd with 50 under way at a time, this library beside ssh2 as shipped. Each client runs in
 * a process of its own (bench/fanout/ours.ts, bench/fanout/ssh2.ts, measured by
 * bench/fanout/Runner.ts), so the CPU and the RSS it reports are that client's alone; every
 * connection stays open until all are up; memory per connection is what the second half of
 * them adds to a process holding the first half (see Runner.ts). A fresh runner per round,
 * the clients in ABBA order (A B, B A, A B, …), so a drift in machine load hits both alike;
 * the report gives each client's medians over the rounds and the ratios against the targets.
 * A third runner takes its turns in those rounds as the floor: the least SSH login in plain
 * node (bench/fanout/least.ts), outside the targets.
 * Knobs (environment):
 * BENCH_FANOUT_LOGINS (200), BENCH_FANOUT_IN_FLIGHT (50), BENCH_FANOUT_WARMUP (20),
 * BENCH_FANOUT_ROUNDS (6), BENCH_FANOUT_STEADY (15 warm fan-outs before the steady state's
 * reading; 0 for none). The warm fan-outs go to this library's server in a process of its
 * own (bench/server/ours.ts), the same algorithms negotiated: a client's code warms the same
 * way whoever answers, and sshd's ≈ 20 ms of CPU per login made them most of the run (≈ 4 of
 * its 6 minutes on a 2-core machine). The sequential warm-up and every fan-out read go to sshd.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Sshd from "../test/support/Sshd.js"
import type { RunnerArgs, Sample } from "./fanout/Runner.js"
import { measuredRevision, verdict } from "./Harness.js"
import { nodeServer } from "./server/Targets.js"
import { kib, median, turns } from "./Stats.js"

const LOGINS = Number(process.env.BENCH_FANOUT_LOGINS ?? 200)
const IN_FLIGHT = Number(process.env.BENCH_FANOUT_IN_FLIGHT ?? 50)
/** Sequential logins each runner makes (and closes) before it measures. */
const WARMUP = Number(process.env.BENCH_FANOUT_WARMUP ?? 20)
/** Runner processes per client; an even number keeps the ABBA order balanced. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_FANOUT_ROUNDS ?? 6))
/**
 * The steady state: whole fan-outs each runner makes (and closes) before it measures, for a
 * second reading of CPU per login (0: none). A process is still compiling its hot code after
 * one fan-out; a long-running client (a deploy tool, a fleet runner) is past that.
 */
const STEADY_FAN_OUTS = Number(process.env.BENCH_FANOUT_STEADY ?? 15)
if (!Number.isInteger(STEADY_FAN_OUTS) || STEADY_FAN_OUTS < 0) throw new Error("BENCH_FANOUT_STEADY must be a whole number (0 for no steady-state reading)")
/** Runner processes per client for the steady state (ABBA). */
const STEADY_ROUNDS = 2
/** A runner that takes longer than this is killed and fails the run. */
const RUNNER_TIMEOUT_MS = 180_000

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

interface Client {
  readonly name: string
  readonly runner: string
}
const clients: ReadonlyArray<Client> = [
  { name: "effect-ssh-auth", runner: here("./fanout/ours.js") },
  { name: "ssh2 as shipped", runner: here("./fanout/ssh2.js") }
]
/** The floor: in the measured rounds beside the two, not in the steady state. */
const least: Client = { name: "the least SSH login in plain node (bench/fanout/least.ts: a floor, not a client)", runner: here("./fanout/least.js") }
const measured = [...clients, least]

/** Runs one runner process to the end; its last stdout line is its `Sample`. */
const runOnce = (client: Client, runnerArgs: RunnerArgs) =>
  Effect.async<Sample, Error>((resume) => {
    const child = spawn(process.execPath, ["--expose-gc", client.runner, "--", JSON.stringify(runnerArgs)], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), RUNNER_TIMEOUT_MS)
    child.on("error", (e) => {
      clearTimeout(timer)
      resume(Effect.fail(e))
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      const last = stdout.trim().split("\n").at(-1) ?? ""
      if (code !== 0 || !last.startsWith("{")) {
        const why = signal ? `killed by ${signal}` : `exit status ${code}`
        return resume(Effect.fail(new Error(`${client.name} runner failed (${why}): ${stderr.trim().slice(-2000)}`)))
      }
      resume(Effect.succeed(JSON.parse(last) as Sample))
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const range = (xs: ReadonlyArray<number>) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}×`

const program = Effect.gen(function*() {
  const started = performance.now()
  const load0 = os.loadavg()[0]
  const revision = yield* measuredRevision
  const dir = yield* Sshd.tempDir("bench-fanout-")
  const keyFile = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", keyFile])
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const sshd = yield* Sshd.start({
    hostKeys,
    authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8").trim()],
    // 50 unauthenticated connections at once, far from the first random drop; the fixture
    // would allow more, these lines say what this benchmark needs.
    config: ["MaxStartups 100:30:200", "MaxSessions 100"]
  })
  const user = os.userInfo().username
  const warmServer = yield* nodeServer("the warm-up server", here("./server/ours.js"), {
    hostKeyFile: hostKeys.files.ed25519,
    user,
    publicKeyFile: `${keyFile}.pub`
  })
  const runnerArgs: RunnerArgs = {
    port: sshd.port,
    warmPort: warmServer.port,
    user,
    keyFile,
    logins: LOGINS,
    inFlight: IN_FLIGHT,
    warmup: WARMUP,
    warmFanOuts: 1,
    timedFanOuts: 1
  }

  const samples = measured.map(() => [] as Array<Sample>)
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, client] of turns(measured, r)) samples[i].push(yield* runOnce(client, runnerArgs))
  }
  const steady = clients.map(() => [] as Array<Sample>)
  for (let r = 0; STEADY_FAN_OUTS > 0 && r < STEADY_ROUNDS; r++) {
    for (const [i, client] of turns(clients, r)) steady[i].push(yield* runOnce(client, { ...runnerArgs, warmFanOuts: STEADY_FAN_OUTS, timedFanOuts: 3 }))
  }
  const steadyCpu = steady.map((xs) => median(xs.map((s) => s.cpuMsPerLogin)))
  const steadyWarmup = WARMUP + STEADY_FAN_OUTS * LOGINS

  const med = (i: number, f: (s: Sample) => number) => median(samples[i].map(f))
  const lines = [
    "| client | CPU ms/login | RSS KiB/conn | heap KiB/conn | external KiB/conn | close CPU ms/conn | wall ms | RSS baseline MiB |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...measured.map((c, i) =>
      `| ${c.name} | ${med(i, (s) => s.cpuMsPerLogin).toFixed(2)} | ${kib(med(i, (s) => s.rssPerConnection))} | ${kib(med(i, (s) => s.heapPerConnection))} | ${
        kib(med(i, (s) => s.externalPerConnection))
      } | ${med(i, (s) => s.closeCpuMsPerConnection).toFixed(2)} | ${med(i, (s) => s.wallMs).toFixed(0)} | ${
        (med(i, (s) => s.rssBaseline) / 2 ** 20).toFixed(0)
      } |`
    )
  ]
  const perRound = (f: (s: Sample) => number) => samples[0].map((s, r) => f(s) / f(samples[1][r]))
  const cpuRatio = med(0, (s) => s.cpuMsPerLogin) / med(1, (s) => s.cpuMsPerLogin)
  const held = (s: Sample) => s.heapPerConnection + s.externalPerConnection
  const heldRatio = med(0, held) / med(1, held)
  const rssRatio = med(0, (s) => s.rssPerConnection) / med(1, (s) => s.rssPerConnection)
  console.log([
    `fanout benchmark: ${LOGINS} connect + publickey (ed25519) logins, ${IN_FLIGHT} in flight, all kept open until the last is up, memory per connection as the second half's growth; each client in its own process (after ${WARMUP} sequential warm-up logins and one whole warm-up fan-out to our server), ${ROUNDS} rounds in ABBA order; medians over the rounds`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion} · load average ${load0.toFixed(1)} → ${
      os.loadavg()[0].toFixed(1)
    } · ${revision}`,
    "",
    ...lines,
    "",
    verdict("client CPU per login vs ssh2", cpuRatio, 0.5),
    verdict("client memory per open connection (V8 heap + external, after a full collection) vs ssh2", heldRatio, 1.0),
    ...(STEADY_FAN_OUTS > 0
      ? [
        verdict(`client CPU per login vs ssh2, steady state (after ${steadyWarmup} warm-up logins)`, steadyCpu[0] / steadyCpu[1], 0.5),
        `(steady state, ${STEADY_ROUNDS} rounds in ABBA order, each the median of 3 fan-outs, CPU ms/login: ${
          clients.map((c, i) => `${c.name} ${steady[i].map((s) => s.cpuMsPerLogin.toFixed(2)).join(", ")}`).join("; ")
        })`
      ]
      : []),
    `(RSS per open connection, ${
      rssRatio.toFixed(2)
    }× ssh2's, is no verdict: either client's RSS moves by more between collections than a hundred connections hold; round by round below)`,
    ...clients.map((c, i) =>
      `(${c.name}, round by round, CPU ms/login / RSS KiB/conn: ${
        samples[i].map((s) => `${s.cpuMsPerLogin.toFixed(2)} / ${kib(s.rssPerConnection)}`).join(", ")
      })`
    ),
    `(${least.name}: CPU ${med(2, (s) => s.cpuMsPerLogin).toFixed(2)} ms/login = ${
      (med(2, (s) => s.cpuMsPerLogin) / med(1, (s) => s.cpuMsPerLogin)).toFixed(2)
    }× ssh2's; memory per open connection ${kib(med(2, held))} KiB = ${(med(2, held) / med(1, held)).toFixed(2)}× ssh2's)`,
    `(ratios round by round: CPU ${range(perRound((s) => s.cpuMsPerLogin))}, memory ${range(perRound(held))}, RSS ${
      range(perRound((s) => s.rssPerConnection))
    }; whole run ${((performance.now() - started) / 1000).toFixed(0)} s)`
  ].join("\n"))
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
