/**
 * The ssh-agent protocol (draft-miller-ssh-agent, and OpenSSH's PROTOCOL.agent for
 * session-bind): message numbers, request encoders and reply decoders. Pure; framing is
 * `uint32 length` then the message.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { decode } from "../wire/Reader.js"
import type { WireError } from "../wire/WireError.js"
import { encode, type Writer } from "../wire/Writer.js"

/**
 * @since 0.1.0
 * @category constants
 */
export const AgentMessage = {
  FAILURE: 5,
  SUCCESS: 6,
  REQUEST_IDENTITIES: 11,
  IDENTITIES_ANSWER: 12,
  SIGN_REQUEST: 13,
  SIGN_RESPONSE: 14,
  ADD_IDENTITY: 17,
  REMOVE_IDENTITY: 18,
  REMOVE_ALL_IDENTITIES: 19,
  LOCK: 22,
  UNLOCK: 23,
  ADD_ID_CONSTRAINED: 25,
  EXTENSION: 27,
  EXTENSION_FAILURE: 28
} as const

/**
 * Sign request flags: which RSA signature to make.
 *
 * @since 0.1.0
 * @category constants
 */
export const SignFlags = { RSA_SHA2_256: 2, RSA_SHA2_512: 4 } as const

const CONSTRAIN_LIFETIME = 1
const CONSTRAIN_CONFIRM = 2

/**
 * A key or certificate the agent holds.
 *
 * @since 0.1.0
 * @category models
 */
export interface Identity {
  readonly blob: Uint8Array
  readonly comment: string
}

/**
 * Constraints on an added key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Constraints {
  /** Seconds before the agent forgets the key. */
  readonly lifetime?: number
  /** Ask the user (ssh-askpass) before each use. */
  readonly confirm?: boolean
}

/**
 * `uint32 length` + message.
 *
 * @since 0.1.0
 */
export const frame = (message: Uint8Array): Uint8Array => encode((w) => w.string(message))

/**
 * @since 0.1.0
 * @category requests
 */
export const requestIdentities = (): Uint8Array => Uint8Array.of(AgentMessage.REQUEST_IDENTITIES)

/**
 * @since 0.1.0
 * @category requests
 */
export const signRequest = (keyBlob: Uint8Array, data: Uint8Array, flags: number): Uint8Array =>
  encode((w) => w.byte(AgentMessage.SIGN_REQUEST).string(keyBlob).string(data).uint32(flags))

/**
 * An add-identity request. `writeKey` writes the private key body (type and fields, as
 * openssh-key-v1 holds them); the comment and the constraints follow.
 *
 * @since 0.1.0
 * @category requests
 */
export const addIdentity = (writeKey: (w: Writer) => void, comment: string, constraints: Constraints = {}): Uint8Array => {
  const constrained = constraints.lifetime !== undefined || constraints.confirm === true
  return encode((w) => {
    w.byte(constrained ? AgentMessage.ADD_ID_CONSTRAINED : AgentMessage.ADD_IDENTITY)
    writeKey(w)
    w.string(comment)
    if (constraints.lifetime !== undefined) w.byte(CONSTRAIN_LIFETIME).uint32(constraints.lifetime)
    if (constraints.confirm) w.byte(CONSTRAIN_CONFIRM)
  })
}

/**
 * @since 0.1.0
 * @category requests
 */
export const removeIdentity = (keyBlob: Uint8Array): Uint8Array => encode((w) => w.byte(AgentMessage.REMOVE_IDENTITY).string(keyBlob))

/**
 * @since 0.1.0
 * @category requests
 */
export const removeAllIdentities = (): Uint8Array => Uint8Array.of(AgentMessage.REMOVE_ALL_IDENTITIES)

/**
 * @since 0.1.0
 * @category requests
 */
export const lock = (passphrase: string, locking: boolean): Uint8Array =>
  encode((w) => w.byte(locking ? AgentMessage.LOCK : AgentMessage.UNLOCK).string(passphrase))

/**
 * An extension request: `string name` then its contents.
 *
 * @since 0.1.0
 * @category requests
 */
export const extension = (name: string, contents: Uint8Array = new Uint8Array(0)): Uint8Array =>
  encode((w) => w.byte(AgentMessage.EXTENSION).string(name).raw(contents))

/**
 * session-bind@openssh.com (PROTOCOL.agent): binds the agent connection to the server's
 * host key, proven by its signature over the session identifier.
 *
 * @since 0.1.0
 * @category requests
 */
export const sessionBind = (hostKeyBlob: Uint8Array, sessionId: Uint8Array, signature: Uint8Array, forwarding: boolean): Uint8Array =>
  extension("session-bind@openssh.com", encode((w) => w.string(hostKeyBlob).string(sessionId).string(signature).boolean(forwarding)))

/**
 * @since 0.1.0
 * @category replies
 */
export const parseIdentities = (reply: Uint8Array): Either.Either<ReadonlyArray<Identity>, WireError> =>
  decode(reply, (r) => {
    r.byte("message number")
    const n = r.uint32("number of keys")
    if (n > 4096) r.fail("number of keys", `${n} keys is more than any agent holds`)
    const out: Array<Identity> = []
    for (let i = 0; i < n; i++) out.push({ blob: r.string("key blob").slice(), comment: r.text("comment") })
    r.end("identities answer")
    return out
  })

/**
 * @since 0.1.0
 * @category replies
 */
export const parseSignResponse = (reply: Uint8Array): Either.Either<Uint8Array, WireError> =>
  decode(reply, (r) => {
    r.byte("message number")
    const signature = r.string("signature").slice()
    r.end("sign response")
    return signature
  })

/**
 * The names in a reply to the "query" extension: SUCCESS, then the extension names.
 *
 * @since 0.1.0
 * @category replies
 */
export const parseQuery = (reply: Uint8Array): Either.Either<ReadonlyArray<string>, WireError> =>
  decode(reply, (r) => {
    r.byte("message number")
    const out: Array<string> = []
    while (r.remaining > 0 && out.length < 256) out.push(r.text("extension name"))
    return out
  })
