/**
 * `npm run bench:cli`: the `ssh-auth` command and OpenSSH's `ssh` as whole processes, one login
 * each to the same throwaway sshd on 127.0.0.1 with the same key, config and known_hosts
 * (ssh ended once authenticated, as `ssh-auth connect` ends),
 * taking turns (every round runs each command once, in a rotating order). Wall time from spawn
 * to exit, and peak RSS from GNU time. Beside them: `ssh-auth --help`, `node -e 0`, the bundle
 * without its startup snapshot, and the CLI as the unbundled modules it was before.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sshd from "../test/support/Sshd.js"
import { measuredRevision } from "./Harness.js"
import { median, quantile } from "./Stats.js"

const N = Number(process.env.BENCH_N ?? 20)
const WARMUP_ROUNDS = 2
const WALL_TARGET = 1.0
const RSS_TARGET_MB = 60
const GNU_TIME = "/usr/bin/time"

const root = path.resolve(import.meta.dirname, "../..")
const bin = path.join(root, "bin/ssh-auth.js")
const blob = path.join(root, "dist/cli/ssh-auth.blob")

interface Command {
  readonly name: string
  readonly file: string
  readonly args: ReadonlyArray<string>
  /** What it must print on stdout, to count as the login (or the output) it should be. */
  readonly expect?: RegExp
  /** It ends by this signal when it succeeds. */
  readonly endsBy?: NodeJS.Signals
  readonly note?: string
}

interface Sample {
  readonly wallMs: number
  readonly rssKiB: number | undefined
}

const hasGnuTime = fs.existsSync(GNU_TIME)

/** One run of `command`, timed from spawn to exit; under GNU time when there is one, for the peak RSS. */
const once = (command: Command, env: NodeJS.ProcessEnv, scratch: string): Promise<Sample> =>
  new Promise((resolve, reject) => {
    const rssFile = path.join(scratch, "rss")
    const [file, args] = hasGnuTime
      ? [GNU_TIME, ["-f", "%M", "-o", rssFile, command.file, ...command.args]]
      : [command.file, command.args]
    const started = process.hrtime.bigint()
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6
      clearTimeout(timer)
      // Under GNU time, a command killed by signal N makes time exit 128 + N.
      const ended = command.endsBy === undefined
        ? code === 0
        : signal === command.endsBy || code === 128 + os.constants.signals[command.endsBy]
      if (!ended || (command.expect && !command.expect.test(stdout))) {
        return reject(new Error(`${command.name} failed (exit ${code}):\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`))
      }
      const rssKiB = hasGnuTime ? Number(fs.readFileSync(rssFile, "utf8").trim().split("\n").at(-1)) : undefined
      resolve({ wallMs, rssKiB })
    })
  })

