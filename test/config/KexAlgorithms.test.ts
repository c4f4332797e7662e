/**
 * KexAlgorithms as ssh assembles it (kex.c's kex_assemble_names), over OpenSSH 10's default
 * list: a plain list replaces it, `+` appends, `-` removes (patterns too), `^` puts first; a
 * name ssh does not know is its "Bad SSH2 KexAlgorithms" complaint. The expected lists were
 * checked against `ssh -G` of OpenSSH 10.2p1 built from source (bench/RESULTS.md); ssh 9.2,
 * the one CI has, is the oracle for the lists that replace the default
 * (test/config/SshConfigOracle.test.ts).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as ConfigDefaults from "../../src/config/ConfigDefaults.js"
import * as SshConfig from "../../src/config/SshConfig.js"
import * as MemoryFileSystem from "../support/MemoryFileSystem.js"

const resolve = (options: ReadonlyArray<string>) =>
  Effect.runPromise(
    Effect.either(SshConfig.resolve({ host: "h", configFile: "/config", options }).pipe(Effect.provide(MemoryFileSystem.layer({ "/config": "" }))))
  )

const kex = async (spec: string) => {
  const r = await resolve([`KexAlgorithms=${spec}`])
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right.kexAlgorithms
}

describe("KexAlgorithms", () => {
  it("unset: OpenSSH 10's list, hybrid post-quantum methods first", async () => {
    const r = await resolve([])
    expect(Either.getOrThrow(r).kexAlgorithms).toEqual(ConfigDefaults.kexAlgorithms)
    expect(ConfigDefaults.kexAlgorithms.slice(0, 4)).toEqual([
      "mlkem768x25519-sha256",
      "sntrup761x25519-sha512",
      "sntrup761x25519-sha512@openssh.com",
      "curve25519-sha256"
    ])
  })

  it("+ appends what is not there yet", async () => {
    expect(await kex("+diffie-hellman-group14-sha1,curve25519-sha256")).toEqual([...ConfigDefaults.kexAlgorithms, "diffie-hellman-group14-sha1"])
  })

  it("- removes, patterns included", async () => {
    expect(await kex("-sntrup761*,diffie-hellman-*")).toEqual([
      "mlkem768x25519-sha256",
      "curve25519-sha256",
      "curve25519-sha256@libssh.org",
      "ecdh-sha2-nistp256",
      "ecdh-sha2-nistp384",
      "ecdh-sha2-nistp521"
    ])
  })

  it("^ puts first, the rest in their order", async () => {
    expect(await kex("^curve25519-sha256,ecdh-sha2-nistp256")).toEqual([
      "curve25519-sha256",
      "ecdh-sha2-nistp256",
      "mlkem768x25519-sha256",
      "sntrup761x25519-sha512",
      "sntrup761x25519-sha512@openssh.com",
      "curve25519-sha256@libssh.org",
      "ecdh-sha2-nistp384",
      "ecdh-sha2-nistp521",
      "diffie-hellman-group-exchange-sha256",
      "diffie-hellman-group16-sha512",
      "diffie-hellman-group18-sha512",
      "diffie-hellman-group14-sha256"
    ])
  })

  it("a name ssh does not know, or a pattern outside a - list, is ssh's complaint", async () => {
    for (const spec of ["+kyber-of-my-own", "ecdh-sha2-*", "^curve25519-*"]) {
      const r = await resolve([`KexAlgorithms=${spec}`])
      expect(Either.isLeft(r) && r.left.message).toContain(`Bad SSH2 KexAlgorithms '${spec}'`)
    }
  })
})
