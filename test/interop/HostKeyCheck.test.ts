/**
 * The ssh_config-driven host-key check against the suite's own sshd: unknown hosts under
 * `yes` and `accept-new`, a changed key, a host certificate through `@cert-authority`, and
 * negotiation steered to the key type known_hosts holds.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import * as HostKeyCheck from "../../src/config/HostKeyCheck.js"
import * as KnownHosts from "../../src/config/KnownHosts.js"
import * as SshConfig from "../../src/config/SshConfig.js"
import { makeTcp } from "../../src/transport/TcpTransport.js"
import { skipInterop } from "../support/Env.js"
import { logOnFailure } from "../support/LogOnFailure.js"
import * as NodeFiles from "../support/NodeFiles.js"
import * as Sshd from "../support/Sshd.js"

class HostKeys extends Context.Tag("test/HostKeyCheck/HostKeys")<HostKeys, Sshd.HostKeys>() {}

const publicLine = (file: string) => fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ")
const fingerprintOf = (file: string) => Effect.map(Sshd.run("ssh-keygen", ["-lf", `${file}.pub`]), ({ stdout }) => stdout.split(" ")[1])

/** Writes an ssh_config for the sshd and connects through the config's host-key check. */
const connectWith = (sshd: Sshd.Sshd, dir: string, lines: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const configFile = path.join(dir, `config-${Math.random().toString(36).slice(2)}`)
    fs.writeFileSync(configFile, [`UserKnownHostsFile ${path.join(dir, "known_hosts")}`, "GlobalKnownHostsFile /dev/null", ...lines, ""].join("\n"))
    const config = yield* SshConfig.resolve({ host: sshd.host, port: sshd.port, configFile })
    const { hostKeyAlgorithms, policy } = yield* HostKeyCheck.fromConfig(config)
    return yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: policy, algorithms: { hostKey: hostKeyAlgorithms } })
  })

