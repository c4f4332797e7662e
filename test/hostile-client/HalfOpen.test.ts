/**
 * 1,000 half-open connections against our server, which runs in this process: memory
 * (heap and buffers, after a full GC) and file descriptors (/proc/self/fd) before, while
 * they are open and after they are gone. The measure includes the clients' own sockets,
 * which live in this process too, so it is an upper bound on the server's share.
 *
 * - With MaxStartups 10, the excess is closed at once, before the server sends a byte, and
 *   nothing of it stays behind.
 * - With MaxStartups 1,000 and a version line each, all are held, each at a bounded cost,
 *   until LoginGraceTime cuts them all; then every descriptor and every byte is returned.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { summary } from "./Case.js"
import { VERSION } from "./HostileClient.js"
import { target } from "./Target.js"

v8.setFlagsFromString("--expose-gc")
const gc = vm.runInNewContext("gc") as () => void

const COUNT = 1_000
/** Long enough for the server to accept all 1,000 on a busy two-core machine first. */
const GRACE_MS = 6_000

const fds = (): number => fs.readdirSync("/proc/self/fd").length

/** Heap and off-heap bytes after a full collection. */
const memory = async (): Promise<number> => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise(setImmediate)
  }
  const m = process.memoryUsage()
  return m.heapUsed + m.external + m.arrayBuffers
}

interface HalfOpen {
  readonly socket: net.Socket
  readonly openedAt: number
  closedAt?: number
  bytes: number
}

/** Opens `count` connections, in batches so the listen backlog never overflows; each sends `first` if given. */
const openMany = async (port: number, count: number, first?: string): Promise<Array<HalfOpen>> => {
  const all: Array<HalfOpen> = []
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, () =>
      new Promise<HalfOpen>((resolve, reject) => {
        const socket = net.connect({ port, host: "127.0.0.1" })
        const h: HalfOpen = { socket, openedAt: Date.now(), bytes: 0 }
        socket.on("data", (b) => (h.bytes += b.length))
        socket.on("close", () => (h.closedAt ??= Date.now()))
        socket.once("error", () => {})
        socket.once("connect", () => {
          if (first !== undefined) socket.write(first)
          resolve(h)
        })
        setTimeout(() => reject(new Error("connect took more than 5 s")), 5_000).unref()
      }))
    all.push(...await Promise.all(batch))
  }
  return all
}

/** Every descriptor back, and (after a full GC) no more than 4 MB kept, of which V8's caches are most. */
const expectAllReturned = async (fdsBefore: number, memoryBefore: number): Promise<number> => {
  await eventually(() => fds() <= fdsBefore + 2, 2_000)
  expect(fds(), "file descriptors after").toBeLessThanOrEqual(fdsBefore + 2)
  const growth = (await memory()) - memoryBefore
  expect(growth, "bytes kept after all closed").toBeLessThan(4 * 1024 * 1024)
  return growth
}

/** Waits until `ok()` holds, for at most `ms`. */
const eventually = async (ok: () => boolean, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  return ok()
}

describe("hostile client: 1,000 half-open connections", () => {
  it.live("MaxStartups 10: the excess is closed at once, before a byte is sent; nothing stays behind", () =>
    Effect.gen(function*() {
      const fdsBefore = fds()
      const memoryBefore = yield* Effect.promise(memory)
      const server = yield* target({ auth: { loginGraceTime: "30 seconds" } })
      const clients = yield* Effect.promise(() => openMany(server.port, COUNT))
      yield* Effect.promise(() => eventually(() => clients.filter((c) => c.closedAt === undefined).length <= 10, 2_000))
      const held = clients.filter((c) => c.closedAt === undefined)
      const dropped = clients.filter((c) => c.closedAt !== undefined)
      expect(held.length).toBeLessThanOrEqual(10)
      expect(server.listening.connections()).toBeLessThanOrEqual(10)
      // Dropped at once, and before the server said anything.
      expect(dropped.filter((c) => c.bytes > 0)).toEqual([])
      // "At once": in the accept callback, long before any timeout (here 30 s); the time is
      // mostly the accept queue's, 1,000 connections deep on a two-core machine.
      const slowest = Math.max(...dropped.map((c) => c.closedAt! - c.openedAt))
      expect(slowest, "the slowest drop (ms)").toBeLessThan(3_000)

      for (const c of clients) c.socket.destroy()
      const drained = yield* Effect.promise(() => eventually(() => server.listening.connections() === 0 && server.ended.length === held.length, 3_000))
      expect(drained, summary(server)).toBe(true)
      expect(server.ended.every((e) => e.failure !== undefined), summary(server)).toBe(true)
      expect(server.calls.methods).toEqual([])
      server.forget()
      yield* Effect.promise(() => expectAllReturned(fdsBefore, memoryBefore))
    }).pipe(Effect.scoped), 30_000)

  it.live("MaxStartups 1,000, a version line each: all held at a bounded cost, all cut at LoginGraceTime, everything returned", () =>
    Effect.gen(function*() {
      const fdsBefore = fds()
      const memoryBefore = yield* Effect.promise(memory)
      const server = yield* target({ maxStartups: COUNT, auth: { loginGraceTime: `${GRACE_MS} millis` } })
      const started = Date.now()
      const clients = yield* Effect.promise(() => openMany(server.port, COUNT, `${VERSION}\r\n`))
      const allHeld = yield* Effect.promise(() => eventually(() => server.listening.connections() === COUNT, GRACE_MS - 1_000))
      expect(allHeld, `${server.listening.connections()} held`).toBe(true)
      const heldAfter = Date.now() - started
      const perConnection = ((yield* Effect.promise(memory)) - memoryBefore) / COUNT
      // Each: a socket on both ends, the core with its KEXINIT, the fiber waiting for the client's.
      expect(perConnection, "bytes per half-open connection, both ends").toBeLessThan(96 * 1024)
      const fdsOpen = fds()
      expect(fdsOpen - fdsBefore).toBeGreaterThanOrEqual(2 * COUNT)

      // Nobody closes: LoginGraceTime must.
      const allCut = yield* Effect.promise(() => eventually(() => clients.every((c) => c.closedAt !== undefined), GRACE_MS + 8_000))
      expect(allCut, `${clients.filter((c) => c.closedAt === undefined).length} still open`).toBe(true)
      const last = Math.max(...clients.map((c) => c.closedAt!))
      expect(last - started).toBeGreaterThanOrEqual(GRACE_MS - 50)
      expect(last - started).toBeLessThan(GRACE_MS + heldAfter + 2_000)
      yield* Effect.promise(() => eventually(() => server.ended.length === COUNT, 2_000))
      expect(server.ended.length).toBe(COUNT)
      const reasons = new Set(server.ended.map((e) => e.failure?.reason ?? String(e.other)))
      expect([...reasons]).toEqual(["LoginGraceTime"])
      expect(server.listening.connections()).toBe(0)
      expect(server.calls.methods).toEqual([])
      server.forget()
      const growth = yield* Effect.promise(() => expectAllReturned(fdsBefore, memoryBefore))
      console.log(
        `half-open: all held after ${heldAfter} ms, ${Math.round(perConnection / 1024)} KB per connection (both ends), ${
          Math.round(growth / 1024)
        } KB kept after`
      )
    }).pipe(Effect.scoped), 30_000)
})
