/**
 * A conversation over a `Transport` without I/O: a generator that says what it needs next
 * (a message sent, a message already queued, the next message by a deadline, a call of the
 * caller's code, a pause) and is resumed with the answer, as the connection core is stepped
 * with bytes. The client's userauth requests are written this way (`AuthHandler`), and so are
 * the server's userauth (`ServerUserauth`) and its session after it (`Session.serveExec`).
 *
 * Drivers: a connection's own `converse`, in its callbacks (the core's driver, for the
 * client's transport and the server's connection: one wait of the caller's fiber per
 * conversation, not one per message); for any other transport (a scripted one, a user's) an
 * Effect loop over `send` and `receiveWithin` (`run`); and the server's login, which steps
 * the server's userauth in the listener's callbacks (`ServerLogin`). They give the same
 * answers: a deadline passed is `receiveWithin`'s timeout, an ended connection its error.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { Transport } from "./Transport.js"
import type { TransportFailure } from "./TransportError.js"

/**
 * What a conversation needs from its driver next. The driver resumes it with: nothing after
 * `Send`; after `Poll`, the oldest message the peer sent that nobody took yet, or undefined
 * (it never waits); after `Receive`, the next message (past the deadline, or with the
 * connection ended, the run fails with the transport's error instead); after `Call`, the
 * Effect's value (its failure fails the run); after `Sleep`, nothing, once `millis` have
 * passed on the driver's clock.
 *
 * @since 0.1.0
 * @category models
 */
export type ConversationStep =
  | { readonly _tag: "Send"; readonly payload: Uint8Array }
  | { readonly _tag: "Poll" }
  /** `deadline` is in ms on the conversation's clock (the `now` it was started with). */
  | { readonly _tag: "Receive"; readonly deadline: number }
  | { readonly _tag: "Call"; readonly effect: Effect.Effect<unknown, unknown, unknown> }
  | { readonly _tag: "Sleep"; readonly millis: number }

/**
 * The steps of one run, ending in its exit.
 *
 * @since 0.1.0
 * @category models
 */
export type Steps<A, E> = Generator<ConversationStep, Exit.Exit<A, E>, unknown>

/**
 * A conversation: its steps, started on the driver's clock. `E` and `R` are those of the
 * calls it makes, which run in the caller's fiber.
 *
 * @since 0.1.0
 * @category models
 */
export interface Conversation<A, E, R> {
  readonly start: (now: () => number) => Steps<A, E>
  /**
   * What a failure of the run becomes, as `Effect.catchAll` around the run would make it,
   * but given to the driver: a fiber waiting on the conversation carries no frame for it
   * (an idle server session waits so for as long as the client keeps it).
   */
  readonly onFailure?: (error: E | TransportFailure) => Effect.Effect<A, E | TransportFailure, R>
  /** Phantom: the context the calls need. */
  readonly _R?: (_: never) => R
}

/**
 * A conversation from its steps, and what its failures become (`onFailure`, optional).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, E = never, R = never>(
  start: (now: () => number) => Steps<A, E>,
  onFailure?: (error: E | TransportFailure) => Effect.Effect<A, E | TransportFailure, R>
): Conversation<A, E, R> => (onFailure ? { start, onFailure } : { start })

/**
 * Sends `payload`.
 *
 * @since 0.1.0
 * @category steps
 */
export function* send(payload: Uint8Array): Generator<ConversationStep, void, unknown> {
  yield { _tag: "Send", payload }
}

/**
 * A message the peer sent before it was asked, if one is queued.
 *
 * @since 0.1.0
 * @category steps
 */
export function* poll(): Generator<ConversationStep, Uint8Array | undefined, unknown> {
  return (yield { _tag: "Poll" }) as Uint8Array | undefined
}

/**
 * The next message, by `deadline`.
 *
 * @since 0.1.0
 * @category steps
 */
export function* receive(deadline: number): Generator<ConversationStep, Uint8Array, unknown> {
  return (yield { _tag: "Receive", deadline }) as Uint8Array
}

/**
 * The value of the caller's `effect`. An effect that is already an `Exit` is answered by
 * the driver at once, in the connection's turn, with no wait of the caller's fiber.
 *
 * @since 0.1.0
 * @category steps
 */
export function* call<A, E, R>(effect: Effect.Effect<A, E, R>): Generator<ConversationStep, A, unknown> {
  return (yield { _tag: "Call", effect }) as A
}

/**
 * The `Exit` of the caller's `effect`, as a value: its failure is the conversation's to
 * handle and does not end the run. Answered at once when `effect` is already an `Exit`.
 *
 * @since 0.1.0
 * @category steps
 */
export function* callExit<A, E, R>(effect: Effect.Effect<A, E, R>): Generator<ConversationStep, Exit.Exit<A, E>, unknown> {
  if (Exit.isExit(effect)) return effect as Exit.Exit<A, E>
  return yield* call(Effect.exit(effect))
}

/**
 * A pause of `millis` on the driver's clock (TestClock included).
 *
 * @since 0.1.0
 * @category steps
 */
export function* sleep(millis: number): Generator<ConversationStep, void, unknown> {
  yield { _tag: "Sleep", millis }
}

/**
 * What a conversation runs over: a `Transport`, or any connection with the same queue (the
 * server's `ServerConnection`).
 *
 * @since 0.1.0
 * @category models
 */
export type Conversant = Pick<Transport, "send" | "receive" | "receiveWithin" | "pending" | "converse">

/**
 * Runs `conversation` over `transport`: in the transport's own callbacks where it has them
 * (`converse`), or as an Effect loop over its `send` and `receiveWithin`.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <A, E, R>(transport: Conversant, conversation: Conversation<A, E, R>): Effect.Effect<A, E | TransportFailure, R> => {
  if (transport.converse) return transport.converse(conversation)
  const looped = loop(transport, conversation)
  return conversation.onFailure ? Effect.catchAll(looped, conversation.onFailure) : looped
}

/** The driver for a transport without callbacks of its own: one Effect step per conversation step. */
const loop = <A, E, R>(transport: Conversant, conversation: Conversation<A, E, R>): Effect.Effect<A, E | TransportFailure, R> =>
  Effect.flatMap(Effect.clock, (clock) => {
    const steps = conversation.start(() => clock.unsafeCurrentTimeMillis())
    const next = (input: unknown): Effect.Effect<A, E | TransportFailure, R> =>
      Effect.suspend(() => {
        const step = steps.next(input)
        if (step.done) return step.value
        const want = step.value
        switch (want._tag) {
          case "Send":
            return Effect.flatMap(transport.send(want.payload), () => next(undefined))
          case "Poll":
            return transport.pending > 0 ? Effect.flatMap(transport.receive, next) : next(undefined)
          case "Receive":
            return Effect.flatMap(transport.receiveWithin(Math.max(0, want.deadline - clock.unsafeCurrentTimeMillis())), next)
          case "Call":
            return Effect.flatMap(want.effect as Effect.Effect<unknown, E, R>, next)
          case "Sleep":
            return Effect.flatMap(Effect.sleep(want.millis), () => next(undefined))
        }
      })
    return next(undefined)
  })
