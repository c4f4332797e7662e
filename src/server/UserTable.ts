/**
 * A static, in-memory table of users: passwords, keys, keyboard-interactive answers and
 * method chains. For tests, demos and small appliances; an application with a real user
 * store writes its own `AuthPolicy`.
 *
 * An unknown user is asked the same as a known one: the same method chains, a password
 * compared against a stand-in in the same constant time, never a PK_OK.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { type Curves, CurvesImpl } from "../crypto/Curves.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as AuthorizedKeys from "./AuthorizedKeys.js"
import {
  AuthPolicy,
  type AuthPolicyService,
  type ClientInfo,
  type InteractiveStep,
  type KeyGrant,
  type KeyOffer,
  type LoginRestrictions,
  type MethodName
} from "./AuthPolicy.js"
import * as UserCertificates from "./UserCertificates.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface UserEntry {
  readonly password?: Redacted.Redacted<string>
  /** Keys with no options. */
  readonly keys?: ReadonlyArray<PublicKey.PublicKey>
  /** An authorized_keys file's entries, options and `cert-authority` lines included. */
  readonly authorizedKeys?: ReadonlyArray<AuthorizedKeys.AuthorizedKey>
  /** Restrictions recorded for every key of this user. */
  readonly keyRestrictions?: LoginRestrictions
  /** One keyboard-interactive round: every prompt must be answered with its answer. */
  readonly interactive?: ReadonlyArray<{ readonly prompt: string; readonly echo: boolean; readonly answer: Redacted.Redacted<string> }>
  /** This user's chains; default: the table's. */
  readonly methods?: ReadonlyArray<ReadonlyArray<MethodName>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface UserTableOptions {
  /** The chains of users without their own, and of unknown users. Default: publickey, password or keyboard-interactive, each alone. */
  readonly methods?: ReadonlyArray<ReadonlyArray<MethodName>>
  readonly banner?: string
  /** sshd's TrustedUserCAKeys: certificates these CAs signed for a known user, naming them as a principal. */
  readonly trustedUserCaKeys?: ReadonlyArray<PublicKey.PublicKey>
  /**
   * A password function (a directory, a hash store) that decides for every user, known to
   * the table or not, in place of the table's passwords. Do the same work for an unknown user.
   */
  readonly checkPassword?: (user: string, password: Redacted.Redacted<string>, client: ClientInfo) => Effect.Effect<boolean>
  /**
   * Which principals gssapi-with-mic logs in as which user (`AuthPolicy.gssapiAuthToLocal`
   * for users that are not system accounts). Default: sshd's `krb5_kuserok`. The method is
   * offered only where a chain names it and the server configures `gssapi`.
   */
  readonly gssapiPrincipal?: AuthPolicyService["gssapiPrincipal"]
}

const noGrant: Exit.Exit<Option.Option<KeyGrant>> = Exit.succeed(Option.none())

const digest = (secret: string) => crypto.createHash("sha256").update(secret, "utf8").digest()

/** Equal in constant time; an absent secret is compared against a random stand-in, and fails. */
const sameSecret = (given: Redacted.Redacted<string>, stored: Redacted.Redacted<string> | undefined): boolean => {
  const expected = stored === undefined ? crypto.randomBytes(32) : digest(Redacted.value(stored))
  return crypto.timingSafeEqual(digest(Redacted.value(given)), expected) && stored !== undefined
}

/** The clock and the curves that options, certificates and CAs are checked with. */
interface Checking {
  readonly clock: Clock.Clock
  readonly curves: Curves
}

/** Those of the context it runs in. */
const checkingHere: Effect.Effect<Checking> = Effect.zipWith(Effect.clock, CurvesImpl, (clock, curves) => ({ clock, curves }))

