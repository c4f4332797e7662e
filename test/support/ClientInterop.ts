/**
 * What the tests of our client against servers other than OpenSSH (dropbear, tinysshd) share:
 * the run's test user as a login those servers accept, client keys, known_hosts files and the
 * host-key check that reads them, the algorithm matrix judged by the server's own KEXINIT, and
 * `ssh-auth connect` in a closed world.
 *
 * The matrix is ours (every name `supported` lists) against what the server says it offers:
 * a name the server offers must be negotiated, and one it does not must fail the negotiation,
 * naming its category. So an algorithm added to either side is tested without editing a list.
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as HostKeyCheck from "../../src/config/HostKeyCheck.js"
import { type AlgorithmPreferences, supported } from "../../src/transport/Algorithms.js"
import { ciphers } from "../../src/transport/cipher/Ciphers.js"
import type { SshConnection } from "../../src/transport/Handshake.js"
import type { KexInit } from "../../src/transport/KexInit.js"
import { sh } from "./RunUser.js"
import { closedClientLines, run, type TestUser } from "./Sshd.js"

/** SHA-256 of the key blob, base64 without padding: OpenSSH's fingerprint, computed apart from the code under test. */
export const fingerprintOfLine = (line: string): string =>
  "SHA256:" + crypto.createHash("sha256").update(Buffer.from(line.split(" ")[1], "base64")).digest("base64").replace(/=+$/, "")

/**
 * Adds lines to ~/.ssh/authorized_keys of the run's test user (root only), which is where
 * dropbear and tinysshd look: neither can be pointed at another file. The user's home is
 * made for the run and deleted with it (test/support/GlobalSetup.ts), so nothing of the
 * machine's changes; lines are only ever appended (one write each, O_APPEND) because the
 * dropbear and tinysshd files may add theirs at the same time, and each trusts only keys it
 * made (a line already there is not added again). The modes are the strict ones both servers
 * demand.
 */
