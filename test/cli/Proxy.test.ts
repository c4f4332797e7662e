/**
 * `ssh-auth connect` through proxies, as ssh_config and `-J` say, with real sshds on
 * loopback: a bastion, a second bastion, and a target that refuses every direct connection
 * (an nftables rule lets through only the bastions' session processes, which run as the
 * run's test user). Every hop's host key is checked against one known_hosts file. The
 * bastions' logs show the forwarding; the failures are typed and name the hop, and none
 * falls back to a direct connection.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { skipInterop, skipUnlessRoot } from "../support/Env.js"
import * as Firewall from "../support/Firewall.js"
import * as Sshd from "../support/Sshd.js"
import { hasTool, requireTool } from "../support/Tools.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")

const missing = (tool: string, pkg: string): boolean => {
  if (hasTool(tool)) return false
  if (process.env.CI === "true") requireTool(tool)
  console.warn(`\n*** ssh-auth connect through proxies SKIPPED: ${tool} not found; install ${pkg} (.ci/run does) ***\n`)
  return true
}

/** An SSH client got as far as the version exchange (the fixture's readiness probe does not). */
const clientArrived = /Remote protocol version|userauth|Accepted|Failed publickey/
const forwardedTo = (port: number) => new RegExp(`server_request_direct_tcpip: originator [^,]+, target 127\\.0\\.0\\.1 port ${port}\\b`)

/** Three sshds, a key they all trust, a known_hosts with their keys, and an ssh_config naming them. */
const setup = Effect.gen(function*() {
  const user = yield* Sshd.ensureTestUser()
  const dir = yield* Sshd.tempDir("proxy-cli-")
  const key = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", key])
  const authorizedKeys = [fs.readFileSync(`${key}.pub`, "utf8").trim()]
  const start = (config: ReadonlyArray<string> = []) => Sshd.start({ authorizedKeys, config: ["LogLevel DEBUG1", ...config] })
  const [bastion, bastion2, closed, target] = yield* Effect.all([start(), start(), start(["AllowTcpForwarding no"]), start()], { concurrency: "unbounded" })
  yield* Firewall.refuseAllBut(target.port, yield* Firewall.uidOf(user.name))
  const pub = (sshd: Sshd.Sshd) => Sshd.hostKeyLine(sshd.hostKeys)
  const knownHosts = path.join(dir, "known_hosts")
  fs.writeFileSync(knownHosts, [bastion, bastion2, closed, target].map((s) => `[127.0.0.1]:${s.port} ${pub(s)}`).join("\n") + "\n")
  const sshConfig = path.join(dir, "ssh_config")
  const host = (alias: string, sshd: Sshd.Sshd, extra: ReadonlyArray<string> = []) =>
    [`Host ${alias}`, "  HostName 127.0.0.1", `  Port ${sshd.port}`, ...extra.map((l) => `  ${l}`)].join("\n")
  fs.writeFileSync(
    sshConfig,
    [
      host("bastion", bastion),
      host("bastion2", bastion2),
      host("closed", closed),
      host("target", target, ["ProxyJump bastion"]),
      host("target-ssh", target, [`ProxyCommand ssh -F ${sshConfig} -W %h:%p bastion`]),
      host("bastion-nc", bastion, ["ProxyCommand nc %h %p"]),
      host("target-nc", target, [`ProxyCommand ssh -F ${sshConfig} bastion nc %h %p`]),
      "Host *",
      ...Sshd.closedClientLines({ user: user.name, identityFile: key, knownHosts }),
      ""
    ].join("\n")
  )
  const connect = (args: ReadonlyArray<string>) =>
    Sshd.run(process.execPath, [bin, "connect", "-F", sshConfig, "-o", "IdentityAgent=none", ...args], { timeoutMs: 40_000 })
  return { user, bastion, bastion2, closed, target, knownHosts, sshConfig, connect, pub }
})

