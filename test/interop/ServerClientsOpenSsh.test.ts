/**
 * OpenSSH's `ssh` logs in to our server (in-process, 127.0.0.1, a free port, its host key
 * pinned in a known_hosts file of the test's own): ed25519, ecdsa and rsa-sha2 keys, user
 * certificates trusted two ways, a password through SSH_ASKPASS, keyboard-interactive, a
 * publickey,password chain, an agent key restricted with `ssh-add -h`, and `ssh host cmd`.
 * It also fails where it must: a wrong key, a wrong password, an expired certificate,
 * MaxAuthTries. Both sides judge: ssh's exit status, output and `-v` lines, and the server's
 * own result, which must name exactly the key ssh-keygen fingerprinted.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { authorizedKeys, ClientKeys, type ClientKeysShape, layer as clientKeysLayer } from "../support/ClientKeys.js"
import { onPath, skipWithoutPeer } from "../support/Env.js"
import { alice, carol, CODE, concurrent, PASSWORD, provenKey } from "../support/OurServer.js"
import * as OurServer from "../support/OurServer.js"
import * as SshAgent from "../support/SshAgent.js"
import { closedClientArgs, run, tempDir } from "../support/Sshd.js"

const skip = skipWithoutPeer("OpenSSH's ssh", ["ssh", "ssh-keygen", "ssh-agent", "ssh-add"].every(onPath), "openssh-client")

interface SshOptions {
  readonly user: string
  readonly identities?: ReadonlyArray<string>
  /** `-o` options. */
  readonly options?: ReadonlyArray<string>
  /** Answers by shell `case` pattern on the prompt: with them, SSH_ASKPASS is forced and BatchMode is off. */
  readonly askpass?: ReadonlyArray<readonly [pattern: string, answer: string]>
  /** An agent socket; default none. */
  readonly agent?: string
  readonly command?: string
}

/** `ssh -v` against `server`, bounded to 20 s; what the askpass helper was asked comes back as `prompts`. */
const ssh = (server: OurServer.OurServer, options: SshOptions) =>
  Effect.gen(function*() {
    const dir = yield* tempDir("ssh-client-")
    const knownHosts = path.join(dir, "known_hosts")
    fs.writeFileSync(knownHosts, `${server.knownHostsLine}\n`)
    const prompts = path.join(dir, "prompts")
    const env: Record<string, string> = { SSH_AUTH_SOCK: "", SSH_ASKPASS: "", SSH_ASKPASS_REQUIRE: "never", DISPLAY: "" }
    let batch = true
    if (options.askpass) {
      const script = path.join(dir, "askpass")
      const cases = options.askpass.map(([pattern, answer]) => `  ${pattern}) printf '%s\\n' '${answer}' ;;`).join("\n")
      fs.writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${prompts}'\ncase "$1" in\n${cases}\n  *) exit 1 ;;\nesac\n`, { mode: 0o755 })
      Object.assign(env, { SSH_ASKPASS: script, SSH_ASKPASS_REQUIRE: "force" })
      batch = false
    }
    const args = [
      "-v",
      "-n",
      ...closedClientArgs({ port: server.port, knownHosts, batch, ...(options.agent ? { agent: options.agent } : {}) }),
      ...(options.identities ?? []).flatMap((i) => ["-i", i]),
      ...(options.options ?? []).flatMap((o) => ["-o", o]),
      `${options.user}@127.0.0.1`,
      options.command ?? "whoami"
    ]
    const result = yield* run("ssh", args, { timeoutMs: 20_000, env })
    const asked = fs.existsSync(prompts) ? fs.readFileSync(prompts, "utf8").split("\n").filter(Boolean) : []
    return { ...result, prompts: asked, why: `${result.stderr}\n${server.log()}` }
  })

