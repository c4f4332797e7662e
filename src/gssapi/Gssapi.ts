/**
 * The `Gssapi` service: the few GSS-API calls (RFC 2743) that `gssapi-with-mic` needs, on
 * both sides, with the contexts and credentials released by the Scope that made them.
 *
 * The default implementation binds the system's MIT Kerberos library
 * (`libgssapi_krb5.so.2`) through the optional `koffi` package, loaded on first use: an
 * application that never uses GSSAPI loads neither, and where either is missing a gssapi
 * source is recorded as skipped with the reason (`GssapiUnavailable`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"

/**
 * The Kerberos V5 mechanism, 1.2.840.113554.1.2.2, in the DER form RFC 4462 puts on the
 * wire (tag 0x06, length, then the encoded arcs).
 *
 * @since 0.1.0
 * @category constants
 */
export const krb5MechanismDer: Uint8Array = Uint8Array.of(0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02)

/**
 * A GSS-API call failed: its name, the major and minor status codes, and what the library
 * says of them (`gss_display_status`).
 *
 * @since 0.1.0
 * @category errors
 */
export class GssError extends Schema.TaggedError<GssError>()("GssError", {
  /** The call: `gss_init_sec_context`, `gss_acquire_cred_from`… */
  call: Schema.String,
  major: Schema.Number,
  minor: Schema.Number,
  /** The major status, as the library words it. */
  majorMessage: Schema.String,
  /** The mechanism's own status (Kerberos: "Ticket expired", "No credentials cache found"…). */
  minorMessage: Schema.String,
  /**
   * The token the failed context step made for the peer, if it made one (a Kerberos
   * KRB-ERROR): RFC 4462 sends it as SSH_MSG_USERAUTH_GSSAPI_ERRTOK.
   */
  errorToken: Schema.optional(Schema.Uint8Array)
}) {
  override get message(): string {
    return `${this.call}: ${this.majorMessage}${this.minorMessage ? ` (${this.minorMessage})` : ""}`
  }
}

/**
 * No GSS-API here: the binding package or the system library could not be loaded.
 *
 * @since 0.1.0
 * @category errors
 */
export class GssapiUnavailable extends Schema.TaggedError<GssapiUnavailable>()("GssapiUnavailable", {
  reason: Schema.String
}) {
  override get message(): string {
    return `GSSAPI is not available: ${this.reason}`
  }
}

/**
 * What one step of a context establishment gave: the token to send, if any, and whether
 * the context is complete.
 *
 * @since 0.1.0
 * @category models
 */
export interface Step {
  readonly token: Uint8Array | undefined
  readonly complete: boolean
}

/**
 * The client's side of a security context (`gss_init_sec_context`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Initiator {
  /** One round: the server's token (none on the first), and what to send back. */
  readonly step: (token: Uint8Array | undefined) => Effect.Effect<Step, GssError>
  /** Whether the established context protects integrity (GSS_C_INTEG_FLAG): a MIC is possible. */
  readonly integrity: Effect.Effect<boolean>
  readonly getMic: (message: Uint8Array) => Effect.Effect<Uint8Array, GssError>
}

/**
 * The server's side of a security context (`gss_accept_sec_context`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Acceptor {
  readonly step: (token: Uint8Array) => Effect.Effect<Step, GssError>
  /**
   * Whether the established context protects integrity (GSS_C_INTEG_FLAG): the client must
   * then prove the session with a MIC, and RFC 4462's EXCHANGE_COMPLETE is refused.
   */
  readonly integrity: Effect.Effect<boolean>
  /** The client's principal (`alice@EXAMPLE.COM`), once the context is complete. */
  readonly clientName: Effect.Effect<string, GssError>
  readonly verifyMic: (message: Uint8Array, mic: Uint8Array) => Effect.Effect<void, GssError>
  /**
   * Whether the client's principal may log in as `user`, as sshd's `krb5_kuserok` decides:
   * `user@DEFAULT_REALM`, or a principal the user's `~/.k5login` lists.
   */
  readonly userOk: (user: string) => Effect.Effect<boolean, GssError>
  /**
   * The local name the client's principal maps to by krb5.conf's `auth_to_local` rules
   * (`alice@DEFAULT_REALM` is `alice`), with no look at the system's users: for servers whose
   * users are not system accounts.
   */
  readonly localName: Effect.Effect<Option.Option<string>, GssError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface InitiatorOptions {
  /** The service, host-based (`host@server.example.com`), as ssh names it. */
  readonly target: string
  /** Forward the ticket-granting ticket (ssh's GSSAPIDelegateCredentials). */
  readonly delegate?: boolean
  /** A credentials cache (`FILE:/tmp/krb5cc_1000`) instead of the default one (`KRB5CCNAME`). */
  readonly ccache?: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AcceptorOptions {
  /** The keytab (`FILE:/etc/krb5.keytab`) instead of the default one (`KRB5_KTNAME`). */
  readonly keytab?: string
}

/**
 * The user's Kerberos credentials, as the library sees them.
 *
 * @since 0.1.0
 * @category models
 */
export interface Credentials {
  /** Whose they are: `alice@EXAMPLE.COM`. */
  readonly principal: string
  /** Seconds until they expire; 0 once expired. */
  readonly lifetime: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface GssapiService {
  /** The credentials an initiator would use (`ccache`, else the default cache): a ticket, or the reason there is none. */
  readonly credentials: (options: { readonly ccache?: string }) => Effect.Effect<Credentials, GssError>
  readonly initiator: (options: InitiatorOptions) => Effect.Effect<Initiator, GssError, Scope.Scope>
  readonly acceptor: (options: AcceptorOptions) => Effect.Effect<Acceptor, GssError, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Gssapi extends Context.Tag("effect-ssh-auth/Gssapi")<Gssapi, GssapiService>() {}

/**
 * The system's MIT Kerberos GSS-API, loaded now: fails with `GssapiUnavailable` where the
 * `koffi` package or `libgssapi_krb5.so.2` is missing.
 *
 * @since 0.1.0
 * @category constructors
 */
export const loadSystem: Effect.Effect<GssapiService, GssapiUnavailable> = Effect.flatMap(
  Effect.promise(() => import("./Krb5Gss.js")),
  (Krb5) => Krb5.load
)

/**
 * The system's GSS-API as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSystem: Layer.Layer<Gssapi, GssapiUnavailable> = Layer.effect(Gssapi, loadSystem)

/**
 * The `Gssapi` in context, or else the system's, loaded on first use: what sources use, so
 * that an application provides one only to replace it.
 *
 * @since 0.1.0
 * @category accessors
 */
export const current: Effect.Effect<GssapiService, GssapiUnavailable> = Effect.flatMap(
  Effect.serviceOption(Gssapi),
  (provided) => provided._tag === "Some" ? Effect.succeed(provided.value) : loadSystem
)