describe.skipIf(skipInterop())("interop: the host-key check from ssh_config", () => {
  layer(Layer.merge(Layer.scoped(HostKeys, Sshd.makeHostKeys()), NodeFiles.layer), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("an unknown host is refused under yes, recorded under accept-new (hashed with HashKnownHosts), then known", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const sshd = yield* Sshd.start({ hostKeys, hostKeyTypes: ["ed25519"] })
        yield* logOnFailure(sshd)
        const dir = yield* Sshd.tempDir("hostkeycheck-")
        const refused = yield* Effect.flip(connectWith(sshd, dir, ["StrictHostKeyChecking yes"]))
        expect(refused._tag).toBe("HostKeyRejected")
        expect(refused.message).toMatch(/no ssh-ed25519 host key is known/)
        expect(fs.existsSync(path.join(dir, "known_hosts"))).toBe(false)

        yield* Effect.scoped(connectWith(sshd, dir, ["StrictHostKeyChecking accept-new", "HashKnownHosts yes"]))
        const recorded = fs.readFileSync(path.join(dir, "known_hosts"), "utf8")
        expect(recorded).toMatch(/^\|1\|/)
        // ssh-keygen finds the hashed entry under the host's [host]:port name.
        const found = yield* Sshd.run("ssh-keygen", ["-F", `[${sshd.host}]:${sshd.port}`, "-f", path.join(dir, "known_hosts")])
        expect(found.stdout).toContain(publicLine(hostKeys.files.ed25519).split(" ")[1])

        const again = yield* connectWith(sshd, dir, ["StrictHostKeyChecking yes"])
        expect(again.hostKey.type).toBe("ssh-ed25519")
      }))

    it.scoped("a changed host key is refused with both fingerprints, even under StrictHostKeyChecking no", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const sshd = yield* Sshd.start({ hostKeys, hostKeyTypes: ["ed25519"] })
        yield* logOnFailure(sshd)
        const dir = yield* Sshd.tempDir("hostkeycheck-")
        const other = path.join(dir, "other")
        yield* Sshd.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other])
        fs.writeFileSync(path.join(dir, "known_hosts"), `# an old key\n[${sshd.host}]:${sshd.port} ${publicLine(other)}\n`)
        const served = yield* fingerprintOf(hostKeys.files.ed25519)
        const expected = yield* fingerprintOf(other)
        for (const mode of ["yes", "accept-new", "no"]) {
          const error = yield* Effect.flip(connectWith(sshd, dir, [`StrictHostKeyChecking ${mode}`]))
          expect(error._tag).toBe("HostKeyRejected")
          expect(error.message).toContain("REMOTE HOST IDENTIFICATION HAS CHANGED")
          expect(error.message).toContain(served)
          expect(error.message).toContain(expected)
          expect(error.message).toContain(`${path.join(dir, "known_hosts")}:2`)
        }
      }))

    it.scoped("a host certificate signed by a @cert-authority CA is accepted; one for another host name is not", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const dir = yield* Sshd.tempDir("hostkeycheck-")
        const ca = path.join(dir, "ca")
        yield* Sshd.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", ca])
        const certify = (principal: string, name: string) =>
          Effect.gen(function*() {
            const pub = path.join(dir, `${name}.pub`)
            fs.copyFileSync(`${hostKeys.files.ed25519}.pub`, pub)
            const signed = yield* Sshd.run("ssh-keygen", ["-q", "-s", ca, "-h", "-I", name, "-n", principal, pub])
            expect(signed.code).toBe(0)
            return path.join(dir, `${name}-cert.pub`)
          })
        for (const [principal, accepted] of [["127.0.0.1", true], ["elsewhere.example", false]] as const) {
          const cert = yield* certify(principal, `host-${accepted}`)
          const sshd = yield* Sshd.start({ hostKeys, hostKeyTypes: ["ed25519"], config: [`HostCertificate ${cert}`] })
          yield* logOnFailure(sshd)
          fs.writeFileSync(path.join(dir, "known_hosts"), `@cert-authority [${sshd.host}]:${sshd.port} ${publicLine(ca)}\n`)
          const result = yield* Effect.either(connectWith(sshd, dir, ["StrictHostKeyChecking yes"]))
          if (accepted) {
            expect(result._tag).toBe("Right")
            if (result._tag === "Right") expect(result.right.algorithms.hostKey).toBe("ssh-ed25519-cert-v01@openssh.com")
          } else {
            expect(result._tag === "Left" && result.left.message).toMatch(/not among its principals/)
          }
        }
      }))

    it.scoped("HostKeyAlias: the host is looked up and recorded under the alias", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const sshd = yield* Sshd.start({ hostKeys, hostKeyTypes: ["ed25519"] })
        yield* logOnFailure(sshd)
        const dir = yield* Sshd.tempDir("hostkeycheck-")
        fs.writeFileSync(path.join(dir, "known_hosts"), `build-server ${publicLine(hostKeys.files.ed25519)}\n`)
        const viaAlias = yield* connectWith(sshd, dir, ["StrictHostKeyChecking yes", "HostKeyAlias build-server"])
        expect(viaAlias.hostKey.type).toBe("ssh-ed25519")
        const withoutAlias = yield* Effect.flip(connectWith(sshd, dir, ["StrictHostKeyChecking yes"]))
        expect(withoutAlias._tag).toBe("HostKeyRejected")
        yield* Effect.scoped(connectWith(sshd, dir, ["StrictHostKeyChecking accept-new", "HostKeyAlias other-alias"]))
        expect(fs.readFileSync(path.join(dir, "known_hosts"), "utf8")).toMatch(/^other-alias ssh-ed25519 /m)
      }))

    it.scoped("negotiation prefers the key type known_hosts holds", () =>
      Effect.gen(function*() {
        const hostKeys = yield* HostKeys
        const sshd = yield* Sshd.start({ hostKeys, hostKeyTypes: ["ed25519", "ecdsa-p384", "rsa"] })
        yield* logOnFailure(sshd)
        const dir = yield* Sshd.tempDir("hostkeycheck-")
        fs.writeFileSync(path.join(dir, "known_hosts"), `[${sshd.host}]:${sshd.port} ${publicLine(hostKeys.files["ecdsa-p384"])}\n`)
        const connection = yield* connectWith(sshd, dir, ["StrictHostKeyChecking yes"])
        expect(connection.algorithms.hostKey).toBe("ecdsa-sha2-nistp384")
        // The same known_hosts with ssh's default order would have met an unknown ed25519 key.
        const entries = (yield* KnownHosts.readFile(path.join(dir, "known_hosts"))).entries
        expect(KnownHosts.knownAlgorithms(entries, sshd.host, sshd.port)).toEqual(["ecdsa-sha2-nistp384"])
        const error = yield* Effect.flip(Effect.gen(function*() {
          const configFile = path.join(dir, "plain")
          fs.writeFileSync(configFile, `UserKnownHostsFile ${path.join(dir, "known_hosts")}\nGlobalKnownHostsFile /dev/null\nStrictHostKeyChecking yes\n`)
          const config = yield* SshConfig.resolve({ host: sshd.host, port: sshd.port, configFile })
          return yield* makeTcp({ host: sshd.host, port: sshd.port, hostKeyPolicy: yield* HostKeyCheck.make(HostKeyCheck.optionsFromConfig(config)) })
        }))
        expect(error.message).toMatch(/keys of other types are known: ecdsa-sha2-nistp384/)
      }))
  })
})
