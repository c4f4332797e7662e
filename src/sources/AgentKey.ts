/**
 * Agent sources: `AgentKey` signs through ssh-agent, bound to the server's host key when
 * the server supports it (so that keys `ssh-add -h` restricted to it work); `agentKeys`
 * expands to one source per agent identity, certificates first. Without an agent, they are
 * recorded as skipped.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { Agent, type AgentError, type AgentFailure, type AgentIdentity, type NoAgent } from "../agent/Agent.js"
import * as AuthHandler from "../handler/AuthHandler.js"
import type { Signer } from "../keys/PrivateKey.js"
import * as PublicKey from "../keys/PublicKey.js"
import { type AuthSource, Base, SourceSkipped, surfaceSignerFailure } from "./AuthSource.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface AgentKeyOptions extends AuthHandler.PublicKeyOptions {
  /** Bind the agent to the server's host key when the server offers it. Default true. */
  readonly hostBinding?: boolean
}

const isAgentFailure = (e: unknown): e is AgentFailure =>
  typeof e === "object" && e !== null && "_tag" in e && (e._tag === "AgentError" || e._tag === "NoAgent")

/**
 * One key or certificate held by the agent.
 *
 * @since 0.1.0
 * @category sources
 */
export class AgentKey extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "AgentKey"
  /** @since 0.1.0 */
  readonly method = "publickey"
  readonly username: string
  readonly agent: Agent
  readonly identity: AgentIdentity
  readonly options: AgentKeyOptions
  constructor({ agent, identity, username, ...options }: AgentKeyOptions & {
    readonly username: string
    readonly agent: Agent
    readonly identity: AgentIdentity
  }) {
    super()
    this.username = username
    this.agent = agent
    this.identity = identity
    this.options = options
  }
  get fingerprint(): string {
    return PublicKey.fingerprintSha256(this.identity.publicKey)
  }
  get description(): string {
    const kind = this.identity.certificate ? `certificate ${this.identity.certificate.type} "${this.identity.certificate.keyId}"` : this.identity.publicKey.type
    return `user=${this.username}, agent ${kind} ${this.fingerprint}${this.identity.comment ? ` (${this.identity.comment})` : ""}`
  }
  get authenticate() {
    const { agent, identity } = this
    const signer: Signer<AgentFailure> = {
      publicKey: identity.publicKey,
      ...(identity.certificate ? { certificate: identity.certificate } : {}),
      ...(this.options.hostBinding === false ? {} : {
        // An agent without session-bind (older than OpenSSH 8.9) still signs unbound keys.
        bindToHost: (proof) =>
          agent.sessionBind(proof.hostKeyBlob, proof.sessionId, proof.signature).pipe(
            Effect.catchIf((e): e is AgentError => e._tag === "AgentError" && e.reason === "Unsupported", () => Effect.void)
          )
      }),
      sign: (algorithm, data) => agent.sign(identity.blob, algorithm, data)
    }
    // The agent's own failure is this source's error, not a generic signing failure.
    return surfaceSignerFailure(
      Effect.flatMap(AuthHandler.AuthHandler, (h) => h.publicKey(this.username, signer, this.options)),
      (cause) => !isAgentFailure(cause) ? undefined : cause._tag === "NoAgent" ? new SourceSkipped({ reason: cause.message }) : cause
    )
  }
}

/**
 * A source for one agent identity.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: ConstructorParameters<typeof AgentKey>[0]): AgentKey => new AgentKey(options)

/**
 * Stands in for the agent's keys when there is no agent: recorded as skipped, with why.
 *
 * @since 0.1.0
 * @category sources
 */
export class AgentUnavailable extends Base implements AuthSource {
  /** @since 0.1.0 */
  readonly _tag = "AgentUnavailable"
  /** @since 0.1.0 */
  readonly method = "publickey"
  readonly username: string
  readonly reason: NoAgent | AgentError
  constructor(options: { readonly username: string; readonly reason: NoAgent | AgentError }) {
    super()
    this.username = options.username
    this.reason = options.reason
  }
  get description(): string {
    return `user=${this.username}, agent: ${this.reason.message}`
  }
  get authenticate() {
    return this.reason._tag === "NoAgent" ? Effect.fail(new SourceSkipped({ reason: this.reason.message })) : Effect.fail(this.reason)
  }
}

/**
 * One source per identity in the agent, certificates first (each before the bare keys),
 * then in the agent's order. Without an agent: one source recorded as skipped.
 *
 * @since 0.1.0
 * @category strategies
 */
export const agentKeys = ({ username, ...options }: AgentKeyOptions & { readonly username: string }): Stream.Stream<AuthSource, never, Agent> =>
  Stream.unwrap(
    Effect.gen(function*() {
      const agent = yield* Agent
      const identities = yield* Effect.either(agent.identities)
      if (identities._tag === "Left") return Stream.make<Array<AuthSource>>(new AgentUnavailable({ username, reason: identities.left }))
      const ordered = [...identities.right.filter((i) => i.certificate), ...identities.right.filter((i) => !i.certificate)]
      return Stream.fromIterable<AuthSource>(ordered.map((identity) => new AgentKey({ ...options, username, agent, identity })))
    })
  )
