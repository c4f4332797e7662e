/**
 * Host-key policies: the decision whether to trust the key a server proved it holds. The
 * transport runs the policy once per connection, after the signature over the exchange hash
 * has been verified and before any secret is sent.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { Certificate } from "../keys/Certificate.js"
import type { PublicKey } from "../keys/PublicKey.js"

/**
 * What a policy gets to see.
 *
 * @since 0.1.0
 * @category models
 */
export interface HostKeyInfo {
  readonly host: string
  readonly port: number
  /** The host key; for a host certificate, the certified key. */
  readonly key: PublicKey
  /** The host certificate, when the server presented one; a policy must judge its CA. */
  readonly certificate?: Certificate
  /** The negotiated host key algorithm, such as "rsa-sha2-512". */
  readonly algorithm: string
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  readonly fingerprint: string
}

/**
 * The policy refused the server's host key.
 *
 * @since 0.1.0
 * @category errors
 */
export class HostKeyRejected extends Schema.TaggedError<HostKeyRejected>()("HostKeyRejected", {
  host: Schema.String,
  port: Schema.Number,
  keyType: Schema.String,
  fingerprint: Schema.String,
  /** Fingerprints the policy would have accepted, when it knows them. */
  expected: Schema.Array(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    const expected = this.expected.length > 0 ? `; expected ${this.expected.join(" or ")}` : ""
    return `host key for ${this.host}:${this.port} rejected: ${this.detail}. Server offered ${this.keyType} ${this.fingerprint}${expected}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export type HostKeyPolicy = (info: HostKeyInfo) => Effect.Effect<void, HostKeyRejected>

/**
 * Accepts every host key. Anyone on the network path can impersonate the server: for tests
 * and throwaway setups only.
 *
 * @since 0.1.0
 * @category policies
 */
export const acceptAnyInsecure: HostKeyPolicy = () => Effect.void

/**
 * Accepts only keys whose SHA256 fingerprint is listed. Fingerprints may be given with or
 * without the `SHA256:` prefix, as `ssh-keygen -l` prints them.
 *
 * @since 0.1.0
 * @category policies
 */
export const pinned = (fingerprints: Iterable<string>): HostKeyPolicy => {
  const allowed = [...fingerprints].map((f) => (f.startsWith("SHA256:") ? f : `SHA256:${f}`).replace(/=+$/, ""))
  // Answers are values (an Exit is an Effect), so the driver decides with no fiber.
  return (info) =>
    allowed.includes(info.fingerprint)
      ? Exit.void
      : Exit.fail(
        new HostKeyRejected({
          host: info.host,
          port: info.port,
          keyType: info.key.type,
          fingerprint: info.fingerprint,
          expected: allowed,
          detail: "fingerprint is not pinned"
        })
      )
}

/**
 * How a caller names the host key to trust: a policy, or the SHA256 fingerprints to pin.
 *
 * @since 0.1.0
 * @category models
 */
export type HostKey = HostKeyPolicy | string | ReadonlyArray<string>

/**
 * The policy for a {@link HostKey}: fingerprints become {@link pinned}, a policy stays itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (hostKey: HostKey): HostKeyPolicy => typeof hostKey === "function" ? hostKey : pinned(typeof hostKey === "string" ? [hostKey] : hostKey)