describe.skipIf(
  skipInterop() || skipUnlessRoot("ssh-auth connect through proxies (a test user, an nftables rule)") || missing("nft", "nftables") ||
    missing("nc", "netcat-openbsd")
)("ssh-auth connect through proxies, the target refusing every direct connection", () => {
  it.scopedLive("ProxyJump from ssh_config: the bastion forwards, and -v says so as ssh does, the bastion authenticated first", () =>
    Effect.gen(function*() {
      const { bastion, connect, target } = yield* setup
      const direct = yield* connect(["-o", "ProxyJump=none", "target"])
      expect(direct.code, "the direct path is closed").toBe(255)
      expect(direct.stderr).toMatch(/ECONNREFUSED|cannot connect/)

      const r = yield* connect(["-v", "target"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout.trim().split("\n").at(-1)).toMatch(/ -> success \(\d+\.\d ms\)$/)
      const lines = r.stderr.split("\n")
      const implicit = lines.findIndex((l) => l === "debug1: Setting implicit ProxyCommand from ProxyJump: ssh -W '[%h]:%p' bastion")
      const viaBastion = lines.findIndex((l) => l === `debug1: Authenticated to 127.0.0.1 ([127.0.0.1]:${bastion.port}) using "publickey".`)
      const atTarget = lines.findIndex((l) => l === `debug1: Authenticated to 127.0.0.1 ([127.0.0.1]:${target.port}) using "publickey".`)
      expect([implicit >= 0, viaBastion > implicit, atTarget > viaBastion], r.stderr).toEqual([true, true, true])
      expect(yield* bastion.readLog).toMatch(forwardedTo(target.port))
    }))

  it.scopedLive("-J with two hops: a chain of three connections, each bastion forwarding to the next", () =>
    Effect.gen(function*() {
      const { bastion, bastion2, connect, target } = yield* setup
      const r = yield* connect(["-v", "-J", "bastion,bastion2", "target"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toContain("debug1: Setting implicit ProxyCommand from ProxyJump: ssh -J bastion -W '[%h]:%p' bastion2")
      expect(yield* bastion.readLog).toMatch(forwardedTo(bastion2.port))
      expect(yield* bastion2.readLog).toMatch(forwardedTo(target.port))
      expect(yield* bastion.readLog).not.toMatch(forwardedTo(target.port))
    }))

  it.scopedLive("--dry-run shows every hop with its user, host, port and strategy, and connects to nothing", () =>
    Effect.gen(function*() {
      const { bastion, bastion2, connect, target, user } = yield* setup
      const r = yield* connect(["--dry-run", "-J", "bastion,bastion2", "target"])
      expect(r.code, r.stderr).toBe(0)
      const lines = r.stdout.split("\n")
      const first = lines.indexOf(`jump host ${user.name}@127.0.0.1 port ${bastion.port} (ProxyJump bastion):`)
      const second = lines.indexOf(`jump host ${user.name}@127.0.0.1 port ${bastion2.port} (ProxyJump bastion,bastion2):`)
      const last = lines.indexOf(`plan for ${user.name}@127.0.0.1 port ${target.port}:`)
      expect([first >= 0, second > first, last > second], r.stdout).toEqual([true, true, true])
      expect(lines[first + 1], "each hop's strategy, indented, \"none\" first").toMatch(/^  0\. none, /)
      expect(lines[first + 2]).toMatch(/^  1\. /)
      expect(yield* bastion.readLog).not.toMatch(clientArrived)
    }))

  it.scopedLive("ProxyCommand ssh -W %h:%p bastion: OpenSSH as the proxy", () =>
    Effect.gen(function*() {
      const { bastion, connect, target } = yield* setup
      const r = yield* connect(["target-ssh"])
      expect(r.code, r.stderr).toBe(0)
      expect(yield* bastion.readLog).toMatch(forwardedTo(target.port))
    }))

  it.scopedLive("ProxyCommand ssh bastion nc %h %p: nc on the bastion carries the login to the target", () =>
    Effect.gen(function*() {
      const { bastion, connect, target, user } = yield* setup
      const r = yield* connect(["target-nc"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/ -> success/)
      // The bastion ran nc for us (a session with a command), and the target, which refuses
      // every other connection, let that one in.
      expect(yield* bastion.readLog).toMatch(new RegExp(`Starting session: command for ${user.name} from 127\\.0\\.0\\.1`))
      expect(yield* target.readLog).toMatch(new RegExp(`Accepted publickey for ${user.name} from 127\\.0\\.0\\.1`))
    }))

  it.scopedLive("ProxyCommand nc %h %p", () =>
    Effect.gen(function*() {
      const { connect } = yield* setup
      const r = yield* connect(["bastion-nc"])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/ -> success/)
    }))

  it.scopedLive("a bastion with AllowTcpForwarding no: a typed refusal naming the bastion and the reason", () =>
    Effect.gen(function*() {
      const { closed, connect, target } = yield* setup
      const r = yield* connect(["-J", "closed", "target"])
      expect(r.code).toBe(255)
      expect(r.stderr).toContain(`ssh-auth: 127.0.0.1:${closed.port} refused a channel to 127.0.0.1:${target.port}: ADMINISTRATIVELY_PROHIBITED (1)`)
      expect(yield* target.readLog).not.toMatch(clientArrived)
    }))

  it.scopedLive("a bastion that refuses our key: the chain stops there, naming the hop", () =>
    Effect.gen(function*() {
      const { bastion, connect, target } = yield* setup
      const r = yield* connect(["-J", `nosuchuser@bastion`, "target"])
      expect(r.code).toBe(255)
      expect(r.stderr).toMatch(new RegExp(`^ssh-auth: jump host nosuchuser@127\\.0\\.0\\.1:${bastion.port}: authentication failed`, "m"))
      expect(yield* target.readLog).not.toMatch(clientArrived)
    }))

  it.scopedLive("a changed bastion host key stops the chain at the bastion, before any credential is sent", () =>
    Effect.gen(function*() {
      const { bastion, connect, knownHosts, target, pub, bastion2 } = yield* setup
      // The bastion's line now holds another host's key.
      const text = fs.readFileSync(knownHosts, "utf8").replace(`[127.0.0.1]:${bastion.port} ${pub(bastion)}`, `[127.0.0.1]:${bastion.port} ${pub(bastion2)}`)
      fs.writeFileSync(knownHosts, text)
      const r = yield* connect(["target"])
      expect(r.code).toBe(255)
      expect(r.stderr).toMatch(new RegExp(`^ssh-auth: jump host [^ ]+@127\\.0\\.0\\.1:${bastion.port}: .*host key`, "mi"))
      expect(yield* bastion.readLog).not.toMatch(/userauth|Accepted|Failed publickey/)
      expect(yield* target.readLog).not.toMatch(clientArrived)
    }))

  it.scopedLive("a ProxyCommand that exits at once: its command and status, exit 255", () =>
    Effect.gen(function*() {
      const { bastion, connect } = yield* setup
      const r = yield* connect(["-o", "ProxyCommand=sh -c 'exit 3'", "bastion"])
      expect(r.code).toBe(255)
      expect(r.stderr).toContain(`ssh-auth: 127.0.0.1:${bastion.port}: ProxyCommand: ProxyCommand "sh -c 'exit 3'" exited with status 3`)
      expect(yield* bastion.readLog, "no direct connection instead").not.toMatch(clientArrived)
    }))

  it.scopedLive("a ProxyCommand that never speaks is held to ConnectTimeout", () =>
    Effect.gen(function*() {
      const { bastion, connect } = yield* setup
      const started = Date.now()
      const r = yield* connect(["-o", "ProxyCommand=sleep 60", "-o", "ConnectTimeout=1", "bastion"])
      expect(r.code).toBe(255)
      expect(yield* bastion.readLog, "no direct connection instead").not.toMatch(clientArrived)
      expect(r.stderr).toMatch(/^ssh-auth: 127\.0\.0\.1:\d+: version exchange: no identification string from the server within 1s$/m)
      expect(Date.now() - started).toBeLessThan(15_000)
    }))

  it.scopedLive("ProxyUseFdpass is refused, not ignored: no connection is made some other way", () =>
    Effect.gen(function*() {
      const { bastion, connect } = yield* setup
      const r = yield* connect(["-o", "ProxyUseFdpass=yes", "bastion-nc"])
      expect(r.code).toBe(255)
      expect(r.stderr).toMatch(/ProxyUseFdpass yes is not supported/)
      expect(yield* bastion.readLog).not.toMatch(clientArrived)
    }))
})