/**
 * A table with no clock or curves of its own: calls that need them read them from their
 * context (one fiber per such call on `Server.listen`). `layer` gives the table the clock and
 * curves of where it is built.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (users: Readonly<Record<string, UserEntry>>, options: UserTableOptions = {}): AuthPolicyService => makeWith(users, options, undefined)

const makeWith = (
  users: Readonly<Record<string, UserEntry>>,
  options: UserTableOptions,
  checking: Checking | undefined
): AuthPolicyService => {
  const defaults = options.methods ?? [["publickey"], ["password"], ["keyboard-interactive"]]
  const entry = (user: string): UserEntry | undefined => Object.hasOwn(users, user) ? users[user] : undefined
  /** What the user's authorized_keys entries, then the trusted CAs, grant this key or certificate. */
  const listedGrant = (found: UserEntry, offer: KeyOffer, { clock, curves }: Checking): Option.Option<KeyGrant> => {
    const cert = offer.certificate
    const context = { user: offer.user, clientAddress: offer.client.address, now: Math.floor(clock.unsafeCurrentTimeMillis() / 1000), curves }
    const listed = AuthorizedKeys.match(found.authorizedKeys ?? [], cert ?? offer.key, context)
    if (Either.isRight(listed)) return Option.some({ source: `authorized_keys line ${listed.right.entry.line}`, restrictions: listed.right.restrictions })
    if (cert !== undefined && (options.trustedUserCaKeys ?? []).length > 0) {
      const trusted = UserCertificates.check(options.trustedUserCaKeys!, cert, context)
      if (Either.isRight(trusted)) return Option.some({ source: "TrustedUserCAKeys", restrictions: trusted.right.restrictions })
    }
    return Option.none()
  }
  /**
   * The grant for a key or certificate, by the same rules a query and a proof both use,
   * answered as a value (an `Exit`, which the server reads in the connection's callback with
   * no fiber) wherever the clock and curves are at hand or not needed.
   */
  const grantFor = (offer: KeyOffer): Effect.Effect<Option.Option<KeyGrant>> => {
    const found = entry(offer.user)
    if (found === undefined) return noGrant
    if (offer.certificate === undefined && (found.keys ?? []).some((k) => PublicKey.equals(k, offer.key))) {
      return Exit.succeed(Option.some({ source: "user table", ...(found.keyRestrictions ? { restrictions: found.keyRestrictions } : {}) }))
    }
    if ((found.authorizedKeys ?? []).length === 0 && (offer.certificate === undefined || (options.trustedUserCaKeys ?? []).length === 0)) {
      return noGrant
    }
    if (checking !== undefined) return Exit.succeed(listedGrant(found, offer, checking))
    return Effect.map(checkingHere, (here) => listedGrant(found, offer, here))
  }
  // The table's own answers are computed when called and returned as values (`Exit`s).
  return {
    methods: (user) => Effect.succeed(entry(user)?.methods ?? defaults),
    password: (user, password, client) =>
      options.checkPassword
        ? Effect.map(options.checkPassword(user, password, client), (ok) => (ok ? { _tag: "Accepted" } : { _tag: "Rejected" }))
        : Exit.succeed(sameSecret(password, entry(user)?.password) ? { _tag: "Accepted" } : { _tag: "Rejected" }),
    keyAcceptable: (offer) => {
      const grant = grantFor(offer)
      return Exit.isExit(grant) ? Exit.map(grant as Exit.Exit<Option.Option<KeyGrant>>, Option.isSome) : Effect.map(grant, Option.isSome)
    },
    keyProven: grantFor,
    keyboardInteractive: (user) => {
      const questions = entry(user)?.interactive
      // An unknown user gets a conversation too, with a prompt like a known user's first.
      const prompts = questions ?? [{ prompt: "Password: ", echo: false, answer: undefined }]
      const ask: InteractiveStep = { _tag: "Ask", round: { name: "", instruction: "", prompts: prompts.map(({ echo, prompt }) => ({ prompt, echo })) } }
      return Exit.succeed(Option.some({
        start: Exit.succeed(ask),
        answer: (responses) => {
          const all = prompts.map((p, i) => sameSecret(responses[i] ?? Redacted.make(""), p.answer))
          return Exit.succeed<InteractiveStep>(questions !== undefined && all.every(Boolean) ? { _tag: "Accepted" } : { _tag: "Rejected" })
        }
      }))
    },
    ...(options.banner !== undefined ? { banner: () => Effect.succeed(Option.some(options.banner!)) } : {}),
    ...(options.gssapiPrincipal !== undefined ? { gssapiPrincipal: options.gssapiPrincipal } : {})
  }
}

/**
 * The table as the `AuthPolicy`. Options, certificates and CAs are checked on the clock and
 * curves of where the layer is built, so the table's own answers are all values (a
 * `checkPassword` or `gssapiPrincipal` of the application's runs as it is given).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (users: Readonly<Record<string, UserEntry>>, options: UserTableOptions = {}): Layer.Layer<AuthPolicy> =>
  Layer.effect(AuthPolicy, Effect.map(checkingHere, (here) => makeWith(users, options, here)))
