/**
 * `ssh-auth serve`: an authentication server for one user, in sshd's words (and Kerberos,
 * gssapi-with-mic, with `--keytab`). It prints its
 * host key fingerprints, logs every attempt as sshd does (`Accepted publickey for alice from
 * 127.0.0.1 port 51234 ssh2: ED25519 SHA256:…`), or as JSON lines, and answers every `exec`
 * with one line naming the user and the methods that authenticated them. It is not a shell.
 * SIGINT/SIGTERM stop it: no new connections, and a DISCONNECT to every open one.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import { CurvesImpl } from "../crypto/Curves.js"
import * as OpenSshKeyV1 from "../keys/OpenSshKeyV1.js"
import * as PrivateKey from "../keys/PrivateKey.js"
import * as PublicKey from "../keys/PublicKey.js"
import * as AuthorizedKeys from "../server/AuthorizedKeys.js"
import * as AuthPolicy from "../server/AuthPolicy.js"
import type { MethodName } from "../server/AuthPolicy.js"
import * as Server from "../server/Server.js"
import { ServerAttempt, sshdLogLine } from "../server/ServerAuthResult.js"
import { serveExec } from "../server/Session.js"
import * as UserCertificates from "../server/UserCertificates.js"
import * as UserTable from "../server/UserTable.js"
import { type AlgorithmPreferences, resolvePreferences } from "../transport/Algorithms.js"
import { show } from "../wire/PeerText.js"

/**
 * A `serve` option that cannot be used, named with what was wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class ServeConfigError extends Schema.TaggedError<ServeConfigError>()("ServeConfigError", {
  detail: Schema.String
}) {
  override get message(): string {
    return this.detail
  }
}

const flags = {
  port: Options.integer("port").pipe(
    Options.withAlias("p"),
    Options.withDefault(2222),
    Options.withDescription("port to listen on, on 127.0.0.1 (0 picks a free one)")
  ),
  listen: Options.text("listen").pipe(Options.withDefault("127.0.0.1"), Options.withDescription("address to listen on")),
  user: Options.text("user").pipe(Options.withDescription("the one user this server knows")),
  authorizedKeys: Options.file("authorized-keys").pipe(
    Options.optional,
    Options.withDescription("the user's authorized_keys file (options and cert-authority lines included)")
  ),
  passwordEnv: Options.text("password-env").pipe(
    Options.optional,
    Options.withDescription("the user's password, from this environment variable (password and keyboard-interactive)")
  ),
  hostKeys: Options.file("host-key").pipe(Options.repeated, Options.withDescription("host private key file; without one, an ed25519 key is made in memory")),
  options: Options.text("option").pipe(
    Options.withAlias("o"),
    Options.repeated,
    Options.withDescription(
      "Keyword=value in sshd_config's words: AuthenticationMethods, MaxAuthTries, LoginGraceTime, TrustedUserCAKeys, MaxStartups, KexAlgorithms, Ciphers, MACs, PubkeyAcceptedAlgorithms"
    )
  ),
  keytab: Options.text("keytab").pipe(
    Options.optional,
    Options.withDescription(
      "offer gssapi-with-mic (Kerberos), accepting with the host principal's key from this keytab (KRB5_CONFIG names the realm)"
    )
  ),
  principalMap: Options.choice("principal-map", ["kuserok", "auth-to-local"]).pipe(
    Options.withDefault("kuserok"),
    Options.withDescription(
      "which Kerberos principal may log in as --user: kuserok, as sshd (user@REALM or ~user/.k5login; needs a system account), or auth-to-local (krb5.conf's auth_to_local maps it to the user)"
    )
  ),
  json: Options.boolean("json").pipe(Options.withDescription("one JSON line per attempt instead of sshd's log lines"))
}

interface Settings {
  methods?: ReadonlyArray<ReadonlyArray<MethodName>>
  maxAuthTries?: number
  loginGraceTime?: number
  trustedUserCaKeys?: string
  maxStartups?: number
  algorithms: { -readonly [K in keyof AlgorithmPreferences]?: AlgorithmPreferences[K] }
  acceptedAlgorithms?: ReadonlyArray<string>
}

const methodNames: ReadonlyArray<MethodName> = ["none", "password", "publickey", "keyboard-interactive", "gssapi-with-mic"]

/** UserTable's default chains, with gssapi-with-mic first when a keytab is given (as sshd lists it). */
const defaultMethods = (gssapi: boolean): ReadonlyArray<ReadonlyArray<MethodName>> => [
  ...(gssapi ? [["gssapi-with-mic"] as const] : []),
  ["publickey"],
  ["password"],
  ["keyboard-interactive"]
]