const program = Effect.gen(function*() {
  if (!fs.existsSync(path.join(root, "dist/cli/ssh-auth.mjs"))) {
    return yield* Effect.dieMessage("dist/cli/ssh-auth.mjs is missing: npm run bench:cli builds it (npm run build)")
  }
  const dir = yield* Sshd.tempDir("bench-cli-")
  const keyFile = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", keyFile])
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8").trim()] })
  // A second sshd, reached through the first as a jump host (ProxyJump, -J).
  const target = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8").trim()] })
  const user = os.userInfo().username
  const knownHosts = path.join(dir, "known_hosts")
  const hostPub = Sshd.hostKeyLine(hostKeys)
  fs.writeFileSync(knownHosts, `[127.0.0.1]:${sshd.port} ${hostPub}\n[127.0.0.1]:${target.port} ${hostPub}\n`)
  const config = path.join(dir, "ssh_config")
  fs.writeFileSync(
    config,
    [
      "Host bench-target",
      "  HostName 127.0.0.1",
      `  Port ${target.port}`,
      "Host bench bench-target",
      "  HostName 127.0.0.1",
      `  Port ${sshd.port}`,
      ...Sshd.closedClientLines({ user, identityFile: keyFile, knownHosts }),
      ""
    ].join("\n")
  )
  // Neither may reach for an agent of the person running the benchmark.
  const env = { ...process.env }
  delete env.SSH_AUTH_SOCK
  const node = process.execPath

  const login = /-> success/
  const commands: Array<Command> = [
    {
      // ssh has no "authenticate and exit": -N opens no session, and its LocalCommand (run once
      // authenticated) ends it, so it does what ssh-auth connect does and no more.
      name: "ssh -N, ended at authentication",
      file: "ssh",
      args: ["-N", "-F", config, "-o", "PermitLocalCommand=yes", "-o", "LocalCommand=kill -TERM $PPID", "bench"],
      endsBy: "SIGTERM",
      note: "OpenSSH: connect, kex, publickey, then its LocalCommand ends it"
    },
    {
      name: "ssh-auth connect (bin, as installed)",
      file: bin,
      args: ["connect", "-F", config, "bench"],
      expect: login,
      note: fs.existsSync(blob) ? "from the startup snapshot" : "no snapshot: the bundle"
    },
    { name: "node bin/ssh-auth.js connect", file: node, args: [bin, "connect", "-F", config, "bench"], expect: login, note: "the bundle, no snapshot" },
    {
      name: "unbundled modules connect",
      file: node,
      args: [path.join(root, "dist-bench/src/cli/bin.js"), "connect", "-F", config, "bench"],
      expect: login,
      note: "the CLI as it was before: hundreds of ES modules"
    },
    {
      name: "ssh -N -J bench, ended at authentication",
      file: "ssh",
      args: ["-N", "-F", config, "-J", "bench", "-o", "PermitLocalCommand=yes", "-o", "LocalCommand=kill -TERM $PPID", "bench-target"],
      endsBy: "SIGTERM",
      note: "OpenSSH through a jump host: a second ssh process for the bastion"
    },
    {
      name: "ssh-auth connect -J bench (bin)",
      file: bin,
      args: ["connect", "-F", config, "-J", "bench", "bench-target"],
      expect: login,
      note: "two logins in one process"
    },
    { name: "ssh-auth --help (bin)", file: bin, args: ["--help"] },
    { name: "node -e 0", file: node, args: ["-e", "0"], note: "node's own start" },
    { name: "ssh -F config bench true", file: "ssh", args: ["-F", config, "bench", "true"], note: "OpenSSH with a session and a command: more than a login" }
  ]

  const scratch = yield* Sshd.tempDir("bench-cli-time-")
  const samples = commands.map((): Array<Sample> => [])
  for (let round = 0; round < WARMUP_ROUNDS + N; round++) {
    // Rotating order: load that drifts during the run falls on every command alike.
    for (let k = 0; k < commands.length; k++) {
      const i = (round + k) % commands.length
      const sample = yield* Effect.promise(() => once(commands[i], env, scratch))
      if (round >= WARMUP_ROUNDS) samples[i].push(sample)
    }
  }

  const rows = commands.map((command, i) => {
    const walls = samples[i].map((s) => s.wallMs)
    const rss = samples[i].flatMap((s) => (s.rssKiB === undefined ? [] : [s.rssKiB / 1024]))
    return { command, wall: median(walls), p90: quantile(walls, 0.9), rss: rss.length > 0 ? median(rss) : undefined }
  })
  const [ssh, ours, bundle, unbundled, sshJump, oursJump, help, nodeStart, sshTrue] = rows
  const fmt = (n: number | undefined, digits: number) => (n === undefined ? "n/a" : n.toFixed(digits))
  const ratio = ours.wall / ssh.wall
  console.log([
    `cli benchmark: ${N} rounds (after ${WARMUP_ROUNDS} warm-up), each command once per round in a rotating order, one login each to the same sshd`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion} · ${yield* measuredRevision}`,
    "",
    "| command | median wall ms | p90 wall ms | median peak RSS MB | × ssh's wall | note |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    ...rows.map((r) =>
      `| ${r.command.name} | ${r.wall.toFixed(0)} | ${r.p90.toFixed(0)} | ${fmt(r.rss, 1)} | ${(r.wall / ssh.wall).toFixed(2)} | ${r.command.note ?? ""} |`
    ),
    "",
    `ssh-auth connect vs ssh, wall: ${ratio.toFixed(2)}× (target ≤ ${WALL_TARGET.toFixed(1)}×) ${ratio <= WALL_TARGET ? "PASS" : "MISS"}`,
    ours.rss === undefined
      ? `ssh-auth connect peak RSS: not measured (no ${GNU_TIME}: Debian's \`time\` package)`
      : `ssh-auth connect peak RSS: ${ours.rss.toFixed(1)} MB (target ≤ ${RSS_TARGET_MB} MB) ${ours.rss <= RSS_TARGET_MB ? "PASS" : "MISS"}`,
    `ssh-auth connect -J vs ssh -J, wall: ${(oursJump.wall / sshJump.wall).toFixed(2)}× (target ≤ ${WALL_TARGET.toFixed(1)}×) ${
      oursJump.wall / sshJump.wall <= WALL_TARGET ? "PASS" : "MISS"
    }`,
    `(without the snapshot: ${(bundle.wall / ssh.wall).toFixed(2)}× ssh's wall, ${fmt(bundle.rss, 1)} MB; unbundled: ${
      (unbundled.wall / ssh.wall).toFixed(2)
    }×, ${fmt(unbundled.rss, 1)} MB;` +
    ` --help ${help.wall.toFixed(0)} ms; node -e 0 ${nodeStart.wall.toFixed(0)} ms; ssh with a session and \`true\` ${sshTrue.wall.toFixed(0)} ms)`
  ].join("\n"))
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
