/**
 * The application's authentication policy, as the server's userauth handler asks it: the
 * typed counterpart of paramiko's `ServerInterface`, provided as a Layer so that tests and
 * applications bring their own.
 *
 * Two hooks for keys, on purpose (golang/go#70779, CVE-2024-45337): `keyAcceptable` answers
 * a query and must have no side effects; `keyProven` is called only after the handler has
 * verified the signature (and the policy's certificate checks), and its answer is what the
 * result records. Nothing the policy saw for a key it was only asked about survives into
 * the result.
 *
 * The same for `gssapi-with-mic`: `gssapiPrincipal` is asked only after the client's
 * security context is established and its MIC over this session verified, and it decides
 * which principals may log in as which user (by default sshd's `krb5_kuserok`).
 *
 * `Server.listen` reads a call whose answer is already a value (`Effect.succeed(x)`, an
 * `Exit`) in the connection's callback, and runs any other as a fiber of the listener's
 * runtime: answer with values where there is nothing to wait for.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Certificate } from "../keys/Certificate.js"
import type * as PublicKey from "../keys/PublicKey.js"

/**
 * The methods a server can run. `gssapi-with-mic` is dispatched to a GSSAPI acceptor when
 * the handler's options configure one (`ServerAuthOptions.gssapi`); without that it is never
 * offered, and chains that name it are left out.
 *
 * @since 0.1.0
 * @category models
 */
export type MethodName = "none" | "password" | "publickey" | "keyboard-interactive" | "gssapi-with-mic"

/**
 * Who is asking, as far as the transport knows.
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientInfo {
  readonly address: string
  readonly port: number
  readonly clientIdentification: string
  readonly sessionId: Uint8Array
}

/**
 * A key (or certificate) the client offered or signed with.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyOffer {
  readonly user: string
  /** The public key itself; for a certificate, the certified key. */
  readonly key: PublicKey.PublicKey
  readonly certificate?: Certificate
  /** The signature algorithm the client named. */
  readonly algorithm: string
  readonly client: ClientInfo
}

/**
 * What the application must still enforce for a login (sshd's authorized_keys options and
 * certificate restrictions): recorded in the result, not enforced by authentication.
 *
 * @since 0.1.0
 * @category models
 */
export interface LoginRestrictions {
  /** The command to run instead of the client's (authorized_keys `command=`, a certificate's force-command). */
  readonly forceCommand?: string
  readonly pty: boolean
  readonly portForwarding: boolean
  readonly agentForwarding: boolean
  readonly x11Forwarding: boolean
  readonly userRc: boolean
  readonly environment: ReadonlyArray<string>
  readonly permitOpen: ReadonlyArray<string>
  readonly permitListen: ReadonlyArray<string>
  readonly tunnel?: string
  readonly touchRequired: boolean
  readonly verifyRequired: boolean
}

/**
 * A policy's yes to a proven key: where the permission came from, and its restrictions.
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyGrant {
  /** Where the permission came from, for the log: `authorized_keys line 3`, `TrustedUserCAKeys`. */
  readonly source: string
  readonly restrictions?: LoginRestrictions
}

/**
 * A client principal that `gssapi-with-mic` proved (its security context established, its
 * MIC over this session verified), asking to log in as `user`; with the two mappings of
 * principals to local names that MIT Kerberos knows, to decide by.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrincipalOffer {
  readonly user: string
  /** The client's principal as the GSS-API displays it: `alice@EXAMPLE.COM`. */
  readonly principal: string
  readonly client: ClientInfo
  /**
   * sshd's rule (`krb5_kuserok`): the principal is `user@DEFAULT_REALM` and `user` has no
   * `~/.k5login`, or `user`'s `~/.k5login` lists it. It needs a system account named `user`.
   */
  readonly kuserok: Effect.Effect<boolean>
  /**
   * The local name krb5.conf's `auth_to_local` rules map the principal to (by default
   * `alice@DEFAULT_REALM` is `alice`), with no look at the system's accounts.
   */
  readonly localName: Effect.Effect<Option.Option<string>>
}

/**
 * A policy's yes to a proven principal.
 *
 * @since 0.1.0
 * @category models
 */
export interface PrincipalGrant {
  /** Where the permission came from, for the log: `krb5_kuserok`, `auth_to_local`, `directory`. */
  readonly source: string
}

/**
 * @since 0.1.0
 * @category models
 */
export type PasswordVerdict =
  | { readonly _tag: "Accepted" }
  | { readonly _tag: "Rejected" }
  /** Correct, but expired: the client is asked for a new one (SSH_MSG_USERAUTH_PASSWD_CHANGEREQ). */
  | { readonly _tag: "ChangeRequired"; readonly prompt: string }

/**
 * One keyboard-interactive round the server asks (RFC 4256 §3.2).
 *
 * @since 0.1.0
 * @category models
 */
