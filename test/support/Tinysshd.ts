/**
 * A throwaway tinysshd (Debian's tinysshd) on 127.0.0.1, torn down with its Scope. tinysshd
 * does not listen: like an inetd service it speaks SSH on its stdin and stdout, one process
 * per connection, so a small `node:net` server here is its launcher (what tcpserver or
 * systemd's `Accept=yes` socket are for it elsewhere), listening on a port the kernel picks.
 * Each connection's tinysshd gets the socket as fd 0 and 1; their `-v` logs go to one file
 * that `logOnFailure` prints when a test fails.
 *
 * tinysshd has no config: `-P` turns its post-quantum kex (sntrup761x25519-sha512) off, `-S`
 * its classic one (curve25519-sha256) off. Its one host key is ed25519, made by
 * `tinysshd-makekey`. A login reads ~user/.ssh/authorized_keys (ssh-ed25519 lines only) and
 * then runs as that user, so a login needs root and a user (the run's test user, see
 * ClientInterop.ts); without root tinysshd still serves the key exchange.
 */
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { fingerprintOfLine } from "./ClientInterop.js"
import { onPath } from "./Env.js"
import { run, tempDir } from "./Sshd.js"

const binary = fs.existsSync("/usr/sbin/tinysshd") ? "/usr/sbin/tinysshd" : "tinysshd"
const sibling = (name: string) => (binary.startsWith("/") ? path.join(path.dirname(binary), name) : name)

/** Whether tinysshd and its key tools are installed (Debian puts them in /usr/sbin). */
export const available = (fs.existsSync("/usr/sbin/tinysshd") || onPath("tinysshd")) &&
  (fs.existsSync(sibling("tinysshd-makekey")) || onPath("tinysshd-makekey"))

export class TinysshdError extends Data.TaggedError("TinysshdError")<{
  readonly reason: "KeygenFailed" | "StartFailed"
  readonly detail: string
}> {
  override get message(): string {
    return `tinysshd fixture: ${this.detail}`
  }
}

export interface KeyDir {
  /** The directory tinysshd reads its keys from. */
  readonly dir: string
  /** `ssh-ed25519 base64`, from `tinysshd-printkey`, as known_hosts holds it. */
  readonly line: string
  /** `SHA256:…` of the key blob, as ssh-keygen -l prints it. */
  readonly fingerprint: string
}

/** A key directory made by tinysshd-makekey, in a temp dir that lives as long as the Scope. */
export const makeKeyDir: Effect.Effect<KeyDir, TinysshdError, Scope.Scope> = Effect.gen(function*() {
  const dir = path.join(yield* tempDir("tinysshd-keys-"), "sshkeydir")
  const made = yield* run(sibling("tinysshd-makekey"), ["-q", dir])
  const printed = yield* run(sibling("tinysshd-printkey"), [dir])
  const line = printed.stdout.trim()
  if (made.code !== 0 || printed.code !== 0 || !/^ssh-ed25519 \S+$/.test(line)) {
    return yield* new TinysshdError({
      reason: "KeygenFailed",
      detail: `tinysshd-makekey exited ${made.code} (${made.stderr}); printkey: ${printed.stdout}${printed.stderr}`
    })
  }
  return { dir, line, fingerprint: fingerprintOfLine(line) }
})

export interface Tinysshd {
  readonly host: "127.0.0.1"
  readonly port: number
  readonly logFile: string
  readonly readLog: Effect.Effect<string>
}

export interface TinysshdOptions {
  readonly keyDir: KeyDir
  /** tinysshd's flags before the key dir, such as `-P` or `-S`; `-v` is always given. */
  readonly flags?: ReadonlyArray<string>
}

/** Listens on 127.0.0.1 and runs one tinysshd per connection; the Scope closes the listener and ends them. */
export const start = (options: TinysshdOptions): Effect.Effect<Tinysshd, TinysshdError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir("tinysshd-")
    const logFile = path.join(dir, "tinysshd.log")
    const args = [...(options.flags ?? []), "-v", options.keyDir.dir]
    const children = new Set<ChildProcess>()
    const { server } = yield* Effect.acquireRelease(
      Effect.async<{ readonly server: net.Server; readonly log: number }, TinysshdError>((resume) => {
        const log = fs.openSync(logFile, "a")
        // Paused: this process must not read what is tinysshd's to read.
        const server = net.createServer({ pauseOnConnect: true }, (socket) => {
          socket.on("error", () => {})
          const child = spawn(binary, args, { stdio: [socket, socket, log] })
          children.add(child)
          child.once("exit", () => children.delete(child))
          child.on("error", (e) => fs.appendFileSync(logFile, `launcher: cannot run ${binary}: ${e.message}\n`))
          // tinysshd holds its own copy of the socket now; ours goes.
          socket.destroy()
        })
        server.once("error", (e) => {
          fs.closeSync(log)
          resume(Effect.fail(new TinysshdError({ reason: "StartFailed", detail: `listen on 127.0.0.1: ${e.message}` })))
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, log })))
      }),
      ({ log, server }) =>
        Effect.async<void>((resume) => {
          server.close()
          const left = [...children]
          const done = () => {
            fs.closeSync(log)
            resume(Effect.void)
          }
          if (left.length === 0) return done()
          const kill = setTimeout(() => left.forEach((c) => c.kill("SIGKILL")), 2000)
          let pending = left.length
          for (const child of left) {
            child.once("exit", () => {
              if (--pending === 0) {
                clearTimeout(kill)
                done()
              }
            })
            child.kill("SIGTERM")
          }
        })
    )
    const { port } = server.address() as net.AddressInfo
    const readLog = Effect.sync(() => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""))
    return { host: "127.0.0.1", port, logFile, readLog } satisfies Tinysshd
  })
