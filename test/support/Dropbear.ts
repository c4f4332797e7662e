/**
 * A throwaway dropbear server (Debian's dropbear-bin, the same package as dbclient) on
 * 127.0.0.1 at a free port, with host keys made by its own `dropbearkey`, torn down with its
 * Scope. It logs to stderr (`-E`), which goes to a file that `logOnFailure` prints when a test
 * fails. dropbear has no config file: what it offers is fixed when it is built, and its flags
 * (`-s` no passwords, `-t` key and password both, `-b` a banner) are the only switches.
 *
 * Its logins are system users: it reads ~user/.ssh/authorized_keys and checks passwords
 * against /etc/shadow, so a login needs root and a user (the run's test user, see
 * ClientInterop.ts). Without root it still runs, and serves the key exchange.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { onPath } from "./Env.js"
import { answersBanner, freePort, type HostKeyType, run, stopChild, tempDir } from "./Sshd.js"

/** Whether dropbear (the server, in /usr/sbin) and dropbearkey are installed. */
export const available = onPath("dropbearkey") && (fs.existsSync("/usr/sbin/dropbear") || onPath("dropbear"))
const binary = fs.existsSync("/usr/sbin/dropbear") ? "/usr/sbin/dropbear" : "dropbear"

export class DropbearError extends Data.TaggedError("DropbearError")<{
  readonly reason: "KeygenFailed" | "StartFailed"
  readonly detail: string
  readonly log?: string
}> {
  override get message(): string {
    return `dropbear fixture: ${this.detail}${this.log ? `\n--- dropbear log ---\n${this.log}` : ""}`
  }
}

const keygenArgs: Record<HostKeyType, ReadonlyArray<string>> = {
  "ed25519": ["-t", "ed25519"],
  "ecdsa-p256": ["-t", "ecdsa", "-s", "256"],
  "ecdsa-p384": ["-t", "ecdsa", "-s", "384"],
  "ecdsa-p521": ["-t", "ecdsa", "-s", "521"],
  "rsa": ["-t", "rsa", "-s", "2048"]
}

export interface HostKey {
  /** The private key, in dropbear's own format. */
  readonly file: string
  /** `type base64`, as known_hosts holds it, from `dropbearkey -y`. */
  readonly line: string
  /** `SHA256:…`, as `dropbearkey -y` prints it. */
  readonly fingerprint: string
}

export type HostKeys = Readonly<Record<HostKeyType, HostKey>>

/** Host keys of every type, made by dropbearkey in a temp dir that lives as long as the Scope. */
export const makeHostKeys: Effect.Effect<HostKeys, DropbearError, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* tempDir("dropbear-hostkeys-")
  const entries = yield* Effect.forEach(Object.entries(keygenArgs), ([type, args]) =>
    Effect.gen(function*() {
      const file = path.join(dir, `dropbear_${type}_host_key`)
      const made = yield* run("dropbearkey", [...args, "-f", file])
      // dropbearkey prints the public line and the fingerprint as it makes the key.
      const line = /^(\S+ \S+)/m.exec(made.stdout.split("Public key portion is:\n")[1] ?? "")?.[1]
      const fingerprint = /^Fingerprint: (SHA256:\S+)$/m.exec(made.stdout)?.[1]
      if (made.code !== 0 || line === undefined || fingerprint === undefined) {
        return yield* new DropbearError({ reason: "KeygenFailed", detail: `dropbearkey ${type} exited ${made.code}: ${made.stdout}${made.stderr}` })
      }
      return [type, { file, line, fingerprint }] as const
    }), { concurrency: "unbounded" })
  return Object.fromEntries(entries) as Record<HostKeyType, HostKey>
})

export interface Dropbear {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly logFile: string
  readonly readLog: Effect.Effect<string>
}

export interface DropbearOptions {
  readonly hostKeys: HostKeys
  /** The host keys it serves: dropbear 2022.83 takes at most four. */
  readonly types: ReadonlyArray<HostKeyType>
  /** More flags, such as `-s` (no password logins) or `-t` (a key and a password, both). */
  readonly args?: ReadonlyArray<string>
}

/** Starts dropbear in the foreground (`-F`); the Scope stops it. */
export const start = (options: DropbearOptions): Effect.Effect<Dropbear, DropbearError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir("dropbear-")
    const logFile = path.join(dir, "dropbear.log")
    const readLog = Effect.sync(() => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""))
    // A port picked free can be taken before dropbear binds it: retry a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = yield* freePort
      const args = [
        "-F",
        "-E",
        "-p",
        `127.0.0.1:${port}`,
        "-P",
        path.join(dir, "dropbear.pid"),
        ...options.types.flatMap((t) => ["-r", options.hostKeys[t].file]),
        ...(options.args ?? [])
      ]
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const log = fs.openSync(logFile, "w")
          try {
            return spawn(binary, args, { stdio: ["ignore", "ignore", log] })
          } finally {
            fs.closeSync(log)
          }
        }),
        stopChild
      )
      // Readiness: a banner on the port, polled for at most ~5 s.
      for (let poll = 0; poll < 100; poll++) {
        if (child.exitCode !== null) break
        if (yield* answersBanner(port)) return { host: "127.0.0.1", port, logFile, readLog } satisfies Dropbear
        yield* Effect.sleep("50 millis")
      }
      const log = yield* readLog
      if (!/Address already in use/.test(log)) {
        return yield* new DropbearError({ reason: "StartFailed", detail: `dropbear ${args.join(" ")} did not come up`, log })
      }
    }
    return yield* new DropbearError({ reason: "StartFailed", detail: "no free port after 5 attempts", log: yield* readLog })
  })
