/**
 * The servers `bench:server` measures, each in a process (tree) of its own, behind one shape:
 * its port, its CPU so far, a wait until it holds no connection, and its memory now. A Node
 * server (bench/server/ours.ts, bench/server/ssh2.ts) is read through /proc and its control
 * lines (bench/server/Control.ts); sshd is the test fixture, started as a child subreaper
 * (see `sshd`). Every wait is bounded; every process is ended with its Scope.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as readline from "node:readline"
import * as Sshd from "../../test/support/Sshd.js"
import type { Count, ServerArgs, Status } from "./Control.js"
import * as Proc from "./Proc.js"

export interface Target {
  readonly name: string
  readonly port: number
  /** The server's process (sshd: its listener). */
  readonly pid: number
  /** How its CPU and memory are read, for the report. */
  readonly note: string
  /** The server's CPU (user + system) so far, in ms; complete for ended connections once `settle` returned. */
  readonly cpuMs: () => number
  /** Resolves once the server holds `connections` connections (default none), or fails after `timeoutMs`. */
  readonly settle: (connections?: number, timeoutMs?: number) => Promise<void>
  /** The memory of the server's processes now (a Node server collects its garbage first). */
  readonly memory: () => Promise<Proc.Memory & { readonly heapUsed?: number; readonly youngGeneration?: number }>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `count` every 20 ms until it is `want`, for at most `timeoutMs`. */
const waitFor = async (what: string, count: () => Promise<number> | number, want: number, timeoutMs: number) => {
  const deadline = performance.now() + timeoutMs
  let last = await count()
  while (last !== want) {
    if (performance.now() > deadline) throw new Error(`${what}: ${last} connections after ${timeoutMs} ms, expected ${want}`)
    await sleep(20)
    last = await count()
  }
}

/**
 * A Node server process: `node --expose-gc [nodeArgs] script -- args`. Ended with its Scope:
 * stdin is closed (the process exits on its own, writing a --cpu-prof profile if asked), and
 * it is killed if it has not exited 15 s later.
 */