describe.skipIf(skip)("OpenSSH's ssh against our server", () => {
  layer(clientKeysLayer, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    const keyCases = [
      ["ed25519", "ssh-ed25519", []],
      ["ecdsa", "ecdsa-sha2-nistp256", []],
      ["rsa", "rsa-sha2-512", []],
      ["rsa", "rsa-sha2-256", ["PubkeyAcceptedAlgorithms=rsa-sha2-256"]]
    ] as const
    for (const [name, algorithm, options] of keyCases) {
      it.scoped(`publickey, ${algorithm}: host-bound, and the server proves exactly the key ssh-keygen fingerprinted`, () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const key = keys[name]
          const server = yield* OurServer.start({ alice: alice([keys.ed25519, keys.ecdsa, keys.rsa]) })
          const r = yield* ssh(server, { user: "alice", identities: [key.path], options: ["PreferredAuthentications=publickey", ...options] })
          expect(r.code, r.why).toBe(0)
          expect(r.stdout).toBe("ran whoami as alice by publickey\n")
          // ssh checked our host key against its known_hosts, strictly.
          expect(r.stderr).toContain(`Server host key: ssh-ed25519 ${PublicKey.fingerprintSha256(server.hostKey.publicKey)}`)
          expect(r.stderr).toMatch(/is known and matches the ED25519 host key/)
          expect(r.stderr).toContain(`Authenticated to 127.0.0.1 ([127.0.0.1]:${server.port}) using "publickey".`)
          const credential = provenKey(server, r.why)
          const result = server.authenticated[0]
          expect(result.methods).toEqual(["publickey"])
          expect(credential.key.fingerprint).toBe(key.fingerprint)
          expect(credential.algorithm).toBe(algorithm)
          expect(credential.source).toBe(`authorized_keys line ${name === "ed25519" ? 1 : name === "ecdsa" ? 2 : 3}`)
          const accepted = result.attempts.filter((a) => a.outcome === "Accepted")
          expect(accepted.map((a) => a.method)).toEqual(["publickey-hostbound-v00@openssh.com"])
          expect(String(accepted[0])).toMatch(
            new RegExp(`^Accepted publickey for alice from 127\\.0\\.0\\.1 port \\d+ ssh2: \\S+ ${key.fingerprint.replace(/[+/]/g, "\\$&")}$`)
          )
          expect(server.commands).toEqual(["whoami"])
        }), concurrent)
    }

    const trust = {
      TrustedUserCAKeys: (keys: ClientKeysShape) => ({ users: { alice: {} }, table: { trustedUserCaKeys: [keys.ca.publicKey] }, source: "TrustedUserCAKeys" }),
      "an authorized_keys cert-authority line": (keys: ClientKeysShape) => ({
        users: { alice: { authorizedKeys: authorizedKeys(`cert-authority ${keys.ca.line}`) } },
        table: {},
        source: "authorized_keys line 1"
      })
    } as const
    for (const [how, setup] of Object.entries(trust)) {
      it.scoped(
        `a user certificate (ssh-keygen -s ca -I id -n alice -V), trusted by ${how}: the result names the certificate and its CA`,
        () =>
          Effect.gen(function*() {
            const keys = yield* ClientKeys
            const { source, table, users } = setup(keys)
            const server = yield* OurServer.start(users, { table })
            const r = yield* ssh(server, { user: "alice", identities: [keys.certified.path], options: ["PreferredAuthentications=publickey"] })
            expect(r.code, r.why).toBe(0)
            expect(r.stdout).toBe("ran whoami as alice by publickey\n")
            expect(r.stderr).toMatch(/Offering public key: \S+ ED25519-CERT SHA256:/)
            const credential = provenKey(server, r.why)
            expect(credential.key.fingerprint).toBe(keys.certified.fingerprint)
            expect(credential.key.certificate).toEqual({ keyId: "certified-id", serial: "0", caFingerprint: keys.ca.fingerprint })
            expect(credential.source).toBe(source)
            expect(server.attempts.map(String)).toContainEqual(
              expect.stringMatching(/^Accepted publickey for alice from .* ED25519-CERT ID certified-id \(serial 0\) CA SHA256:/)
            )
          }),
        concurrent
      )

      it.scoped(`an expired certificate is refused when trusted by ${how}, and so is the bare key behind it`, () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const { table, users } = setup(keys)
          const server = yield* OurServer.start(users, { table })
          const r = yield* ssh(server, { user: "alice", identities: [keys.expired.path], options: ["PreferredAuthentications=publickey"] })
          expect(r.code, r.why).toBe(255)
          expect(r.stderr).toMatch(/alice@127\.0\.0\.1: Permission denied \(publickey/)
          expect(r.stderr).toMatch(/Offering public key: \S+ ED25519-CERT SHA256:/)
          expect(server.authenticated).toEqual([])
          yield* server.awaitEnded(1)
          // ssh gives up by closing the connection, without a DISCONNECT.
          const failure = server.failures()[0]
          expect(failure?.reason, r.why).toBe("ConnectionLost")
          // The certificate was asked about and refused; nothing with this key was accepted.
          const withKey = failure.attempts.filter((a) => a.key?.fingerprint === keys.expired.fingerprint)
          expect(withKey.some((a) => a.key?.certificate?.keyId === "expired-id"), r.why).toBe(true)
          expect(withKey.map((a) => a.outcome).every((o) => o === "KeyRefused" || o === "Failed"), r.why).toBe(true)
        }), concurrent)
    }

    it.scoped("a password through SSH_ASKPASS (SSH_ASKPASS_REQUIRE=force); a wrong one is refused", () =>
      Effect.gen(function*() {
        const server = yield* OurServer.start({ alice: alice([]) })
        const r = yield* ssh(server, { user: "alice", askpass: [["*", PASSWORD]], options: ["PreferredAuthentications=password"] })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as alice by password\n")
        expect(r.prompts).toEqual(["alice@127.0.0.1's password: "])
        expect(server.authenticated.map((a) => a.credentials), r.why).toEqual([[{ _tag: "Password" }]])
        expect(server.attempts.map(String)).toContainEqual(expect.stringMatching(/^Accepted password for alice from 127\.0\.0\.1 port \d+ ssh2$/))

        const wrong = yield* ssh(server, {
          user: "alice",
          askpass: [["*", "wrong horse"]],
          options: ["PreferredAuthentications=password", "NumberOfPasswordPrompts=1"]
        })
        expect(wrong.code, wrong.why).toBe(255)
        expect(wrong.stderr).toMatch(/alice@127\.0\.0\.1: Permission denied \(publickey,password,keyboard-interactive\)/)
        expect(server.authenticated).toHaveLength(1)
        expect(server.attempts.map(String)).toContainEqual(expect.stringMatching(/^Failed password for alice from 127\.0\.0\.1 port \d+ ssh2$/))
      }), concurrent)

    it.scoped("keyboard-interactive: two prompts in one round, answered through SSH_ASKPASS; a wrong answer is refused", () =>
      Effect.gen(function*() {
        const server = yield* OurServer.start({ alice: alice([]) })
        const answers = [["*Code*", CODE], ["*Password*", PASSWORD]] as const
        const r = yield* ssh(server, { user: "alice", askpass: answers, options: ["PreferredAuthentications=keyboard-interactive"] })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as alice by keyboard-interactive\n")
        expect(r.prompts).toEqual(["(alice@127.0.0.1) Password: ", "(alice@127.0.0.1) Code: "])
        expect(server.authenticated.map((a) => a.credentials), r.why).toEqual([[{ _tag: "KeyboardInteractive" }]])

        const wrong = yield* ssh(server, {
          user: "alice",
          askpass: [["*Code*", "654321"], ["*Password*", PASSWORD]],
          options: ["PreferredAuthentications=keyboard-interactive", "NumberOfPasswordPrompts=1"]
        })
        expect(wrong.code, wrong.why).toBe(255)
        expect(wrong.stderr).toMatch(/Permission denied/)
        expect(server.authenticated).toHaveLength(1)
        expect(server.attempts.map(String)).toContainEqual(expect.stringMatching(/^Failed keyboard-interactive for alice/))
      }), concurrent)

    it.scoped("a publickey,password chain: ssh sees partial success after the key, then the password completes it", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* OurServer.start({ carol: carol(keys.ed25519) })
        const r = yield* ssh(server, {
          user: "carol",
          identities: [keys.ed25519.path],
          askpass: [["*", PASSWORD]],
          options: ["PreferredAuthentications=publickey,password"]
        })
        expect(r.code, r.why).toBe(0)
        expect(r.stdout).toBe("ran whoami as carol by publickey,password\n")
        expect(r.stderr).toContain(`Authenticated using "publickey" with partial success.`)
        expect(r.stderr).toContain(`Authenticated to 127.0.0.1 ([127.0.0.1]:${server.port}) using "password".`)
        expect(provenKey(server, r.why).key.fingerprint).toBe(keys.ed25519.fingerprint)
        const result = server.authenticated[0]
        expect(result.methods).toEqual(["publickey", "password"])
        expect(result.credentials.map((c) => c._tag)).toEqual(["PublicKey", "Password"])
        const lines = result.attempts.map(String).filter((l) => !l.startsWith("Failed none"))
        expect(lines.filter((l) => !l.startsWith("Postponed"))).toEqual([
          expect.stringMatching(
            new RegExp(`^Partial publickey for carol from 127\\.0\\.0\\.1 port \\d+ ssh2: ED25519 ${keys.ed25519.fingerprint.replace(/[+/]/g, "\\$&")}$`)
          ),
          expect.stringMatching(/^Accepted password for carol from 127\.0\.0\.1 port \d+ ssh2$/)
        ])

        // The password alone is not the chain's first step: the server offers publickey only.
        const alone = yield* ssh(server, { user: "carol", askpass: [["*", PASSWORD]], options: ["PreferredAuthentications=password"] })
        expect(alone.code, alone.why).toBe(255)
        expect(alone.stderr).toMatch(/carol@127\.0\.0\.1: Permission denied \(publickey\)/)
        expect(alone.prompts).toEqual([])
        expect(server.authenticated).toHaveLength(1)
      }), concurrent)

    it.scoped(
      "an agent key restricted with ssh-add -h to our host key: host-bound login; the agent will not sign for another user or another host",
      () =>
        Effect.gen(function*() {
          const keys = yield* ClientKeys
          const key = keys.ed25519
          const entry = { keys: [key.publicKey] }
          const ours = yield* OurServer.start({ alice: entry, bob: entry })
          const elsewhere = yield* OurServer.start({ alice: entry })
          const agent = yield* SshAgent.start
          // ssh-add looks the destination's host keys up by name in a known_hosts file.
          const dir = yield* tempDir("ssh-add-")
          const knownHosts = path.join(dir, "known_hosts")
          fs.writeFileSync(knownHosts, `our-server ${ours.hostKeyLine}\n`)
          const added = yield* agent.run("ssh-add", ["-H", knownHosts, "-h", "alice@our-server", key.path])
          expect(added.code, added.stderr).toBe(0)
          // ssh picks the agent's key by its public half, alone in a dir: no private key file to fall back on.
          const publicOnly = path.join(dir, "agent-key.pub")
          fs.writeFileSync(publicOnly, `${key.line}\n`)
          const viaAgent = (server: OurServer.OurServer, user: string) =>
            ssh(server, { user, agent: agent.socket, identities: [publicOnly], options: ["PreferredAuthentications=publickey"] })

          const r = yield* viaAgent(ours, "alice")
          expect(r.code, r.why).toBe(0)
          expect(r.stdout).toBe("ran whoami as alice by publickey\n")
          expect(r.stderr).toMatch(/get_agent_identities: bound agent to hostkey/)
          expect(r.stderr).toMatch(/Will attempt key: \S+ ED25519 SHA256:\S+ explicit agent/)
          expect(provenKey(ours, r.why).key.fingerprint).toBe(key.fingerprint)
          const result = ours.authenticated[0]
          expect(result.attempts.filter((a) => a.outcome === "Accepted").map((a) => a.method)).toEqual(["publickey-hostbound-v00@openssh.com"])

          // Same host, a user the constraint does not name: the agent refuses to sign.
          const bob = yield* viaAgent(ours, "bob")
          expect(bob.code, bob.why).toBe(255)
          expect(bob.stderr).toMatch(/agent refused operation/)
          expect(bob.stderr).toMatch(/bob@127\.0\.0\.1: Permission denied \(publickey/)
          expect(ours.authenticated.map((a) => a.user)).toEqual(["alice"])

          // Another host (another host key), the same user: the agent does not even list the key there.
          const other = yield* viaAgent(elsewhere, "alice")
          expect(other.code, other.why).toBe(255)
          expect(other.stderr).toMatch(/get_agent_identities: ssh_fetch_identitylist: agent contains no identities/)
          expect(other.stderr).toMatch(/alice@127\.0\.0\.1: Permission denied \(publickey/)
          expect(elsewhere.authenticated).toEqual([])
          expect(elsewhere.attempts.filter((a) => a.outcome === "Accepted" || a.outcome === "Partial")).toEqual([])
        }),
      concurrent
    )

    it.scoped("ssh host cmd: the command's stdout, stderr and exit status (3) come back through ssh", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* OurServer.start({ alice: alice([keys.ed25519]) })
        const r = yield* ssh(server, { user: "alice", identities: [keys.ed25519.path], command: "exit 3" })
        expect(r.code, r.why).toBe(3)
        expect(r.stdout).toBe("ran exit 3 as alice by publickey\n")
        expect(r.stderr).toMatch(/^exiting 3$/m)
        expect(r.stderr).toMatch(/Exit status 3/)
        expect(server.commands).toEqual(["exit 3"])
        // The session ended as the client closed it: the connection ends without a failure.
        const [ended] = yield* server.awaitEnded(1)
        expect(ended?._tag, r.why).toBe("Success")
      }), concurrent)

    it.scoped("a wrong key is refused: Permission denied, and the server refused exactly that key", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* OurServer.start({ alice: alice([keys.ed25519]) })
        const wrong = keys.wrong[0]
        const r = yield* ssh(server, { user: "alice", identities: [wrong.path], options: ["PreferredAuthentications=publickey"] })
        expect(r.code, r.why).toBe(255)
        expect(r.stderr).toMatch(/alice@127\.0\.0\.1: Permission denied \(publickey,password,keyboard-interactive\)/)
        expect(server.authenticated).toEqual([])
        const refused = server.attempts.filter((a) => a.key !== undefined)
        expect(refused.map((a) => [a.outcome, a.key?.fingerprint])).toEqual([["KeyRefused", wrong.fingerprint]])
      }), concurrent)

    it.scoped("MaxAuthTries 3 with five wrong keys: ssh prints sshd's \"Too many authentication failures\"", () =>
      Effect.gen(function*() {
        const keys = yield* ClientKeys
        const server = yield* OurServer.start({ alice: alice([keys.ed25519]) }, { auth: { maxAuthTries: 3 } })
        const r = yield* ssh(server, { user: "alice", identities: keys.wrong.map((k) => k.path), options: ["PreferredAuthentications=publickey"] })
        expect(r.code, r.why).toBe(255)
        expect(r.stderr).toMatch(/Received disconnect from 127\.0\.0\.1 port \d+:2: Too many authentication failures/)
        yield* server.awaitEnded(1)
        const failure = server.failures()[0]
        expect(failure?.reason, r.why).toBe("TooManyAttempts")
        expect(failure.attempts.filter((a) => a.method !== "none").map((a) => a.key?.fingerprint)).toEqual(keys.wrong.slice(0, 3).map((k) => k.fingerprint))
      }), concurrent)

    it.scoped("MaxAuthTries 3 with wrong passwords: ssh prints \"Too many authentication failures\"", () =>
      Effect.gen(function*() {
        const server = yield* OurServer.start({ alice: alice([]) }, { auth: { maxAuthTries: 3 } })
        const r = yield* ssh(server, {
          user: "alice",
          askpass: [["*", "wrong horse"]],
          options: ["PreferredAuthentications=password", "NumberOfPasswordPrompts=5"]
        })
        expect(r.code, r.why).toBe(255)
        expect(r.stderr).toMatch(/Received disconnect from 127\.0\.0\.1 port \d+:2: Too many authentication failures/)
        expect(r.prompts).toHaveLength(3)
        yield* server.awaitEnded(1)
        const failure = server.failures()[0]
        expect(failure?.reason, r.why).toBe("TooManyAttempts")
        expect(failure.attempts.filter((a) => a.method === "password").map((a) => a.outcome)).toEqual(["Failed", "Failed", "Failed"])
      }), concurrent)
  })
})
