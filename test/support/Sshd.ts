/**
 * A throwaway OpenSSH sshd on 127.0.0.1 at a free port, with a generated config and host
 * keys of every type, torn down with its Scope. LogLevel VERBOSE goes to a file that
 * `logOnFailure` prints when a test fails.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { isRoot, sshdPath } from "./Env.js"

export class SshdError extends Data.TaggedError("SshdError")<{
  readonly reason: "NotInstalled" | "BadConfig" | "StartFailed" | "KeygenFailed" | "NotRoot" | "UserSetupFailed"
  readonly detail: string
  readonly log?: string
}> {
  override get message(): string {
    return `sshd fixture: ${this.detail}${this.log ? `\n--- sshd log ---\n${this.log}` : ""}`
  }
}

export type HostKeyType = "ed25519" | "ecdsa-p256" | "ecdsa-p384" | "ecdsa-p521" | "rsa"
export const hostKeyTypes: ReadonlyArray<HostKeyType> = ["ed25519", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa"]

const keygenArgs: Record<HostKeyType, ReadonlyArray<string>> = {
  "ed25519": ["-t", "ed25519"],
  "ecdsa-p256": ["-t", "ecdsa", "-b", "256"],
  "ecdsa-p384": ["-t", "ecdsa", "-b", "384"],
  "ecdsa-p521": ["-t", "ecdsa", "-b", "521"],
  "rsa": ["-t", "rsa", "-b", "3072"]
}

export interface HostKeys {
  readonly dir: string
  /** Private key path per type; the public key is beside it with `.pub`. */
  readonly files: Readonly<Record<HostKeyType, string>>
}

export interface Sshd {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly dir: string
  readonly configFile: string
  readonly logFile: string
  readonly hostKeys: HostKeys
  readonly readLog: Effect.Effect<string>
}

export interface SshdOptions {
  readonly hostKeys?: HostKeys
  readonly hostKeyTypes?: ReadonlyArray<HostKeyType>
  /** Extra sshd_config lines, such as `Ciphers aes128-ctr`. They override the defaults. */
  readonly config?: ReadonlyArray<string>
  /** Lines of the AuthorizedKeysFile (for every user). */
  readonly authorizedKeys?: ReadonlyArray<string>
  /**
   * A program sshd is started through, with its first arguments; sshd's path and arguments
   * follow them. It must exec sshd in its own process, so the child's pid stays sshd's (a
   * benchmark uses one that makes sshd a child subreaper, then execs it).
   */
  readonly launcher?: ReadonlyArray<string>
  /** Variables set for sshd on top of the test process's, such as KRB5_CONFIG and KRB5_KTNAME. */
  readonly env?: Readonly<Record<string, string>>
}

/**
 * Runs a program to completion, with a bound on time. `detached` runs it in a session of its
 * own, without a controlling terminal, so that a client that would read /dev/tty reads stdin.
 */
export const run = (
  file: string,
  args: ReadonlyArray<string>,
  options: { readonly input?: string; readonly timeoutMs?: number; readonly env?: Record<string, string>; readonly detached?: boolean } = {}
) =>
  Effect.async<{ readonly code: number; readonly stdout: string; readonly stderr: string }>((resume) => {
    const env = options.env ? { ...process.env, ...options.env } : process.env
    const settings = { timeout: options.timeoutMs ?? 30_000, encoding: "utf8" as const, env, ...(options.detached ? { detached: true } : {}) }
    const child = execFile(file, [...args], settings, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0
      resume(Effect.succeed({ code, stdout, stderr }))
    })
    if (options.input !== undefined) child.stdin?.end(options.input)
    return Effect.sync(() => child.kill("SIGKILL"))
  })

/** A temp dir that lives as long as the Scope. */
export const tempDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** Host keys of the given types, made by ssh-keygen in a temp dir that lives as long as the Scope. */
export const makeHostKeys = (types: ReadonlyArray<HostKeyType> = hostKeyTypes): Effect.Effect<HostKeys, SshdError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir("sshd-hostkeys-")
    const files = {} as Record<HostKeyType, string>
    yield* Effect.forEach(types, (type) =>
      Effect.gen(function*() {
        const file = path.join(dir, `ssh_host_${type}_key`)
        const result = yield* run("ssh-keygen", ["-q", "-N", "", ...keygenArgs[type], "-f", file, "-C", `test-host-${type}`])
        if (result.code !== 0) {
          return yield* new SshdError({ reason: "KeygenFailed", detail: `ssh-keygen ${type}: ${result.stderr}` })
        }
        files[type] = file
      }), { concurrency: "unbounded", discard: true })
    return { dir, files }
  })

