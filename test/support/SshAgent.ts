/**
 * A throwaway `ssh-agent` for the tests, on a socket in a temp dir; the Scope stops it.
 */
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Sshd from "./Sshd.js"

export interface SshAgent {
  readonly socket: string
  /** Runs a program (ssh-add) with SSH_AUTH_SOCK pointing at this agent, and no askpass. */
  readonly run: (file: string, args: ReadonlyArray<string>, input?: string) => ReturnType<typeof Sshd.run>
}

export const start = Effect.gen(function*() {
  const dir = yield* Sshd.tempDir("ssh-agent-")
  const socket = path.join(dir, "agent.sock")
  yield* Effect.acquireRelease(
    Effect.sync(() => spawn("ssh-agent", ["-D", "-a", socket], { stdio: "ignore" })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  )
  // Bounded wait for the socket to appear.
  for (let i = 0; i < 100 && !fs.existsSync(socket); i++) yield* Effect.sleep("50 millis")
  if (!fs.existsSync(socket)) return yield* Effect.dieMessage("ssh-agent did not create its socket within 5 s")
  const env = { SSH_AUTH_SOCK: socket, SSH_ASKPASS: "", DISPLAY: "", SSH_ASKPASS_REQUIRE: "never" }
  const agent: SshAgent = {
    socket,
    run: (file, args, input) => Sshd.run(file, args, { env, ...(input !== undefined ? { input } : {}) })
  }
  return agent
})
