/**
 * Our server on 127.0.0.1 at a free port, in-process, for real clients to log in to: a user
 * table, the userauth options, an ed25519 host key made now, and `exec` answered by one rule
 * the tests know. It records every attempt, every authenticated result, every command and
 * how each connection ended, so a test judges by the server's own account as well as the
 * client's; `log()` gives it all as sshd's log lines, for assertion messages. Below it, the
 * users those tests share (`alice`, `carol`) and their secrets.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as crypto from "node:crypto"
import { expect } from "vitest"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import type { ServerAuthOptions } from "../../src/handler/ServerAuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as Server from "../../src/server/Server.js"
import { type Authenticated, type ServerAttempt, ServerAuthFailure } from "../../src/server/ServerAuthResult.js"
import { serveExec } from "../../src/server/Session.js"
import * as UserTable from "../../src/server/UserTable.js"
import { authorizedKeys, type KeyFile } from "./ClientKeys.js"

/** What `exec` answers: the command, the user and the methods on stdout; `exit N` exits N, with a line on stderr. */
export const execAnswer = (command: string, result: Authenticated) => {
  const status = /^exit (\d+)$/.exec(command)
  return {
    stdout: `ran ${command} as ${result.user} by ${result.methods.join(",")}\n`,
    ...(status ? { stderr: `exiting ${status[1]}\n` } : {}),
    exitStatus: status ? Number(status[1]) : 0
  }
}

export interface OurServer {
  readonly port: number
  readonly hostKey: PrivateKey.PrivateKey
  /** `ssh-ed25519 AAAA…`: the host key as known_hosts files and the clients' checks write it. */
  readonly hostKeyLine: string
  /** `[127.0.0.1]:port ssh-ed25519 AAAA…`, a known_hosts line. */
  readonly knownHostsLine: string
  readonly attempts: ReadonlyArray<ServerAttempt>
  readonly authenticated: ReadonlyArray<Authenticated>
  readonly commands: ReadonlyArray<string>
  /** How each connection ended, in order: success, or the userauth failure (or other cause). */
  readonly ended: ReadonlyArray<Exit.Exit<void, unknown>>
  /** The typed userauth failures among `ended`. */
  readonly failures: () => ReadonlyArray<ServerAuthFailure>
  /** Waits, at most `millis`, until `count` connections have ended (a client may exit before the server sees it go). */
  readonly awaitEnded: (count: number, millis?: number) => Effect.Effect<ReadonlyArray<Exit.Exit<void, unknown>>>
  /** The server's account so far, as log lines. */
  readonly log: () => string
}

export interface OurServerOptions {
  readonly table?: UserTable.UserTableOptions
  readonly auth?: ServerAuthOptions
  /** Default: a fresh ed25519 key. */
  readonly hostKey?: PrivateKey.PrivateKey
}

const failureOf = (exit: Exit.Exit<void, unknown>): Option.Option<unknown> => Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

/** Starts our server for `users`; the Scope stops it. */
export const start = (users: Readonly<Record<string, UserTable.UserEntry>>, options: OurServerOptions = {}) =>
  Effect.gen(function*() {
    const hostKey = options.hostKey ?? PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
    const attempts: Array<ServerAttempt> = []
    const authenticated: Array<Authenticated> = []
    const commands: Array<string> = []
    const ended: Array<Exit.Exit<void, unknown>> = []
    const listening = yield* Server.listen({
      hostKeys: [hostKey],
      auth: {
        ...options.auth,
        onAttempt: (attempt) => Effect.sync(() => void attempts.push(attempt))
      },
      onAuthenticated: ({ connection, result }) => {
        authenticated.push(result)
        return serveExec(connection, result, ({ command }) =>
          Effect.sync(() => {
            commands.push(command)
            return execAnswer(command, result)
          }), { idleTimeout: "30 seconds" })
      },
      onClosed: (exit) => Effect.sync(() => void ended.push(exit))
    }).pipe(Effect.provide(UserTable.layer(users, options.table)))
    const hostKeyLine = PublicKeyText.format(hostKey.publicKey)
    const failures = () => ended.flatMap((exit) => Option.toArray(failureOf(exit))).filter((e): e is ServerAuthFailure => e instanceof ServerAuthFailure)
    const server: OurServer = {
      port: listening.port,
      hostKey,
      hostKeyLine,
      knownHostsLine: `[127.0.0.1]:${listening.port} ${hostKeyLine}`,
      attempts,
      authenticated,
      commands,
      ended,
      failures,
      awaitEnded: (count, millis = 5_000) =>
        Effect.gen(function*() {
          // Bounded: polls every 10 ms until `millis` have passed.
          for (let waited = 0; ended.length < count && waited < millis; waited += 10) yield* Effect.sleep("10 millis")
          return [...ended]
        }),
      log: () =>
        [
          `--- our server (port ${listening.port}) ---`,
          ...attempts.map((a) => `${String(a)}${a.detail ? ` [${a.detail}]` : ""}`),
          ...ended.map((exit) =>
            Option.match(failureOf(exit), {
              onNone: () => (Exit.isSuccess(exit) ? "connection ended" : `connection died: ${Cause.pretty(exit.cause)}`),
              onSome: (e) => `connection ended: ${e instanceof Error ? e.message : String(e)}`
            })
          )
        ].join("\n")
    }
    return server
  })

// ---- the users and judgements the client interop tests share ----

export const PASSWORD = "correct horse battery"
export const CODE = "123456"

/** Options for a test that runs beside the others of its file: each starts its own server. */
export const concurrent = { concurrent: true, timeout: 30_000 }

/** A user with `keys` in authorized_keys, a password, and one keyboard-interactive round: "Password: " (hidden) and "Code: " (echoed). */
export const alice = (keys: ReadonlyArray<KeyFile>): UserTable.UserEntry => ({
  authorizedKeys: authorizedKeys(...keys.map((k) => k.line)),
  password: Redacted.make(PASSWORD),
  interactive: [
    { prompt: "Password: ", echo: false, answer: Redacted.make(PASSWORD) },
    { prompt: "Code: ", echo: true, answer: Redacted.make(CODE) }
  ]
})

/** A user who must give `key`, then the password: the chain publickey,password and nothing else. */
export const carol = (key: KeyFile): UserTable.UserEntry => ({
  keys: [key.publicKey],
  password: Redacted.make(PASSWORD),
  methods: [["publickey", "password"]]
})

/** The one login the server authenticated, and the key it proved. */
export const provenKey = (server: OurServer, why = server.log()) => {
  expect(server.authenticated, why).toHaveLength(1)
  const credential = server.authenticated[0].credentials.find((c) => c._tag === "PublicKey")
  if (credential?._tag !== "PublicKey") throw new Error(`no key was proven\n${why}`)
  return credential
}
