/**
 * Our server as the hostile client meets it: `Server.listen` on 127.0.0.1 over a static
 * user table, the table wrapped so that every call the handler makes to the policy is
 * recorded, with how each connection ended (`onClosed`) and every `Authenticated` the
 * server produced. A case asserts on all three.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { AuthPolicy, type AuthPolicyService, type KeyOffer } from "../../src/server/AuthPolicy.js"
import * as Server from "../../src/server/Server.js"
import type { Authenticated, ServerAuthFailure } from "../../src/server/ServerAuthResult.js"
import * as UserTable from "../../src/server/UserTable.js"

export const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** alice's keys: an Ed25519 and an RSA one, both in the table. */
export const aliceKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
export const aliceRsa = PrivateKey.fromKeyObject(nodeCurves, crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey)
/** A key nobody has in the table. */
export const strangerKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
export const PASSWORD = "correct horse battery staple"

export const table = UserTable.make({
  alice: { keys: [aliceKey.publicKey, aliceRsa.publicKey], password: Redacted.make(PASSWORD) },
  bob: { password: Redacted.make("bob's password") }
})

/** One key the policy was asked about. */
export interface KeyCall {
  readonly user: string
  readonly fingerprint: string
  readonly algorithm: string
}

/** Every call the handler made to the policy, by hook. */
export interface PolicyCalls {
  readonly methods: Array<string>
  readonly password: Array<string>
  readonly keyAcceptable: Array<KeyCall>
  readonly keyProven: Array<KeyCall>
  readonly keyboardInteractive: Array<string>
  /** user and principal, for each principal the policy was asked to map. */
  readonly gssapiPrincipal: Array<{ readonly user: string; readonly principal: string }>
}

const keyCall = (offer: KeyOffer): KeyCall => ({
  user: offer.user,
  fingerprint: PublicKey.fingerprintSha256(offer.key),
  algorithm: offer.algorithm
})

/** `inner`, with every call recorded into `calls`. */
export const recording = (inner: AuthPolicyService, calls: PolicyCalls): AuthPolicyService => ({
  methods: (user, client) => Effect.suspend(() => (calls.methods.push(user), inner.methods(user, client))),
  password: (user, password, client) => Effect.suspend(() => (calls.password.push(user), inner.password!(user, password, client))),
  keyAcceptable: (offer) => Effect.suspend(() => (calls.keyAcceptable.push(keyCall(offer)), inner.keyAcceptable!(offer))),
  keyProven: (offer) => Effect.suspend(() => (calls.keyProven.push(keyCall(offer)), inner.keyProven!(offer))),
  keyboardInteractive: (user, submethods, client) =>
    Effect.suspend(() => (calls.keyboardInteractive.push(user), inner.keyboardInteractive!(user, submethods, client))),
  // Absent stays absent: the handler's default (krb5_kuserok) is then what runs.
  ...(inner.gssapiPrincipal
    ? {
      gssapiPrincipal: (offer) =>
        Effect.suspend(() => (calls.gssapiPrincipal.push({ user: offer.user, principal: offer.principal }), inner.gssapiPrincipal!(offer)))
    }
    : {})
})

/** How one connection ended, as `onClosed` saw it. */
export interface Ended {
  readonly exit: Exit.Exit<void, unknown>
  /** The typed failure, when it is a ServerAuthFailure. */
  readonly failure: ServerAuthFailure | undefined
  /** Whatever else it failed with (a transport error during the handshake), or a defect. */
  readonly other: unknown
  readonly at: number
}

export interface Target {
  readonly port: number
  readonly calls: PolicyCalls
  readonly ended: ReadonlyArray<Ended>
  readonly authenticated: ReadonlyArray<Authenticated>
  readonly listening: Server.Listening
  /** The next connection's end, in order of ending; throws after `ms`. */
  readonly nextEnd: (ms: number) => Promise<Ended>
  /** Drops the records of ended connections (for a test that measures what the server keeps). */
  readonly forget: () => void
}

export interface TargetOptions {
  readonly auth?: ServerAuthOptions
  readonly maxStartups?: number
  readonly handshakeTimeout?: Server.ServerOptions["handshakeTimeout"]
  readonly policy?: AuthPolicyService
}

/** Our server for the life of the scope. */
export const target = (options: TargetOptions = {}) =>
  Effect.gen(function*() {
    const calls: PolicyCalls = { methods: [], password: [], keyAcceptable: [], keyProven: [], keyboardInteractive: [], gssapiPrincipal: [] }
    const ended: Array<Ended> = []
    const authenticated: Array<Authenticated> = []
    let taken = 0
    const waiters = new Set<() => void>()
    const listening = yield* Server.listen({
      hostKeys: [hostKey],
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.maxStartups !== undefined ? { maxStartups: options.maxStartups } : {}),
      ...(options.handshakeTimeout !== undefined ? { handshakeTimeout: options.handshakeTimeout } : {}),
      onAuthenticated: ({ result }) => Effect.sync(() => void authenticated.push(result)),
      onClosed: (exit) =>
        Effect.sync(() => {
          const error = exit._tag === "Failure" ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined
          const failure = error instanceof Error && (error as { _tag?: string })._tag === "ServerAuthFailure" ? error as ServerAuthFailure : undefined
          ended.push({ exit, failure, other: failure === undefined && exit._tag === "Failure" ? error ?? Cause.pretty(exit.cause) : undefined, at: Date.now() })
          for (const w of [...waiters]) w()
        })
    }).pipe(Effect.provide(Layer.succeed(AuthPolicy, recording(options.policy ?? table, calls))))
    return {
      port: listening.port,
      calls,
      ended,
      authenticated,
      listening,
      nextEnd: (ms) =>
        new Promise<Ended>((resolve, reject) => {
          const take = () => {
            if (taken >= ended.length) return false
            clearTimeout(timer)
            waiters.delete(check)
            resolve(ended[taken++])
            return true
          }
          const check = () => void take()
          const timer = setTimeout(() => {
            waiters.delete(check)
            reject(new Error(`no connection ended within ${ms} ms`))
          }, ms)
          if (!take()) waiters.add(check)
        }),
      forget: () => {
        ended.length = 0
        taken = 0
        authenticated.length = 0
      }
    } satisfies Target
  })
