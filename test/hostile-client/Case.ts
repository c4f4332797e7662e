/**
 * One hostile-client case against our server: start the server, connect, run the script,
 * then check what every case must show, as a list of problems (empty when all is well):
 *
 * - the connection ended as expected: a `ServerAuthFailure` with the case's reason (and
 *   detail), seen by the server's `onClosed`;
 * - the server closed the socket;
 * - within the case's bound, counted from the moment the script says the offence went out;
 * - the policy's `keyProven` saw no key but those the case signed correctly for this
 *   session (none, in most cases), and no `Authenticated` came of it.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type { ServerAuthFailure } from "../../src/server/ServerAuthResult.js"
import { connect, type HostileClient } from "./HostileClient.js"
import { type Ended, type Target, target, type TargetOptions } from "./Target.js"

export interface Expected {
  readonly reason: ServerAuthFailure["reason"]
  readonly detail?: RegExp
  /** From the offence to the server's end of the connection. Default 1.5 s. */
  readonly withinMs?: number
  /** Fingerprints `keyProven` may see: keys the script signed for honestly. Default none. */
  readonly proven?: ReadonlyArray<string>
}

/** What a script hands back: when the offence went out (default: when the script ended). */
export interface Played {
  readonly offenceAt?: number
}

/** The problems with how `client`'s connection to `server` ended. */
export const problemsOf = async (server: Target, client: HostileClient, expected: Expected, since: number): Promise<Array<string>> => {
  const problems: Array<string> = []
  const within = expected.withinMs ?? 1_500
  let end: Ended | undefined
  try {
    end = await server.nextEnd(within + 3_000)
  } catch (e) {
    problems.push(String(e))
  }
  if (!(await client.waitClosed(2_000))) problems.push("the server did not close the socket")
  if (end !== undefined) {
    if (end.failure === undefined) {
      problems.push(`ended without a ServerAuthFailure: ${end.exit._tag === "Success" ? "authenticated" : String(end.other)}`)
    } else {
      if (end.failure.reason !== expected.reason) problems.push(`reason ${end.failure.reason} (${end.failure.detail}), expected ${expected.reason}`)
      if (expected.detail && !expected.detail.test(end.failure.detail)) {
        problems.push(`detail ${JSON.stringify(end.failure.detail)} does not match ${expected.detail}`)
      }
    }
    const took = end.at - since
    if (took > within) problems.push(`took ${took} ms from the offence to the end (bound ${within} ms)`)
  }
  const allowed = new Set(expected.proven ?? [])
  for (const call of server.calls.keyProven) {
    if (!allowed.has(call.fingerprint)) problems.push(`keyProven saw ${call.fingerprint} for ${call.user}, which no correct signature proved`)
  }
  if (server.authenticated.length > 0) problems.push(`the server authenticated ${server.authenticated.map((a) => a.user).join(", ")}`)
  return problems
}

/** Runs `script` against a fresh server and asserts the case's end. */
export const runCase = (
  script: (client: HostileClient, server: Target) => Promise<Played | void>,
  expected: Expected,
  options: TargetOptions = {}
) =>
  Effect.gen(function*() {
    const server = yield* target(options)
    const problems = yield* Effect.promise(async () => {
      const client = await connect({ port: server.port })
      try {
        const played = await script(client, server)
        const since = played?.offenceAt ?? Date.now()
        return { problems: await problemsOf(server, client, expected, since), server }
      } finally {
        client.close()
      }
    })
    expect(problems.problems, summary(problems.server)).toEqual([])
    return problems.server
  }).pipe(Effect.scoped)

/** The server's side in a line, for failure messages. */
export const summary = (server: Target): string =>
  `ended: ${server.ended.map((e) => e.failure ? `${e.failure.reason}: ${e.failure.detail}` : String(e.other ?? "ok")).join(" | ")}; calls: ${
    JSON.stringify({
      methods: server.calls.methods.length,
      password: server.calls.password.length,
      keyAcceptable: server.calls.keyAcceptable.length,
      keyProven: server.calls.keyProven.length
    })
  }`
