/**
 * Shared pieces of the benchmarks: sequential timing with client CPU, the peers' runners,
 * and the report. Every run is bounded in count and every connection in time.
 */
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as crypto from "node:crypto"
import * as net from "node:net"
import { Client, type ConnectConfig } from "ssh2"
import { nodeCurves } from "../src/crypto/NodeCurves.js"
import { type PrivateKey, signSync } from "../src/keys/PrivateKey.js"
import { defaultPreferences } from "../src/transport/Algorithms.js"
import { Connection } from "../src/transport/Connection.js"
import { MessageNumber } from "../src/wire/MessageNumber.js"
import { encode } from "../src/wire/Writer.js"
import * as Sshd from "../test/support/Sshd.js"
import * as Proc from "./server/Proc.js"
import { quantile, turns } from "./Stats.js"

export interface Row {
  readonly name: string
  readonly medianMs: number
  readonly p90Ms: number
  /** Client CPU (user + system) per operation, in ms; undefined when not measurable in-process. */
  readonly cpuMs: number | undefined
  /** Of `cpuMs`, what threads other than the main one spent (V8's compiler and GC helpers), where Linux tells. */
  readonly backgroundMs?: number | undefined
  readonly note?: string
}

/**
 * Untimed runs before the timed ones, the same for every client: the numbers are for a
 * warm process (a deploy tool or a CI runner making many connections), not for V8's JIT.
 */
export const WARMUP = Number(process.env.BENCH_WARMUP ?? 50)

/** What one block of sequential operations took: each one's time, and the CPU of the block. */
export interface Block {
  readonly times: ReadonlyArray<number>
  /** Client CPU (user + system) for the whole block, in ms; undefined when not measurable. */
  readonly cpuMs: number | undefined
  /** Of it, threads other than the main one, in ms (in clock ticks); undefined when not measurable. */
  readonly backgroundMs?: number | undefined
}

/**
 * CPU ms of this process's threads other than the main one: V8 compiles optimized code and
 * helps its collector on such threads, and `process.cpuUsage` counts them with the rest.
 */
const backgroundCpuMs = () => Proc.backgroundThreadsCpuMs(process.pid)

/** A sum that is undefined once any part is. */
const plus = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a + b)

/** A client under measurement: runs `count` operations one after another. */
export interface BenchClient {
  readonly name: string
  readonly note?: string
  runBlock(count: number): Promise<Block>
}

/** A client whose operation runs in this process: timed one by one, CPU per block. */
export const inProcess = (name: string, op: () => Promise<void>, note?: string): BenchClient => ({
  name,
  ...(note ? { note } : {}),
  async runBlock(count) {
    const times: Array<number> = []
    const background0 = backgroundCpuMs()
    const cpu0 = process.cpuUsage()
    for (let i = 0; i < count; i++) {
      const t0 = performance.now()
      await op()
      times.push(performance.now() - t0)
    }
    const cpu = process.cpuUsage(cpu0)
    const background = backgroundCpuMs()
    return {
      times,
      cpuMs: (cpu.user + cpu.system) / 1000,
      backgroundMs: background === undefined || background0 === undefined ? undefined : background - background0
    }
  }
})

/** Blocks per client: the clients take turns, so a change in machine load hits them alike. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6)

/**
 * Warms every client up (`warmup` untimed operations each), then runs `n` timed operations
 * per client in `ROUNDS` blocks taking turns (A B C, C B A, …: `turns`), and reports each
 * client's median and p90 latency and mean CPU per operation.
 */
export const measureAll = async (clients: ReadonlyArray<BenchClient>, n: number, warmup: number): Promise<Array<Row>> => {
  for (const c of clients) if (warmup > 0) await c.runBlock(warmup)
  const rounds = Math.max(1, Math.min(ROUNDS, n))
  const collected = clients.map(() => ({ times: [] as Array<number>, cpuMs: 0 as number | undefined, backgroundMs: 0 as number | undefined }))
  for (let r = 0; r < rounds; r++) {
    // The last blocks take what is left of n.
    const count = Math.floor((n * (r + 1)) / rounds) - Math.floor((n * r) / rounds)
    for (const [i, c] of turns(clients, r)) {
      const block = await c.runBlock(count)
      collected[i].times.push(...block.times)
      collected[i].cpuMs = plus(collected[i].cpuMs, block.cpuMs)
      collected[i].backgroundMs = plus(collected[i].backgroundMs, block.backgroundMs)
    }
  }
  return clients.map((c, i) => {
    const times = collected[i].times
    const cpu = collected[i].cpuMs
    const background = collected[i].backgroundMs
    return {
      name: c.name,
      medianMs: quantile(times, 0.5),
      p90Ms: quantile(times, 0.9),
      cpuMs: cpu === undefined ? undefined : cpu / times.length,
      backgroundMs: background === undefined ? undefined : background / times.length,
      ...(c.note ? { note: c.note } : {})
    }
  })
}

