/**
 * The login the CLI's startup snapshot rehearses at build time (src/cli/Rehearsal.ts): it must
 * log in with each kex, or the snapshot is built without it and every start compiles again.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as fs from "node:fs"
import * as path from "node:path"
import { forget, rehearse } from "../../src/cli/Rehearsal.js"
import * as Sntrup761 from "../../src/crypto/Sntrup761.js"

const bundle = path.resolve(import.meta.dirname, "../../dist/cli/ssh-auth.mjs")

describe("the snapshot's rehearsal", () => {
  it("logs in to the bundle's `ssh-auth serve` with each kex, and leaves sntrup761 to choose its loops again", async () => {
    expect(fs.existsSync(bundle), "dist/cli/ssh-auth.mjs is missing: npm run build").toBe(true)
    const exit = await Effect.runPromiseExit(rehearse([process.execPath, bundle]))
    expect(Exit.isSuccess(exit), Exit.isFailure(exit) ? String(exit.cause) : "").toBe(true)
    forget()
    // The KATs' own check: a round trip still works with the loops chosen afresh.
    const pair = Sntrup761.keyPair((n) => new Uint8Array(n).fill(7))
    const sent = Sntrup761.encapsulate(pair.publicKey, (n) => new Uint8Array(n).fill(9))
    expect(Buffer.from(Sntrup761.decapsulate(sent.ciphertext, pair.secretKey))).toEqual(Buffer.from(sent.sharedSecret))
  }, 60_000)
})
