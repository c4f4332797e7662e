/**
 * The strategy OpenSSH users expect, from a resolved ssh_config (Fabric's
 * `OpenSSHAuthStrategy`, done properly): methods in `PreferredAuthentications` order; public
 * keys deduplicated and in ssh's order (certificates, agent keys the config names, identity
 * files) except that the agent's other keys (none under `IdentitiesOnly`) come last, where
 * ssh puts them before the files; files offered before they are decrypted; a budget under sshd's `MaxAuthTries` that keeps the last tries for password or
 * keyboard-interactive; prompts only where allowed (never in `BatchMode`).
 *
 * The plan is data: `plan` gives every step, where it came from and why one is left out,
 * without connecting; `make` is the plan as a `Stream` of sources.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { absent, Agent, type AgentIdentity, layer as agentAt, NoAgent } from "./agent/Agent.js"
import type { AuthenticateOptions } from "./AuthStrategy.js"
import * as Defaults from "./config/ConfigDefaults.js"
import type { HostConfig } from "./config/HostConfig.js"
import * as Gssapi from "./gssapi/Gssapi.js"
import type { PublicKeyOptions } from "./handler/AuthHandler.js"
import * as Certificate from "./keys/Certificate.js"
import * as KeyFile from "./keys/KeyFile.js"
import * as PublicKey from "./keys/PublicKey.js"
import { AgentKey, AgentUnavailable } from "./sources/AgentKey.js"
import { type AuthSource, CredentialError, skip, withAuthenticate } from "./sources/AuthSource.js"
import { GssapiWithMic } from "./sources/GssapiWithMic.js"
import { BrokenIdentityFile, IdentityFileKey, LazyKey } from "./sources/IdentityFile.js"
import { KeyboardInteractive } from "./sources/KeyboardInteractive.js"
import { Password } from "./sources/Password.js"
import * as Prompts from "./sources/Prompter.js"
import type { Prompter } from "./sources/Prompter.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface OpenSshStrategyOptions {
  /** The resolved config; `-i` files are part of it (`ResolveOptions.identityFiles`). */
  readonly config: HostConfig
  /** Who to ask for passwords and passphrases; none (or BatchMode) means no prompts. */
  readonly prompter?: Prompter
  /** sshd's MaxAuthTries: at most this many attempts. Default 6. */
  readonly maxAuthTries?: number
}

/**
 * One step of the plan.
 *
 * @since 0.1.0
 * @category models
 */
export interface PlanStep {
  readonly method: "gssapi-with-mic" | "publickey" | "keyboard-interactive" | "password"
  /** What it is: "agent key", "agent certificate", "identity file", "certificate", "password"… */
  readonly kind: string
  /** Where it was named, every place. */
  readonly origins: ReadonlyArray<string>
  readonly keyType?: string
  readonly fingerprint?: string
  readonly path?: string
  /** Signature algorithms this key would use, when known. */
  readonly algorithms?: ReadonlyArray<string>
  /** Why this step is left out, when it is. */
  readonly skipped?: string
  /** What the step will find, when it is known before it runs (a Kerberos ticket, or why there is none). */
  readonly note?: string
  /** The source that runs it. */
  readonly source: AuthSource<FileSystem.FileSystem>
}

interface KeyCandidate {
  readonly blob: Uint8Array
  readonly kind: string
  readonly origins: Array<string>
  readonly publicKey: PublicKey.PublicKey
  readonly make: () => AuthSource<FileSystem.FileSystem>
  readonly path?: string
  readonly named: boolean
}

/** A file we may not even look at is kept: reading it then says why, instead of dropping it unseen. */
const exists = (path: string) => Effect.flatMap(FileSystem.FileSystem, (fs) => fs.exists(path)).pipe(Effect.orElseSucceed(() => true))
const sameBlob = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** The signature algorithms a key may use under PubkeyAcceptedAlgorithms. */
const acceptedFor = (key: PublicKey.PublicKey, certificate: boolean, accepted: ReadonlyArray<string>) =>
  PublicKey.algorithmsFor(key).filter((a) => accepted.includes(certificate ? Certificate.certificateAlgorithmFor(a) : a))

