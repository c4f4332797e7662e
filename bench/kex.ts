/**
 * `npm run bench:kex`: what the post-quantum hybrids cost, in one run, peers side by side.
 *
 * 1. sntrup761x25519: our client's kex CPU against OpenSSH `ssh`'s, each with
 *    sntrup761x25519-sha512@openssh.com against the same sshd (the test fixture, OpenSSH
 *    9.2). A kex's cost is the CPU difference between runs forced to sntrup761x25519 and to
 *    curve25519: ours twice, as a warm client in this process (`process.cpuUsage` around
 *    handshakes to SERVICE_ACCEPT) and as a cold one (`ssh-auth connect`, whole processes);
 *    ssh's as whole processes (`ssh … true` with a key). Whole processes are read from the
 *    children's rusage (Python's `resource`: microseconds, where GNU time's centiseconds
 *    would drown it). Target: ours ≤ 0.5× OpenSSH's.
 * 2. mlkem768x25519: our client's handshake CPU with mlkem768x25519-sha256 against with
 *    curve25519-sha256, to this library's server in a process of its own (sshd 9.2 has no
 *    ML-KEM), in pairs of single handshakes. Target: ≤ 1.2×.
 *
 * Blocks alternate between the two methods (AB BA AB …), and medians are taken over blocks; a
 * ratio is the median of the blocks' own ratios, each pair back to back (2's blocks are
 * single handshakes).
 */
import * as Effect from "effect/Effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { supported } from "../src/transport/Algorithms.js"
import { acceptAnyInsecure } from "../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../src/transport/TcpTransport.js"
import * as Sshd from "../test/support/Sshd.js"
import { measuredRevision, verdict } from "./Harness.js"
import type { ServerArgs } from "./server/Control.js"
import { nodeServer } from "./server/Targets.js"
import { median, turns } from "./Stats.js"

const N = Number(process.env.BENCH_N ?? 30)
const BLOCKS = Number(process.env.BENCH_ROUNDS ?? 6)
const WARMUP = 10
/**
 * The in-process handshakes to our own server take milliseconds, and ML-KEM's share of one is
 * a fraction of a millisecond: more warm-up, and pairs of single handshakes taking turns
 * (each read by `process.cpuUsage`, microseconds), so that the machine's drift between blocks
 * does not make the ratio. 18 pairs of 30-handshake blocks read 0.96–1.44× for one machine;
 * 540 pairs of single handshakes 1.19–1.26×.
 */
const HANDSHAKE_WARMUP = 100
const HANDSHAKE_PAIRS = 540
const SNTRUP = "sntrup761x25519-sha512@openssh.com"
const CURVE = "curve25519-sha256"
const MLKEM = "mlkem768x25519-sha256"

const here = (file: string) => path.join(import.meta.dirname, file)

/** Our client's CPU per handshake (to SERVICE_ACCEPT), in ms, over `n` sequential connections with `kex`. */
const ourHandshakes = (port: number, kex: string, n: number) =>
  Effect.gen(function*() {
    const before = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      yield* Effect.scoped(Effect.gen(function*() {
        const c = yield* makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure, algorithms: { kex: [kex] } })
        if (c.algorithms.kex !== kex) return yield* Effect.die(`negotiated ${c.algorithms.kex}, not ${kex}`)
        yield* c.requestService("ssh-userauth")
      }))
    }
    const used = process.cpuUsage(before)
    return (used.user + used.system) / 1000 / n
  })

/**
 * A command's CPU per whole process, in ms, over `n` sequential logins with `kex` (put in place
 * of the `KEX` argument): the children's rusage.
 */
const processLogins = (argv: ReadonlyArray<string>, kex: string, n: number): number => {
  const script = [
    "import json, resource, subprocess, sys",
    "args = json.loads(sys.argv[1]); n = int(sys.argv[2])",
    "for _ in range(n):",
    "    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=30)",
    "    if r.returncode != 0: sys.exit(args[0] + ' failed: ' + r.stderr.decode()[-300:])",
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)",
    "print((u.ru_utime + u.ru_stime) * 1000 / n)"
  ].join("\n")
  const args = argv.map((a) => (a === "KEX" ? `KexAlgorithms=${kex}` : a))
  const out = execFileSync("/usr/bin/python3", ["-c", script, JSON.stringify(args), String(n)], { encoding: "utf8", timeout: 600_000 })
  return Number(out.trim())
}

/**
 * Alternating blocks of two measurements: the medians of each, and the median of the blocks'
 * ratios a/b (each pair taken back to back, so a drift of the machine's speed cancels). The
 * pairs take turns going first (AB, BA, …), as the other benchmarks' clients do, so that
 * neither method always meets what the other left behind (its garbage, its late compiles).
 */