export const nodeServer = (name: string, script: string, args: ServerArgs, nodeArgs: ReadonlyArray<string> = []) =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(process.execPath, ["--expose-gc", ...nodeArgs, script, "--", JSON.stringify(args)], { stdio: ["pipe", "pipe", "pipe"] })),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          const kill = setTimeout(() => child.kill("SIGKILL"), 15_000)
          child.once("exit", () => {
            clearTimeout(kill)
            resume(Effect.void)
          })
          child.stdin.end()
        })
    )
    let stderr = ""
    child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)))
    // Each request takes the next stdout line; "" once the process is gone.
    const waiting: Array<(line: string) => void> = []
    readline.createInterface({ input: child.stdout }).on("line", (line) => waiting.shift()?.(line))
    child.on("close", () => waiting.splice(0).forEach((w) => w("")))
    const nextLine = (what: string) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no answer to ${what} in 15 s`)), 15_000)
        waiting.push((line) => {
          clearTimeout(timer)
          if (line === "") reject(new Error(`${name} exited: ${stderr.trim()}`))
          else resolve(line)
        })
      })
    const { port } = JSON.parse(yield* Effect.promise(() => nextLine("start"))) as { port: number }
    const pid = child.pid!
    const ask = async <A extends Count>(request: "stat" | "memory") => {
      const answer = nextLine(request)
      child.stdin.write(`${request}\n`)
      return JSON.parse(await answer) as A
    }
    const target: Target = {
      name,
      port,
      pid,
      note: "its process's utime + stime (/proc/PID/stat, all threads); RSS after a full GC",
      cpuMs: () => {
        const ms = Proc.cpuMs(pid)
        if (ms === undefined) throw new Error(`${name} exited: ${stderr.trim()}`)
        return ms
      },
      settle: (connections = 0, timeoutMs = 10_000) => waitFor(name, async () => (await ask<Count>("stat")).connections, connections, timeoutMs),
      memory: async () => {
        const status = await ask<Status>("memory")
        return { ...Proc.memory([pid]), heapUsed: status.heapUsed, youngGeneration: status.youngGeneration }
      }
    }
    return target
  })

/**
 * Makes the process a child subreaper (prctl PR_SET_CHILD_SUBREAPER, kept across execve), then
 * execs the rest of its arguments in its place.
 */
const subreaper = [
  "import ctypes, os, sys",
  "if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0: sys.exit('prctl(PR_SET_CHILD_SUBREAPER) failed')",
  "os.execv(sys.argv[1], sys.argv[1:])"
].join("\n")
const python = "/usr/bin/python3"

/**
 * The test fixture's sshd (its config, with LogLevel INFO, sshd's default, instead of the
 * fixture's VERBOSE), and its CPU: the listener's utime + stime + cutime + cstime. sshd forks
 * (and re-executes itself) per connection, and the per-connection monitor forks a pre-auth
 * child and, for a non-root user, a post-auth child. The kernel adds a child's CPU, its own
 * and its reaped children's, to its parent's cutime/cstime when the parent waits for it; the
 * monitor waits for its pre-auth child, but not for the post-auth one, which it leaves to be
 * re-parented when it exits. So sshd is started as a child subreaper: an orphan below it is
 * re-parented to the listener, whose SIGCHLD handler reaps any child (waitpid(-1)), and once
 * no process is left below the listener, its cutime/cstime hold the CPU of every process
 * every connection used. Memory: PSS (and RSS) summed over the listener and every process below it.
 */
export const sshd = (options: {
  readonly hostKeys: Sshd.HostKeys
  readonly authorizedKeys: ReadonlyArray<string>
  readonly config?: ReadonlyArray<string>
}) =>
  Effect.gen(function*() {
    const reaper = fs.existsSync(python)
    const server = yield* Sshd.start({
      hostKeys: options.hostKeys,
      hostKeyTypes: ["ed25519"],
      authorizedKeys: options.authorizedKeys,
      config: ["LogLevel INFO", ...(options.config ?? [])],
      ...(reaper ? { launcher: [python, "-c", subreaper] } : {})
    })
    const pid = Number(fs.readFileSync(path.join(server.dir, "sshd.pid"), "utf8").trim())
    const comm = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim()
    if (comm !== "sshd") return yield* Effect.die(new Error(`sshd's pid file names ${pid}, which is ${comm}`))
    // Runs before the fixture's own release (SIGTERM to the listener, which leaves its
    // connections' processes running): whatever is still below the listener is killed.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        for (const p of Proc.descendants(pid)) {
          try {
            process.kill(p, "SIGKILL")
          } catch {
            // already gone
          }
        }
      })
    )
    const target: Target = {
      name: "OpenSSH sshd",
      port: server.port,
      pid,
      note: reaper
        ? "the listener's utime + stime + cutime + cstime, started as a child subreaper so that every process of every connection is reaped into it; PSS summed over the listener and all below it"
        : `the listener's utime + stime + cutime + cstime (no ${python} to make it a subreaper: post-auth children are NOT counted); PSS summed over its processes`,
      cpuMs: () => {
        const ms = Proc.treeCpuMs(pid)
        if (ms === undefined) throw new Error("sshd exited")
        return ms
      },
      // An idle authenticated connection of a non-root user is two processes (monitor and
      // user child); a root login's is one. Settled: no process change for 200 ms.
      settle: async (connections = 0, timeoutMs = 10_000) => {
        if (connections === 0) return waitFor("sshd", () => Proc.descendants(pid).length, 0, timeoutMs)
        const deadline = performance.now() + timeoutMs
        let last = -1
        for (;;) {
          const now = Proc.descendants(pid).length
          if (now === last && now >= connections) return
          if (performance.now() > deadline) throw new Error(`sshd: ${now} processes for ${connections} connections after ${timeoutMs} ms`)
          last = now
          await sleep(200)
        }
      },
      memory: async () => Proc.memory([pid, ...Proc.descendants(pid)])
    }
    return target
  })
