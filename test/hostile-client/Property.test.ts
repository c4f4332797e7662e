/**
 * A fast-check property over our server: after an honest key exchange and service request,
 * the client sends random things: payloads with random message numbers (mostly 50–100) and
 * random bodies and lengths, userauth requests of every method with random fields,
 * publickey requests signed right (by a key nobody has) or wrong in every way (another
 * session, another key, another algorithm, random bytes, cut short), INFO_RESPONSEs,
 * IGNOREs, USERAUTH_SUCCESS, a second SERVICE_REQUEST, raw bytes on the socket. Whatever
 * it sends:
 *
 * - the policy's `keyProven` sees no key but one this run signed correctly over this session;
 * - no `Authenticated` comes of it;
 * - the connection ends in a `ServerAuthFailure`, the server closes the socket, and both
 *   within LoginGraceTime (here 400 ms, counted from the connection) and a margin.
 *
 * One server serves every run, one connection each; 200 runs by default
 * (HOSTILE_CLIENT_RUNS), each with its own deadline.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import type { PrivateKey } from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { MAX_PACKET_LENGTH } from "../../src/transport/PacketCodec.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { connect, type HostileClient, ignore, infoResponse, serviceRequest, signedRequest, success } from "./HostileClient.js"
import { aliceKey, aliceRsa, hostKey, strangerKey, type Target, target } from "./Target.js"

const GRACE_MS = 400
/** From the connection to the server's end of it, at most. */
const BOUND_MS = GRACE_MS + 1_500

const KEYS = { alice: aliceKey, aliceRsa, stranger: strangerKey } as const
type KeyName = keyof typeof KEYS
type SignatureMode =
  | "query"
  | "correct"
  | "otherSession"
  | "otherKey"
  | "relabel"
  | "declaredMismatch"
  | "random"
  | "truncated"

type Action =
  | { readonly _tag: "payload"; readonly n: number; readonly body: Uint8Array }
  | {
    readonly _tag: "request"
    /** Undefined: the run's user. */
    readonly user: string | undefined
    readonly service: string
    readonly method: string
    readonly body: Uint8Array
  }
  | {
    readonly _tag: "publickey"
    readonly user: string | undefined
    readonly key: KeyName
    readonly mode: SignatureMode
    readonly declared: string | undefined
    readonly hostBound: "none" | "ours" | "other"
  }
  | { readonly _tag: "infoResponse"; readonly responses: ReadonlyArray<string>; readonly count: number | undefined }
  | { readonly _tag: "ignore" }
  | { readonly _tag: "success" }
  | { readonly _tag: "serviceRequest"; readonly name: string }
  | { readonly _tag: "raw"; readonly bytes: Uint8Array }
  | { readonly _tag: "pause"; readonly ms: number }