/** sshd_config's words for what `-o` takes; a keyword is matched without regard to case, as sshd does. */
const parseOptions = (pairs: ReadonlyArray<string>): Effect.Effect<Settings, ServeConfigError> =>
  Effect.gen(function*() {
    const settings: Settings = { algorithms: {} }
    const bad = (detail: string) => new ServeConfigError({ detail })
    for (const pair of pairs) {
      const at = pair.indexOf("=")
      if (at <= 0) return yield* bad(`-o ${show(pair, 64)}: expected Keyword=value`)
      const keyword = pair.slice(0, at).trim().toLowerCase()
      const value = pair.slice(at + 1).trim()
      const count = () => {
        const n = Number(value)
        if (!Number.isInteger(n) || n < 0) throw bad(`-o ${pair}: not a whole number`)
        return n
      }
      const list = () => value.split(",").map((s) => s.trim()).filter((s) => s.length > 0)
      try {
        switch (keyword) {
          case "authenticationmethods": {
            const chains = value === "any" ? undefined : value.split(/\s+/).map((chain) => chain.split(","))
            for (const m of (chains ?? []).flat()) if (!methodNames.includes(m as MethodName)) throw bad(`-o ${pair}: unknown method ${show(m, 64)}`)
            if (chains) settings.methods = chains as Array<Array<MethodName>>
            break
          }
          case "maxauthtries":
            settings.maxAuthTries = count()
            break
          case "logingracetime":
            settings.loginGraceTime = count()
            break
          case "maxstartups": {
            // sshd's start:rate:full; the cap here is its first number.
            const n = Number(value.split(":")[0])
            if (!Number.isInteger(n) || n < 1) throw bad(`-o ${pair}: expected a whole number of connections`)
            settings.maxStartups = n
            break
          }
          case "trustedusercakeys":
            settings.trustedUserCaKeys = value
            break
          case "kexalgorithms":
            settings.algorithms.kex = list()
            break
          case "ciphers":
            settings.algorithms.cipher = list()
            break
          case "macs":
            settings.algorithms.mac = list()
            break
          case "pubkeyacceptedalgorithms":
          case "pubkeyacceptedkeytypes":
            settings.acceptedAlgorithms = list()
            break
          default:
            throw bad(`-o ${show(pair, 64)}: serve does not take ${show(pair.slice(0, at), 64)}`)
        }
      } catch (e) {
        if (e instanceof ServeConfigError) return yield* e
        throw e
      }
    }
    return settings
  })

const readText = (path: string) =>
  Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(path)).pipe(
    Effect.mapError((e) => new ServeConfigError({ detail: `${path}: ${e.message}` }))
  )

