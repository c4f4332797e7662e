/**
 * Shows an sshd's log when a test fails. Apart from Sshd.ts so that scripts and benchmarks
 * can use the fixture without vitest.
 */
import * as Effect from "effect/Effect"
import { onTestFailed } from "vitest"
import type { Sshd } from "./Sshd.js"

/**
 * Prints the sshd log if the current test fails. Call inside a test's scope, after `start`:
 * the log is read when the scope closes, before the temp dir goes.
 */
export const logOnFailure = (sshd: Sshd) =>
  Effect.gen(function*() {
    let log = "(sshd still running when the test failed)"
    yield* Effect.addFinalizer(() => Effect.map(sshd.readLog, (text) => void (log = text)))
    onTestFailed(() => {
      console.error(`--- sshd log (port ${sshd.port}) ---\n${log}`)
    })
  })
