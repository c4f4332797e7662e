/**
 * `npm run demo`: the main job on a fresh clone, with no server of your own. Starts a
 * throwaway sshd on 127.0.0.1 (the test fixture), makes a key with ssh-keygen and an
 * ssh_config naming the server, then runs the real `ssh-auth` binary: `probe`, `config`,
 * `connect --dry-run` (the plan), and `connect -v`, trusting the host through known_hosts
 * (StrictHostKeyChecking accept-new, then yes).
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Sshd from "../test/support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../bin/ssh-auth.js")

const program = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("ssh-auth-demo-")
  const key = path.join(dir, "id_ed25519")
  yield* Sshd.run("ssh-keygen", ["-q", "-N", "", "-t", "ed25519", "-f", key, "-C", "demo"])
  const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
  const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${key}.pub`, "utf8").trim()] })
  const user = os.userInfo().username
  // An ssh_config and a known_hosts of the demo's own, as a user's ~/.ssh would hold them.
  const config = path.join(dir, "config")
  fs.writeFileSync(config, [
    "Host demo",
    "  HostName 127.0.0.1",
    `  Port ${sshd.port}`,
    `  User ${user}`,
    `  IdentityFile ${key}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${path.join(dir, "known_hosts")}`,
    "  GlobalKnownHostsFile /dev/null",
    ""
  ].join("\n"))
  const commands = [
    ["probe", `${user}@127.0.0.1`, "-p", String(sshd.port)],
    ["config", "-F", config, "demo"],
    ["connect", "-F", config, "demo", "--dry-run"],
    ["connect", "-F", config, "demo", "-o", "StrictHostKeyChecking=accept-new", "-v"],
    ["connect", "-F", config, "demo", "-o", "StrictHostKeyChecking=yes", "--json"]
  ]
  let failed = false
  for (const args of commands) {
    console.log(`$ ssh-auth ${args.join(" ")}`)
    const r = yield* Sshd.run(process.execPath, [bin, ...args])
    process.stdout.write(r.stdout)
    process.stderr.write(r.stderr)
    console.log(`(exit ${r.code})\n`)
    failed ||= r.code !== 0
  }
  if (failed) process.exitCode = 1
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(String(e))
  process.exitCode = 1
})