/** Rejects after `ms`, so no single connection can hang a benchmark. */
export const withTimeout = <A>(ms: number, what: string, p: (onTimeout: (f: () => void) => void) => Promise<A>): Promise<A> => {
  let cleanup: () => void = () => {}
  return new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`${what}: timed out after ${ms} ms`))
    }, ms)
    p((f) => (cleanup = f)).then(
      (a) => (clearTimeout(timer), resolve(a)),
      (e) => (clearTimeout(timer), reject(e))
    )
  })
}

/** The time to a TCP connection and sshd's version line: the server's floor. */
export const rawBanner = (port: number) =>
  withTimeout(10_000, "raw banner", (onTimeout) =>
    new Promise<void>((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1")
      onTimeout(() => socket.destroy())
      socket.setNoDelay(true)
      socket.once("data", () => {
        socket.destroy()
        resolve()
      })
      socket.once("error", reject)
    }))

/**
 * The same, through @effect/platform-node's socket inside an Effect: the floor that any
 * client on this stack pays before it does any SSH.
 */
export const effectSocketBanner = (port: number) =>
  Effect.runPromise(
    Effect.scoped(Effect.gen(function*() {
      const socket = yield* NodeSocket.makeNet({ host: "127.0.0.1", port, noDelay: true })
      const banner = yield* Deferred.make<void>()
      yield* Effect.forkScoped(socket.run(() => Deferred.unsafeDone(banner, Effect.void)))
      yield* Deferred.await(banner)
    })).pipe(Effect.timeout("10 seconds"))
  )

/**
 * The kex our client uses against ssh2 and sshd in these benchmarks: curve25519-sha256, what
 * ssh2 negotiates, so that the rows compare the same work. (Our default, OpenSSH 10's order,
 * puts the post-quantum hybrids first; `npm run bench:kex` measures those.)
 */
export const BENCH_ALGORITHMS = { kex: ["curve25519-sha256"] } as const

/** A publickey USERAUTH_REQUEST signed over `sessionId` (RFC 4252 §7), as `AuthHandler` sends one. */
const signedRequest = ({ key, user }: CoreLogin, sessionId: Uint8Array): Uint8Array => {
  const algorithm = key.publicKey.type
  const body = encode((w) =>
    w.byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("publickey").boolean(true).string(algorithm).string(key.publicKey.blob)
  )
  const signature = signSync(nodeCurves, key, algorithm, encode((w) => w.string(sessionId).raw(body)))
  return encode((w) => w.raw(body).string(signature))
}

/** Who `coreOnly` logs in as, with which in-memory key (publickey, signed at once). */
export interface CoreLogin {
  readonly user: string
  readonly key: PrivateKey
}

/**
 * Our connection core over a bare node:net socket, driven by plain callbacks, with no
 * Effect edge: handshake to SERVICE_ACCEPT, and with `login` on to USERAUTH_SUCCESS (the
 * signed request sent as the handler sends it, no strategy, no handler). What the core
 * itself costs; the distance to the "effect-ssh-auth" row is the edge's.
 */
