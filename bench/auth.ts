/**
 * `npm run bench:auth`: connect and authenticate with an ed25519 key against the same
 * throwaway sshd, this library beside ssh2 (as shipped and with TCP_NODELAY) and, when
 * Debian's python3-paramiko is installed, paramiko on a TCP_NODELAY socket.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as readline from "node:readline"
import * as OpenSshKeyV1 from "../src/keys/OpenSshKeyV1.js"
import * as Sshd from "../test/support/Sshd.js"
import {
  type BenchClient,
  coreInMinimalEffect,
  coreOnly,
  formatRows,
  inProcess,
  measureAll,
  ROUNDS,
  runEffect,
  ssh2Connect,
  verdict,
  WARMUP,
  withTimeout
} from "./Harness.js"
import * as Least from "./Least.js"
import * as Login from "./Login.js"

const N = Number(process.env.BENCH_N ?? 50)

/**
 * paramiko in Debian's python, as a block runner: each line "N" on stdin runs N logins
 * (connect on a TCP_NODELAY socket, auth_publickey) and answers with one JSON line of the
 * times and the CPU of the block.
 */
const paramikoScript = `
import json, socket, sys, time
import paramiko
port, key_path, user = int(sys.argv[1]), sys.argv[2], sys.argv[3]
key = paramiko.Ed25519Key.from_private_key_file(key_path)
def once():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = paramiko.Transport(s)
    t.start_client(timeout=10)
    t.auth_publickey(user, key)
    assert t.is_authenticated()
    t.close()
print("ready", flush=True)
for line in sys.stdin:
    n = int(line)
    times = []
    cpu0 = time.process_time()
    for _ in range(n):
        t0 = time.perf_counter(); once(); times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"times": times, "cpu": (time.process_time() - cpu0) * 1000}), flush=True)
`

/** The paramiko block runner as a client, or undefined (and why) when it cannot start. */
const paramikoClient = (port: number, keyFile: string, user: string) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn("/usr/bin/python3", ["-c", paramikoScript, String(port), keyFile, user], { stdio: ["pipe", "pipe", "pipe"] })),
      (child) => Effect.sync(() => child.kill())
    )
    let stderr = ""
    child.stderr.on("data", (d) => (stderr += d))
    // Each request waits for the next stdout line; "" when python is gone.
    const waiting: Array<(line: string) => void> = []
    readline.createInterface({ input: child.stdout }).on("line", (line) => waiting.shift()?.(line))
    child.on("error", (e) => (stderr += String(e)))
    child.on("close", () => waiting.splice(0).forEach((w) => w("")))
    const nextLine = (what: string) => withTimeout(120_000, what, () => new Promise<string>((r) => waiting.push(r)))
    const first = yield* Effect.promise(() => nextLine("paramiko start").catch(() => ""))
    if (first !== "ready") {
      const why = stderr.split("\n").filter(Boolean).at(-1) ?? "python exited"
      console.log(`paramiko not measured (python3-paramiko missing?): ${why}`)
      return undefined
    }
    const client: BenchClient = {
      name: "paramiko + TCP_NODELAY",
      note: "its own process",
      async runBlock(count) {
        child.stdin.write(`${count}\n`)
        const line = await nextLine("paramiko block")
        if (line === "") throw new Error(`paramiko failed: ${stderr}`)
        const r = JSON.parse(line)
        return { times: r.times, cpuMs: r.cpu }
      }
    }
    return client
  })

const program = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("bench-auth-")
  const keyFile = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", keyFile])
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${keyFile}.pub`, "utf8").trim()] })
  const port = sshd.port
  const user = os.userInfo().username
  const privateText = fs.readFileSync(keyFile, "utf8")
  const key = yield* OpenSshKeyV1.read(privateText, { source: keyFile })

  const ours = (skipQuery: boolean) => () => runEffect(Effect.scoped(Login.ours({ port, user, key, skipQuery })))

  if (key.material._tag !== "Ed25519") return yield* Effect.die(new Error("bench:auth's key is not ed25519"))
  const leastLogin = { user, key: Least.ed25519Key(key.material.seed) }
  const ssh2Config = { username: user, privateKey: privateText }
  const paramiko = yield* paramikoClient(port, keyFile, user)
  const rows = yield* Effect.promise(() =>
    measureAll(
      [
        inProcess("effect-ssh-auth (in-memory key: signs at once, the default)", ours(true)),
        inProcess("effect-ssh-auth (in-memory key, skipQuery: false: query first)", ours(false)),
        inProcess("ssh2 as shipped", () => ssh2Connect(port, { noDelay: false, until: "ready", config: ssh2Config })),
        inProcess("ssh2 + TCP_NODELAY", () => ssh2Connect(port, { noDelay: true, until: "ready", config: ssh2Config })),
        ...(paramiko ? [paramiko] : []),
        inProcess("its connection core alone, the same login in its callbacks: no Effect, no handler", () => coreOnly(port, { user, key })),
        inProcess("the core's login in a minimal Effect program (runPromise, a scope, two waits)", () => coreInMinimalEffect(port, { user, key })),
        inProcess("the least SSH login in plain node (bench/Least.ts: one algorithm each, hand-made; a floor, not a client)", () =>
          Least.client(port, leastLogin))
      ],
      N,
      WARMUP
    )
  )

  const [our, queried, shipped, nodelay] = rows
  const [core, minimal, least] = rows.slice(-3)
  const peers = rows.slice(2, -3)
  const fastest = peers.reduce((a, b) => (b.medianMs < a.medianMs ? b : a))
  console.log([
    `auth benchmark: ${N} sequential connect + publickey (ed25519) logins each, after ${WARMUP} warm-up, in ${ROUNDS} blocks taking turns (A B C, C B A, …)`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion}`,
    "",
    formatRows(rows),
    "",
    verdict(`default path, latency vs the fastest peer (${fastest.name})`, our.medianMs / fastest.medianMs, 1.0),
    verdict("default path, client CPU vs ssh2 as shipped", our.cpuMs! / shipped.cpuMs!, 0.5),
    `(query first: ${(queried.medianMs / fastest.medianMs).toFixed(2)}× the fastest peer's latency, ${
      (queried.cpuMs! / shipped.cpuMs!).toFixed(2)
    }× ssh2's CPU)`,
    `(ssh2 + TCP_NODELAY: ${nodelay.medianMs.toFixed(2)} ms)`,
    `(the least SSH login in plain node, a floor: ${(least.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU)`,
    `(the connection core alone, the same login without Effect: ${(core.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU; in a minimal Effect program: ${
      (minimal.cpuMs! / shipped.cpuMs!).toFixed(2)
    }×; our edge, handler and strategy above that: ${(our.cpuMs! - minimal.cpuMs!).toFixed(2)} ms)`
  ].join("\n"))
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