export interface InteractiveRound {
  readonly name: string
  readonly instruction: string
  readonly prompts: ReadonlyArray<{ readonly prompt: string; readonly echo: boolean }>
}

/**
 * What a keyboard-interactive conversation says next.
 *
 * @since 0.1.0
 * @category models
 */
export type InteractiveStep =
  | { readonly _tag: "Ask"; readonly round: InteractiveRound }
  | { readonly _tag: "Accepted" }
  | { readonly _tag: "Rejected" }

/**
 * A keyboard-interactive conversation: `start` opens it, `answer` takes the client's
 * responses to the last round (as many as it had prompts).
 *
 * @since 0.1.0
 * @category models
 */
export interface InteractiveConversation {
  readonly start: Effect.Effect<InteractiveStep>
  readonly answer: (responses: ReadonlyArray<Redacted.Redacted<string>>) => Effect.Effect<InteractiveStep>
}

/**
 * The policy. Every hook is an Effect: a lookup may go to a database or a directory, and
 * it is interrupted when the client leaves. An absent hook means its method is not offered.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthPolicyService {
  /**
   * The method chains that authenticate `user`, as sshd's AuthenticationMethods: any one
   * chain, all its methods in order (`[["publickey", "password"]]` is two factors); an
   * empty chain lets the client in with "none". Ask the same of an unknown user as of a
   * known one, or the answer tells them apart.
   */
  readonly methods: (user: string, client: ClientInfo) => Effect.Effect<ReadonlyArray<ReadonlyArray<MethodName>>>
  readonly password?: (user: string, password: Redacted.Redacted<string>, client: ClientInfo) => Effect.Effect<PasswordVerdict>
  /** A password change after ChangeRequired (or asked for by the client). */
  readonly changePassword?: (
    user: string,
    oldPassword: Redacted.Redacted<string>,
    newPassword: Redacted.Redacted<string>,
    client: ClientInfo
  ) => Effect.Effect<PasswordVerdict>
  /** A query only (no signature yet): would this key do? No side effects; never a grant. */
  readonly keyAcceptable?: (offer: KeyOffer) => Effect.Effect<boolean>
  /** The key signed the session: does it authenticate `offer.user`? Called only after the signature verified. */
  readonly keyProven?: (offer: KeyOffer) => Effect.Effect<Option.Option<KeyGrant>>
  readonly keyboardInteractive?: (user: string, submethods: string, client: ClientInfo) => Effect.Effect<Option.Option<InteractiveConversation>>
  /**
   * A principal proven by gssapi-with-mic: may it log in as `offer.user`? Called only after
   * the MIC verified. Absent: `gssapiKuserok`, as sshd decides.
   */
  readonly gssapiPrincipal?: (offer: PrincipalOffer) => Effect.Effect<Option.Option<PrincipalGrant>>
  /** A banner shown before the first reply (sshd's Banner); peer-visible text, so keep it plain. */
  readonly banner?: (user: string, client: ClientInfo) => Effect.Effect<Option.Option<string>>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AuthPolicy extends Context.Tag("effect-ssh-auth/AuthPolicy")<AuthPolicy, AuthPolicyService>() {}

/**
 * sshd's defaults for a key with no options: everything allowed.
 *
 * @since 0.1.0
 * @category constants
 */
export const unrestricted: LoginRestrictions = {
  pty: true,
  portForwarding: true,
  agentForwarding: true,
  x11Forwarding: true,
  userRc: true,
  environment: [],
  permitOpen: [],
  permitListen: [],
  touchRequired: true,
  verifyRequired: false
}

/**
 * sshd's `gssapiPrincipal` (and the handler's when the policy has none): `krb5_kuserok`, so
 * `alice@DEFAULT_REALM` logs in as the system account `alice`, and so do the principals
 * `~alice/.k5login` lists (then only those). Recorded with the source `krb5_kuserok`.
 *
 * @since 0.1.0
 * @category gssapi
 */
export const gssapiKuserok = (offer: PrincipalOffer): Effect.Effect<Option.Option<PrincipalGrant>> =>
  Effect.map(offer.kuserok, (ok) => (ok ? Option.some({ source: "krb5_kuserok" }) : Option.none()))

/**
 * A `gssapiPrincipal` for servers whose users are not system accounts: the principal logs
 * in as the user krb5.conf's `auth_to_local` rules map it to, and as no other (by default
 * `alice@DEFAULT_REALM` is `alice`; a principal of another realm maps to nothing unless a
 * rule names it). Recorded with the source `auth_to_local`.
 *
 * @since 0.1.0
 * @category gssapi
 */
export const gssapiAuthToLocal = (offer: PrincipalOffer): Effect.Effect<Option.Option<PrincipalGrant>> =>
  Effect.map(
    offer.localName,
    (name) => Option.isSome(name) && name.value === offer.user ? Option.some({ source: "auth_to_local" }) : Option.none()
  )