export const coreOnly = (port: number, login?: CoreLogin) =>
  withTimeout(10_000, "core only", (onTimeout) =>
    new Promise<void>((resolve, reject) => {
      const socket = net.createConnection({ host: "127.0.0.1", port, noDelay: true })
      onTimeout(() => socket.destroy())
      const core = new Connection({
        role: "client",
        host: "127.0.0.1",
        port,
        identification: "SSH-2.0-effect_ssh_auth_core_bench",
        preferences: { ...defaultPreferences, kex: BENCH_ALGORITHMS.kex },
        random: (n) => crypto.randomBytes(n),
        now: () => Date.now(),
        curves: nodeCurves,
        stepTimeoutMillis: 10_000,
        rekeyBytes: 2 ** 30,
        rekeyPackets: 2 ** 28,
        pipelineService: "ssh-userauth"
      })
      const done = () => {
        core.disconnect()
        resolve()
      }
      const pump = () => {
        for (let e = core.pollEvent(); e; e = core.pollEvent()) {
          if (e._tag === "HostKey") core.acceptHostKey()
          else if (e._tag === "ServiceAccept") {
            if (login) core.send(signedRequest(login, core.sessionId!))
            else done()
          } else if (e._tag === "Message" && login && e.payload[0] === MessageNumber.USERAUTH_SUCCESS) done()
          else if (e._tag === "Message" && login && e.payload[0] === MessageNumber.USERAUTH_FAILURE) reject(new Error("core only: key refused"))
          else if (e._tag === "Closed" && e.error._tag !== "TransportError") reject(e.error)
        }
        const out = core.pollTransmit()
        if (out) socket.write(out)
        if (core.closed) socket.destroySoon()
      }
      socket.on("connect", pump)
      socket.on("data", (chunk) => {
        core.receive(chunk)
        pump()
      })
      socket.on("error", reject)
    }))

/**
 * The core alone (`coreOnly`) inside the least an Effect edge must do: `runPromise` of a
 * scoped program with one finalizer that waits twice (the handshake, the service accept).
 * What any Effect API around the core costs at the least; the distance from here to the
 * "effect-ssh-auth" row is what our edge adds above that.
 */
export const coreInMinimalEffect = (port: number, login?: CoreLogin) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    yield* Scope.addFinalizer(yield* Effect.scope, Effect.void)
    yield* Effect.promise(() => coreOnly(port, login))
    yield* Effect.async<void>((resume) => void setImmediate(() => resume(Effect.void)))
  })))

/**
 * One ssh2 connection. `until` picks the moment that counts: "service-accept" (its
 * authHandler is first called right after SERVICE_ACCEPT, see ssh2/lib/client.js) or
 * "ready" (authenticated). `noDelay` hands ssh2 a socket with TCP_NODELAY set.
 */
export const ssh2Connect = (
  port: number,
  options: { readonly noDelay: boolean; readonly until: "service-accept" | "ready"; readonly config?: Partial<ConnectConfig> }
) =>
  withTimeout(10_000, "ssh2", (onTimeout) =>
    new Promise<void>((resolve, reject) => {
      const client = new Client()
      onTimeout(() => client.end())
      let done = false
      const finish = () => {
        if (done) return
        done = true
        resolve()
        client.end()
      }
      client.on("error", (e) => {
        if (!done) reject(e)
      })
      client.on("ready", finish)
      const config: ConnectConfig = { host: "127.0.0.1", port, username: "bench", readyTimeout: 10_000, ...options.config }
      if (options.until === "service-accept") {
        config.authHandler = (_methods, _partial, next) => {
          finish()
          next(false as never)
        }
      }
      if (options.noDelay) {
        const sock = net.connect(port, "127.0.0.1")
        sock.setNoDelay(true)
        config.sock = sock
      }
      client.connect(config)
    }))

export const runEffect = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

export const formatRows = (rows: ReadonlyArray<Row>): string => {
  const ms = (v: number | undefined) => (v === undefined ? "n/a" : v.toFixed(2))
  const lines = [
    "| client | median ms | p90 ms | client CPU ms/op | of it, background threads | note |",
    "| --- | ---: | ---: | ---: | ---: | --- |"
  ]
  for (const r of rows) {
    lines.push(`| ${r.name} | ${r.medianMs.toFixed(2)} | ${r.p90Ms.toFixed(2)} | ${ms(r.cpuMs)} | ${ms(r.backgroundMs)} | ${r.note ?? ""} |`)
  }
  return lines.join("\n")
}

/** Which code a run measured: the commit, and whether src had changes not in it. */
export const measuredRevision = Effect.gen(function*() {
  const head = (yield* Sshd.run("git", ["rev-parse", "--short", "HEAD"])).stdout.trim()
  const dirty = (yield* Sshd.run("git", ["status", "--porcelain", "--", "src"])).stdout.trim() !== ""
  return head === "" ? "no git" : `${head}${dirty ? " + local changes in src" : ""}`
})

export const verdict = (label: string, ratio: number, target: number) =>
  `${label}: ${ratio.toFixed(2)}× (target ≤ ${target.toFixed(1)}×) ${ratio <= target ? "PASS" : "MISS"}`
