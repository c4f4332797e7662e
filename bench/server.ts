/**
 * `npm run bench:server`: the same client load against three servers on 127.0.0.1, in one
 * run: this library's server (bench/server/ours.ts, bundled as `ssh-auth serve` ships),
 * OpenSSH's sshd (the test fixture) and
 * ssh2's `Server` with TCP_NODELAY (bench/server/ssh2.ts), each in a process (tree) of its
 * own, so the CPU and memory read from /proc are that server's alone (bench/server/Targets.ts
 * says how). The client is ours (bench/Login.ts: connect, ed25519 publickey, close), in this
 * process; the user is one made for the run (bench/server/User.ts).
 *
 * 1. Throughput: `IN_FLIGHT` logins under way at a time; per server `WARMUP` untimed, then
 *    `LOGINS` timed in `ROUNDS` blocks taking turns (A B C, C B A, …: `turns`), so drift in
 *    machine load and the processes' own warm-up hit all alike. auths/s = logins / wall
 *    time of the blocks; server CPU per login = the server's CPU over the blocks (read once
 *    it holds no connection) / logins.
 * 2. Latency: one login at a time, `LATENCY` per server in blocks taking turns; the median.
 * 3. Memory per idle authenticated connection: per server, a fresh process (sshd: the same
 *    listener, every connection a fresh process anyway), `MEM_WARMUP` sequential logins, then
 *    `IDLE` authenticated connections opened (`IN_FLIGHT` at a time) and held; the growth of
 *    RSS (Node, after a full GC) and of PSS (sshd, summed over its processes) / `IDLE`. The
 *    same again in the same process (a second fill) as a check.
 * 4. 1's throughput again, on fresh processes of the two Node servers, with
 *    chacha20-poly1305@openssh.com negotiated (OpenSSH's first cipher; 1 negotiates aes128-gcm,
 *    our client's first): their server CPU per login, side by side.
 *
 * Knobs (environment): BENCH_SERVER_LOGINS (600), BENCH_SERVER_WARMUP (60),
 * BENCH_SERVER_IN_FLIGHT (20), BENCH_SERVER_ROUNDS (6), BENCH_SERVER_LATENCY (50),
 * BENCH_SERVER_IDLE (200), BENCH_SERVER_MEM_WARMUP (20), BENCH_SERVER_STEADY (3000 more logins per
 * Node server before a second, steady-state reading of its CPU; 0 for none). A fourth row is
 * always there, outside the targets: the least SSH server in plain node (bench/server/least.ts,
 * bundled as ours is), the floor under every figure. BENCH_SERVER_CORE=1 adds a fifth, also a
 * floor: our connection core alone as a server with no Effect (bench/server/core.ts).
 * BENCH_SERVER_PROFILE=DIR runs the throughput instances of both Node servers under
 * `node --cpu-prof --cpu-prof-dir=DIR` (read with bench/server/Profile.ts; ours unbundled
 * then, so that the profile names its source files).
 * Lower counts for a quick run; the defaults take about 80 s on 2 cores.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as esbuild from "esbuild"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as OpenSshKeyV1 from "../src/keys/OpenSshKeyV1.js"
import type { PrivateKey } from "../src/keys/PrivateKey.js"
import { acceptAnyInsecure } from "../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../src/transport/TcpTransport.js"
import * as Sshd from "../test/support/Sshd.js"
import { BENCH_ALGORITHMS, measuredRevision, verdict } from "./Harness.js"
import * as Login from "./Login.js"
import type { ServerArgs } from "./server/Control.js"
import * as Proc from "./server/Proc.js"
import { nodeServer, sshd, type Target } from "./server/Targets.js"
import * as User from "./server/User.js"
import { kib, median, pool, quantile, turns } from "./Stats.js"

const knob = (name: string, fallback: number) => {
  const n = Number(process.env[`BENCH_SERVER_${name}`] ?? fallback)
  if (!Number.isInteger(n) || n < 1) throw new Error(`BENCH_SERVER_${name} must be a positive whole number`)
  return n
}
const LOGINS = knob("LOGINS", 600)
const WARMUP = knob("WARMUP", 60)
const IN_FLIGHT = knob("IN_FLIGHT", 20)
const ROUNDS = Math.min(knob("ROUNDS", 6), LOGINS)
const LATENCY = knob("LATENCY", 50)
const IDLE = knob("IDLE", 200)
const MEM_WARMUP = knob("MEM_WARMUP", 20)
/**
 * The steady state: logins each Node server takes (after the rest) before a second reading of
 * its CPU per login. A server process is still compiling its hot code through the first
 * reading's 660 logins; a long-running one is past that. 0: no second reading.
 */
