/**
 * A queue of one connection's incoming items (socket chunks, messages, service accepts)
 * whose `take` carries its own timer.
 *
 * Why not `Mailbox` with `Effect.timeoutFail`: that races two fibers on every wait, ≈ 100 µs
 * of CPU each, and a login waits a dozen times. Here a wait is one `Effect.async` and at most
 * one timer (a Node timer on the live clock). Items are taken in order; after `end`, the
 * remaining items are still taken, then every take fails.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @category models
 */
export interface TakeTimeout<E> {
  readonly millis: number
  readonly onTimeout: () => E
}

type Waiter<A, E> = (result: Effect.Effect<A, E>) => void

/**
 * Calls `fire` after `millis`; gives its cancel.
 *
 * @since 0.1.0
 * @category models
 */
export type Schedule = (millis: number, fire: () => void) => () => void

/**
 * A Node timer: the live clock.
 *
 * @since 0.1.0
 * @category constructors
 */
export const liveTimer: Schedule = (millis, fire) => {
  const handle = setTimeout(fire, millis)
  return () => clearTimeout(handle)
}

/**
 * @since 0.1.0
 * @category models
 */
export class Inbox<A, E> {
  private items: Array<A> = []
  private head = 0
  private readonly waiters: Array<Waiter<A, E>> = []
  /** Set once ended: the error of every take that finds no item, made when it is needed. */
  private ending: (() => E) | undefined

  /** `schedule` times the takes: a connection's is on its caller's clock (TestClock included). */
  constructor(private readonly schedule: Schedule = liveTimer) {}

  /** Items offered and not taken yet. */
  get size(): number {
    return this.items.length - this.head
  }

  get isEnded(): boolean {
    return this.ending !== undefined
  }

  /** Hands the item to the oldest waiting take, or keeps it. Ignored once ended. */
  offer(item: A): void {
    if (this.ending !== undefined) return
    const waiter = this.waiters.shift()
    if (waiter !== undefined) waiter(Effect.succeed(item))
    else this.items.push(item)
  }

  /** Ends the inbox. Only the first call counts. */
  end(failure: () => E): void {
    if (this.ending !== undefined) return
    this.ending = failure
    for (const waiter of this.waiters.splice(0)) waiter(Effect.failSync(failure))
  }

  /** The next item, if one is queued: it never waits. */
  poll(): A | undefined {
    if (this.head === this.items.length) return undefined
    const item = this.items[this.head++]
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    }
    return item
  }

  /** The next item; fails once ended and drained, or with `timeout.onTimeout()` after `timeout.millis`. */
  take<E2 = never>(timeout?: TakeTimeout<E2>): Effect.Effect<A, E | E2> {
    return Effect.suspend(() => {
      if (this.head < this.items.length) return Effect.succeed(this.poll()!)
      if (this.ending !== undefined) return Effect.fail(this.ending())
      return Effect.async<A, E | E2>((resume) => {
        let cancelTimer: (() => void) | undefined
        const waiter: Waiter<A, E> = (result) => {
          cancelTimer?.()
          resume(result)
        }
        this.waiters.push(waiter)
        const forget = () => {
          const i = this.waiters.indexOf(waiter)
          if (i >= 0) this.waiters.splice(i, 1)
        }
        if (timeout !== undefined) {
          cancelTimer = this.schedule(timeout.millis, () => {
            forget()
            resume(Effect.fail(timeout.onTimeout()))
          })
        }
        // Interrupted while waiting.
        return Effect.sync(() => {
          cancelTimer?.()
          forget()
        })
      })
    })
  }
}
