/**
 * `npm run bench:handshake`: this library and ssh2 each make sequential connections to the
 * same throwaway sshd on 127.0.0.1 — handshake, then SERVICE_ACCEPT for ssh-userauth — and
 * report median latency, client CPU per connection, and the ratios against the targets.
 */
import * as Effect from "effect/Effect"
import * as os from "node:os"
import { acceptAnyInsecure } from "../src/transport/HostKeyPolicy.js"
import { makeTcp } from "../src/transport/TcpTransport.js"
import * as Sshd from "../test/support/Sshd.js"
import {
  BENCH_ALGORITHMS,
  coreInMinimalEffect,
  coreOnly,
  effectSocketBanner,
  formatRows,
  inProcess,
  measureAll,
  rawBanner,
  ROUNDS,
  runEffect,
  ssh2Connect,
  verdict,
  WARMUP
} from "./Harness.js"
import * as Least from "./Least.js"

const N = Number(process.env.BENCH_N ?? 50)

const program = Effect.gen(function*() {
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const sshd = yield* Sshd.start({ hostKeys })
  const port = sshd.port
  let negotiated = ""

  const ours = () =>
    runEffect(Effect.scoped(Effect.gen(function*() {
      const c = yield* makeTcp({ host: "127.0.0.1", port, hostKeyPolicy: acceptAnyInsecure, algorithms: BENCH_ALGORITHMS })
      yield* c.requestService("ssh-userauth")
      negotiated = `${c.algorithms.kex}, ${c.algorithms.hostKey}, ${c.algorithms.cipherClientToServer}`
    })))

  const rows = yield* Effect.promise(() =>
    measureAll(
      [
        inProcess("raw TCP connect + version line (floor)", () => rawBanner(port)),
        inProcess("Effect + platform-node socket, version line (our stack's floor)", () => effectSocketBanner(port)),
        inProcess("effect-ssh-auth", ours),
        inProcess("its connection core alone: node:net, no Effect edge", () => coreOnly(port)),
        inProcess("the core in a minimal Effect program (runPromise, a scope, two waits)", () => coreInMinimalEffect(port)),
        inProcess("ssh2 as shipped", () => ssh2Connect(port, { noDelay: false, until: "service-accept" })),
        inProcess("ssh2 + TCP_NODELAY", () => ssh2Connect(port, { noDelay: true, until: "service-accept" })),
        inProcess("the least SSH in plain node (bench/Least.ts: one algorithm each, hand-made; a floor, not a client)", () => Least.client(port))
      ],
      N,
      WARMUP
    )
  )
  rows[2] = { ...rows[2], note: negotiated }

  const [, floor, our, core, minimal, shipped, nodelay, least] = rows
  const report = [
    `handshake benchmark: ${N} sequential connections each (after ${WARMUP} warm-up), in ${ROUNDS} blocks taking turns (A B C, C B A, …), handshake → SERVICE_ACCEPT`,
    `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${yield* Sshd.openSshVersion}`,
    "",
    formatRows(rows),
    "",
    verdict("latency vs ssh2 + TCP_NODELAY", our.medianMs / nodelay.medianMs, 1.0),
    verdict("client CPU vs ssh2 as shipped", our.cpuMs! / shipped.cpuMs!, 0.5),
    `(our stack's floor alone, before any SSH: ${(floor.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU)`,
    `(the least SSH handshake in plain node, a floor: ${(least.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU)`,
    `(the connection core alone, without the Effect edge: ${(core.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU)`,
    `(the core in the least an Effect program does: ${(minimal.cpuMs! / shipped.cpuMs!).toFixed(2)}× ssh2's CPU; our edge above that: ${
      (our.cpuMs! - minimal.cpuMs!).toFixed(2)
    } ms)`
  ].join("\n")
  console.log(report)
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exitCode = 1
})
