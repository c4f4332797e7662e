/**
 * An SSH server on a TCP port: each connection is handshaken, authenticated against the
 * `AuthPolicy` in context, then handed to the application's Effect with the result, in a
 * scope of its own. The listener lives as long as its scope; closing it stops accepting and
 * ends every open connection with a DISCONNECT.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { CurvesImpl } from "../crypto/Curves.js"
import { type ServerAuthOptions, settingsOf, verifiedAlgorithms } from "../handler/ServerAuthHandler.js"
import type { PrivateKey } from "../keys/PrivateKey.js"
import { type AlgorithmPreferences, defaultPreferences } from "../transport/Algorithms.js"
import { fromNetSocket } from "../transport/ByteChannel.js"
import type { Detached } from "../transport/CoreDriver.js"
import * as HandshakeSpans from "../transport/HandshakeSpans.js"
import type { ServerConnection } from "../transport/ServerHandshake.js"
import { AuthPolicy } from "./AuthPolicy.js"
import type { Authenticated } from "./ServerAuthResult.js"
import { type LoginEnvironment, ServerLogin } from "./ServerLogin.js"
import { ServedSession } from "./Session.js"

/**
 * An authenticated connection, as the application gets it.
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthenticatedConnection {
  readonly result: Authenticated
  readonly connection: ServerConnection
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** 0 (the default) picks a free port. */
  readonly port?: number
  readonly hostKeys: ReadonlyArray<PrivateKey>
  readonly algorithms?: AlgorithmPreferences
  /** The userauth limits; LoginGraceTime counts from the connection, the key exchange included. */
  readonly auth?: ServerAuthOptions
  /** Each handshake step. Default 10 s. */
  readonly handshakeTimeout?: Duration.DurationInput
  /** sshd's MaxStartups: connections not yet authenticated beyond this are closed at once. Default 10. */
  readonly maxStartups?: number
  readonly identification?: string
  /**
   * What runs for an authenticated connection; the connection closes when it ends. A
   * `serveExec` session returned as it is runs in the connection's callbacks, with no fiber.
   */
  readonly onAuthenticated: (connection: AuthenticatedConnection) => Effect.Effect<void, unknown, Scope.Scope>
  /** Sees how each connection ended, for the log: authenticated and done, or why not. */
  readonly onClosed?: (outcome: Exit.Exit<void, unknown>, client: { readonly address: string; readonly port: number }) => Effect.Effect<void>
}

/**
 * @since 0.1.0
 * @category errors
 */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  port: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.host} port ${this.port}: ${this.detail}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Listening {
  readonly host: string
  readonly port: number
  /** Connections open now, authenticated or not. */
  readonly connections: () => number
}

/** Made once: each connection's core keeps its extensions, and a `Buffer.from` slice would pin 8 KiB of Buffer's pool. */
const hostBoundExtension: ReadonlyArray<readonly [string, Uint8Array]> = [["publickey-hostbound@openssh.com", new TextEncoder().encode("0")]]