const STEADY = Number(process.env.BENCH_SERVER_STEADY ?? 3000)
if (!Number.isInteger(STEADY) || STEADY < 0) throw new Error("BENCH_SERVER_STEADY must be a whole number (0 for no steady-state reading)")
const PROFILE = process.env.BENCH_SERVER_PROFILE
/** A fifth, informational row: our core alone as a server, no Effect (bench/server/core.ts). */
const CORE = process.env.BENCH_SERVER_CORE === "1"
/** One login, or one connection held open, that takes longer fails the run. */
const LOGIN_TIMEOUT_MS = 20_000
/** The whole run: past this it is interrupted and every process ended. */
const RUN_TIMEOUT_MS = 10 * 60_000
/** 4's offer: chacha20-poly1305, OpenSSH's first cipher, so what OpenSSH's clients of a server use. */
const CHACHA = { ...BENCH_ALGORITHMS, cipher: ["chacha20-poly1305@openssh.com"] }

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))

/**
 * Our server as it ships: one minified bundle, as scripts/build-cli.mjs makes `ssh-auth serve`.
 * Loaded module by module instead, node keeps every Effect module whole (about 10 MB more heap)
 * and V8 grows its young generation to 32 MiB while they load, whose pages then count in the
 * memory fill's RSS growth; the report gives that reading too.
 */
const bundled = (script: string) =>
  Effect.promise(async () => {
    const outfile = script.replace(/\.js$/, ".bundle.mjs")
    await esbuild.build({
      entryPoints: [script],
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      minify: true,
      legalComments: "none",
      logLevel: "warning",
      outfile
    })
    return outfile
  })

const atLeast = (label: string, ratio: number, target: number) =>
  `${label}: ${ratio.toFixed(2)}× (target ≥ ${target.toFixed(1)}×) ${ratio >= target ? "PASS" : "MISS"}`

interface Throughput {
  logins: number
  wallMs: number
  serverCpuMs: number
  clientCpuMs: number
  times: Array<number>
  /** Per block: auths/s and server CPU ms per login. */
  blocks: Array<{ readonly rate: number; readonly cpu: number }>
}

interface MemorySample {
  /** Growth per connection, bytes. */
  readonly rss: number
  readonly pss: number
  readonly heap: number | undefined
  /** A Node server's young generation when the fill began, bytes. */
  readonly young: number | undefined
  /** …and once the fill's connections were all open. */
  readonly youngAfter: number | undefined
}

/** 1 for `targets`: per server `WARMUP` untimed logins, then `LOGINS` timed in `ROUNDS` blocks taking turns. */
const measureThroughput = async (targets: ReadonlyArray<Target>, login: (port: number) => Promise<void>): Promise<Array<Throughput>> => {
  const throughput: Array<Throughput> = targets.map(() => ({ logins: 0, wallMs: 0, serverCpuMs: 0, clientCpuMs: 0, times: [], blocks: [] }))
  for (const t of targets) {
    await pool(WARMUP, IN_FLIGHT, () => login(t.port))
    await t.settle()
  }
  for (let r = 0; r < ROUNDS; r++) {
    const count = Math.floor((LOGINS * (r + 1)) / ROUNDS) - Math.floor((LOGINS * r) / ROUNDS)
    for (const [i, t] of turns(targets, r)) {
      const acc = throughput[i]
      const cpu0 = t.cpuMs()
      const client0 = process.cpuUsage()
      const t0 = performance.now()
      await pool(count, IN_FLIGHT, async () => {
        const s = performance.now()
        await login(t.port)
        acc.times.push(performance.now() - s)
      })
      const wall = performance.now() - t0
      const client = process.cpuUsage(client0)
      await t.settle()
      const cpu = t.cpuMs() - cpu0
      acc.logins += count
      acc.wallMs += wall
      acc.serverCpuMs += cpu
      acc.clientCpuMs += (client.user + client.system) / 1000
      acc.blocks.push({ rate: (count * 1000) / wall, cpu: cpu / count })
    }
  }
  return throughput
}