/** The run's user, mostly; now and then another (which the server must cut). */
const runUser = fc.constantFrom("alice", "alice", "bob", "mallory", "")
const user = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 12 },
  { arbitrary: fc.constantFrom("alice", "bob", "mallory"), weight: 1 },
  { arbitrary: fc.string({ maxLength: 20 }), weight: 1 }
)
const service = fc.oneof({ arbitrary: fc.constant("ssh-connection"), weight: 8 }, { arbitrary: fc.string({ maxLength: 16 }), weight: 1 })
const method = fc.constantFrom(
  "none",
  "password",
  "keyboard-interactive",
  "publickey",
  "publickey-hostbound-v00@openssh.com",
  "gssapi-with-mic",
  "hostbased",
  "x"
)
const declared = fc.option(
  fc.constantFrom("ssh-ed25519", "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa", "ecdsa-sha2-nistp256", "ssh-ed25519-cert-v01@openssh.com", ""),
  { nil: undefined }
)
/** Mostly short, now and then large: up to past the packet limit. */
const body = fc.oneof(
  { arbitrary: fc.uint8Array({ maxLength: 64 }), weight: 12 },
  { arbitrary: fc.integer({ min: 1_000, max: 64 * 1024 }).map((n) => new Uint8Array(crypto.randomBytes(n))), weight: 1 },
  { arbitrary: fc.constantFrom(MAX_PACKET_LENGTH - 300, MAX_PACKET_LENGTH + 100).map((n) => new Uint8Array(n)), weight: 1 }
)
/** Method-specific fields that a server might mistake for the real thing: booleans, strings, counts. */
const fields = fc.array(
  fc.oneof(
    fc.boolean().map((b) => Uint8Array.of(b ? 1 : 0)),
    fc.string({ maxLength: 24 }).map((s) => encode((w) => w.string(s))),
    fc.integer({ min: 0, max: 0xffff_ffff }).map((n) => encode((w) => w.uint32(n))),
    fc.uint8Array({ maxLength: 16 })
  ),
  { maxLength: 5 }
).map((parts) => encode((w) => parts.forEach((p) => w.raw(p))))

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    arbitrary: fc.record({
      n: fc.oneof({ arbitrary: fc.integer({ min: 50, max: 100 }), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
      body
    }).map((r): Action => ({ _tag: "payload", ...r })),
    weight: 3
  },
  {
    arbitrary: fc.record({ user, service, method, body: fc.oneof(fields, body) }).map((r): Action => ({ _tag: "request", ...r })),
    weight: 4
  },
  {
    arbitrary: fc.record({
      user,
      key: fc.constantFrom<KeyName>("alice", "aliceRsa", "stranger"),
      mode: fc.constantFrom<SignatureMode>("query", "correct", "otherSession", "otherKey", "relabel", "declaredMismatch", "random", "truncated"),
      declared,
      hostBound: fc.constantFrom("none", "none", "ours", "other")
    }).map((r): Action => ({ _tag: "publickey", ...r })),
    weight: 12
  },
  {
    arbitrary: fc.record({
      responses: fc.array(fc.string({ maxLength: 12 }), { maxLength: 3 }),
      count: fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined })
    }).map((r): Action => ({ _tag: "infoResponse", ...r })),
    weight: 1
  },
  { arbitrary: fc.constant<Action>({ _tag: "ignore" }), weight: 2 },
  { arbitrary: fc.constant<Action>({ _tag: "success" }), weight: 1 },
  { arbitrary: fc.constantFrom("ssh-userauth", "ssh-connection").map((name): Action => ({ _tag: "serviceRequest", name })), weight: 1 },
  { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes): Action => ({ _tag: "raw", bytes })), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 30 }).map((ms): Action => ({ _tag: "pause", ms })), weight: 1 }
)

const run = fc.record({ user: runUser, actions: fc.array(action, { minLength: 1, maxLength: 12 }) })

const fingerprint = (key: PrivateKey) => PublicKey.fingerprintSha256(key.publicKey)

/**
 * A publickey request as the action says. A correct signature is only ever the stranger's
 * (no user has that key) or one of alice's keys for someone else: nothing can authenticate.
 * Returns the payload and, when its signature is correct over this session, the key.
 */