export const authorizeKeys = (user: TestUser, lines: ReadonlyArray<string>) =>
  Effect.sync(() => {
    const entry = sh("getent", ["passwd", user.name]).stdout.trim().split(":")
    const [uid, gid, home] = [Number(entry[2]), Number(entry[3]), entry[5]]
    if (!home || !Number.isInteger(uid)) throw new Error(`no passwd entry for the test user ${user.name}`)
    const sshDir = path.join(home, ".ssh")
    fs.mkdirSync(sshDir, { recursive: true, mode: 0o700 })
    fs.chownSync(sshDir, uid, gid)
    const file = path.join(sshDir, "authorized_keys")
    const present = new Set(fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n") : [])
    const added = lines.filter((l) => !present.has(l))
    if (added.length > 0) fs.appendFileSync(file, added.map((l) => `${l}\n`).join(""), { mode: 0o600 })
    fs.chownSync(file, uid, gid)
  })

export interface ClientKey {
  /** The private key, OpenSSH format, no passphrase; `${file}.pub` beside it. */
  readonly file: string
  /** The `.pub` line. */
  readonly line: string
  readonly fingerprint: string
}

/** Keys made by ssh-keygen in `dir`, one per name, with the `ssh-keygen -t …` arguments given. */
export const makeClientKeys = <K extends string>(dir: string, specs: Readonly<Record<K, ReadonlyArray<string>>>) =>
  Effect.map(
    Effect.forEach(Object.entries<ReadonlyArray<string>>(specs), ([name, args]) =>
      Effect.gen(function*() {
        const file = path.join(dir, name)
        const r = yield* run("ssh-keygen", ["-q", "-N", "", "-C", `client-${name}`, ...args, "-f", file])
        if (r.code !== 0) return yield* Effect.dieMessage(`ssh-keygen ${name}: ${r.stderr}`)
        const line = fs.readFileSync(`${file}.pub`, "utf8").trim()
        return [name, { file, line, fingerprint: fingerprintOfLine(line) }] as const
      }), { concurrency: "unbounded" }),
    (entries) => Object.fromEntries(entries) as Record<K, ClientKey>
  )

/** A known_hosts file in `dir` that holds `line` (`type base64`) for 127.0.0.1 at `port`. */
export const knownHostsFile = (dir: string, port: number, line: string, name = "known_hosts") => {
  const file = path.join(dir, `${name}-${port}-${crypto.randomBytes(4).toString("hex")}`)
  fs.writeFileSync(file, `[127.0.0.1]:${port} ${line}\n`)
  return file
}

/** The host-key check ssh does under StrictHostKeyChecking yes, with this one known_hosts file. */
export const knownHostsPolicy = (file: string) =>
  HostKeyCheck.make({ strictHostKeyChecking: "yes", userKnownHostsFiles: [file], globalKnownHostsFiles: [], hashKnownHosts: false })

// ---- the algorithm matrix ----

/** Whether a cipher carries its own MAC (the MAC is then "<implicit>"). */
export const isAead = (cipher: string): boolean => ciphers.get(cipher)?.aead ?? false

/**
 * The first category in which the server's KEXINIT offers none of the forced names, in the
 * words of our negotiation error; undefined when it offers them all.
 */
export const missingCategory = (server: KexInit, forced: Partial<AlgorithmPreferences>): string | undefined => {
  const lacks = (offered: ReadonlyArray<string>, names: ReadonlyArray<string> | undefined) => names !== undefined && !names.some((n) => offered.includes(n))
  if (lacks(server.kexAlgorithms, forced.kex)) return "kex"
  if (lacks(server.serverHostKeyAlgorithms, forced.hostKey)) return "host key"
  if (lacks(server.ciphersClientToServer, forced.cipher)) return "cipher client->server"
  const cipher = forced.cipher?.[0]
  if (!(cipher !== undefined && isAead(cipher)) && lacks(server.macsClientToServer, forced.mac)) return "MAC client->server"
  return undefined
}

/**
 * The cases of the matrix, each a name and what it forces: every kex we have, each of
 * `hostKeys` (host key algorithms, for a server that holds a key of every type), every AEAD
 * cipher alone and every other cipher with every MAC.
 */
export const forcedCases = (hostKeys: ReadonlyArray<string> = []): ReadonlyArray<readonly [string, Partial<AlgorithmPreferences>]> => [
  ...[...supported.kex].map((kex) => [`kex ${kex}`, { kex: [kex] }] as const),
  ...hostKeys.map((hostKey) => [`host key ${hostKey}`, { hostKey: [hostKey] }] as const),
  ...[...supported.cipher].flatMap((cipher) =>
    isAead(cipher)
      ? [[`cipher ${cipher}`, { cipher: [cipher] }] as const]
      : [...supported.mac].map((mac) => [`cipher ${cipher} × MAC ${mac}`, { cipher: [cipher], mac: [mac] }] as const)
  )
]

/**
 * Connects offering only the forced names and judges the outcome by the server's KEXINIT:
 * offered, the handshake settles on them and a service request goes through under the new
 * keys; not offered, it fails in KEXINIT with "no common <category> algorithm". Answers which.
 */
export const checkForced = <E, R>(
  server: KexInit,
  forced: Partial<AlgorithmPreferences>,
  connect: (algorithms: Partial<AlgorithmPreferences>) => Effect.Effect<SshConnection, E, R>
) =>
  Effect.gen(function*() {
    const missing = missingCategory(server, forced)
    const outcome = yield* Effect.either(Effect.scoped(Effect.gen(function*() {
      const c = yield* connect(forced)
      yield* c.requestService("ssh-userauth")
      return c.algorithms
    })))
    if (missing === undefined) {
      if (outcome._tag === "Left") throw new Error(`the server offers ${JSON.stringify(forced)}, but the handshake failed: ${String(outcome.left)}`)
      const a = outcome.right
      if (forced.kex) expectEqual(a.kex, forced.kex[0], "kex")
      if (forced.hostKey) expectEqual(a.hostKey, forced.hostKey[0], "host key")
      if (forced.cipher) {
        expectEqual(a.cipherClientToServer, forced.cipher[0], "cipher client->server")
        expectEqual(a.cipherServerToClient, forced.cipher[0], "cipher server->client")
        const mac = isAead(forced.cipher[0]) ? "<implicit>" : forced.mac?.[0]
        if (mac !== undefined) {
          expectEqual(a.macClientToServer, mac, "MAC client->server")
          expectEqual(a.macServerToClient, mac, "MAC server->client")
        }
      }
      return "negotiated" as const
    }
    if (outcome._tag === "Right") throw new Error(`the server does not offer ${JSON.stringify(forced)} (${missing}), yet the handshake settled on it`)
    const error = outcome.left as { readonly _tag?: string; readonly reason?: string; readonly step?: string; readonly message?: string }
    const expected = `no common ${missing} algorithm`
    if (error._tag !== "TransportError" || error.reason !== "KexFailed" || error.step !== "KEXINIT" || !error.message?.includes(expected)) {
      throw new Error(`expected a KexFailed error in KEXINIT saying "${expected}", got ${String(outcome.left)}`)
    }
    return "refused" as const
  })

const expectEqual = (actual: string, expected: string, what: string) => {
  if (actual !== expected) throw new Error(`${what}: negotiated ${actual}, expected ${expected}`)
}

// ---- ssh-auth connect ----

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")

/** `ssh-auth connect` with these arguments (the built bin; `npm test` builds dist/ first), bounded to 20 s. */
export const cliConnect = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  run(process.execPath, [bin, "connect", ...args], { timeoutMs: 20_000, env })

/**
 * An ssh_config in `dir` with one `Host` alias for 127.0.0.1 at `port` that logs in as `user`
 * with this key only, trusts only this known_hosts file and never asks (Sshd.closedClientLines
 * has the lines). Answers the file's path, for `-F`.
 */
export const closedConfig = (
  dir: string,
  options: { readonly alias: string; readonly port: number; readonly user: string; readonly identityFile: string; readonly knownHosts: string }
) => {
  const file = path.join(dir, `ssh_config-${crypto.randomBytes(4).toString("hex")}`)
  fs.writeFileSync(file, [`Host ${options.alias}`, "  HostName 127.0.0.1", `  Port ${options.port}`, ...closedClientLines(options), ""].join("\n"))
  return file
}
