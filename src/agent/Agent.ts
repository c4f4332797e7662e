/**
 * An ssh-agent client: the `Agent` service over the agent's unix socket
 * (`SSH_AUTH_SOCK`, or ssh_config's `IdentityAgent`), over a `node:net` socket.
 *
 * One service value is one agent connection, and lives as long as its scope: a
 * session-bind applies to the connection it was sent on, as in OpenSSH, so each SSH
 * connection should have its own. Requests are serialised and each has a timeout.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Mailbox from "effect/Mailbox"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import * as Certificate from "../keys/Certificate.js"
import { type PrivateKey, writeBody } from "../keys/PrivateKey.js"
import * as PublicKey from "../keys/PublicKey.js"
import { fromNetSocket } from "../transport/ByteChannel.js"
import { AgentError, type AgentFailure, NoAgent } from "./AgentError.js"
import * as Protocol from "./AgentProtocol.js"

// The agent's errors, defined in `AgentError` and re-exported here.
export {
  /**
   * @since 0.1.0
   * @category errors
   */
  AgentError,
  /**
   * @since 0.1.0
   * @category errors
   */
  type AgentFailure,
  /**
   * @since 0.1.0
   * @category errors
   */
  NoAgent
}

/**
 * A key or certificate held by the agent.
 *
 * @since 0.1.0
 * @category models
 */
