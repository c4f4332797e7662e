/**
 * The connection core's server role against real clients: OpenSSH's `ssh` and paramiko
 * complete the key exchange with it and get the ssh-userauth service accepted. `ssh -v`
 * and paramiko's transport state are the judges: the host key fingerprint they saw, the
 * algorithms they negotiated, and SERVICE_ACCEPT received.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { kexMethods } from "../../src/transport/kex/KexMethod.js"
import { coreServer } from "../support/CoreServer.js"
import { isCI } from "../support/Env.js"
import { run } from "../support/Sshd.js"
import { hasTool, openSshHasKex, requireTool } from "../support/Tools.js"

const hostKeys = [
  PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32)),
  PrivateKey.fromEcdsaScalar(nodeCurves, "P-256", crypto.randomBytes(32)),
  PrivateKey.fromEcdsaScalar(nodeCurves, "P-384", crypto.randomBytes(48)),
  PrivateKey.fromRsaKeyObject(crypto.generateKeyPairSync("rsa", { modulusLength: 3072 }).privateKey)
]
const fingerprintOf = (type: string) => PublicKey.fingerprintSha256(hostKeys.find((k) => PublicKey.algorithmsFor(k.publicKey).includes(type))!.publicKey)

const ssh = (port: number, options: ReadonlyArray<string>) =>
  run("ssh", [
    "-v",
    "-F",
    "/dev/null",
    "-p",
    String(port),
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
    "-o",
    "PreferredAuthentications=publickey",
    ...options.flatMap((o) => ["-o", o]),
    "someone@127.0.0.1",
    "true"
  ], { timeoutMs: 20_000 })

describe.skipIf(!hasTool("ssh"))("the core's server role against OpenSSH's ssh", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>, RegExp]> = [
    ...["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "rsa-sha2-512", "rsa-sha2-256"].map((alg) =>
      [`host key ${alg}`, [`HostKeyAlgorithms=${alg}`], new RegExp(`kex: host key algorithm: ${alg}`)] as const
    ),
    // Only what this ssh has: 9.2 lacks ML-KEM, which the OpenSSH 10 transcript covers.
    ...[...kexMethods.keys()].filter(openSshHasKex).map((kex) =>
      [`kex ${kex}`, [`KexAlgorithms=${kex}`], new RegExp(`kex: algorithm: ${kex.replace(/[.@]/g, "\\$&")}`)] as const
    ),
    ...["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"].map((cipher) =>
      [`cipher ${cipher}`, [`Ciphers=${cipher}`], new RegExp(`kex: client->server cipher: ${cipher.replace(/[.@]/g, "\\$&")}`)] as const
    ),
    ...["hmac-sha2-256", "hmac-sha2-512-etm@openssh.com"].map((mac) =>
      [`MAC ${mac}`, ["Ciphers=aes128-ctr", `MACs=${mac}`], new RegExp(`MAC: ${mac.replace(/[.@]/g, "\\$&")}`)] as const
    )
  ]
  for (const [name, options, negotiated] of cases) {
    it.scopedLive(`${name}: kex done, host key as ours, SERVICE_ACCEPT received, then publickey refused`, () =>
      Effect.gen(function*() {
        requireTool("ssh")
        const { log, port } = yield* coreServer(hostKeys)
        const r = yield* ssh(port, options)
        expect(r.stderr).toMatch(negotiated)
        expect(r.stderr).toMatch(/Remote protocol version 2\.0, remote software version effect_ssh_auth_core/)
        const shown = /Server host key: (\S+) (SHA256:\S+)/.exec(r.stderr)
        expect(shown?.[2]).toBe(fingerprintOf(shown?.[1] === "ssh-rsa" ? "rsa-sha2-512" : shown![1]))
        expect(r.stderr).toMatch(/kex: strict kex: enabled|kex_exchange_identification|SSH2_MSG_NEWKEYS received/)
        expect(r.stderr).toMatch(/SSH2_MSG_SERVICE_ACCEPT received/)
        expect(r.stderr).toMatch(/Permission denied \(publickey\)/)
        expect(r.code).toBe(255)
        expect(log.services).toEqual(["ssh-userauth"])
        expect(log.userauthRequests.some((q) => q.includes("someone"))).toBe(true)
      }))
  }
})

/** paramiko (Debian's python3-paramiko) connects, checks the host key and asks for the ssh-userauth service. */
const paramikoScript = `
import base64, hashlib, json, socket, sys, paramiko
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
t = paramiko.Transport(s)
if sys.argv[2] != "-":
    t.get_security_options().key_types = [sys.argv[2]]
if sys.argv[3] != "-":
    t.get_security_options().kex = [sys.argv[3]]
t.start_client(timeout=15)
key = t.get_remote_server_key()
allowed = None
try:
    t.auth_none("someone")
except paramiko.BadAuthenticationType as e:
    allowed = e.allowed_types
print(json.dumps({
    "active": t.is_active(),
    "authenticated": t.is_authenticated(),
    "key_type": key.get_name(),
    "fingerprint": "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("="),
    "remote_version": t.remote_version,
    "cipher": t.remote_cipher,
    "allowed": allowed,
}))
t.close()
`

/** Debian's paramiko: missing, its tests skip and say so; under CI=true they fail. */
const hasParamiko = (() => {
  const found = spawnSync("/usr/bin/python3", ["-c", "import paramiko"], { stdio: "ignore" }).status === 0
  if (found) return true
  if (isCI) throw new Error("CI=true but Debian's python3-paramiko is not installed (.ci/run installs it)")
  console.warn("\n*** server-role tests against paramiko SKIPPED: /usr/bin/python3 cannot import paramiko ***\n")
  return false
})()

describe.skipIf(!hasParamiko)("the core's server role against paramiko", () => {
  const cases: ReadonlyArray<readonly [string, string]> = [
    ["ssh-ed25519", "-"],
    ["ecdsa-sha2-nistp256", "-"],
    ["rsa-sha2-512", "-"],
    ["rsa-sha2-256", "-"],
    ["ssh-ed25519", "curve25519-sha256@libssh.org"],
    ["ssh-ed25519", "ecdh-sha2-nistp256"],
    ["ssh-ed25519", "ecdh-sha2-nistp521"],
    ["ssh-ed25519", "diffie-hellman-group16-sha512"],
    ["ssh-ed25519", "diffie-hellman-group14-sha256"]
  ]
  for (const [keyType, kex] of cases) {
    it.scopedLive(`host key ${keyType}, kex ${kex === "-" ? "paramiko's choice" : kex}: handshake, host key, ssh-userauth accepted`, () =>
      Effect.gen(function*() {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "core-paramiko-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
        const script = path.join(dir, "client.py")
        fs.writeFileSync(script, paramikoScript)
        const { log, port } = yield* coreServer(hostKeys)
        const r = yield* run("/usr/bin/python3", [script, String(port), keyType, kex], { timeoutMs: 30_000 })
        expect(r.stderr).toBe("")
        expect(r.code).toBe(0)
        const state = JSON.parse(r.stdout)
        expect(state.active).toBe(true)
        expect(state.authenticated).toBe(false)
        expect(state.remote_version).toBe("SSH-2.0-effect_ssh_auth_core")
        expect(state.fingerprint).toBe(fingerprintOf(keyType))
        expect(state.allowed).toEqual(["publickey"])
        expect(log.services).toEqual(["ssh-userauth"])
        const core = log.connections[0]
        expect(core.negotiated?.hostKey).toBe(keyType)
        if (kex !== "-") expect(core.negotiated?.kex).toBe(kex)
      }))
  }
})
