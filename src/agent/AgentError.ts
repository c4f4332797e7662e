/**
 * The ssh-agent client's errors, in a module of their own so that a serialised
 * `AuthFailure` can name them without loading the socket client.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * There is no agent to talk to: no socket configured, or nothing listening on it. Agent
 * sources are skipped, not failed, for this.
 *
 * @since 0.1.0
 * @category errors
 */
export class NoAgent extends Schema.TaggedError<NoAgent>()("NoAgent", {
  /** The socket path, when one was configured. */
  path: Schema.optional(Schema.String),
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `no ssh-agent${this.path ? ` at ${this.path}` : ""}: ${this.detail}`
  }
}

/**
 * The agent answered, but not as asked.
 *
 * @since 0.1.0
 * @category errors
 */
export class AgentError extends Schema.TaggedError<AgentError>()("AgentError", {
  reason: Schema.Literal("Locked", "SignRefused", "KeyNotFound", "Refused", "Unsupported", "Timeout", "ProtocolError", "ConnectionLost"),
  /** The request: "sign", "add", "list"… */
  operation: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `ssh-agent ${this.operation}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export type AgentFailure = AgentError | NoAgent