/**
 * The plan: every step in order, with origins, fingerprints and reasons for what is left out.
 *
 * @since 0.1.0
 * @category planning
 */
export const plan = (options: OpenSshStrategyOptions): Effect.Effect<ReadonlyArray<PlanStep>, never, Agent | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const { config } = options
    const user = config.user
    const batch = config.batchMode
    // BatchMode forbids asking a person; secrets given beforehand (--password-env) still answer.
    const prompter = batch && options.prompter?.interactive !== false ? undefined : options.prompter
    const accepted = config.pubkeyAcceptedAlgorithms
    // SHA-1 RSA signatures only where PubkeyAcceptedAlgorithms names them, as ssh decides.
    const keyOptions: PublicKeyOptions = {
      acceptedAlgorithms: accepted,
      allowSshRsaSha1: accepted.some((a) => a === "ssh-rsa" || a === "ssh-rsa-cert-v01@openssh.com")
    }
    const budget = options.maxAuthTries ?? 6

    // Identity files: -i first, then IdentityFile, or ssh's defaults (when they exist) if neither names one.
    const named = config.identityFiles.filter((f) => f.origin !== "default")
    const defaults = config.identityFiles.filter((f) => f.origin === "default").map((f) => f.path)
    const files: ReadonlyArray<{ readonly path: string; readonly origin: string }> = [
      ...named,
      ...(yield* Effect.filter(defaults, exists)).map((path) => ({ path, origin: "default identity file" }))
    ]

    // A file that cannot be read stays in its place in the plan, as an error for that step.
    const brokenAt = new Map<number, Array<PlanStep>>()
    const fileKeys: Array<{ readonly path: string; readonly origin: string; readonly key: LazyKey }> = []
    for (const { origin, path } of files) {
      const read = yield* Effect.either(KeyFile.readPublic(path))
      if (Either.isLeft(read)) {
        // A missing file is skipped, as ssh skips it; any other failure is that step's error.
        const missing = read.left._tag === "KeyFileError" && read.left.reason === "NotFound" && read.left.path === path
        const step: PlanStep = {
          method: "publickey",
          kind: "identity file",
          origins: [`${origin} ${path}`],
          path,
          ...(missing ? { skipped: `no such identity file: ${path}` } : {}),
          source: new BrokenIdentityFile({ username: user, path, error: read.left })
        }
        brokenAt.set(fileKeys.length, [...(brokenAt.get(fileKeys.length) ?? []), step])
        continue
      }
      fileKeys.push({ path, origin, key: new LazyKey({ path, publicKey: read.right.publicKey, prompter, attempts: config.numberOfPasswordPrompts }) })
    }

    // The agent's identities (an absent agent, for IdentityAgent none, lists nothing).
    const agentCandidates: Array<KeyCandidate> = []
    const agentSteps: Array<PlanStep> = []
    const agent = yield* Agent
    let agentIdentities: ReadonlyArray<AgentIdentity> = []
    {
      const listed = yield* Effect.either(agent.identities)
      if (Either.isLeft(listed)) {
        const reason = listed.left
        agentSteps.push({
          method: "publickey",
          kind: "agent",
          origins: ["agent"],
          ...(reason._tag === "NoAgent" ? { skipped: reason.message } : {}),
          source: new AgentUnavailable({ username: user, reason })
        })
      } else {
        agentIdentities = listed.right
        const ordered: ReadonlyArray<AgentIdentity> = [...listed.right.filter((i) => i.certificate), ...listed.right.filter((i) => !i.certificate)]
        for (const identity of ordered) {
          const named = fileKeys.some((f) => PublicKey.equals(f.key.publicKey, identity.publicKey))
          agentCandidates.push({
            blob: identity.blob,
            kind: identity.certificate ? "agent certificate" : "agent key",
            origins: [`agent${identity.comment ? ` (${identity.comment})` : ""}`],
            publicKey: identity.publicKey,
            named,
            make: () => new AgentKey({ ...keyOptions, username: user, agent, identity })
          })
        }
      }
    }

    // Certificates: CertificateFile entries and -cert.pub files beside the identity files.
    const certificates: Array<KeyCandidate> = []
    const certFiles = [
      ...config.certificateFiles.map((path) => ({ path, origin: "CertificateFile" })),
      ...fileKeys.map((f) => ({ path: `${f.path}-cert.pub`, origin: "beside" }))
    ]
    for (const { origin, path } of certFiles) {
      const read = yield* Effect.either(KeyFile.readTextIfPresent(path))
      if (Either.isLeft(read)) {
        // There, and not ours to read: shown as a step that fails, not passed over.
        const step: PlanStep = {
          method: "publickey",
          kind: "certificate",
          origins: [`${origin} ${path}`],
          path,
          source: new BrokenIdentityFile({ username: user, path, error: read.left })
        }
        brokenAt.set(fileKeys.length, [...(brokenAt.get(fileKeys.length) ?? []), step])
        continue
      }
      const text = read.right
      if (text === undefined) continue
      const cert = Certificate.fromLine(text.trim())
      if (Either.isLeft(cert)) continue
      const certificate = cert.right
      const owner = fileKeys.find((f) => PublicKey.equals(f.key.publicKey, certificate.key))
      if (!owner) {
        // The key may be in the agent only: the agent signs, the certificate is offered.
        const held = agentIdentities.find((i) => !i.certificate && PublicKey.equals(i.publicKey, certificate.key))
        if (held) {
          certificates.push({
            blob: certificate.blob,
            kind: "certificate",
            origins: [`CertificateFile ${path} (key in the agent)`],
            publicKey: certificate.key,
            named: true,
            make: () => new AgentKey({ ...keyOptions, username: user, agent, identity: { ...held, certificate } })
          })
        }
        continue
      }
      certificates.push({
        blob: certificate.blob,
        kind: "certificate",
        origins: [`${origin === "beside" ? "certificate beside" : "CertificateFile"} ${path}`],
        publicKey: certificate.key,
        path: owner.path,
        named: true,
        make: () => new IdentityFileKey({ ...keyOptions, username: user, key: owner.key, origins: [`certificate ${path}`], certificate })
      })
    }

    const fileCandidates: Array<KeyCandidate> = fileKeys.map((f) => ({
      blob: f.key.publicKey.blob,
      kind: "identity file",
      origins: [`${f.origin} ${f.path}`],
      publicKey: f.key.publicKey,
      path: f.path,
      named: true,
      make: () => new IdentityFileKey({ ...keyOptions, username: user, key: f.key, origins: [`${f.origin} ${f.path}`] })
    }))

    // ssh's order, deduplicated by blob: the first place wins and collects the others' origins.
    const identitiesOnly = config.identitiesOnly
    const ordered: Array<(KeyCandidate & { readonly skipped?: string }) | { readonly broken: PlanStep }> = []
    const add = (c: KeyCandidate, skipped?: string) => {
      const seen = ordered.find((o): o is KeyCandidate => "blob" in o && sameBlob(o.blob, c.blob))
      if (seen) seen.origins.push(...c.origins)
      else ordered.push(skipped ? { ...c, skipped } : c)
    }
    // Past ssh: the keys the config names (and so most likely the right one) all go before
    // the agent's other keys, so that an agent full of keys cannot use up MaxAuthTries first.
    certificates.forEach((c) => add(c))
    agentCandidates.filter((c) => c.named).forEach((c) => add(c))
    fileCandidates.forEach((c, i) => {
      for (const broken of brokenAt.get(i) ?? []) ordered.push({ broken })
      add(c)
    })
    for (const broken of brokenAt.get(fileCandidates.length) ?? []) ordered.push({ broken })
    agentCandidates.filter((c) => !c.named).forEach((c) => add(c, identitiesOnly ? "IdentitiesOnly: the config does not name this agent key" : undefined))

    const methods = config.preferredAuthentications ?? Defaults.preferredAuthentications
    const canPrompt = prompter !== undefined
    const noPrompts = batch ? "BatchMode: no prompts" : "no terminal to prompt on"
    // Steps that prompt are planned as skipped without a prompter, so this never runs then.
    const ask = (prompt: Prompts.Prompt) =>
      prompter ? prompter.ask(prompt) : Effect.fail(new CredentialError({ source: Prompts.label(prompt), detail: noPrompts }))
    const host = config.hostname
    const passwordOn = config.methodEnabled("password")
    const kbdOn = config.methodEnabled("keyboard-interactive")
    // The last tries go to password or keyboard-interactive, when they may run at all.
    const reserved = canPrompt && ((passwordOn && methods.includes("password")) || (kbdOn && methods.includes("keyboard-interactive"))) ? 1 : 0
    let keyBudget = Math.max(1, budget - reserved)

    const steps: Array<PlanStep> = []
    for (const method of methods) {
      if (method === "gssapi-with-mic") {
        const step = yield* gssapiStep(config)
        // A failed gssapi-with-mic costs one of sshd's MaxAuthTries.
        if (step.skipped === undefined && methods.indexOf("publickey") > methods.indexOf(method)) keyBudget = Math.max(1, keyBudget - 1)
        steps.push(step)
      } else if (method === "publickey") {
        if (!config.methodEnabled("publickey")) continue
        steps.push(...agentSteps)
        for (const c of ordered) {
          if ("broken" in c) {
            steps.push(c.broken)
            continue
          }
          const algorithms = acceptedFor(c.publicKey, c.kind.includes("certificate"), accepted)
          const skipped = c.skipped ??
            (algorithms.length === 0
              ? `PubkeyAcceptedAlgorithms allows no signature algorithm for ${c.publicKey.type}`
              : keyBudget <= 0
              ? `over the MaxAuthTries budget of ${budget}`
              : undefined)
          if (skipped === undefined) keyBudget--
          steps.push({
            method: "publickey",
            kind: c.kind,
            origins: c.origins,
            keyType: c.publicKey.type,
            fingerprint: PublicKey.fingerprintSha256(c.publicKey),
            ...(c.path ? { path: c.path } : {}),
            algorithms,
            ...(skipped ? { skipped } : {}),
            source: c.make()
          })
        }
      } else if (method === "keyboard-interactive" && kbdOn) {
        // Each prompt is asked with its own echo flag; a round with no prompts gets no answers.
        const source = new KeyboardInteractive({
          username: user,
          responder: (request) =>
            Effect.forEach(request.prompts, (p, index) =>
              ask(Prompts.interactive({ user, host, name: request.name, instruction: request.instruction, prompt: p.prompt, echo: p.echo, index })))
        })
        steps.push({ method, kind: "keyboard-interactive", origins: ["KbdInteractiveAuthentication"], source, ...(canPrompt ? {} : { skipped: noPrompts }) })
      } else if (method === "password" && passwordOn) {
        const tries = config.numberOfPasswordPrompts
        for (let i = 0; i < Math.max(1, tries); i++) {
          // ssh asks for keyboard-interactive only where the config enables it: its own step.
          const source = new Password({
            username: user,
            password: ask(Prompts.password(user, host)),
            changePassword: (serverPrompt) =>
              ask(Prompts.passwordChange(user, host, serverPrompt)),
            keyboardInteractiveFallback: false
          })
          steps.push({ method, kind: "password", origins: ["PasswordAuthentication"], source, ...(canPrompt ? {} : { skipped: noPrompts }) })
        }
      }
    }
    return steps
  })