const publicKeyRequest = (
  c: HostileClient,
  a: Extract<Action, { _tag: "publickey" }> & { readonly user: string }
): { payload: Uint8Array; proves?: PrivateKey } => {
  const offered = KEYS[a.key]
  const other = a.key === "stranger" ? aliceKey : strangerKey
  const hostBound = a.hostBound === "ours" ? hostKey.publicKey.blob : a.hostBound === "other" ? strangerKey.publicKey.blob : undefined
  const base = {
    user: a.user,
    offered,
    sessionId: c.sessionId,
    ...(hostBound ? { hostBound } : {}),
    ...(a.declared !== undefined ? { declared: a.declared } : {})
  }
  const honest = a.key === "stranger" || a.user !== "alice"
  switch (a.mode) {
    case "query": {
      const algorithm = a.declared ?? (offered.publicKey._tag === "Rsa" ? "rsa-sha2-256" : offered.publicKey.type)
      return {
        payload: encode((w) =>
          w.byte(MessageNumber.USERAUTH_REQUEST).string(a.user).string("ssh-connection").string("publickey").boolean(false).string(algorithm)
            .string(offered.publicKey.blob)
        )
      }
    }
    case "correct":
      // Honest only where it cannot authenticate; alice's own key for alice is signed over another session.
      return honest
        ? { payload: signedRequest({ user: base.user, offered, sessionId: c.sessionId, ...(hostBound ? { hostBound } : {}) }), proves: offered }
        : { payload: signedRequest({ ...base, sessionId: crypto.randomBytes(32) }) }
    case "otherSession":
      return { payload: signedRequest({ ...base, sessionId: crypto.randomBytes(32) }) }
    case "otherKey":
      return { payload: signedRequest({ ...base, signer: other }) }
    case "relabel":
      return { payload: signedRequest({ ...base, relabel: offered.publicKey._tag === "Rsa" ? "ssh-ed25519" : "rsa-sha2-256" }) }
    case "declaredMismatch":
      return { payload: signedRequest({ ...base, declared: offered.publicKey._tag === "Rsa" ? "ssh-ed25519" : "rsa-sha2-512" }) }
    case "random":
    case "truncated": {
      const good = signedRequest({ ...base, sessionId: crypto.randomBytes(32) })
      if (a.mode === "truncated") return { payload: good.subarray(0, Math.max(1, good.length - 1 - (good.length % 37))) }
      const cut = good.length - 83
      return { payload: encode((w) => w.raw(good.subarray(0, cut)).raw(crypto.randomBytes(83))) }
    }
  }
}

/** Plays the actions; returns the fingerprints this run proved with a correct signature. */
const play = async (c: HostileClient, runUser: string, list: ReadonlyArray<Action>): Promise<Set<string>> => {
  const proved = new Set<string>()
  for (const a of list) {
    if (c.closed || c.disconnect !== undefined) break
    try {
      switch (a._tag) {
        case "payload":
          c.send(encode((w) => w.byte(a.n).raw(a.body)))
          break
        case "request":
          c.send(encode((w) => w.byte(MessageNumber.USERAUTH_REQUEST).string(a.user ?? runUser).string(a.service).string(a.method).raw(a.body)))
          break
        case "publickey": {
          const { payload, proves } = publicKeyRequest(c, { ...a, user: a.user ?? runUser })
          if (proves) proved.add(fingerprint(proves))
          c.send(payload)
          break
        }
        case "infoResponse":
          c.send(infoResponse(a.responses, a.count))
          break
        case "ignore":
          c.send(ignore("x"))
          break
        case "success":
          c.send(success)
          break
        case "serviceRequest":
          c.send(serviceRequest(a.name))
          break
        case "raw":
          c.write(a.bytes)
          break
        case "pause":
          await c.waitClosed(a.ms)
          break
      }
    } catch {
      // The server is gone: what is left of the script does not matter.
      break
    }
  }
  return proved
}

/** One run: its problems, empty when the invariants hold. */
const oneRun = async (server: Target, runUser: string, list: ReadonlyArray<Action>): Promise<Array<string>> => {
  const problems: Array<string> = []
  const provenBefore = server.calls.keyProven.length
  const authenticatedBefore = server.authenticated.length
  const endsBefore = server.ended.length
  const connectedAt = Date.now()
  const c = await connect({ port: server.port })
  try {
    await c.login()
    const proved = await play(c, runUser, list)
    if (!(await c.waitClosed(BOUND_MS + 500))) problems.push("the server did not close the socket")
    const end = await server.nextEnd(BOUND_MS + 1_000).catch((e) => String(e))
    if (typeof end === "string") problems.push(end)
    else {
      if (end.failure === undefined) problems.push(`ended without a ServerAuthFailure: ${String(end.other ?? "authenticated")}`)
      if (end.at - connectedAt > BOUND_MS) problems.push(`ended ${end.at - connectedAt} ms after the connection (bound ${BOUND_MS} ms)`)
    }
    if (server.ended.length !== endsBefore + 1) problems.push(`${server.ended.length - endsBefore} connections ended`)
    for (const call of server.calls.keyProven.slice(provenBefore)) {
      if (!proved.has(call.fingerprint)) {
        problems.push(`keyProven saw ${call.fingerprint} (${call.algorithm}) for ${JSON.stringify(call.user)}, which this run never signed correctly`)
      }
    }
    if (server.authenticated.length !== authenticatedBefore) problems.push("the server authenticated the client")
  } finally {
    c.close()
  }
  return problems
}