/**
 * Listens until the scope closes.
 *
 * @example
 * ```ts
 * import { Effect, Redacted } from "effect"
 * import * as crypto from "node:crypto"
 * import { nodeCurves } from "effect-ssh-auth/crypto/NodeCurves"
 * import * as PrivateKey from "effect-ssh-auth/keys/PrivateKey"
 * import * as Server from "effect-ssh-auth/server/Server"
 * import { serveExec } from "effect-ssh-auth/server/Session"
 * import * as UserTable from "effect-ssh-auth/server/UserTable"
 *
 * const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
 * const policy = UserTable.layer({ alice: { password: Redacted.make("correct horse battery") } })
 *
 * const server = Server.listen({
 *   port: 0, // a free port, on 127.0.0.1
 *   hostKeys: [hostKey],
 *   auth: { maxAuthTries: 6, loginGraceTime: "2 minutes" },
 *   // After authentication: a session channel whose exec answers who logged in, and how.
 *   onAuthenticated: ({ connection, result }) =>
 *     serveExec(connection, result, ({ command }) =>
 *       Effect.succeed({ stdout: `${result.user} ran ${command} by ${result.methods.join(",")}\n`, exitStatus: 0 }))
 * })
 *
 * // Listens until the scope closes: here, as soon as the port is known.
 * Effect.runPromise(Effect.scoped(server).pipe(Effect.provide(policy))).then((listening) => {
 *   assert.ok(listening.port > 0)
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen = (options: ServerOptions): Effect.Effect<Listening, ListenError, Scope.Scope | AuthPolicy> =>
  Effect.gen(function*() {
    const host = options.host ?? "127.0.0.1"
    const maxStartups = options.maxStartups ?? 10
    const runtime = yield* Effect.runtime<AuthPolicy>()
    const runFork = Runtime.runFork(runtime)
    // The applications' fiber refs: a failure is `onClosed`'s to report, not a log line's.
    const sessionFiberRefs = (yield* Effect.runtime<never>().pipe(Effect.withUnhandledErrorLogLevel(Option.none()))).fiberRefs
    const clock = yield* Effect.clock
    const environment: LoginEnvironment = {
      runtime,
      clock,
      curves: yield* CurvesImpl,
      policy: yield* AuthPolicy,
      tracing: yield* HandshakeSpans.environment,
      handshake: {
        hostKeys: options.hostKeys,
        preferences: options.algorithms ?? defaultPreferences,
        serverIdentification: options.identification ?? "SSH-2.0-effect_ssh_auth_0.1.0",
        handshakeTimeout: Duration.decode(options.handshakeTimeout ?? "10 seconds"),
        // LoginGraceTime bounds the wait during userauth; the session sets its own after.
        receiveTimeout: Duration.days(1),
        rekeyBytes: 2 ** 30,
        rekeyPackets: 2 ** 28,
        serverSigAlgs: options.auth?.acceptedAlgorithms ?? verifiedAlgorithms,
        extensions: hostBoundExtension
      },
      // sshd's LoginGraceTime runs from the connection, the key exchange included: a client
      // that drips its handshake is cut at the same time as one idle in userauth.
      settings: settingsOf(options.auth ?? {})
    }
    /** Connections not authenticated yet: each a login in callbacks, no fiber. */
    const logins = new Set<ServerLogin>()
    /** The application's fibers, one per authenticated connection. */
    const sessions = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
    /** `serveExec`'s sessions returned as they are: conversations with no fiber. */
    const detached = new Set<Detached>()
    // Their calls (`exec`) and ends, on the sessions' fiber refs; no Scope: a session has no finalizers.
    const detachedRuntime = Runtime.make({ context: runtime.context, runtimeFlags: runtime.runtimeFlags, fiberRefs: sessionFiberRefs })
    const runDetached = Runtime.runFork(detachedRuntime)
    /** `onClosed` calls for logins that ended before authentication. */
    const reports = new Set<Fiber.RuntimeFiber<void, never>>()
    /** Each ended application's finalizers, its connection's close, and `onClosed`. */
    const closes = new Set<Fiber.RuntimeFiber<void, never>>()
    const track = <A>(fibers: Set<Fiber.RuntimeFiber<A, never>>, fiber: Fiber.RuntimeFiber<A, never>) => {
      fibers.add(fiber)
      fiber.addObserver(() => fibers.delete(fiber))
    }

    const server = net.createServer({ noDelay: true }, (socket) => {
      socket.on("error", () => {})
      if (logins.size >= maxStartups) {
        // sshd drops what exceeds MaxStartups before a byte is exchanged.
        socket.destroy()
        return
      }
      const client = { address: socket.remoteAddress ?? host, port: socket.remotePort ?? 0 }
      const closed = (exit: Exit.Exit<void, unknown>) => options.onClosed ? options.onClosed(exit, client) : Effect.void
      // The handlers may run before the constructor returns (a socket already gone).
      let over = false
      let login: ServerLogin | undefined = undefined
      const done = () => {
        over = true
        if (login !== undefined) logins.delete(login)
      }
      login = new ServerLogin(fromNetSocket(socket, client.address, client.port), environment, {
        authenticated: (result, connection, close) => {
          done()
          let application: Effect.Effect<void, unknown, Scope.Scope>
          try {
            application = options.onAuthenticated({ result, connection })
          } catch (defect) {
            application = Effect.die(defect)
          }
          if (application instanceof ServedSession && application.connection === connection) {
            // serveExec's session, as it is: run in the connection's callbacks, no fiber waits on it.
            let running = true
            const served = connection.detach(application.conversation, detachedRuntime, (exit) => {
              running = false
              detached.delete(served)
              close()
              if (options.onClosed) track(closes, runDetached(options.onClosed(exit, client)))
            })
            // Not for a session that ended in its first turn.
            if (running) detached.add(served)
            return
          }
          // Whatever wraps the application stays on the stack of every idle connection's
          // fiber, so nothing does: its scope is in the fiber's context from its start, and its
          // end is seen by an observer (11 frames with `ensuring` and `scoped`, 4 with a mask
          // around it, 1 with `exit`).
          const scope = Effect.runSync(Scope.make())
          const session = Runtime.make({
            context: Context.add(runtime.context, Scope.Scope, scope),
            runtimeFlags: runtime.runtimeFlags,
            fiberRefs: sessionFiberRefs
          })
          const fiber = Runtime.runFork(session)(application)
          sessions.add(fiber)
          // Observers run as the fiber ends, before any fiber awaiting it resumes: a shutdown
          // that awaited the application finds its close in `closes`. One observer, not
          // `track`'s and this one: an idle connection's fiber keeps each.
          fiber.addObserver((exit) => {
            sessions.delete(fiber)
            track(
              closes,
              // The connection closes after the application's own finalizers, which may still use it.
              Runtime.runFork(session)(Scope.close(scope, exit).pipe(Effect.zipRight(Effect.sync(close)), Effect.zipRight(closed(Exit.asVoid(exit)))))
            )
          })
        },
        ended: (cause) => {
          done()
          if (options.onClosed) track(reports, runFork(closed(Exit.failCause(cause))))
        }
      })
      if (!over) logins.add(login)
    })

    yield* Effect.acquireRelease(
      Effect.async<void, ListenError>((resume) => {
        const onError = (e: Error) => resume(Effect.fail(new ListenError({ host, port: options.port ?? 0, detail: e.message })))
        server.once("error", onError)
        server.listen(options.port ?? 0, host, () => {
          server.off("error", onError)
          resume(Effect.void)
        })
      }),
      () =>
        Effect.gen(function*() {
          server.close()
          // Each connection ends with a DISCONNECT, then its socket: logins at once, sessions as their scopes close.
          for (const login of [...logins]) login.interrupt()
          for (const fiber of sessions) fiber.unsafeInterruptAsFork(fiber.id())
          for (const session of [...detached]) session.interrupt()
          yield* Effect.forEach([...sessions, ...reports], (f) => f.await, { discard: true })
          // Every application has ended by now, and each one's close was forked as it did.
          yield* Effect.forEach([...closes], (f) => f.await, { discard: true })
        })
    )
    const bound = server.address() as net.AddressInfo
    return { host, port: bound.port, connections: () => logins.size + sessions.size + detached.size + closes.size } satisfies Listening
  })
