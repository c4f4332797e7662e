/**
 * `npm run demo`: the main job on a fresh clone, with no server of your own. Starts a
 * throwaway sshd on 127.0.0.1 (the test fixture), makes a key with ssh-keygen, then runs the
 * real `ssh-auth` binary: `probe`, then `connect` with the key, pinned to the host key.
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
  const fingerprint = (yield* Sshd.run("ssh-keygen", ["-lf", `${hostKeys.files.ed25519}.pub`])).stdout.split(" ")[1]
  const user = os.userInfo().username
  const commands = [
    ["probe", `${user}@127.0.0.1`, "-p", String(sshd.port)],
    ["connect", `${user}@127.0.0.1`, "-p", String(sshd.port), "-i", key, "--host-key", fingerprint]
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
