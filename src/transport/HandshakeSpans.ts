/**
 * The handshake's phases as spans: the version exchange, the first key exchange and, inside
 * it, the host-key check, with the negotiated algorithms as attributes.
 *
 * The core runs in the channel's callbacks, not in a fiber, so `withSpan` cannot wrap its
 * phases: these spans are opened and ended by hand, on the caller's tracer and clock, as
 * children of the span the connection is opened in. Nothing here holds a secret: names,
 * algorithms, the peer's identification line (made printable) and the host key's fingerprint.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import { show } from "../wire/PeerText.js"
import type { NegotiatedAlgorithms } from "./KexInit.js"
import * as OwnSpans from "./OwnSpans.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface HandshakeSpans {
  /** The peer's identification line arrived: the version exchange is over, the key exchange begins. */
  readonly identified: (peerIdentification: string) => void
  /** The first key exchange finished with these algorithms. */
  readonly keyExchanged: (algorithms: NegotiatedAlgorithms | undefined) => void
  /** The connection ended: phases still open end with this failure. */
  readonly failed: (error: unknown) => void
  /** Runs the host-key policy in a span of its own, inside the key exchange's. */
  readonly hostKeyCheck: <A, E, R>(
    check: Effect.Effect<A, E, R>,
    attributes: HostKeyAttributes
  ) => Effect.Effect<A, E, R>
  /** The host-key check's span for a policy that answered at once, with no Effect to run. */
  readonly hostKeyChecked: (attributes: HostKeyAttributes, exit: Exit.Exit<unknown, unknown>) => void
}

/**
 * What the host-key check's span records.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostKeyAttributes {
  readonly algorithm: string
  readonly fingerprint: string
}

/**
 * Spans that record nothing: with tracing off, and once the first key exchange is over (the
 * driver then lets go of the phases' spans and the caller's span they hang under).
 *
 * @since 0.1.0
 * @category constructors
 */
export const none: HandshakeSpans = {
  identified: () => {},
  keyExchanged: () => {},
  failed: () => {},
  hostKeyCheck: (check) => check,
  hostKeyChecked: () => {}
}

/** Span options: no stack capture (the phases are not where the caller is). */
const quiet = { captureStackTrace: false } as const

/**
 * What spans are made with: a tracer, the context spans see, and the clock that times them.
 *
 * @since 0.1.0
 * @category models
 */
export interface SpanEnvironment {
  readonly tracer: Tracer.Tracer
  readonly context: Context.Context<never>
  readonly clock: Clock.Clock
}

/**
 * The current fiber's tracer, context and clock; undefined where spans go nowhere (tracing
 * off, or Effect's built-in tracer: `OwnSpans`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const environment: Effect.Effect<SpanEnvironment | undefined> = Effect.withFiberRuntime((fiber) =>
  Effect.succeed(
    OwnSpans.recording(fiber)
      ? { tracer: fiber.currentTracer, clock: Context.get(fiber.currentDefaultServices, Clock.Clock), context: fiber.currentContext }
      : undefined
  )
)

/**
 * Opens the version exchange's span now, as a child of `parent`, or else of the current span.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (parent?: Tracer.AnySpan): Effect.Effect<HandshakeSpans> =>
  // Once per connection: flat, not `Effect.gen` (README, "Code run once per connection").
  Effect.flatMap(environment, (spans) => {
    if (spans === undefined) return Effect.succeed(none)
    if (parent !== undefined) return Effect.succeed(open(spans, parent))
    return Effect.map(Effect.option(Effect.currentParentSpan), (current) => open(spans, Option.getOrUndefined(current)))
  })

const HOST_KEY_CHECK = "Transport.hostKeyCheck"

const hostKeyAttributes = ({ algorithm, fingerprint }: HostKeyAttributes) => ({
  "ssh.host_key_algorithm": algorithm,
  "ssh.host_key.fingerprint": fingerprint
})

/**
 * Opens the version exchange's span now, under `parent`: for a caller that is not a fiber.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = ({ clock, context, tracer }: SpanEnvironment, parent: Tracer.AnySpan | undefined): HandshakeSpans => {
  const begin = (name: string, under: Tracer.AnySpan | undefined) =>
    tracer.span(name, Option.fromNullable(under), context, [], clock.unsafeCurrentTimeNanos(), "internal", quiet)
  const end = (span: Tracer.Span | undefined, exit: Exit.Exit<unknown, unknown>) => span?.end(clock.unsafeCurrentTimeNanos(), exit)

  let version: Tracer.Span | undefined = begin("Transport.versionExchange", parent)
  let keyExchange: Tracer.Span | undefined
  return {
    identified: (peerIdentification) => {
      if (version === undefined) return
      version.attribute("ssh.peer.identification", show(peerIdentification, 255))
      end(version, Exit.void)
      version = undefined
      keyExchange = begin("Transport.keyExchange", parent)
    },
    keyExchanged: (algorithms) => {
      if (keyExchange === undefined) return
      if (algorithms) {
        keyExchange.attribute("ssh.kex", algorithms.kex)
        keyExchange.attribute("ssh.host_key_algorithm", algorithms.hostKey)
        keyExchange.attribute("ssh.cipher.client_to_server", algorithms.cipherClientToServer)
        keyExchange.attribute("ssh.cipher.server_to_client", algorithms.cipherServerToClient)
        keyExchange.attribute("ssh.mac.client_to_server", algorithms.macClientToServer)
        keyExchange.attribute("ssh.mac.server_to_client", algorithms.macServerToClient)
        keyExchange.attribute("ssh.strict_kex", algorithms.strictKex)
      }
      end(keyExchange, Exit.void)
      keyExchange = undefined
    },
    failed: (error) => {
      end(version, Exit.fail(error))
      end(keyExchange, Exit.fail(error))
      version = keyExchange = undefined
    },
    hostKeyCheck: (check, attributes) =>
      Effect.withSpan(check, HOST_KEY_CHECK, {
        ...quiet,
        ...(keyExchange ? { parent: keyExchange } : {}),
        attributes: hostKeyAttributes(attributes)
      }),
    hostKeyChecked: (attributes, exit) => {
      const span = begin(HOST_KEY_CHECK, keyExchange ?? parent)
      for (const [name, value] of Object.entries(hostKeyAttributes(attributes))) span.attribute(name, value)
      end(span, exit)
    }
  }
}
