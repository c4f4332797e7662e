/**
 * User certificates trusted through sshd's `TrustedUserCAKeys`: a CA listed there vouches
 * for any user its certificates name, with no authorized_keys entry. Pure, as
 * `AuthorizedKeys`, whose certificate checks and restrictions this shares.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type { Curves } from "../crypto/Curves.js"
import type * as Certificate from "../keys/Certificate.js"
import * as PublicKey from "../keys/PublicKey.js"
import { show } from "../wire/PeerText.js"
import * as AuthorizedKeys from "./AuthorizedKeys.js"
import type { LoginRestrictions } from "./AuthPolicy.js"

/**
 * A trusted CA key, with the comment from its line.
 *
 * @since 0.1.0
 * @category models
 */
export interface TrustedCa {
  readonly line: number
  readonly key: PublicKey.PublicKey
  readonly comment: string
}

/**
 * Parses a `TrustedUserCAKeys` file: one public key a line, no options; blank lines and
 * `#` comments skipped. sshd stops reading this file at the first line it cannot read, so
 * a CA listed after a bad line is not trusted; neither is it here, and the bad line is
 * reported.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseTrustedCaKeys = (text: string): {
  readonly keys: ReadonlyArray<TrustedCa>
  readonly errors: ReadonlyArray<AuthorizedKeys.LineError>
} => {
  const parsed = AuthorizedKeys.parse(text)
  const withOptions = parsed.keys
    .filter((k) => k.options.length > 0)
    .map((k) => ({ line: k.line, detail: "options are not allowed in a TrustedUserCAKeys file" }))
  const errors = [...parsed.errors, ...withOptions].sort((a, b) => a.line - b.line)
  const stop = errors[0]?.line ?? Infinity
  const keys = parsed.keys.filter((k) => k.line < stop).map(({ comment, key, line }) => ({ line, key, comment }))
  const skipped = parsed.keys.length - keys.length - withOptions.length
  return {
    keys,
    errors: skipped > 0
      ? [...errors, { line: stop, detail: `${skipped} keys after line ${stop} are not trusted: sshd stops reading the file at a bad line` }]
      : errors
  }
}

/**
 * Who is logging in, from where and when.
 *
 * @since 0.1.0
 * @category models
 */
export interface CheckContext {
  readonly user: string
  readonly clientAddress: string
  /** Seconds since the epoch. */
  readonly now: number
  readonly curves: Curves
  /**
   * The names an AuthorizedPrincipalsFile lists for the user: the certificate must list one
   * of them. Without it, the certificate must list the user name.
   */
  readonly authorizedPrincipals?: ReadonlyArray<string>
}

/**
 * A trusted certificate's yes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Trusted {
  readonly certificate: Certificate.Certificate
  /** The trusted CA key that signed it. */
  readonly ca: PublicKey.PublicKey
  /** The certificate's own: it allows only the `permit-*` extensions it carries. */
  readonly restrictions: LoginRestrictions
  /** The principal that matched: the user name, or a name from `authorizedPrincipals`. */
  readonly principal: string
}

/**
 * Whether `cert` logs in as `context.user` through the trusted CAs, as sshd's
 * `user_cert_trusted_ca`: its CA must be one of `trusted`, then it must pass
 * `AuthorizedKeys.checkCertificate` (signature, role, validity, principals, critical
 * options, source-address).
 *
 * @since 0.1.0
 * @category checking
 */
export const check = (
  trusted: ReadonlyArray<PublicKey.PublicKey | TrustedCa>,
  cert: Certificate.Certificate,
  context: CheckContext
): Either.Either<Trusted, AuthorizedKeys.KeyNotAuthorized> => {
  const ca = trusted.map((t) => ("_tag" in t ? t : t.key)).find((k) => PublicKey.equals(k, cert.signatureKey))
  if (ca === undefined) {
    return Either.left(
      new AuthorizedKeys.KeyNotAuthorized({
        reason: "UntrustedCa",
        detail: `certificate "${show(cert.keyId, 128)}" (serial ${cert.serial}) is signed by ${PublicKey.typeLabel(cert.signatureKey)} ${
          PublicKey.fingerprintSha256(cert.signatureKey)
        }, which is not a trusted user CA`
      })
    )
  }
  return Either.map(
    AuthorizedKeys.checkCertificate(cert, { ...context, principals: context.authorizedPrincipals ?? [context.user] }),
    ({ principal, restrictions }) => ({ certificate: cert, ca, restrictions, principal })
  )
}
