/**
 * known_hosts files through the platform's FileSystem, on an in-memory one: a missing file
 * is an empty one (as ssh), a file or directory that cannot be read or written is a typed
 * error naming it, and the host-key check says so instead of treating the host as unknown.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HostKeyCheck from "../../src/config/HostKeyCheck.js"
import * as KnownHosts from "../../src/config/KnownHosts.js"
import * as SshConfig from "../../src/config/SshConfig.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as MemoryFileSystem from "../support/MemoryFileSystem.js"

const keyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKNZCiIcEJIOs1PEhkJRRDg2WqQd8EEgXIXth1ouOWX4"
const parsed = PublicKeyText.parsePublicKey(keyLine)
if (parsed._tag === "Left") throw parsed.left
const key = parsed.right
const info = { host: "h.example", port: 22, key, algorithm: "ssh-ed25519", fingerprint: PublicKey.fingerprintSha256(key) }

const options = (file: string, strictHostKeyChecking: HostKeyCheck.HostKeyCheckOptions["strictHostKeyChecking"] = "yes"): HostKeyCheck.HostKeyCheckOptions => ({
  strictHostKeyChecking,
  userKnownHostsFiles: [file],
  globalKnownHostsFiles: ["/etc/ssh/ssh_known_hosts"],
  hashKnownHosts: false
})

describe("known_hosts files", () => {
  it.effect("readFile: a missing file is empty; an unreadable one is a KnownHostsError with the path and why", () =>
    Effect.gen(function*() {
      expect(yield* KnownHosts.readFile("/home/u/.ssh/known_hosts")).toEqual({ entries: [], skipped: [] })
      const error = yield* Effect.flip(KnownHosts.readFile("/home/u/.ssh/locked"))
      expect([error._tag, error.reason, error.path, error.detail]).toEqual(["KnownHostsError", "ReadFailed", "/home/u/.ssh/locked", "permission denied"])
      expect(error.message).toBe("cannot read known_hosts file /home/u/.ssh/locked: permission denied")
      const read = yield* KnownHosts.readFile("/home/u/.ssh/present")
      expect(read.entries.map((e) => [e.line, e.keyType])).toEqual([[1, "ssh-ed25519"]])
    }).pipe(
      Effect.provide(
        MemoryFileSystem.layer({ "/home/u/.ssh/locked": `x ${keyLine}\n`, "/home/u/.ssh/present": `h.example ${keyLine}\n` }, {
          unreadable: ["/home/u/.ssh/locked"]
        })
      )
    ))

  it.effect("append: creates the directory 0700 and the file 0600, ends an unfinished last line; a place it may not write is a KnownHostsError", () => {
    const memory = MemoryFileSystem.make({ "/home/v/.ssh/known_hosts": `a.example ${keyLine}` }, { unreadable: ["/locked"] })
    return Effect.gen(function*() {
      yield* KnownHosts.append("/home/u/.ssh/new/known_hosts", `one.example ${keyLine}`)
      expect([memory.modeOf("/home/u/.ssh/new"), memory.modeOf("/home/u/.ssh/new/known_hosts")]).toEqual([0o700, 0o600])
      yield* KnownHosts.append("/home/v/.ssh/known_hosts", `b.example ${keyLine}\n`)
      expect(memory.read("/home/v/.ssh/known_hosts")).toBe(`a.example ${keyLine}\nb.example ${keyLine}\n`)
      const error = yield* Effect.flip(KnownHosts.append("/locked/known_hosts", `x ${keyLine}`))
      expect([error.reason, error.path, error.detail]).toEqual(["WriteFailed", "/locked/known_hosts", "permission denied"])
    }).pipe(Effect.provide(MemoryFileSystem.layerOf(memory)))
  })
})

describe("the host-key check on files it cannot read", () => {
  const locked = "/home/u/.ssh/known_hosts"
  const files = MemoryFileSystem.layer({ [locked]: `h.example ${keyLine}\n` }, { unreadable: [locked] })

  it.effect("the policy refuses, naming the file, where a missing file would make the host unknown", () =>
    Effect.gen(function*() {
      const policy = yield* HostKeyCheck.make(options(locked, "accept-new"))
      const error = yield* Effect.flip(policy(info))
      expect(error._tag).toBe("HostKeyRejected")
      expect(error.detail).toBe(`cannot read known_hosts file ${locked}: permission denied`)
    }).pipe(Effect.provide(files)))

  it.effect("fromConfig fails before connecting with the KnownHostsError", () =>
    Effect.gen(function*() {
      const config = yield* SshConfig.resolve({ host: "h.example", options: [`UserKnownHostsFile=${locked}`] })
      const error = yield* Effect.flip(HostKeyCheck.fromConfig(config))
      expect([error._tag, error.reason, error.path]).toEqual(["KnownHostsError", "ReadFailed", locked])
    }).pipe(Effect.provide(files)))

  it.effect("missing files: unknown under yes, recorded under accept-new and then known", () => {
    const memory = MemoryFileSystem.make({})
    const file = "/home/w/.ssh/known_hosts"
    return Effect.gen(function*() {
      const strict = yield* HostKeyCheck.make(options(file))
      expect((yield* Effect.flip(strict(info))).detail).toMatch(/no ssh-ed25519 host key is known for h\.example and strict checking is on/)
      yield* (yield* HostKeyCheck.make(options(file, "accept-new")))(info)
      expect(memory.read(file)).toBe(`h.example ${keyLine}\n`)
      yield* strict(info)
    }).pipe(Effect.provide(MemoryFileSystem.layerOf(memory)))
  })
})
