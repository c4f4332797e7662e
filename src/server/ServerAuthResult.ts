/**
 * The server's record of a userauth run: one entry per request the client made, and for a
 * success, exactly the credentials that were proven. The same fold as the client's
 * `AuthResult`, seen from the other side, and the audit trail sshd writes to its log.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { show } from "../wire/PeerText.js"
import type { LoginRestrictions, MethodName } from "./AuthPolicy.js"

/**
 * A key as the log names it: `ED25519 SHA256:…`, with its certificate if it came in one.
 *
 * @since 0.1.0
 * @category models
 */
export const KeyRecord = Schema.Struct({
  type: Schema.String,
  fingerprint: Schema.String,
  certificate: Schema.optional(Schema.Struct({ keyId: Schema.String, serial: Schema.String, caFingerprint: Schema.String }))
})

/**
 * What one request came to. `KeyAcceptable`/`KeyRefused` answer a query (no signature);
 * `Partial` is a method accepted with more of its chain to go.
 *
 * @since 0.1.0
 * @category models
 */
export const Outcome = Schema.Literal("Accepted", "Partial", "Failed", "KeyAcceptable", "KeyRefused", "ChangeRequested")

/**
 * @since 0.1.0
 * @category models
 */
export class ServerAttempt extends Schema.Class<ServerAttempt>("ServerAttempt")({
  method: Schema.String,
  user: Schema.String,
  outcome: Outcome,
  key: Schema.optional(KeyRecord),
  /** Why it failed, in our words; never the secret. For gssapi-with-mic, the principal where it is known. */
  detail: Schema.optional(Schema.String),
  clientAddress: Schema.String,
  clientPort: Schema.Number,
  durationMillis: Schema.Number
}) {
  /**
   * sshd's log line: `Accepted publickey for alice from 127.0.0.1 port 51234 ssh2: ED25519 SHA256:…`.
   *
   * @since 0.1.0
   */
  override toString(): string {
    const verb = {
      Accepted: "Accepted",
      Partial: "Partial",
      Failed: "Failed",
      KeyAcceptable: "Postponed",
      KeyRefused: "Failed",
      ChangeRequested: "Postponed"
    }[this.outcome]
    const key = this.key
      ? `: ${
        this.key.certificate
          ? `${this.key.type}-CERT ID ${show(this.key.certificate.keyId, 64)} (serial ${this.key.certificate.serial}) CA ${this.key.certificate.caFingerprint} `
          : `${this.key.type} `
      }${this.key.fingerprint}`
      : ""
    // sshd names a host-bound request by its method family.
    const method = this.method === "publickey-hostbound-v00@openssh.com" ? "publickey" : this.method
    return `${verb} ${show(method, 64)} for ${show(this.user, 64)} from ${this.clientAddress} port ${this.clientPort} ssh2${key}`
  }
}

/**
 * The attempt's line in a log kept as sshd keeps it at its default LogLevel, where a
 * client's opening "none" (asked only to learn the methods) is not a line.
 *
 * @since 0.1.0
 * @category formatting
 */
export const sshdLogLine = (attempt: ServerAttempt): string | undefined =>
  attempt.method === "none" && attempt.outcome === "Failed" ? undefined : String(attempt)

/**
 * One proven factor. Made only by the userauth handler, after the proof: a key's signature
 * verified over this session, a password or a conversation the policy accepted, a principal
 * whose MIC over this session verified.
 *
 * @since 0.1.0
 * @category models
 */
export type ProvenCredential =
  | { readonly _tag: "None" }
  | { readonly _tag: "Password" }
  | { readonly _tag: "KeyboardInteractive" }
  | {
    readonly _tag: "Gssapi"
    /** The client's principal, whose MIC over this session verified: `alice@EXAMPLE.COM`. */
    readonly principal: string
    /** Where the permission came from (`krb5_kuserok`, `auth_to_local`). */
    readonly source: string
  }
  | {
    readonly _tag: "PublicKey"
    readonly key: Schema.Schema.Type<typeof KeyRecord>
    /** The signature algorithm that verified. */
    readonly algorithm: string
    /** Where the permission came from (`authorized_keys line 3`). */
    readonly source: string
    readonly restrictions?: LoginRestrictions
  }

/**
 * A finished, successful userauth: who, by what chain, with which credentials, and every
 * attempt on the way.
 *
 * @since 0.1.0
 * @category models
 */
export interface Authenticated {
  readonly user: string
  /** The methods of the chain that completed, in order. */
  readonly methods: ReadonlyArray<MethodName>
  readonly credentials: ReadonlyArray<ProvenCredential>
  readonly attempts: ReadonlyArray<ServerAttempt>
  /** Every restriction of every proven key, for the application to enforce. */
  readonly restrictions: ReadonlyArray<LoginRestrictions>
}

/**
 * Why a connection ended without authenticating.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServerAuthFailure extends Schema.TaggedError<ServerAuthFailure>()("ServerAuthFailure", {
  reason: Schema.Literal("TooManyAttempts", "LoginGraceTime", "ProtocolViolation", "ClientDisconnected", "ConnectionLost", "PolicyFailed"),
  detail: Schema.String,
  user: Schema.optional(Schema.String),
  attempts: Schema.Array(ServerAttempt)
}) {
  override get message(): string {
    return `authentication of ${this.user === undefined ? "a client" : show(this.user, 64)} ended: ${this.detail}`
  }
}