const program = Effect.gen(function*() {
  const started = performance.now()
  const load0 = os.loadavg()[0]
  const revision = yield* measuredRevision

  const dir = yield* Sshd.tempDir("bench-server-")
  const keyFile = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", keyFile])
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const user = yield* User.acquire
  const key: PrivateKey = yield* OpenSshKeyV1.read(fs.readFileSync(keyFile, "utf8"), { source: keyFile })
  const serverArgs: ServerArgs = { hostKeyFile: hostKeys.files.ed25519, user: user.name, publicKeyFile: `${keyFile}.pub` }
  const authorizedKeys = [fs.readFileSync(`${keyFile}.pub`, "utf8").trim()]

  const loginWith = (algorithms: NonNullable<Login.LoginOptions["algorithms"]>) => (port: number) =>
    Login.bounded(Effect.scoped(Login.ours({ port, user: user.name, key, algorithms })), LOGIN_TIMEOUT_MS, "login")
  const login = loginWith(BENCH_ALGORITHMS)
  /** Opens an authenticated connection; resolves with the function that closes it. */
  const hold = async (port: number) => {
    const scope = Effect.runSync(Scope.make())
    const close = () => Login.bounded(Scope.close(scope, Exit.void), LOGIN_TIMEOUT_MS, "close").catch(() => {})
    await Login.bounded(Scope.extend(Login.ours({ port, user: user.name, key }), scope), LOGIN_TIMEOUT_MS, "login").catch(
      async (e) => {
        await close()
        throw e
      }
    )
    return close
  }
  /** What our client negotiated with a server, for the report. */
  const negotiated = (port: number, algorithms: NonNullable<Login.LoginOptions["algorithms"]> = BENCH_ALGORITHMS) =>
    Effect.scoped(Effect.gen(function*() {
      const c = yield* makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure, algorithms })
      return `${c.algorithms.kex}, ${c.algorithms.hostKey}, ${c.algorithms.cipherClientToServer}`
    }))

  const ours = "effect-ssh-auth Server"
  const ssh2 = "ssh2 Server + TCP_NODELAY"
  const profileArgs = PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${PROFILE}`] : []
  const unbundledScript = here("./server/ours.js")
  // A profile is read by source file (bench/server/Profile.ts): unbundled, then.
  const oursScript = PROFILE ? unbundledScript : yield* bundled(unbundledScript)
  const ssh2Script = here("./server/ssh2.js")
  const least = "the least SSH server in plain node (bench/server/least.ts: a floor, not a server)"
  // Bundled as ours is: loaded module by module, the Effect modules it reads its keys with
  // would grow V8's young generation before the memory fill, which lowers that reading (12–16
  // KiB per connection against 19–21 bundled; bench/RESULTS.md, Session 28).
  const leastScript = yield* bundled(here("./server/least.js"))
  const core = "our core alone, no Effect (a floor, not a product)"
  const coreScript = here("./server/core.js")

  // 1 and 2, in one scope: the servers' throughput and latency instances.
  const run = yield* Effect.scoped(Effect.gen(function*() {
    const targets: ReadonlyArray<Target> = [
      yield* nodeServer(ours, oursScript, serverArgs, profileArgs),
      yield* sshd({ hostKeys, authorizedKeys }),
      yield* nodeServer(ssh2, ssh2Script, serverArgs, profileArgs),
      yield* nodeServer(least, leastScript, serverArgs),
      ...(CORE ? [yield* nodeServer(core, coreScript, serverArgs)] : [])
    ]
    const profiled = PROFILE
      ? `(profiles in ${PROFILE}, CPU.*.PID.*.cpuprofile: ${ours} pid ${targets[0].pid}, ${ssh2} pid ${targets[2].pid}; ${
        WARMUP + LOGINS + LATENCY
      } logins and 1 handshake each; read with node dist-bench/bench/server/Profile.js FILE LOGINS)`
      : undefined
    const algorithms: Array<string> = []
    for (const t of targets) algorithms.push(yield* negotiated(t.port))

    const throughput: Array<Throughput> = []
    /** Server CPU ms per block of logins at the steady state: ours and ssh2's (sshd forks a process per connection: no warm-up to pass). */
    const steady: Array<Array<number>> = [[], []]
    const latencies: Array<Array<number>> = targets.map(() => [])
    yield* Effect.promise(async () => {
      throughput.push(...(await measureThroughput(targets, login)))
      const latencyRounds = Math.min(ROUNDS, LATENCY)
      for (let r = 0; r < latencyRounds; r++) {
        const count = Math.floor((LATENCY * (r + 1)) / latencyRounds) - Math.floor((LATENCY * r) / latencyRounds)
        for (const [i, t] of turns(targets, r)) {
          for (let k = 0; k < count; k++) {
            const s = performance.now()
            await login(t.port)
            latencies[i].push(performance.now() - s)
          }
          await t.settle()
        }
      }
      if (STEADY > 0) {
        const nodeServers = [targets[0], targets[2]]
        for (let r = 0; r < ROUNDS; r++) {
          for (const [, t] of turns(nodeServers, r)) await pool(Math.floor(STEADY / ROUNDS), IN_FLIGHT, () => login(t.port))
        }
        for (let r = 0; r < ROUNDS; r++) {
          const count = Math.floor(LOGINS / ROUNDS)
          for (const [i, t] of turns(nodeServers, r)) {
            await t.settle()
            const cpu0 = t.cpuMs()
            await pool(count, IN_FLIGHT, () => login(t.port))
            await t.settle()
            steady[i].push(t.cpuMs() - cpu0)
          }
        }
      }
    })
    return { profiled, names: targets.map((t) => t.name), notes: targets.map((t) => t.note), algorithms, throughput, latencies, steady }
  }))

  // 3: a fresh process per Node server; one server at a time.
  const fill = (t: Target) =>
    Effect.promise(async (): Promise<MemorySample> => {
      await t.settle()
      const before = await t.memory()
      const closes: Array<() => Promise<void>> = []
      try {
        await pool(IDLE, IN_FLIGHT, async () => {
          closes.push(await hold(t.port))
        })
        await t.settle(IDLE)
        const after = await t.memory()
        return {
          rss: (after.rss - before.rss) / IDLE,
          pss: (after.pss - before.pss) / IDLE,
          heap: after.heapUsed === undefined || before.heapUsed === undefined ? undefined : (after.heapUsed - before.heapUsed) / IDLE,
          young: before.youngGeneration,
          youngAfter: after.youngGeneration
        }
      } finally {
        await Promise.all(closes.map((close) => close()))
        await t.settle()
      }
    })
  const memoryOf = <E>(make: Effect.Effect<Target, E, Scope.Scope>) =>
    Effect.scoped(Effect.gen(function*() {
      const t = yield* make
      yield* Effect.promise(async () => {
        for (let i = 0; i < MEM_WARMUP; i++) await login(t.port)
      })
      const first = yield* fill(t)
      const second = yield* fill(t)
      return { first, second }
    }))
  const memory = [
    yield* memoryOf(nodeServer(ours, oursScript, serverArgs)),
    yield* memoryOf(sshd({ hostKeys, authorizedKeys })),
    yield* memoryOf(nodeServer(ssh2, ssh2Script, serverArgs)),
    yield* memoryOf(nodeServer(least, leastScript, serverArgs)),
    ...(CORE ? [yield* memoryOf(nodeServer(core, coreScript, serverArgs))] : [])
  ]
  const unbundled = yield* memoryOf(nodeServer(ours, unbundledScript, serverArgs))

  // 4: the throughput of 1 again with OpenSSH's first cipher, on fresh processes of the two Node servers.
  const chacha = yield* Effect.scoped(Effect.gen(function*() {
    const targets = [yield* nodeServer(ours, oursScript, serverArgs), yield* nodeServer(ssh2, ssh2Script, serverArgs)]
    const algorithms = [yield* negotiated(targets[0].port, CHACHA), yield* negotiated(targets[1].port, CHACHA)]
    const throughput = yield* Effect.promise(() => measureThroughput(targets, loginWith(CHACHA)))
    return { algorithms, throughput }
  }))

  // The report.
  // Ours, sshd, ssh2's; the least server, then with BENCH_SERVER_CORE=1 our core alone (floors, not competitors).
  const [O, S, T, L, C] = [0, 1, 2, 3, 4]
  const rateOf = (t: Throughput) => (t.logins * 1000) / t.wallMs
  const cpuOf = (t: Throughput) => t.serverCpuMs / t.logins
  const rate = (i: number) => rateOf(run.throughput[i])
  const cpu = (i: number) => cpuOf(run.throughput[i])
  const clientCpu = (i: number) => run.throughput[i].clientCpuMs / run.throughput[i].logins
  const lat = (i: number) => median(run.latencies[i])
  // The target's memory figure: RSS growth for a Node server, PSS growth for sshd (several processes).
  const mem = (i: number) => (i === S ? memory[i].first.pss : memory[i].first.rss)
  // The fastest of the three servers.
  const fastest = [O, S, T].reduce((a, b) => (lat(b) < lat(a) ? b : a))
  const range = (xs: ReadonlyArray<number>) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`
  const steadyLogins = Math.floor(LOGINS / ROUNDS) * ROUNDS
  /** Over all the blocks, not their median: a block's CPU is a few of /proc's 10 ms ticks. */
  const steadyCpu = (i: number) => run.steady[i].reduce((a, b) => a + b, 0) / steadyLogins
  /** Block by block, `a`'s figure over `b`'s. */
  const blockRatios = (a: Throughput, b: Throughput, f: (block: Throughput["blocks"][number]) => number) =>
    range(a.blocks.map((block, k) => f(block) / f(b.blocks[k])))
  const perBlock = (i: number, j: number, f: (block: Throughput["blocks"][number]) => number) => blockRatios(run.throughput[i], run.throughput[j], f)
  const [chachaOurs, chachaSsh2] = chacha.throughput
  /** A floor row's figures against ssh2's and ours. */
  const floor = (i: number) =>
    `(${run.names[i]}: server CPU ${cpu(i).toFixed(2)} ms/login = ${(cpu(i) / cpu(T)).toFixed(2)}× ssh2's, ${
      (cpu(i) / cpu(O)).toFixed(2)
    }× ours; single login ${(lat(i) / lat(fastest)).toFixed(2)}× the fastest of the three; idle connection ${kib(mem(i))} KiB = ${
      (mem(i) / mem(T)).toFixed(2)
    }× ssh2's, ${(mem(i) / mem(O)).toFixed(2)}× ours)`

  const rows = [
    "| server | auths/s | server CPU ms/login | client CPU ms/login | login ms median (p90) at 20 in flight | single login ms median (p90) | idle conn KiB: RSS growth | idle conn KiB: PSS growth | heap KiB/conn | negotiated |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ...run.names.map((name, i) =>
      `| ${name} | ${rate(i).toFixed(1)} | ${cpu(i).toFixed(2)} | ${clientCpu(i).toFixed(2)} | ${median(run.throughput[i].times).toFixed(1)} (${
        quantile(run.throughput[i].times, 0.9).toFixed(1)
      }) | ${lat(i).toFixed(2)} (${quantile(run.latencies[i], 0.9).toFixed(2)}) | ${kib(memory[i].first.rss)} (${kib(memory[i].second.rss)}) | ${
        kib(memory[i].first.pss)
      } (${kib(memory[i].second.pss)}) | ${memory[i].first.heap === undefined ? "n/a" : `${kib(memory[i].first.heap)} (${kib(memory[i].second.heap!)})`} | ${
        run.algorithms[i]
      } |`
    )
  ]
  console.log([
    `server benchmark: our client (bench/Login.ts, ed25519 publickey) against three servers, each in its own process; ${LOGINS} logins per server at ${IN_FLIGHT} in flight after ${WARMUP} warm-up, in ${ROUNDS} blocks taking turns (A B C, C B A, …); ${LATENCY} single logins per server in blocks taking turns; ${IDLE} idle authenticated connections per server on a fresh process after ${MEM_WARMUP} logins`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion} · ssh2 ${
      createRequire(import.meta.url)("ssh2/package.json").version
    } · load average ${load0.toFixed(1)} → ${os.loadavg()[0].toFixed(1)} · ${revision} · user ${user.note} · CPU tick ${Proc.tickMs} ms`,
    "",
    ...rows,
    "",
    "(memory: first fill of a fresh process, the second fill of the same process in parentheses)",
    ...run.names.map((name, i) => `(${name} CPU: ${run.notes[i]})`),
    "",
    atLeast("auths/s, ours vs sshd", rate(O) / rate(S), 5.0),
    verdict("server CPU per login, ours vs ssh2's server", cpu(O) / cpu(T), 0.5),
    verdict(`single-login latency, ours vs the fastest (${run.names[fastest]})`, lat(O) / lat(fastest), 1.0),
    verdict("memory per idle authenticated connection (RSS growth), ours vs ssh2's server", mem(O) / mem(T), 0.5),
    ...(STEADY > 0
      ? [
        verdict(
          `server CPU per login, ours vs ssh2's server, steady state (after ${WARMUP + LOGINS + LATENCY + STEADY} logins)`,
          steadyCpu(0) / steadyCpu(1),
          0.5
        ),
        `(steady state, ${steadyLogins} logins per server in ${ROUNDS} blocks taking turns: server CPU ms/login ours ${steadyCpu(0).toFixed(2)}, ssh2's ${
          steadyCpu(1).toFixed(2)
        }; block by block ${range(run.steady[0].map((c, k) => c / run.steady[1][k]))}×)`
      ]
      : []),
    `(block by block: auths/s ours/sshd ${perBlock(O, S, (b) => b.rate)}×, server CPU ours/ssh2 ${perBlock(O, T, (b) => b.cpu)}×)`,
    `(server CPU per login, ours vs sshd: ${(cpu(O) / cpu(S)).toFixed(2)}×; auths/s ours vs ssh2's server: ${(rate(O) / rate(T)).toFixed(2)}×)`,
    `(4, chacha20-poly1305@openssh.com negotiated, fresh processes, the load of 1: server CPU ms/login ours ${cpuOf(chachaOurs).toFixed(2)}, ssh2's ${
      cpuOf(chachaSsh2).toFixed(2)
    } = ${(cpuOf(chachaOurs) / cpuOf(chachaSsh2)).toFixed(2)}× (block by block ${blockRatios(chachaOurs, chachaSsh2, (b) => b.cpu)}×); auths/s ours ${
      rateOf(chachaOurs).toFixed(1)
    }, ssh2's ${rateOf(chachaSsh2).toFixed(1)}; negotiated ${chacha.algorithms.join(" / ")})`,
    floor(L),
    ...(CORE ? [floor(C)] : []),
    `(V8's young generation when the first fill began → once its connections were open: ${
      memory.flatMap((m, i) =>
        m.first.young === undefined || m.first.youngAfter === undefined
          ? []
          : [`${run.names[i]} ${(m.first.young / 2 ** 20).toFixed(0)} → ${(m.first.youngAfter / 2 ** 20).toFixed(0)} MiB`]
      ).join(", ")
    }; V8 grows it as bytes survive its scavenges, and its pages first written during a fill count in that fill's RSS growth, so the heap column is what each connection keeps)`,
    `(the same server unbundled, its modules as tsc emits them: idle connection ${kib(unbundled.first.rss)} (${kib(unbundled.second.rss)}) KiB = ${
      (unbundled.first.rss / mem(T)).toFixed(2)
    }× ssh2's, heap ${kib(unbundled.first.heap!)} KiB/conn, young generation ${(unbundled.first.young! / 2 ** 20).toFixed(0)} MiB)`,
    `(memory per idle connection, ours vs sshd's PSS: ${(mem(O) / mem(S)).toFixed(2)}×; second fill, ours vs ssh2: ${
      (memory[O].second.rss / memory[T].second.rss).toFixed(2)
    }×)`,
    `(the ceiling of ${os.cpus().length} cores shared by client and server: ${os.cpus().length * 1000} / (client + server CPU ms per login) = ${
      [O, S, T].map((i) => `${run.names[i]} ${((os.cpus().length * 1000) / (clientCpu(i) + cpu(i))).toFixed(0)}`).join(", ")
    } auths/s; whole run ${((performance.now() - started) / 1000).toFixed(0)} s)`,
    ...(run.profiled ? [run.profiled] : [])
  ].join("\n"))
})

const fiber = Effect.runFork(
  Effect.scoped(program).pipe(
    Effect.timeoutFail({ duration: RUN_TIMEOUT_MS, onTimeout: () => new Error(`bench:server: not done after ${RUN_TIMEOUT_MS / 1000} s`) })
  )
)
// Ctrl-C or a kill: interrupt, so every scope closes and every server process is ended.
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => fiber.unsafeInterruptAsFork(fiber.id()))
fiber.addObserver((exit) => {
  if (Exit.isInterrupted(exit)) {
    console.error("bench:server: interrupted; every server process has been ended")
    process.exitCode = 130
  } else if (Exit.isFailure(exit)) {
    console.error(exit.cause)
    process.exitCode = 1
  }
  // Held client sockets or timers must not keep the process alive once every scope is closed.
  setTimeout(() => process.exit(), 100).unref()
})
