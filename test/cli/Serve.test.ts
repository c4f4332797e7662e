/**
 * `ssh-auth serve` as a process: what it prints at start, sshd's log lines and JSON lines,
 * exec's answer naming the user and the chain, a bad option, and a clean stop on SIGTERM
 * that sends every open connection a DISCONNECT. OpenSSH's `ssh` is the client.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { skipInterop } from "../support/Env.js"

const bin = path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "serve-test-"))
const skip = skipInterop()
const key = path.join(dir, "id")
const askpass = path.join(dir, "askpass")
if (!skip) {
  spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
  fs.writeFileSync(path.join(dir, "authorized_keys"), fs.readFileSync(`${key}.pub`))
  fs.writeFileSync(askpass, "#!/bin/sh\necho 'the password'\n", { mode: 0o755 })
}

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

interface Running {
  readonly child: ChildProcess
  readonly port: number
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/** Starts `serve` and waits (bounded) for its "Server listening" line. */
const serve = async (args: ReadonlyArray<string>): Promise<Running> => {
  const child = spawn(process.execPath, [bin, "serve", "-p", "0", "--user", "alice", "--authorized-keys", path.join(dir, "authorized_keys"), ...args], {
    env: { ...process.env, SERVE_PW: "the password" }
  })
  let output = ""
  child.stdout!.on("data", (d) => (output += d))
  child.stderr!.on("data", (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  for (let i = 0; i < 100; i++) {
    const m = /Server listening on 127\.0\.0\.1 port (\d+)\./.exec(output)
    if (m) return { child, port: Number(m[1]), output: () => output, exited }
    if (child.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill("SIGKILL")
  throw new Error(`serve did not start: ${output}`)
}

const ssh = (port: number, extra: ReadonlyArray<string>, command?: string) =>
  spawnSync("ssh", [
    "-F",
    "/dev/null",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    `UserKnownHostsFile=${path.join(dir, "known_hosts")}`,
    "-i",
    key,
    "-p",
    String(port),
    ...extra,
    "alice@127.0.0.1",
    ...(command ? [command] : [])
  ], { encoding: "utf8", timeout: 20_000, env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: "none" } })

/** Waits (bounded) until the server's output matches. */
const printed = async (running: Running, pattern: RegExp) => {
  for (let i = 0; i < 100 && !pattern.test(running.output()); i++) await new Promise((r) => setTimeout(r, 20))
  return running.output()
}

const stop = async (running: Running) => {
  running.child.kill("SIGTERM")
  const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 10_000))
  return Promise.race([running.exited, timeout])
}

describe.skipIf(skip)("ssh-auth serve", () => {
  it("prints the host key, logs in sshd's words, and exec names the user and the chain", async () => {
    const running = await serve(["--password-env", "SERVE_PW", "-o", "AuthenticationMethods=publickey,password"])
    try {
      expect(running.output()).toMatch(/^ED25519 SHA256:[A-Za-z0-9+/]{43} \(host key\)$/m)
      const r = ssh(running.port, [], "anything")
      expect(r.stdout).toBe("authenticated alice by publickey,password\n")
      expect(r.status).toBe(0)
      const log = await printed(running, /Accepted password/)
      expect(log).toMatch(/^Partial publickey for alice from 127\.0\.0\.1 port \d+ ssh2: ED25519 SHA256:/m)
      expect(log).toMatch(/^Accepted password for alice from 127\.0\.0\.1 port \d+ ssh2$/m)
    } finally {
      expect(await stop(running)).toBe(0)
    }
  })

  it("--json: one JSON line per attempt, a wrong password among them", async () => {
    const running = await serve(["--json", "--password-env", "SERVE_PW"])
    try {
      const r = ssh(running.port, ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"], "true")
      expect(r.status).toBe(0)
      fs.writeFileSync(askpass, "#!/bin/sh\necho wrong\n", { mode: 0o755 })
      const wrong = ssh(running.port, ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"], "true")
      expect(wrong.status).toBe(255)
      const lines = (await printed(running, /"outcome":"Failed"[^\n]*"method":"password"|"method":"password"[^\n]*"outcome":"Failed"/)).split("\n").filter((
        l
      ) => l.startsWith("{")).map((l) => JSON.parse(l) as { method: string; outcome: string; user: string })
      expect(lines.filter((l) => l.method === "password").map((l) => l.outcome)).toEqual(["Accepted", "Failed"])
      expect(lines.every((l) => l.user === "alice")).toBe(true)
    } finally {
      fs.writeFileSync(askpass, "#!/bin/sh\necho 'the password'\n", { mode: 0o755 })
      await stop(running)
    }
  })

  it("SIGTERM: stops listening, sends an open connection a DISCONNECT, exits 0", async () => {
    const running = await serve([])
    const client = spawn("ssh", [
      "-F",
      "/dev/null",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      `UserKnownHostsFile=${path.join(dir, "known_hosts")}`,
      "-o",
      "BatchMode=yes",
      "-i",
      key,
      "-p",
      String(running.port),
      "-N",
      "alice@127.0.0.1"
    ])
    let said = ""
    client.stderr.on("data", (d) => (said += d))
    const clientExit = new Promise<number | null>((resolve) => client.on("exit", (code) => resolve(code)))
    for (let i = 0; i < 100 && !/Accepted publickey/.test(running.output()); i++) await new Promise((r) => setTimeout(r, 50))
    expect(running.output()).toMatch(/Accepted publickey for alice/)
    expect(await stop(running)).toBe(0)
    expect(await clientExit).toBe(255)
    expect(said).toMatch(/Received disconnect from 127\.0\.0\.1 port \d+:11: closed by the server/)
  })

  it("an option it does not take is refused, by name, with exit 255", () => {
    const r = spawnSync(process.execPath, [bin, "serve", "-p", "0", "--user", "alice", "-o", "PermitRootLogin=yes"], { encoding: "utf8", timeout: 20_000 })
    expect(r.status).toBe(255)
    expect(r.stderr).toContain("serve does not take PermitRootLogin")
  })
})
