/**
 * The server's userauth handler (RFC 4252) as an Effect: it runs the userauth conversation
 * (`ServerUserauth`, where the rules it holds to are listed) over an established server
 * connection, answers its application calls with the `AuthPolicy` in context, and ends with
 * exactly the credentials that were proven, or a typed failure after the connection was cut.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { CurvesImpl } from "../crypto/Curves.js"
import { AuthPolicy, type AuthPolicyService } from "../server/AuthPolicy.js"
import { type Authenticated, type ServerAttempt, ServerAuthFailure } from "../server/ServerAuthResult.js"
import * as Conversation from "../transport/Conversation.js"
import type { ServerConnection } from "../transport/ServerHandshake.js"
import type { TransportFailure } from "../transport/TransportError.js"
import { DisconnectReason } from "../wire/MessageNumber.js"
import { show } from "../wire/PeerText.js"
import { start, type Userauth, type UserauthCut, type UserauthOutcome, type UserauthSettings } from "./ServerUserauth.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerAuthOptions {
  /** sshd's MaxAuthTries: failed attempts before the connection is cut. Default 6. */
  readonly maxAuthTries?: number
  /** sshd's LoginGraceTime: the whole run. Default 120 s. (`Server.listen` counts it from the connection.) */
  readonly loginGraceTime?: Duration.DurationInput
  /** The least time a failed attempt takes. Default 10 ms. */
  readonly failureFloor?: Duration.DurationInput
  /** Requests of any kind before the connection is cut. Default 128. */
  readonly maxRequests?: number
  /** Signature algorithms accepted for publickey (sshd's PubkeyAcceptedAlgorithms). Default: every one we verify but ssh-rsa. */
  readonly acceptedAlgorithms?: ReadonlyArray<string>
  /** Keyboard-interactive rounds in one conversation. Default 16. */
  readonly maxInteractiveRounds?: number
  /** Sees every attempt as it is decided: the audit trail (sshd's log lines, JSON, spans). */
  readonly onAttempt?: (attempt: ServerAttempt) => Effect.Effect<void>
  /**
   * gssapi-with-mic (sshd's GSSAPIAuthentication): offered where the policy's chains name
   * it, and only when this is given. The GSS-API is the `Gssapi` service in context, or
   * else the system's MIT Kerberos, loaded at the first request; where it cannot be loaded
   * the method fails with the reason (recorded), and the connection goes on.
   */
  readonly gssapi?: GssapiServerOptions
}

/**
 * The acceptor's settings for gssapi-with-mic.
 *
 * @since 0.1.0
 * @category models
 */
export interface GssapiServerOptions {
  /** The keytab holding `host/<name>` (`FILE:/etc/krb5.keytab`); default the library's (`KRB5_KTNAME`, then /etc/krb5.keytab). */
  readonly keytab?: string
  /** Bytes in one token or MIC from the client. Default 65536 (an Active Directory ticket with a large PAC stays within it). */
  readonly maxTokenBytes?: number
  /** TOKEN messages in one exchange. Default 16 (Kerberos needs one). */
  readonly maxRounds?: number
}

/**
 * Every signature algorithm the handler verifies, as `server-sig-algs` lists them.
 *
 * @since 0.1.0
 * @category constants
 */
export const verifiedAlgorithms: ReadonlyArray<string> = [
  "ssh-ed25519",
  "sk-ssh-ed25519@openssh.com",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ecdsa-sha2-nistp256@openssh.com",
  "rsa-sha2-512",
  "rsa-sha2-256"
]

/**
 * sshd's default LoginGraceTime.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLoginGraceTime: Duration.DurationInput = "120 seconds"

/** `failureFloor`'s default (10 ms) as a number, not a string parsed per connection. */
const defaultFailureFloorMillis = 10

/** Transport failures that are the client's breach of the protocol. */
const violations: ReadonlySet<string> = new Set(["ProtocolError", "BadPacket", "PacketTooLarge", "MacError", "VersionExchange", "KexFailed"])

/**
 * How a connection ends that failed before authentication completed, in the server's
 * words: the client's DISCONNECT, its breach of the protocol (a message out of phase, a
 * packet too large or that does not authenticate), a step it was too slow for (as sshd,
 * one reason for every pre-authentication timeout: LoginGraceTime; the detail names the
 * step), or a lost connection.
 *
 * @since 0.1.0
 * @category errors
 */
