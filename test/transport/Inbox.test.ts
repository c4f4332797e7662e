/**
 * The connection's inbox: order, the timed take, the end (drained first, then failing), and
 * an interrupted take that must not swallow the next item.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import { Inbox } from "../../src/transport/Inbox.js"

const timeout = (millis: number) => ({ millis, onTimeout: () => `no item within ${millis} ms` })

describe("Inbox", () => {
  it.effect("items come out in order, whether offered before or during a take", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<number, string>()
      inbox.offer(1)
      inbox.offer(2)
      expect(yield* inbox.take()).toBe(1)
      expect(yield* inbox.take()).toBe(2)
      const waiting = yield* Effect.fork(inbox.take())
      yield* Effect.yieldNow()
      inbox.offer(3)
      expect(yield* Fiber.join(waiting)).toBe(3)
    }))

  it.live("a timed take fails with its own error, and the item that comes later is kept", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string, string>()
      const first = yield* Effect.either(inbox.take(timeout(20)))
      expect(first).toEqual(Either.left("no item within 20 ms"))
      inbox.offer("late")
      expect(yield* inbox.take(timeout(20))).toBe("late")
    }))

  it.live("a timed take that gets its item in time clears its timer", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string, string>()
      const waiting = yield* Effect.fork(inbox.take(timeout(30)))
      yield* Effect.sleep("5 millis")
      inbox.offer("on time")
      expect(yield* Fiber.join(waiting)).toBe("on time")
      // Had the timer survived, it would fail the next take early.
      const next = yield* Effect.fork(inbox.take(timeout(200)))
      yield* Effect.sleep("60 millis")
      inbox.offer("second")
      expect(yield* Fiber.join(next)).toBe("second")
    }))

  it.effect("after end, the remaining items are taken first, then every take fails", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<number, string>()
      inbox.offer(1)
      let made = 0
      inbox.end(() => `ended (${++made})`)
      inbox.end(() => "a second end is ignored")
      inbox.offer(2)
      expect(inbox.isEnded).toBe(true)
      expect(yield* inbox.take()).toBe(1)
      expect(yield* Effect.either(inbox.take())).toEqual(Either.left("ended (1)"))
      expect(yield* Effect.either(inbox.take())).toEqual(Either.left("ended (2)"))
    }))

  it.effect("end fails the takes already waiting", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<number, string>()
      const a = yield* Effect.fork(Effect.either(inbox.take()))
      const b = yield* Effect.fork(Effect.either(inbox.take()))
      yield* Effect.yieldNow()
      inbox.end(() => "closed")
      expect(yield* Fiber.join(a)).toEqual(Either.left("closed"))
      expect(yield* Fiber.join(b)).toEqual(Either.left("closed"))
    }))

  it.effect("an interrupted take leaves the next item for the next take", () =>
    Effect.gen(function*() {
      const inbox = new Inbox<string, string>()
      const abandoned = yield* Effect.fork(inbox.take())
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(abandoned)
      inbox.offer("kept")
      expect(yield* inbox.take()).toBe("kept")
    }))
})
