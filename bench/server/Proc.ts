/**
 * What `bench:server` reads of a server process from outside it, in Linux's /proc: CPU
 * (utime + stime, with the CPU of reaped children), the process tree below a pid, and memory
 * (RSS and PSS from smaps_rollup). Every function reads a snapshot; a process that ends
 * between the listing and the read is skipped.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"

/** Clock ticks per second of /proc/PID/stat's CPU fields (USER_HZ; 100 on Linux). */
const ticksPerSecond = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
})()

/** The resolution of the CPU figures, in ms. */
export const tickMs = 1000 / ticksPerSecond

interface Stat {
  readonly ppid: number
  /** utime + stime: this process's own CPU, every thread, in ms. */
  readonly selfMs: number
  /** cutime + cstime: the CPU of its children that ended and were reaped (waited for), in ms. */
  readonly childrenMs: number
}

/** A stat file's fields, field n at index n - 3; undefined once its process or thread is gone. */
const readFields = (file: string): Array<string> | undefined => {
  let text: string
  try {
    text = fs.readFileSync(file, "latin1")
  } catch {
    return undefined
  }
  // The command name is in parentheses and may hold anything: the fields start after the last ")".
  return text.slice(text.lastIndexOf(")") + 2).split(" ")
}

/** Field `n` of a stat file's fields, read as clock ticks, in ms. */
const fieldMs = (f: ReadonlyArray<string>, n: number) => (Number(f[n - 3]) * 1000) / ticksPerSecond

const readStat = (pid: number): Stat | undefined => {
  const f = readFields(`/proc/${pid}/stat`)
  if (f === undefined) return undefined
  return { ppid: Number(f[4 - 3]), selfMs: fieldMs(f, 14) + fieldMs(f, 15), childrenMs: fieldMs(f, 16) + fieldMs(f, 17) }
}

/** A process's own CPU (user + system, all threads), in ms; undefined once it is gone. */
export const cpuMs = (pid: number): number | undefined => readStat(pid)?.selfMs

/**
 * The CPU of a process's threads other than its main one (user + system), in ms: for a Node
 * process, V8's compiler and its collector's helpers. Undefined where there is no /proc.
 */
export const backgroundThreadsCpuMs = (pid: number): number | undefined => {
  let tasks: Array<string>
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`)
  } catch {
    return undefined
  }
  let total = 0
  for (const tid of tasks) {
    if (tid === String(pid)) continue
    const f = readFields(`/proc/${pid}/task/${tid}/stat`)
    if (f !== undefined) total += fieldMs(f, 14) + fieldMs(f, 15)
  }
  return total
}

/**
 * A process's own CPU plus that of every child it has reaped (cutime + cstime: the kernel adds
 * a child's utime + stime + cutime + cstime to its parent's when the parent waits for it), in
 * ms. Complete for a tree once every process below `pid` has ended and been reaped.
 */
export const treeCpuMs = (pid: number): number | undefined => {
  const s = readStat(pid)
  return s === undefined ? undefined : s.selfMs + s.childrenMs
}

/** Every process below `pid` (children, their children, …), zombies included; a bounded walk of /proc. */
export const descendants = (pid: number): Array<number> => {
  const children = new Map<number, Array<number>>()
  for (const name of fs.readdirSync("/proc")) {
    const p = Number(name)
    if (!Number.isInteger(p) || p <= 0) continue
    const s = readStat(p)
    if (s === undefined) continue
    const list = children.get(s.ppid)
    if (list === undefined) children.set(s.ppid, [p])
    else list.push(p)
  }
  const found: Array<number> = []
  const queue = [pid]
  const seen = new Set(queue)
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      if (seen.has(c)) continue
      seen.add(c)
      found.push(c)
      queue.push(c)
    }
  }
  return found
}

/** Resident memory, in bytes. */
export interface Memory {
  /** Pages resident, counted in full in every process that maps them. */
  readonly rss: number
  /** The same with each shared page divided among the processes that share it. */
  readonly pss: number
}

/** RSS and PSS of one process (smaps_rollup); zero for a process that is gone or unreadable. */
const memoryOf = (pid: number): Memory => {
  let text: string
  try {
    text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "latin1")
  } catch {
    return { rss: 0, pss: 0 }
  }
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? 0) * 1024
  return { rss: kb("Rss"), pss: kb("Pss") }
}

/** RSS and PSS summed over some processes. */
export const memory = (pids: ReadonlyArray<number>): Memory =>
  pids.map(memoryOf).reduce((a, b) => ({ rss: a.rss + b.rss, pss: a.pss + b.pss }), { rss: 0, pss: 0 })
