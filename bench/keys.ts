/**
 * `npm run bench:keys`: the time to decrypt an encrypted openssh-key-v1 ed25519 key
 * (bcrypt, 16 rounds: ssh-keygen's default) three ways in one run: this library in
 * process, `ssh-keygen -y -P` as a process (what a user waits for), and ssh2's
 * `utils.parseKey` in process. Runs alternate between the three, so drift hits all alike.
 */
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ssh2 from "ssh2"
import * as KeyFile from "../src/keys/KeyFile.js"
import * as PublicKeyText from "../src/keys/PublicKeyText.js"
import * as Sshd from "../test/support/Sshd.js"
import { formatRows, type Row, verdict } from "./Harness.js"

const N = Number(process.env.BENCH_N ?? 15)
const WARMUP = 2
const PASSPHRASE = "bench passphrase"

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
const timed = async (op: () => unknown | Promise<unknown>) => {
  const t0 = performance.now()
  await op()
  return performance.now() - t0
}

const program = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("bench-keys-")
  const file = path.join(dir, "id_ed25519")
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-a", "16", "-N", PASSPHRASE, "-f", file], { timeout: 60_000 })
  const text = fs.readFileSync(file, "utf8")

  const ours = () =>
    Effect.runPromise(KeyFile.readFile(file, { passphrase: Effect.succeed(Redacted.make(PASSPHRASE)) }).pipe(Effect.provide(NodeFileSystem.layer)))
  const keygen = () => execFileSync("ssh-keygen", ["-y", "-P", PASSPHRASE, "-f", file], { encoding: "utf8", timeout: 60_000 })
  const peer = () => {
    const parsed = ssh2.utils.parseKey(text, PASSPHRASE)
    if (parsed instanceof Error) throw parsed
    return parsed
  }

  // Correctness first: the same public key as ssh-keygen's.
  const expected = keygen().trim().split(" ").slice(0, 2).join(" ")
  const key = yield* Effect.promise(ours)
  if (PublicKeyText.format(key.publicKey) !== expected) {
    return yield* Effect.die(new Error(`our public key ${PublicKeyText.format(key.publicKey)} differs from ssh-keygen's ${expected}`))
  }

  const clients: ReadonlyArray<readonly [string, () => unknown]> = [
    ["effect-ssh-auth KeyFile.readFile", ours],
    ["ssh-keygen -y -P (the whole process)", keygen],
    ["ssh2 utils.parseKey", peer]
  ]
  const times = clients.map((): Array<number> => [])
  for (let round = 0; round < WARMUP + N; round++) {
    for (const [i, [, op]] of clients.entries()) {
      const ms = yield* Effect.promise(() => timed(op))
      if (round >= WARMUP) times[i].push(ms)
    }
  }
  const rows: Array<Row> = clients.map(([name], i) => {
    const sorted = [...times[i]].sort((a, b) => a - b)
    return { name, medianMs: quantile(sorted, 0.5), p90Ms: quantile(sorted, 0.9), cpuMs: undefined }
  })
  const [our, theirs, ssh2Row] = rows
  console.log([
    `keys benchmark: decrypt an encrypted openssh-key-v1 ed25519 key (bcrypt, 16 rounds), ${N} runs each after ${WARMUP} warm-up, interleaved`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion}`,
    "",
    formatRows(rows),
    "",
    verdict("decrypt time vs ssh-keygen's process time", our.medianMs / theirs.medianMs, 1.3),
    `(ssh2 utils.parseKey: ${(ssh2Row.medianMs / theirs.medianMs).toFixed(2)}× ssh-keygen's process time)`
  ].join("\n"))
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
