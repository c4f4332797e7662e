/**
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { show } from "../wire/PeerText.js"

/**
 * A userauth exchange went wrong in a way that is not simply "the server said no".
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthError extends Schema.TaggedError<AuthError>()("AuthError", {
  reason: Schema.Literal(
    "ProtocolError",
    "ResponseCountMismatch",
    "NoAcceptableAlgorithm",
    "SigningFailed",
    "PromptFailed"
  ),
  method: Schema.String,
  username: Schema.String,
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    return `${this.method} for ${this.username}: ${show(this.detail, 1000)}`
  }
}

/**
 * The server wants the password changed (SSH_MSG_USERAUTH_PASSWD_CHANGEREQ) and no
 * change-password callback was given.
 *
 * @since 0.1.0
 * @category errors
 */
export class PasswordChangeRequired extends Schema.TaggedError<PasswordChangeRequired>()("PasswordChangeRequired", {
  username: Schema.String,
  prompt: Schema.String
}) {
  override get message(): string {
    return `the server requires a new password for ${this.username}: ${show(this.prompt)}`
  }
}

/**
 * The server's GSSAPI failed during gssapi-with-mic, as it said with
 * SSH_MSG_USERAUTH_GSSAPI_ERROR (its status codes and message), or with an error token
 * (SSH_MSG_USERAUTH_GSSAPI_ERRTOK) that our GSS-API read into codes and messages.
 *
 * @since 0.1.0
 * @category errors
 */
export class GssapiServerError extends Schema.TaggedError<GssapiServerError>()("GssapiServerError", {
  username: Schema.String,
  via: Schema.Literal("GSSAPI_ERROR", "GSSAPI_ERRTOK"),
  major: Schema.Number,
  minor: Schema.Number,
  /** For GSSAPI_ERROR the server's own text: shown escaped. */
  majorMessage: Schema.String,
  minorMessage: Schema.String
}) {
  override get message(): string {
    const minor = this.minorMessage ? ` (${show(this.minorMessage, 300)})` : ""
    return `gssapi-with-mic for ${this.username}: the server's GSSAPI failed: ${show(this.majorMessage, 500)}${minor}`
  }
}
