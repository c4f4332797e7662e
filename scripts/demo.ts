/**
 * `npm run demo`: the main job on a fresh clone, with no server of your own and no sshd.
 * It starts our server in this process on 127.0.0.1 (a user table: alice by key or password,
 * bob by key and password), makes a host key and user keys in memory, writes an ssh_config
 * naming them, then runs the real `ssh-auth` binary against it: the dry-run plan, a key, a
 * password, a two-factor chain, and a wrong key that must exit 255. Each server-side attempt
 * is printed as sshd logs it. Where OpenSSH is installed, `ssh` logs into our server too, and
 * where an sshd can run, our client logs into a throwaway one.
 */
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import { execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeCurves } from "../src/crypto/NodeCurves.js"
import * as OpenSshKeyV1 from "../src/keys/OpenSshKeyV1.js"
import * as PrivateKey from "../src/keys/PrivateKey.js"
import * as PublicKeyText from "../src/keys/PublicKeyText.js"
import * as Server from "../src/server/Server.js"
import { sshdLogLine } from "../src/server/ServerAuthResult.js"
import { serveExec } from "../src/server/Session.js"
import * as UserTable from "../src/server/UserTable.js"
import { sshdPath } from "../test/support/Env.js"
import * as Sshd from "../test/support/Sshd.js"

const bin = path.resolve(import.meta.dirname, "../bin/ssh-auth.js")
const PASSWORD = "correct horse battery staple"

/** A program that can run here: present, a regular file, executable (a hidden sshd is none of these). */
const usable = (file: string): boolean => {
  try {
    const resolved = file.includes("/") ? file : execFileSync("sh", ["-c", `command -v ${file}`], { encoding: "utf8" }).trim()
    fs.accessSync(resolved, fs.constants.X_OK)
    return fs.statSync(resolved).isFile()
  } catch {
    return false
  }
}

const writeKey = (dir: string, name: string) => {
  const key = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32), `demo ${name}`)
  const file = path.join(dir, name)
  fs.writeFileSync(file, OpenSshKeyV1.write(key), { mode: 0o600 })
  fs.writeFileSync(`${file}.pub`, `${PublicKeyText.format(key.publicKey, `demo ${name}`)}\n`)
  return { key, file }
}

interface Step {
  readonly title: string
  readonly file: string
  readonly args: ReadonlyArray<string>
  readonly expect: number
  readonly env?: Record<string, string>
}