/**
 * Stops a server process a Scope started: SIGTERM, then SIGKILL if it has not exited 2 s later.
 * One that never started or already ended is left alone.
 */
export const stopChild = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const kill = setTimeout(() => child.kill("SIGKILL"), 2000)
    child.once("exit", () => {
      clearTimeout(kill)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

/** A port free on 127.0.0.1 when asked; another process can take it before the caller binds it. */
export const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Resolves once the port answers with an SSH banner; false if it never does within the bound. */
export const answersBanner = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    let data = ""
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(1000, () => done(false))
    socket.on("data", (d) => {
      data += d.toString("latin1")
      if (data.includes("\n")) done(data.startsWith("SSH-2.0-"))
    })
    socket.on("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

let sshdVersion: string | undefined
/** `OpenSSH_9.2p1` and the like, from `ssh -V` (sshd prints the same on stderr for a bad flag). */
export const openSshVersion = Effect.gen(function*() {
  if (sshdVersion === undefined) {
    const { stderr } = yield* run("ssh", ["-V"])
    sshdVersion = stderr.trim()
  }
  return sshdVersion
})

const supportsPerSourcePenalties = Effect.map(openSshVersion, (v) => {
  const m = /OpenSSH_(\d+)\.(\d+)/.exec(v)
  return m !== null && (Number(m[1]) > 9 || (Number(m[1]) === 9 && Number(m[2]) >= 8))
})

/** Starts sshd; the Scope stops it. */
export const start = (options: SshdOptions = {}): Effect.Effect<Sshd, SshdError, Scope.Scope> =>
  Effect.gen(function*() {
    if (sshdPath === undefined) return yield* new SshdError({ reason: "NotInstalled", detail: "sshd not found" })
    const binary = sshdPath
    const hostKeys = options.hostKeys ?? (yield* makeHostKeys())
    const dir = yield* tempDir("sshd-")
    const configFile = path.join(dir, "sshd_config")
    const logFile = path.join(dir, "sshd.log")
    const authorizedKeysFile = path.join(dir, "authorized_keys")
    fs.writeFileSync(authorizedKeysFile, (options.authorizedKeys ?? []).join("\n") + "\n", { mode: 0o644 })
    // sshd reads authorized_keys as the user logging in, who need not be root.
    fs.chmodSync(dir, 0o755)
    // Privilege separation needs this directory when sshd runs as root.
    if (isRoot) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 })
    const penalties = (yield* supportsPerSourcePenalties) ? ["PerSourcePenalties no"] : []
    const readLog = Effect.sync(() => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""))
    const env = options.env ? { ...options.env } : undefined

    const writeConfig = (port: number) => {
      // sshd takes the first value of a keyword, so the test's own lines go first.
      const lines = [
        ...(options.config ?? []),
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        ...(options.hostKeyTypes ?? Object.keys(hostKeys.files) as Array<HostKeyType>).map((t) => `HostKey ${hostKeys.files[t]}`),
        `PidFile ${path.join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${authorizedKeysFile}`,
        "StrictModes no",
        "LogLevel VERBOSE",
        "UseDNS no",
        "UsePAM no",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication yes",
        "PubkeyAuthentication yes",
        "PermitRootLogin yes",
        "MaxStartups 200:30:400",
        "MaxAuthTries 100",
        ...penalties
      ]
      fs.writeFileSync(configFile, lines.join("\n") + "\n")
    }

    // A port picked free can be taken before sshd binds it: retry a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = yield* freePort
      writeConfig(port)
      const check = yield* run(binary, ["-t", "-f", configFile], env ? { env } : {})
      if (check.code !== 0) {
        return yield* new SshdError({ reason: "BadConfig", detail: `sshd -t rejected the config: ${check.stderr.trim()}` })
      }
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const args = ["-D", "-f", configFile, "-E", logFile]
          const settings = { stdio: "ignore" as const, ...(env ? { env: { ...process.env, ...env } } : {}) }
          const [launcher, ...launcherArgs] = options.launcher ?? []
          return launcher === undefined
            ? spawn(binary, args, settings)
            : spawn(launcher, [...launcherArgs, binary, ...args], settings)
        }),
        stopChild
      )
      // Readiness: a banner on the port, polled for at most ~5 s.
      for (let poll = 0; poll < 100; poll++) {
        if (child.exitCode !== null) break
        if (yield* answersBanner(port)) {
          return { host: "127.0.0.1", port, dir, configFile, logFile, hostKeys, readLog } satisfies Sshd
        }
        yield* Effect.sleep("50 millis")
      }
      const log = yield* readLog
      if (!/Address already in use/.test(log)) {
        return yield* new SshdError({ reason: "StartFailed", detail: `sshd did not come up on port ${port}`, log })
      }
    }
    return yield* new SshdError({ reason: "StartFailed", detail: "no free port after 5 attempts", log: yield* readLog })
  })