/** The host keys: read, or one ed25519 key made now (printed, so a client can pin it). */
const hostKeysFrom = (paths: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    if (paths.length === 0) return [PrivateKey.fromEd25519Seed(yield* CurvesImpl, crypto.randomBytes(32), "generated at start")]
    return yield* Effect.forEach(paths, (path) =>
      Effect.flatMap(readText(path), (text) =>
        Effect.mapError(OpenSshKeyV1.read(text, { source: path }), (e) =>
          new ServeConfigError({ detail: `${path}: ${e.message}` }))))
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const serve = Command.make("serve", flags, (f) =>
  Effect.gen(function*() {
    const settings = yield* parseOptions(f.options)
    const { preferences, unsupported } = resolvePreferences(settings.algorithms)
    if (unsupported.length > 0) return yield* new ServeConfigError({ detail: `unsupported algorithms: ${unsupported.join(", ")}` })
    const hostKeys = yield* hostKeysFrom(f.hostKeys)
    const authorized = Option.isSome(f.authorizedKeys) ? AuthorizedKeys.parse(yield* readText(f.authorizedKeys.value)) : undefined
    for (const e of authorized?.errors ?? []) yield* Console.error(`${Option.getOrElse(f.authorizedKeys, () => "")}:${e.line}: ${e.detail}`)
    const cas = settings.trustedUserCaKeys === undefined ? undefined : UserCertificates.parseTrustedCaKeys(yield* readText(settings.trustedUserCaKeys))
    let password: Redacted.Redacted<string> | undefined
    if (Option.isSome(f.passwordEnv)) {
      const value = process.env[f.passwordEnv.value]
      if (value === undefined) return yield* new ServeConfigError({ detail: `--password-env ${f.passwordEnv.value}: the variable is not set` })
      password = Redacted.make(value)
    }
    const keytab = Option.getOrUndefined(f.keytab)
    if (keytab === undefined && (settings.methods ?? []).some((chain) => chain.includes("gssapi-with-mic"))) {
      return yield* new ServeConfigError({ detail: "AuthenticationMethods names gssapi-with-mic, which needs --keytab" })
    }
    const byPrincipal = f.principalMap === "auth-to-local" ? AuthPolicy.gssapiAuthToLocal : AuthPolicy.gssapiKuserok
    const policy = UserTable.layer(
      {
        [f.user]: {
          ...(password ? { password, interactive: [{ prompt: "Password: ", echo: false, answer: password }] } : {}),
          ...(authorized ? { authorizedKeys: authorized.keys } : {})
        }
      },
      {
        methods: settings.methods ?? defaultMethods(keytab !== undefined),
        ...(cas ? { trustedUserCaKeys: cas.keys.map((k) => k.key) } : {}),
        // The one user this server knows, and only by the principals the map gives it.
        gssapiPrincipal: (offer) => offer.user === f.user ? byPrincipal(offer) : Effect.succeed(Option.none())
      }
    )
    const log = (line: string) => Console.log(line)
    const listening = yield* Server.listen({
      host: f.listen,
      port: f.port,
      hostKeys,
      algorithms: preferences,
      ...(settings.maxStartups !== undefined ? { maxStartups: settings.maxStartups } : {}),
      auth: {
        ...(settings.maxAuthTries !== undefined ? { maxAuthTries: settings.maxAuthTries } : {}),
        // sshd's 0 is "no limit": here, the longest a Node timer waits (24 days).
        ...(settings.loginGraceTime !== undefined ? { loginGraceTime: settings.loginGraceTime > 0 ? `${settings.loginGraceTime} seconds` : "24 days" } : {}),
        ...(settings.acceptedAlgorithms ? { acceptedAlgorithms: settings.acceptedAlgorithms } : {}),
        ...(keytab !== undefined ? { gssapi: { keytab } } : {}),
        onAttempt: (attempt) => {
          const line = f.json ? JSON.stringify(Schema.encodeSync(ServerAttempt)(attempt)) : sshdLogLine(attempt)
          return line === undefined ? Effect.void : log(line)
        }
      },
      onAuthenticated: ({ connection, result }) =>
        serveExec(connection, result, () => Effect.succeed({ stdout: `authenticated ${result.user} by ${result.methods.join(",")}\n`, exitStatus: 0 })),
      onClosed: (exit, client) =>
        exit._tag === "Failure" && !f.json
          ? log(`Connection closed by ${client.address} port ${client.port}: ${closing(exit)}`)
          : Effect.void
    }).pipe(Effect.provide(policy))
    for (const key of hostKeys) yield* log(`${PublicKey.typeLabel(key.publicKey)} ${PublicKey.fingerprintSha256(key.publicKey)} (host key)`)
    yield* log(`Server listening on ${listening.host} port ${listening.port}.`)
    return yield* Effect.never
  }).pipe(Effect.scoped)).pipe(Command.withDescription("serve SSH authentication for one user, as a small sshd (no shell: exec answers who authenticated)"))

/** Why a connection ended, in one line: the typed failure's message. */
const closing = (exit: Exit.Exit<unknown, unknown>): string =>
  Option.match(Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none(), {
    onNone: () => "ended",
    onSome: (e) => (e instanceof Error ? show(e.message, 200) : "ended")
  })