export interface AgentIdentity {
  /** The blob as the agent knows it (a certificate's whole blob for a certificate). */
  readonly blob: Uint8Array
  readonly comment: string
  /** The key that signs: for a certificate, the certified key. */
  readonly publicKey: PublicKey.PublicKey
  readonly certificate?: Certificate.Certificate
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Agent {
  /** The socket path. */
  readonly path: string
  /** Keys and certificates, in the agent's order; identities of types we cannot use are left out. */
  readonly identities: Effect.Effect<ReadonlyArray<AgentIdentity>, AgentFailure>
  /** A signature blob over `data`; for RSA keys, `algorithm` picks the rsa-sha2 flag. */
  sign(blob: Uint8Array, algorithm: string, data: Uint8Array): Effect.Effect<Uint8Array, AgentFailure>
  /** Adds a key with lifetime and confirm constraints (what `AddKeysToAgent` does too). */
  add(key: PrivateKey, options?: Protocol.Constraints & { readonly comment?: string }): Effect.Effect<void, AgentFailure>
  remove(blob: Uint8Array): Effect.Effect<void, AgentFailure>
  readonly removeAll: Effect.Effect<void, AgentFailure>
  lock(passphrase: Redacted.Redacted<string>): Effect.Effect<void, AgentFailure>
  unlock(passphrase: Redacted.Redacted<string>): Effect.Effect<void, AgentFailure>
  /** Extension names the agent supports, from the "query" extension; empty if it has none. */
  readonly extensions: Effect.Effect<ReadonlyArray<string>, AgentFailure>
  /** session-bind@openssh.com: binds this agent connection to a server's host key. */
  sessionBind(hostKeyBlob: Uint8Array, sessionId: Uint8Array, signature: Uint8Array): Effect.Effect<void, AgentFailure>
}

/**
 * @since 0.1.0
 * @category tags
 */
export const Agent: Context.Tag<Agent, Agent> = Context.GenericTag<Agent>("effect-ssh-auth/Agent")

/**
 * @since 0.1.0
 * @category models
 */
export interface AgentOptions {
  readonly path: string
  /** Each request. Default 10 s (a confirm prompt waits for a person). */
  readonly timeout?: Duration.DurationInput
}

const MAX_REPLY = 256 * 1024

/**
 * Connects to the agent at `path`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: AgentOptions): Effect.Effect<Agent, NoAgent, Scope.Scope> =>
  Effect.gen(function*() {
    const { path } = options
    const timeout = Duration.decode(options.timeout ?? "10 seconds")
    const chunks = yield* Mailbox.make<Uint8Array, NoAgent>()
    // A bare unix socket, as the transport's TCP channel is: the library needs no platform layer for it.
    const socket = yield* Effect.acquireRelease(
      Effect.async<net.Socket, NoAgent>((resume) => {
        const s = net.createConnection({ path })
        const failed = (cause: Error) => resume(Effect.fail(new NoAgent({ path, detail: "cannot connect", cause })))
        s.once("error", failed)
        s.once("connect", () => {
          s.off("error", failed)
          resume(Effect.succeed(s))
        })
        return Effect.sync(() => s.destroy())
      }).pipe(
        Effect.timeoutFail({ duration: timeout, onTimeout: () => new NoAgent({ path, detail: `no connection within ${Duration.format(timeout)}` }) })
      ),
      (s) => Effect.sync(() => s.destroy())
    )
    const channel = fromNetSocket(socket, path, 0)
    channel.open({
      data: (bytes) => chunks.unsafeOffer(bytes),
      end: () => chunks.unsafeDone(Exit.void),
      lost: (error) => chunks.unsafeDone(Exit.fail(new NoAgent({ path, detail: "the agent socket failed", cause: error })))
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => channel.close()))
    const write = (bytes: Uint8Array): Effect.Effect<void, Error> =>
      socket.writable ? Effect.sync(() => channel.write(bytes)) : Effect.fail(new Error("the agent socket is closed"))

    let buffered = new Uint8Array(0)
    const readReply = (operation: string): Effect.Effect<Uint8Array, AgentError> =>
      Effect.gen(function*() {
        for (;;) {
          if (buffered.length >= 4) {
            const length = new DataView(buffered.buffer, buffered.byteOffset).getUint32(0)
            if (length === 0 || length > MAX_REPLY) return yield* new AgentError({ reason: "ProtocolError", operation, detail: `reply length ${length}` })
            if (buffered.length >= 4 + length) {
              const reply = buffered.slice(4, 4 + length)
              buffered = buffered.slice(4 + length)
              return reply
            }
          }
          const next = yield* chunks.take.pipe(
            Effect.mapError((e) =>
              new AgentError({ reason: "ConnectionLost", operation, detail: e instanceof NoAgent ? e.message : "the agent closed the connection" })
            )
          )
          const joined = new Uint8Array(buffered.length + next.length)
          joined.set(buffered)
          joined.set(next, buffered.length)
          buffered = joined
        }
      })

    const lock = yield* Effect.makeSemaphore(1)
    const request = (operation: string, message: Uint8Array): Effect.Effect<Uint8Array, AgentError> =>
      lock.withPermits(1)(
        Effect.zipRight(
          Effect.mapError(
            write(Protocol.frame(message)),
            (cause) => new AgentError({ reason: "ConnectionLost", operation, detail: "cannot write to the agent", cause })
          ),
          readReply(operation)
        ).pipe(
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new AgentError({ reason: "Timeout", operation, detail: `no answer within ${Duration.format(timeout)}` })
          })
        )
      )
    const expectSuccess = (operation: string, message: Uint8Array, onFailure: string) =>
      Effect.flatMap(request(operation, message), (reply) =>
        reply[0] === Protocol.AgentMessage.SUCCESS
          ? Effect.void
          : Effect.fail(new AgentError({ reason: "Refused", operation, detail: onFailure })))

    const identities = Effect.flatMap(request("list", Protocol.requestIdentities()), (reply) => {
      if (reply[0] !== Protocol.AgentMessage.IDENTITIES_ANSWER) {
        return Effect.fail(new AgentError({ reason: "ProtocolError", operation: "list", detail: `unexpected reply ${reply[0]}` }))
      }
      return Either.match(Protocol.parseIdentities(reply), {
        onLeft: (e) => Effect.fail(new AgentError({ reason: "ProtocolError", operation: "list", detail: e.message, cause: e })),
        onRight: (list) => Effect.succeed(list.flatMap(toIdentity))
      })
    })

    const agent: Agent = {
      path,
      identities,
      sign: (blob, algorithm, data) =>
        Effect.gen(function*() {
          const flags = algorithm.startsWith("rsa-sha2-512")
            ? Protocol.SignFlags.RSA_SHA2_512
            : algorithm.startsWith("rsa-sha2-256")
            ? Protocol.SignFlags.RSA_SHA2_256
            : 0
          const reply = yield* request("sign", Protocol.signRequest(blob, data, flags))
          if (reply[0] === Protocol.AgentMessage.SIGN_RESPONSE) {
            return yield* Either.mapLeft(
              Protocol.parseSignResponse(reply),
              (e) => new AgentError({ reason: "ProtocolError", operation: "sign", detail: e.message, cause: e })
            )
          }
          // The agent says only "failure": find out which kind, as far as the agent shows it.
          const now = yield* Effect.either(identities)
          if (Either.isRight(now) && now.right.length === 0) {
            return yield* new AgentError({ reason: "Locked", operation: "sign", detail: "the agent is locked (it lists no keys)" })
          }
          if (Either.isRight(now) && !now.right.some((i) => Buffer.compare(i.blob, blob) === 0)) {
            return yield* new AgentError({ reason: "KeyNotFound", operation: "sign", detail: "the agent no longer holds this key" })
          }
          return yield* new AgentError({
            reason: "SignRefused",
            operation: "sign",
            detail: "the agent refused to sign: the confirmation was denied or could not be asked, or the key is restricted to other destinations"
          })
        }),
      add: (key, addOptions = {}) =>
        expectSuccess("add", Protocol.addIdentity((w) => writeBody(w, key), addOptions.comment ?? key.comment, addOptions), "the agent refused the key"),
      remove: (blob) => expectSuccess("remove", Protocol.removeIdentity(blob), "the agent does not hold this key"),
      removeAll: expectSuccess("remove all", Protocol.removeAllIdentities(), "the agent refused"),
      lock: (passphrase) => expectSuccess("lock", Protocol.lock(Redacted.value(passphrase), true), "the agent refused to lock (already locked?)"),
      unlock: (passphrase) => expectSuccess("unlock", Protocol.lock(Redacted.value(passphrase), false), "wrong passphrase, or the agent is not locked"),
      extensions: Effect.map(
        request("query", Protocol.extension("query")),
        (reply) => reply[0] === Protocol.AgentMessage.SUCCESS ? Either.getOrElse(Protocol.parseQuery(reply), () => []) : []
      ),
      sessionBind: (hostKeyBlob, sessionId, signature) =>
        Effect.flatMap(request("session-bind", Protocol.sessionBind(hostKeyBlob, sessionId, signature, false)), (reply) =>
          reply[0] === Protocol.AgentMessage.SUCCESS
            ? Effect.void
            : Effect.fail(
              new AgentError({ reason: "Unsupported", operation: "session-bind", detail: "the agent does not support or refused session-bind@openssh.com" })
            ))
    }
    return agent
  })

/** An agent identity we can use: a key or a certificate of a supported type. */
const toIdentity = (raw: Protocol.Identity): Array<AgentIdentity> => {
  const asKey = PublicKey.fromBlob(raw.blob)
  if (Either.isRight(asKey)) return [{ blob: raw.blob, comment: raw.comment, publicKey: asKey.right }]
  const asCert = Certificate.fromBlob(raw.blob)
  if (Either.isRight(asCert)) return [{ blob: raw.blob, comment: raw.comment, publicKey: asCert.right.key, certificate: asCert.right }]
  return []
}

/**
 * An agent that is not there: every operation fails with the same NoAgent, so that agent
 * sources can skip themselves.
 *
 * @since 0.1.0
 * @category constructors
 */
export const absent = (reason: NoAgent): Agent => {
  const fail = Effect.fail(reason)
  return {
    path: reason.path ?? "",
    identities: fail,
    sign: () => fail,
    add: () => fail,
    remove: () => fail,
    removeAll: fail,
    lock: () => fail,
    unlock: () => fail,
    extensions: fail,
    sessionBind: () => fail
  }
}

/**
 * The agent at `path`, else at `SSH_AUTH_SOCK`. The layer always builds: without an agent,
 * the service is {@link absent} and every operation fails with `NoAgent`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (path?: string, options: Omit<AgentOptions, "path"> = {}): Layer.Layer<Agent> =>
  Layer.scoped(
    Agent,
    Effect.suspend(() => {
      const socket = path ?? process.env.SSH_AUTH_SOCK
      return socket
        ? Effect.catchAll(make({ ...options, path: socket }), (e) => Effect.succeed(absent(e)))
        : Effect.succeed(absent(new NoAgent({ detail: "SSH_AUTH_SOCK is not set" })))
    })
  )
