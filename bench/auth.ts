/**
 * `npm run bench:auth`: connect and authenticate with an ed25519 key against the same
 * throwaway sshd, this library beside ssh2 (as shipped and with TCP_NODELAY) and, when
 * Debian's python3-paramiko is installed, paramiko on a TCP_NODELAY socket.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as AuthStrategy from "../src/AuthStrategy.js"
import * as AuthHandler from "../src/handler/AuthHandler.js"
import * as OpenSshKeyV1 from "../src/keys/OpenSshKeyV1.js"
import { InMemoryPrivateKey } from "../src/sources/PrivateKey.js"
import { acceptAnyInsecure } from "../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../src/transport/TcpTransport.js"
import { Transport } from "../src/transport/Transport.js"
import * as Sshd from "../test/support/Sshd.js"
import { formatRows, measure, type Row, runEffect, ssh2Connect, verdict, WARMUP } from "./Harness.js"

const N = Number(process.env.BENCH_N ?? 50)

/** paramiko in Debian's python, timing itself: connect on a TCP_NODELAY socket, auth_publickey. */
const paramikoScript = `
import json, socket, sys, time
import paramiko
port, key_path, user, n, warmup = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
key = paramiko.Ed25519Key.from_private_key_file(key_path)
def once():
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = paramiko.Transport(s)
    t.start_client(timeout=10)
    t.auth_publickey(user, key)
    assert t.is_authenticated()
    t.close()
for _ in range(warmup): once()
times = []
cpu0 = time.process_time()
for _ in range(n):
    t0 = time.perf_counter(); once(); times.append((time.perf_counter() - t0) * 1000)
cpu = (time.process_time() - cpu0) * 1000 / n
times.sort()
print(json.dumps({"median": times[len(times)//2], "p90": times[min(len(times)-1, int(0.9*len(times)))], "cpu": cpu}))
`

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

  const ours = (skipQuery: boolean) => () =>
    runEffect(Effect.scoped(Effect.gen(function*() {
      const transport = yield* makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure })
      const result = yield* AuthStrategy.authenticate(AuthStrategy.make(new InMemoryPrivateKey(user, key, { skipQuery }))).pipe(
        Effect.provide(AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, transport))))
      )
      if (!result.succeeded) throw new Error("not authenticated")
    })))

  const rows: Array<Row> = []
  const run = (name: string, op: () => Promise<void>) => Effect.promise(async () => void rows.push(await measure(name, N, WARMUP, op)))
  yield* run("effect-ssh-auth (in-memory key: signs at once, the default)", ours(true))
  yield* run("effect-ssh-auth (in-memory key, skipQuery: false: query first)", ours(false))
  const ssh2Config = { username: user, privateKey: privateText }
  yield* run("ssh2 as shipped", () => ssh2Connect(port, { noDelay: false, until: "ready", config: ssh2Config }))
  yield* run("ssh2 + TCP_NODELAY", () => ssh2Connect(port, { noDelay: true, until: "ready", config: ssh2Config }))

  let paramiko: Row | undefined
  try {
    const out = execFileSync("/usr/bin/python3", ["-c", paramikoScript, String(port), keyFile, user, String(N), String(WARMUP)], {
      encoding: "utf8",
      timeout: 120_000
    })
    const r = JSON.parse(out)
    paramiko = { name: "paramiko + TCP_NODELAY", medianMs: r.median, p90Ms: r.p90, cpuMs: r.cpu, note: "its own process" }
    rows.push(paramiko)
  } catch (e) {
    console.log(`paramiko not measured (python3-paramiko missing?): ${String(e).split("\n")[0]}`)
  }

  const [our, queried, shipped, nodelay] = rows
  const peers = rows.slice(2)
  const fastest = peers.reduce((a, b) => (b.medianMs < a.medianMs ? b : a))
  console.log([
    `auth benchmark: ${N} sequential connect + publickey (ed25519) logins each, after ${WARMUP} warm-up`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion}`,
    "",
    formatRows(rows),
    "",
    verdict(`default path, latency vs the fastest peer (${fastest.name})`, our.medianMs / fastest.medianMs, 1.0),
    verdict("default path, client CPU vs ssh2 as shipped", our.cpuMs! / shipped.cpuMs!, 0.5),
    `(query first: ${(queried.medianMs / fastest.medianMs).toFixed(2)}× the fastest peer's latency, ${(queried.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU)`,
    `(ssh2 + TCP_NODELAY: ${nodelay.medianMs.toFixed(2)} ms)`
  ].join("\n"))
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
