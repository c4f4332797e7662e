/**
 * Shows an sshd's log when a test fails. Apart from Sshd.ts so that scripts and benchmarks
 * can use the fixture without vitest.
 */
import * as Effect from "effect/Effect"
import { onTestFailed } from "vitest"
import type { Sshd } from "./Sshd.js"

/**
 * Prints the server's log if the current test fails. Call inside a test's scope, after `start`:
 * the log is read when the scope closes, before the temp dir goes. `name` says whose log it
 * is (sshd unless told: the dropbear and tinysshd fixtures pass theirs).
 */
export const logOnFailure = (server: Pick<Sshd, "port" | "readLog">, name = "sshd") =>
  Effect.gen(function*() {
    let log = `(${name} still running when the test failed)`
    yield* Effect.addFinalizer(() => Effect.map(server.readLog, (text) => void (log = text)))
    onTestFailed(() => {
      console.error(`--- ${name} log (port ${server.port}) ---\n${log}`)
    })
  })