const program = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("ssh-auth-demo-")
  const alice = writeKey(dir, "id_alice")
  const stranger = writeKey(dir, "id_stranger")
  const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32), "demo host key")

  const server = yield* Server.listen({
    hostKeys: [hostKey],
    auth: {
      onAttempt: (attempt) =>
        Effect.sync(() => {
          const line = sshdLogLine(attempt)
          if (line !== undefined) console.log(`  [server] ${line}`)
        })
    },
    onAuthenticated: ({ connection, result }) =>
      serveExec(connection, result, () => Effect.succeed({ stdout: `authenticated ${result.user} by ${result.methods.join(",")}\n`, exitStatus: 0 }))
  }).pipe(Effect.provide(UserTable.layer({
    alice: { keys: [alice.key.publicKey], password: Redacted.make(PASSWORD) },
    bob: { keys: [alice.key.publicKey], password: Redacted.make(PASSWORD), methods: [["publickey", "password"]] }
  })))
  console.log(`Our server is listening on 127.0.0.1 port ${server.port}; users: alice (key or password), bob (key, then password).\n`)

  // An ssh_config and a known_hosts of the demo's own, as a user's ~/.ssh would hold them.
  const config = path.join(dir, "config")
  const host = (alias: string, user: string, lines: ReadonlyArray<string>) => [
    `Host ${alias}`,
    "  HostName 127.0.0.1",
    `  Port ${server.port}`,
    `  User ${user}`,
    "  IdentitiesOnly yes",
    `  UserKnownHostsFile ${path.join(dir, "known_hosts")}`,
    "  GlobalKnownHostsFile /dev/null",
    "  StrictHostKeyChecking accept-new",
    ...lines.map((l) => `  ${l}`)
  ]
  fs.writeFileSync(
    config,
    [
      ...host("alice-key", "alice", [`IdentityFile ${alice.file}`, "PreferredAuthentications publickey"]),
      ...host("alice-password", "alice", ["PubkeyAuthentication no", "PreferredAuthentications password"]),
      ...host("bob-two-factor", "bob", [`IdentityFile ${alice.file}`, "PreferredAuthentications publickey,password"]),
      ...host("wrong-key", "alice", [`IdentityFile ${stranger.file}`, "PreferredAuthentications publickey"]),
      ""
    ].join("\n")
  )

  const env = { DEMO_PASSWORD: PASSWORD }
  const steps: Array<Step> = [
    {
      title: "the plan, without connecting",
      file: bin,
      args: ["connect", "-F", config, "bob-two-factor", "--password-env", "DEMO_PASSWORD", "--dry-run"],
      expect: 0,
      env
    },
    { title: "a key (the host key is recorded in known_hosts: accept-new)", file: bin, args: ["connect", "-F", config, "alice-key", "-v"], expect: 0 },
    { title: "a password", file: bin, args: ["connect", "-F", config, "alice-password", "--password-env", "DEMO_PASSWORD"], expect: 0, env },
    {
      title: "a two-factor chain: the key is a partial success, the password completes it",
      file: bin,
      args: ["connect", "-F", config, "bob-two-factor", "--password-env", "DEMO_PASSWORD"],
      expect: 0,
      env
    },
    { title: "a key the server does not know: exit 255, as ssh", file: bin, args: ["connect", "-F", config, "wrong-key"], expect: 255 }
  ]
  if (usable("ssh")) {
    steps.push({
      title: "OpenSSH's ssh logs into our server and runs a command",
      file: "ssh",
      args: ["-F", config, "-o", "BatchMode=yes", "alice-key", "whoami"],
      expect: 0
    })
  } else {
    console.log("(OpenSSH's ssh is not installed: the step where it logs into our server is left out)\n")
  }

  let failed = false
  const runStep = (step: Step) =>
    Effect.gen(function*() {
      console.log(`# ${step.title}`)
      console.log(`$ ${step.file === bin ? "ssh-auth" : step.file} ${step.args.join(" ")}`)
      const r = yield* Sshd.run(
        step.file === bin ? process.execPath : step.file,
        step.file === bin ? [bin, ...step.args] : step.args,
        step.env ? { env: step.env } : {}
      )
      process.stdout.write(r.stdout)
      process.stdout.write(r.stderr)
      const ok = r.code === step.expect
      console.log(`(exit ${r.code}${ok ? "" : `, expected ${step.expect}`})\n`)
      failed ||= !ok
    })
  for (const step of steps) yield* runStep(step)

  if (sshdPath !== undefined && usable(sshdPath) && usable("ssh-keygen")) {
    const hostKeys = yield* Sshd.makeHostKeys(["ed25519"])
    const sshd = yield* Sshd.start({ hostKeys, authorizedKeys: [fs.readFileSync(`${alice.file}.pub`, "utf8").trim()] })
    const user = os.userInfo().username
    yield* runStep({
      title: "our client against a throwaway OpenSSH sshd",
      file: bin,
      args: [
        "connect",
        `${user}@127.0.0.1`,
        "-p",
        String(sshd.port),
        "-i",
        alice.file,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        `UserKnownHostsFile=${path.join(dir, "known_hosts")}`,
        "-o",
        "StrictHostKeyChecking=accept-new"
      ],
      expect: 0
    })
  } else {
    console.log("(no usable sshd here: the step where our client logs into OpenSSH's sshd is left out)\n")
  }
  if (failed) process.exitCode = 1
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(String(e))
  process.exitCode = 1
})