/** Seconds as ssh's klist would say them: `9h59m`, `42s`. */
const lifetimeText = (seconds: number) => {
  const h = Math.floor(seconds / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m${seconds % 60}s` : `${seconds}s`
}

/**
 * The gssapi-with-mic step: left out when the config has it off, no GSS-API can be loaded, or
 * there is no ticket to use (as ssh passes over the method then, without a word); otherwise
 * the note says whose ticket it will use and for how long.
 */
const gssapiStep = (config: HostConfig): Effect.Effect<PlanStep> =>
  Effect.gen(function*() {
    const source = new GssapiWithMic({
      username: config.user,
      host: config.hostname,
      delegate: config.gssapiDelegateCredentials,
      ...(config.gssapiServerIdentity !== undefined ? { serverIdentity: config.gssapiServerIdentity } : {})
    })
    const step = {
      method: "gssapi-with-mic",
      kind: `Kerberos ticket for ${source.target}${source.delegate ? ", delegated" : ""}`,
      origins: ["GSSAPIAuthentication"],
      source
    } as const
    if (!config.gssapiAuthentication) return { ...step, skipped: "GSSAPIAuthentication is off" }
    const gss = yield* Effect.either(Gssapi.current)
    if (Either.isLeft(gss)) return { ...step, skipped: gss.left.message }
    const ticket = yield* Effect.either(gss.right.credentials({}))
    if (Either.isLeft(ticket)) return { ...step, skipped: `no usable Kerberos ticket: ${ticket.left.message}` }
    const { lifetime, principal } = ticket.right
    if (lifetime === 0) return { ...step, skipped: `the Kerberos ticket of ${principal} has expired` }
    return { ...step, note: `ticket of ${principal}, valid ${lifetimeText(lifetime)}` }
  })

/**
 * The agent the config names (`IdentityAgent`, else `SSH_AUTH_SOCK`); without one, an
 * absent agent whose sources are recorded as skipped, saying why.
 *
 * @since 0.1.0
 * @category layers
 */
export const agentLayer = (config: HostConfig): Layer.Layer<Agent> =>
  config.identityAgent._tag === "Socket"
    ? agentAt(config.identityAgent.path)
    : Layer.succeed(Agent, absent(new NoAgent({ detail: config.identityAgent.detail })))

/**
 * How ssh runs the strategy: "none" first. The server's answer names the methods it allows,
 * so a source whose method it does not allow is skipped, never tried (dropbear delays every
 * failed attempt; sshd counts each one against MaxAuthTries).
 *
 * @since 0.1.0
 * @category constants
 */
export const authenticateOptions: AuthenticateOptions = { noneFirst: true }

/**
 * The plan as a strategy. Left-out steps are recorded as skipped, with why.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: OpenSshStrategyOptions): Stream.Stream<AuthSource<FileSystem.FileSystem>, never, Agent | FileSystem.FileSystem> =>
  Stream.unwrap(Effect.map(plan(options), (steps) => {
    // A partial success brings a new method list: then the plan runs again from the top, as
    // ssh restarts its method list, for what has not been offered yet. Bounded rounds.
    type Source = AuthSource<FileSystem.FileSystem>
    const offered = new Set<Source>()
    let partial = false
    const watched = (source: Source): Source =>
      withAuthenticate(
        source,
        source.authenticate.pipe(
          Effect.tap((outcome) =>
            Effect.sync(() => {
              if (outcome._tag === "Failure" && outcome.partialSuccess) partial = true
              // Refused for its method alone (not allowed at this step), it was not really offered.
              if (outcome._tag !== "Failure" || outcome.allowedMethods.includes(source.method)) offered.add(source)
            })
          ),
          Effect.tapError(() => Effect.sync(() => offered.add(source)))
        )
      )
    const runnable = steps.filter((s) => s.skipped === undefined).map((s) => s.source)
    const round = (n: number): Stream.Stream<Source> =>
      Stream.suspend(() => {
        if (n >= MAX_ROUNDS || !partial) return Stream.empty
        partial = false
        return Stream.concat(Stream.fromIterable(runnable.filter((s) => !offered.has(s)).map(watched)), round(n + 1))
      })
    const first = steps.map((s): Source => (s.skipped ? skip(s.source, s.skipped) : watched(s.source)))
    return Stream.concat(Stream.fromIterable(first), round(1))
  }))

const MAX_ROUNDS = 4

/**
 * The plan as lines a person reads (`ssh-auth connect --dry-run`); with the options the run
 * will use, "none" first is its own line, numbered 0.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatPlan = (steps: ReadonlyArray<PlanStep>, options: AuthenticateOptions = {}): ReadonlyArray<string> => [
  ...(options.noneFirst ? ["0. none, asked first: the server's answer says which of these it allows"] : []),
  ...steps.map((s, i) => {
    const key = s.fingerprint ? ` ${s.keyType} ${s.fingerprint}` : ""
    const algs = s.algorithms && s.algorithms.length > 0 ? ` [${s.algorithms.join(",")}]` : ""
    const skipped = s.skipped ? ` — skipped: ${s.skipped}` : s.note ? ` — ${s.note}` : ""
    return `${i + 1}. ${s.method} ${s.kind}${key}${algs} from ${s.origins.join("; ")}${skipped}`
  })
]