export const transportFailure = (e: TransportFailure, attempts: ReadonlyArray<ServerAttempt> = [], user?: string): ServerAuthFailure =>
  new ServerAuthFailure({
    reason: e._tag === "Disconnected"
      ? "ClientDisconnected"
      : violations.has(e.reason)
      ? "ProtocolViolation"
      : e.reason === "Timeout"
      ? "LoginGraceTime"
      : "ConnectionLost",
    detail: e._tag === "Disconnected" ? `the client disconnected: ${show(e.description, 128)}` : e.message,
    attempts: [...attempts],
    ...(user !== undefined ? { user } : {})
  })

/**
 * The options with their defaults, as the conversation takes them.
 *
 * @since 0.1.0
 * @category internal
 */
export const settingsOf = (options: ServerAuthOptions): UserauthSettings => ({
  maxAuthTries: options.maxAuthTries ?? 6,
  maxRequests: options.maxRequests ?? 128,
  maxInteractiveRounds: options.maxInteractiveRounds ?? 16,
  failureFloorMillis: options.failureFloor === undefined ? defaultFailureFloorMillis : Duration.toMillis(options.failureFloor),
  graceMillis: Duration.toMillis(options.loginGraceTime ?? defaultLoginGraceTime),
  acceptedAlgorithms: options.acceptedAlgorithms ?? verifiedAlgorithms,
  onAttempt: options.onAttempt,
  gssapi: options.gssapi
})

/**
 * The failure a conversation's cut ends in.
 *
 * @since 0.1.0
 * @category internal
 */
export const cutFailure = (run: Userauth, outcome: UserauthCut): ServerAuthFailure =>
  new ServerAuthFailure({ reason: outcome.reason, detail: outcome.detail, attempts: [...run.attempts], ...(run.user !== undefined ? { user: run.user } : {}) })

/**
 * How a login that outlived LoginGraceTime is cut, in sshd's words.
 *
 * @since 0.1.0
 * @category internal
 */
export const graceTimeout: UserauthCut = {
  _tag: "Cut",
  reason: "LoginGraceTime",
  code: DisconnectReason.BY_APPLICATION,
  detail: "Timeout before authentication"
}

/**
 * Runs userauth to the end over `connection`: the authenticated user and proven credentials,
 * or a `ServerAuthFailure` after the connection was cut.
 *
 * @since 0.1.0
 * @category running
 */
export const authenticate = (
  connection: ServerConnection,
  options: ServerAuthOptions = {}
): Effect.Effect<Authenticated, ServerAuthFailure, AuthPolicy> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const run = start({
      policy: yield* AuthPolicy,
      curves: yield* CurvesImpl,
      client: {
        address: connection.clientAddress,
        port: connection.clientPort,
        clientIdentification: connection.clientIdentification,
        sessionId: connection.sessionId
      },
      hostKeys: connection.hostKeys,
      now: () => clock.unsafeCurrentTimeMillis()
    }, settingsOf(options))
    // Every wait on the client has the deadline. A slow policy call is not raced here (a
    // race of fibers per login costs more than the rest of the handler); `Server.listen`
    // holds the whole connection to LoginGraceTime with one timer instead, and the next
    // step after a call that outlived it finds the connection cut.
    const outcome = yield* Conversation.run(connection, Conversation.make(() => ended(run.steps))).pipe(
      Effect.catchAll((e) =>
        e._tag === "TransportError" && e.reason === "Timeout"
          ? Effect.succeed(graceTimeout)
          : Effect.fail(transportFailure(e, run.attempts, run.user))
      ),
      // A GSS-API acceptor still open when the run stops (the connection ended under it) is released.
      Effect.ensuring(Effect.suspend(() => run.openScope ? Scope.close(run.openScope, Exit.void) : Effect.void))
    )
    if (outcome._tag === "Authenticated") return outcome.result
    yield* connection.disconnect(outcome.code, outcome.detail)
    return yield* cutFailure(run, outcome)
  })

/** The conversation's steps, its outcome as the value of a run that always succeeds. */
function* ended(steps: Userauth["steps"]): Conversation.Steps<UserauthOutcome, never> {
  return Exit.succeed(yield* steps)
}

/**
 * A policy that offers nothing: every request fails. The base for `Layer`s that add hooks.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyPolicy: AuthPolicyService = { methods: () => Effect.succeed([]) }