/** A host key as known_hosts holds it: `type base64`, without the comment. */
export const hostKeyLine = (hostKeys: HostKeys, type: HostKeyType = "ed25519"): string =>
  fs.readFileSync(`${hostKeys.files[type]}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ")

/**
 * ssh_config lines (under a `Host` line) for a client that logs in as `user` with this key
 * only, trusts only this known_hosts file, and never asks: what ssh and `ssh-auth connect`
 * both read in the tests and benchmarks that compare or chain them.
 */
export const closedClientLines = (options: { readonly user: string; readonly identityFile: string; readonly knownHosts: string }) => [
  `  User ${options.user}`,
  `  IdentityFile ${options.identityFile}`,
  "  IdentitiesOnly yes",
  `  UserKnownHostsFile ${options.knownHosts}`,
  "  GlobalKnownHostsFile /dev/null",
  "  StrictHostKeyChecking yes",
  "  BatchMode yes"
]

/**
 * Command-line options for a client (OpenSSH's `ssh`, or `ssh-auth connect`) of 127.0.0.1
 * `port` that reads no ssh_config, trusts only this known_hosts file, uses only the keys it is
 * given, reaches no agent but `agent`, and never asks unless `batch` is false: what the
 * interop tests that drive a client by its command line share.
 */
export const closedClientArgs = (options: {
  readonly port: number
  readonly knownHosts: string
  readonly agent?: string
  readonly batch?: boolean
}): Array<string> => [
  "-F",
  "/dev/null",
  "-p",
  String(options.port),
  ...[
    `UserKnownHostsFile=${options.knownHosts}`,
    "GlobalKnownHostsFile=/dev/null",
    "StrictHostKeyChecking=yes",
    "IdentitiesOnly=yes",
    `IdentityAgent=${options.agent ?? "none"}`,
    `BatchMode=${options.batch === false ? "no" : "yes"}`,
    "ConnectTimeout=10"
  ].flatMap((option) => ["-o", option])
]

/** A system user with a password, for the tests of password and keyboard-interactive logins. */
export interface TestUser {
  readonly name: string
  readonly password: string
}

/**
 * This run's password user (root only): made with a random name and password by
 * test/support/GlobalSetup.ts before the first test file and deleted after the last.
 */
export const ensureTestUser = (): Effect.Effect<TestUser, SshdError> =>
  Effect.gen(function*() {
    if (!isRoot) return yield* new SshdError({ reason: "NotRoot", detail: "the password test user needs root" })
    // Imported here, not at the top: the benchmarks load this module outside vitest.
    const user = yield* Effect.tryPromise({
      try: () => import("vitest").then(({ inject }) => inject("testUser")),
      catch: (e) => new SshdError({ reason: "UserSetupFailed", detail: `the test user comes from vitest's globalSetup: ${(e as Error).message}` })
    })
    if (user === undefined) {
      return yield* new SshdError({
        reason: "UserSetupFailed",
        detail: "no test user was provided: is test/support/GlobalSetup.ts in vitest.config.ts's globalSetup?"
      })
    }
    const exists = yield* run("id", [user.name])
    if (exists.code !== 0) return yield* new SshdError({ reason: "UserSetupFailed", detail: `test user ${user.name} is gone: ${exists.stderr.trim()}` })
    return user
  })
