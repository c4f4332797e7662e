/**
 * The OpenSSH plan as data, without a server: PubkeyAcceptedAlgorithms drops keys before
 * they are sent, the MaxAuthTries budget, BatchMode; and the terminal prompter, driven by a
 * Terminal that types for the user.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SshConfig from "../../src/config/SshConfig.js"
import * as OpenSshStrategy from "../../src/OpenSshStrategy.js"
import * as Prompter from "../../src/sources/Prompter.js"
import * as NodeFiles from "../support/NodeFiles.js"
import { hasTool, requireTool } from "../support/Tools.js"

let dir = ""
const keys: Array<string> = []

const planFor = (lines: ReadonlyArray<string>, options: Partial<OpenSshStrategy.OpenSshStrategyOptions> = {}) =>
  Effect.runPromise(
    Effect.gen(function*() {
      const configFile = path.join(dir, `config-${Math.random().toString(36).slice(2)}`)
      fs.writeFileSync(configFile, `${lines.join("\n")}\n`)
      const config = yield* SshConfig.resolve({ host: "h", configFile, local: { ...SshConfig.localContext(), homeDir: dir, env: {} } })
      return yield* OpenSshStrategy.plan({ config, ...options }).pipe(Effect.provide(OpenSshStrategy.agentLayer(config)))
    }).pipe(Effect.provide(NodeFiles.layer))
  )

const quietPrompter: Prompter.Prompter = { ask: () => Effect.succeed(Redacted.make("")) }

describe.skipIf(!hasTool("ssh-keygen"))("the OpenSSH plan", () => {
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "plan-"))
    for (let i = 0; i < 8; i++) {
      const file = path.join(dir, `id_${i}`)
      execFileSync("ssh-keygen", ["-q", "-t", i === 0 ? "rsa" : "ed25519", "-N", "", "-f", file], { timeout: 60_000 })
      keys.push(file)
    }
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("gssapi-with-mic: first in ssh's order, off by default; the service name, delegation and GSSAPIServerIdentity from the config", async () => {
    const off = await planFor([])
    expect([off[0].method, off[0].skipped]).toEqual(["gssapi-with-mic", "GSSAPIAuthentication is off"])
    const on = await planFor(["GSSAPIAuthentication yes", "GSSAPIDelegateCredentials yes", "GSSAPIServerIdentity kdc-named.example"])
    const step = on[0]
    expect(step.method).toBe("gssapi-with-mic")
    expect(step.kind).toBe("Kerberos ticket for host@kdc-named.example, delegated")
    expect(step.source.toString()).toBe("GssapiWithMic(user=" + step.source.username + ", service=host@kdc-named.example, delegate)")
    // Where it runs depends on a ticket here; either way the plan says which.
    expect(step.skipped ?? step.note).toMatch(/Kerberos ticket|ticket of|GSSAPI is not available/)
    const plain = await planFor(["GSSAPIAuthentication yes"])
    expect(plain[0].kind).toBe("Kerberos ticket for host@h")
    const later = await planFor(["GSSAPIAuthentication yes", "PreferredAuthentications publickey,gssapi-with-mic"])
    expect(later.map((s) => s.method).indexOf("gssapi-with-mic")).toBeGreaterThan(0)
  })

  it("a key with no algorithm in PubkeyAcceptedAlgorithms is dropped before it is sent", async () => {
    const steps = await planFor([`IdentityFile ${keys[0]}`, `IdentityFile ${keys[1]}`, "PubkeyAcceptedAlgorithms rsa-sha2-256"])
    const byPath = (p: string) => steps.find((s) => s.path === p)!
    expect(byPath(keys[0]).algorithms).toEqual(["rsa-sha2-256"])
    expect(byPath(keys[0]).skipped).toBeUndefined()
    expect(byPath(keys[1]).skipped).toMatch(/PubkeyAcceptedAlgorithms allows no signature algorithm for ssh-ed25519/)
  })

  it("the MaxAuthTries budget, with the last try kept for a password when one can be asked", async () => {
    const files = keys.slice(1).map((k) => `IdentityFile ${k}`)
    const withPrompts = await planFor(files, { prompter: quietPrompter, maxAuthTries: 6 })
    const keySteps = withPrompts.filter((s) => s.method === "publickey" && s.kind === "identity file")
    expect(keySteps.filter((s) => s.skipped === undefined).length).toBe(5)
    expect(keySteps.filter((s) => s.skipped?.includes("MaxAuthTries")).length).toBe(2)
    expect(withPrompts.filter((s) => s.method === "password" && s.skipped === undefined).length).toBe(3)
    const batch = await planFor([...files, "BatchMode yes"], { prompter: quietPrompter, maxAuthTries: 6 })
    expect(batch.filter((s) => s.kind === "identity file" && s.skipped === undefined).length).toBe(6)
    const prompting = batch.filter((s) => s.method === "password" || s.method === "keyboard-interactive")
    expect(prompting.length).toBeGreaterThan(0)
    expect(prompting.every((s) => s.skipped === "BatchMode: no prompts")).toBe(true)
    // Secrets given beforehand ask no one: BatchMode keeps them (--password-env).
    const given = Prompter.fromSecrets({ password: Effect.succeed(Redacted.make("pw")) })
    const batchWithSecret = await planFor([...files, "BatchMode yes"], { prompter: given, maxAuthTries: 6 })
    expect(batchWithSecret.filter((s) => s.method === "password" && s.skipped === undefined).length).toBeGreaterThan(0)
  })

  it("with no IdentityFile, ssh's default files are tried when they exist, the same list ssh -G prints (id_dsa included)", async () => {
    fs.mkdirSync(path.join(dir, ".ssh"), { recursive: true })
    for (const [from, to] of [[keys[2], "id_ed25519"], [keys[3], "id_dsa"]]) {
      fs.copyFileSync(from, path.join(dir, ".ssh", to))
      fs.copyFileSync(`${from}.pub`, path.join(dir, ".ssh", `${to}.pub`))
    }
    try {
      const steps = await planFor([])
      expect(steps.filter((s) => s.kind === "identity file").map((s) => s.origins)).toEqual([
        [`default identity file ${path.join(dir, ".ssh", "id_ed25519")}`],
        [`default identity file ${path.join(dir, ".ssh", "id_dsa")}`]
      ])
    } finally {
      fs.rmSync(path.join(dir, ".ssh"), { recursive: true, force: true })
    }
  })

  it("keys are deduplicated by blob, keeping every place each came from", async () => {
    const copy = path.join(dir, "copy_of_1")
    fs.copyFileSync(keys[1], copy)
    fs.copyFileSync(`${keys[1]}.pub`, `${copy}.pub`)
    const steps = await planFor([`IdentityFile ${keys[1]}`, `IdentityFile ${copy}`])
    const one = steps.filter((s) => s.kind === "identity file")
    expect(one.length).toBe(1)
    expect(one[0].origins).toEqual([`IdentityFile ${keys[1]}`, `IdentityFile ${copy}`])
  })
})
