/**
 * The `Transport` service: an established, encrypted SSH connection (RFC 4253) as the auth
 * layer sees it. It is deliberately small: enough to run RFC 4252 over it, and small enough
 * to implement in memory for tests.
 *
 * This module is the tag and its interface only. The implementations import it, never the
 * other way round: `layerTcp` lives in `TcpTransport`, `layerScripted` in `ScriptedTransport`.
 * Depending on the tag therefore loads no socket code.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { PublicKey } from "../keys/PublicKey.js"
import type { Conversation } from "./Conversation.js"
import type { NegotiatedAlgorithms } from "./KexInit.js"
import type { TransportFailure } from "./TransportError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  readonly host: string
  readonly port: number
  /** The exchange hash of the first key exchange (RFC 4253 §7.2). */
  readonly sessionId: Uint8Array
  /** Our identification string, without CR LF. */
  readonly clientIdentification: string
  /** The server's identification string, without CR LF, e.g. "SSH-2.0-OpenSSH_9.2p1". */
  readonly serverIdentification: string
  /** The server's host key, already accepted by the host-key policy. */
  readonly hostKey: PublicKey
  /**
   * What the server proved at the first key exchange: the host key or certificate it sent
   * (K_S) and its signature over the session identifier. An agent's session-bind needs both.
   */
  readonly hostKeyProof: { readonly hostKeyBlob: Uint8Array; readonly signature: Uint8Array }
  /** The algorithms in force (they may change on a rekey). */
  readonly algorithms: NegotiatedAlgorithms
  /** `server-sig-algs` from the latest EXT_INFO (RFC 8308 §3.1), if the server sent it. */
  readonly serverSigAlgs: Option.Option<ReadonlyArray<string>>
  /** Every extension from EXT_INFO; a later EXT_INFO overrides an earlier value. */
  readonly extensions: ReadonlyMap<string, Uint8Array>
  /** Sends one payload (message number first). Waits while a rekey is in progress. */
  send(payload: Uint8Array): Effect.Effect<void, TransportFailure>
  /**
   * The next message that is not a transport-layer message (number 50 and up), with a
   * timeout. Transport messages (IGNORE, DEBUG, EXT_INFO, rekeys) are handled inside.
   */
  readonly receive: Effect.Effect<Uint8Array, TransportFailure>
  /**
   * `receive` with a wait of at most `millis` (and never longer than `receive` waits): for
   * a caller that keeps its own deadline, so that a peer's chatter cannot stretch it.
   */
  receiveWithin(millis: number): Effect.Effect<Uint8Array, TransportFailure>
  /** Messages received and not taken yet: what the peer sent before it was asked. */
  readonly pending: number
  /** SSH_MSG_SERVICE_REQUEST, waiting for the matching SERVICE_ACCEPT. */
  requestService(name: string): Effect.Effect<void, TransportFailure>
  /** Sends SSH_MSG_DISCONNECT (best effort) and closes the connection. */
  disconnect(code?: number, description?: string): Effect.Effect<void>
  /**
   * Runs a conversation in the connection's own callbacks, as `Conversation.run` does with
   * any transport (its `onFailure` included): the connection core's has it. A transport
   * without it is run by an Effect loop over `send` and `receiveWithin`.
   */
  readonly converse?: <A, E, R>(conversation: Conversation<A, E, R>) => Effect.Effect<A, E | TransportFailure, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const Transport: Context.Tag<Transport, Transport> = Context.GenericTag<Transport>("effect-ssh-auth/Transport")