const alternate = <E>(a: Effect.Effect<number, E>, b: Effect.Effect<number, E>, blocks = BLOCKS) =>
  Effect.gen(function*() {
    const as: Array<number> = []
    const bs: Array<number> = []
    for (let i = 0; i < blocks; i++) {
      for (const [k, measure] of turns([a, b], i)) (k === 0 ? as : bs).push(yield* measure)
    }
    return { a: median(as), b: median(bs), ratio: median(as.map((x, i) => x / bs[i]!)) }
  })

const program = Effect.gen(function*() {
  const revision = yield* measuredRevision
  const lines: Array<string> = [
    `kex benchmark: ${BLOCKS} alternating blocks of ${N} handshakes or logins per method, after ${WARMUP} warm-up; medians over blocks`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion} · ${revision}`,
    ""
  ]

  // 1. sntrup761x25519 against sshd, ours and ssh's.
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const dir = yield* Sshd.tempDir("bench-kex-")
  const keyFile = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", keyFile])
  const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8").trim()] })
  const knownHosts = path.join(dir, "known_hosts")
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${Sshd.hostKeyLine(hostKeys)}\n`)
  const common = [
    "-F",
    "/dev/null",
    "-p",
    String(sshd.port),
    "-i",
    keyFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    `UserKnownHostsFile=${knownHosts}`,
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "KEX",
    `${os.userInfo().username}@127.0.0.1`
  ]
  const sshArgv = ["ssh", ...common, "true"]
  const cliArgv = [path.resolve(import.meta.dirname, "../../bin/ssh-auth.js"), "connect", ...common]
  if (supported.kex.has(SNTRUP)) {
    yield* ourHandshakes(sshd.port, SNTRUP, WARMUP)
    yield* ourHandshakes(sshd.port, CURVE, WARMUP)
    processLogins(sshArgv, SNTRUP, 3)
    processLogins(cliArgv, SNTRUP, 3)
    const ours = yield* alternate(ourHandshakes(sshd.port, SNTRUP, N), ourHandshakes(sshd.port, CURVE, N))
    const ssh = yield* alternate(Effect.sync(() => processLogins(sshArgv, SNTRUP, N)), Effect.sync(() => processLogins(sshArgv, CURVE, N)))
    const cli = yield* alternate(Effect.sync(() => processLogins(cliArgv, SNTRUP, N)), Effect.sync(() => processLogins(cliArgv, CURVE, N)))
    const ourKex = ours.a - ours.b
    const sshKex = ssh.a - ssh.b
    const cliKex = cli.a - cli.b
    lines.push(
      `sntrup761x25519 against ${sshd.host}:${sshd.port} (sshd), CPU per handshake or login, ms:`,
      `  effect-ssh-auth (handshake to SERVICE_ACCEPT)   sntrup761 ${ours.a.toFixed(2)}   curve25519 ${ours.b.toFixed(2)}   kex ${ourKex.toFixed(2)}`,
      `  OpenSSH ssh (whole process, login, true)        sntrup761 ${ssh.a.toFixed(2)}   curve25519 ${ssh.b.toFixed(2)}   kex ${sshKex.toFixed(2)}`,
      `  ssh-auth connect (whole process, login)         sntrup761 ${cli.a.toFixed(2)}   curve25519 ${cli.b.toFixed(2)}   kex ${cliKex.toFixed(2)}`,
      verdict("sntrup761x25519 kex CPU, ours (a warm client, the library) vs OpenSSH ssh's", ourKex / sshKex, 0.5),
      verdict("sntrup761x25519 kex CPU, ours (a cold process, ssh-auth connect) vs OpenSSH ssh's", cliKex / sshKex, 0.5),
      ""
    )
  } else {
    lines.push(`sntrup761x25519: this build of the library has no ${SNTRUP} yet`, "")
  }

  // 2. mlkem768x25519 against our own server, in a process of its own.
  // Handshakes only: the user table's one user never logs in.
  const serverArgs: ServerArgs = { hostKeyFile: hostKeys.files.ed25519, user: "bench", publicKeyFile: `${keyFile}.pub` }
  const server = yield* nodeServer("effect-ssh-auth Server", here("./server/ours.js"), serverArgs)
  yield* ourHandshakes(server.port, MLKEM, HANDSHAKE_WARMUP)
  yield* ourHandshakes(server.port, CURVE, HANDSHAKE_WARMUP)
  const ml = yield* alternate(ourHandshakes(server.port, MLKEM, 1), ourHandshakes(server.port, CURVE, 1), HANDSHAKE_PAIRS)
  lines.push(
    `mlkem768x25519 against 127.0.0.1:${server.port} (this library's server, its own process; ${HANDSHAKE_PAIRS} pairs of single handshakes after ${HANDSHAKE_WARMUP} warm-up), our client's CPU per handshake, ms:`,
    `  mlkem768x25519-sha256 ${ml.a.toFixed(2)}   curve25519-sha256 ${ml.b.toFixed(2)}   (ratio of the medians ${(ml.a / ml.b).toFixed(2)})`,
    verdict("mlkem768x25519 handshake CPU vs our curve25519 handshake, the median of the pairs' ratios", ml.ratio, 1.2)
  )
  console.log(lines.join("\n"))
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