const summarize = (a: Action): string => {
  switch (a._tag) {
    case "payload":
      return `payload ${a.n} +${a.body.length}`
    case "request":
      return `request ${JSON.stringify(a.user?.slice(0, 20) ?? "(run's)")} ${JSON.stringify(a.service.slice(0, 20))} ${a.method} +${a.body.length}`
    case "publickey":
      return `publickey ${JSON.stringify(a.user?.slice(0, 20) ?? "(run's)")} ${a.key} ${a.mode} ${a.declared ?? "-"} hostbound=${a.hostBound}`
    case "infoResponse":
      return `infoResponse ${a.responses.length} count=${a.count ?? "-"}`
    case "serviceRequest":
      return `serviceRequest ${a.name}`
    case "raw":
      return `raw ${a.bytes.length}`
    case "pause":
      return `pause ${a.ms}`
    default:
      return a._tag
  }
}

describe("hostile client: random messages after the key exchange", () => {
  it.live(
    "never a key proven without its signature, never authenticated, always a typed end with the socket closed, in bounded time",
    () =>
      Effect.gen(function*() {
        const server = yield* target({ auth: { loginGraceTime: `${GRACE_MS} millis` }, maxStartups: 4 })
        const failures: Array<string> = []
        const result = yield* Effect.promise(() =>
          fc.check(
            fc.asyncProperty(run, async ({ actions: list, user }) => {
              // Let the rest of the process breathe between runs.
              await new Promise(setImmediate)
              const problems = await oneRun(server, user, list)
              if (problems.length > 0) failures.push(`${problems.join("\n")}\nuser ${JSON.stringify(user)}, actions: ${list.map(summarize).join("; ")}`)
              return problems.length === 0
            }),
            { numRuns: Number(process.env.HOSTILE_CLIENT_RUNS ?? 200), endOnFailure: true, timeout: 10_000 }
          )
        )
        const ends = new Map<string, number>()
        for (const e of server.ended) ends.set(e.failure?.reason ?? "other", (ends.get(e.failure?.reason ?? "other") ?? 0) + 1)
        if (process.env.HOSTILE_DEBUG) {
          const details = new Map<string, number>()
          for (const e of server.ended) {
            const d = (e.failure?.detail ?? "").replace(/^127\.0\.0\.1:\d+: /, "").slice(0, 50)
            details.set(d, (details.get(d) ?? 0) + 1)
          }
          console.log([...details].sort((a, b) => b[1] - a[1]).slice(0, 15))
        }
        const replay = `seed ${result.seed}, path ${JSON.stringify(result.counterexamplePath)}`
        expect(result.failed, `after ${result.numRuns} runs (${replay}):\n${failures.join("\n---\n")}`).toBe(false)
        const attempts = server.ended.flatMap((e) => e.failure?.attempts ?? [])
        const publickey = attempts.filter((a) => a.method.startsWith("publickey"))
        console.log(
          `hostile-client property: ${result.numRuns} runs; ends ${
            JSON.stringify(Object.fromEntries(ends))
          }; ${attempts.length} attempts decided, ${publickey.length} publickey (${
            publickey.filter((a) => a.outcome === "Failed").length
          } failed); keyProven ${server.calls.keyProven.length} calls`
        )
      }).pipe(Effect.scoped),
    120_000
  )
})
