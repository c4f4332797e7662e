/**
 * The system GSS-API loads once however many fibers ask for it at once: the first server
 * connections of a process all ask together, and koffi refuses a second declaration of the
 * same struct (each of them but the first came back `GssapiUnavailable`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import { skipWithoutGss } from "../support/Gss.js"

describe.skipIf(skipWithoutGss())("Gssapi.loadSystem", () => {
  it.live("eight fibers asking at once all get the one service", () =>
    Effect.gen(function*() {
      const services = yield* Effect.all(Array.from({ length: 8 }, () => Gssapi.loadSystem), { concurrency: "unbounded" })
      expect(new Set(services).size).toBe(1)
    }))
})
