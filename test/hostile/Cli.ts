/**
 * Runs `ssh-auth connect` as a user would, as a child process, against a hostile server:
 * a temp HOME (so ~/.ssh is empty), no SSH_AUTH_SOCK, secrets only in the environment, no
 * stdin (not a TTY), `-F /dev/null`. It measures the exit status, stdout, stderr, wall time
 * and the peak RSS (RssProbe.mjs, preloaded with --import), and kills the child after a
 * hard cap so that no test can hang.
 *
 * The key fixture is an encrypted ed25519 key made by ssh-keygen at test time, with a long
 * random passphrase; the password is another long random string.
 *
 * Knobs, all optional: HOSTILE_BIN runs another build of the bin (a checkout of an older
 * commit, say); HOSTILE_PARALLEL sets how many CLIs a test file runs at once (default 2);
 * HOSTILE_REPORT=file appends one JSON line per case and HOSTILE_DEBUG=1 logs each case's
 * message flow (Case.ts); HOSTILE_RUNS sets the property's run count (Property.test.ts).
 */
import * as Effect from "effect/Effect"
import { execFile, spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

/** The bin under test; HOSTILE_BIN points at another build (a baseline checkout, say). */
export const bin = process.env.HOSTILE_BIN ?? path.resolve(import.meta.dirname, "../../bin/ssh-auth.js")
const probe = pathToFileURL(path.resolve(import.meta.dirname, "RssProbe.mjs")).href

/** Environment variable names the CLI reads the secrets from. */
export const PASSWORD_VAR = "HOSTILE_PW"
export const PASSPHRASE_VAR = "HOSTILE_PP"
export const USER = "hostile"

export interface Fixture {
  readonly dir: string
  /** The encrypted private key; its public half is beside it as `.pub`. */
  readonly keyPath: string
  /** The public key's wire blob. */
  readonly publicBlob: Uint8Array
  readonly password: string
  readonly passphrase: string
}

let fixture: Promise<Fixture> | undefined

const keygen = (args: ReadonlyArray<string>) =>
  new Promise<void>((resolve, reject) =>
    execFile(
      "ssh-keygen",
      [...args],
      { timeout: 30_000 },
      (error, _stdout, stderr) => error ? reject(new Error(`ssh-keygen failed: ${stderr || error.message}`)) : resolve()
    )
  )

/** The key and the secrets, made once per test file (worker). */
export const getFixture = (): Promise<Fixture> => (fixture ??= (async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-key-"))
  const password = `pw-${crypto.randomBytes(24).toString("hex")}`
  const passphrase = `pp-${crypto.randomBytes(24).toString("hex")}`
  const keyPath = path.join(dir, "id")
  await keygen(["-q", "-t", "ed25519", "-N", passphrase, "-a", "2", "-C", "hostile", "-f", keyPath])
  const publicBlob = Buffer.from(fs.readFileSync(`${keyPath}.pub`, "utf8").trim().split(/\s+/)[1], "base64")
  return { dir, keyPath, publicBlob, password, passphrase }
})())

/** Removes the key fixture's directory. */
export const removeFixture = async (): Promise<void> => {
  if (fixture === undefined) return
  const { dir } = await fixture
  fs.rmSync(dir, { recursive: true, force: true })
  fixture = undefined
}

export interface CliOptions {
  readonly port: number
  /** More arguments, such as `-o ConnectTimeout=3` or `-v`. */
  readonly args?: ReadonlyArray<string>
  /** Pass `--password-env` (default true). */
  readonly passwordEnv?: boolean
  /** Pass `--passphrase-env` (default true). */
  readonly passphraseEnv?: boolean
  /** Kill the child after this long. */
  readonly hardCapMs: number
}

export interface CliRun {
  readonly args: ReadonlyArray<string>
  /** Exit status; null when a signal ended the process. */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
  /** Wall time from spawn to exit. */
  readonly millis: number
  /** Peak RSS in KiB, as the probe wrote it on exit; undefined when it wrote nothing. */
  readonly maxRssKiB: number | undefined
  /** Killed by the hard cap. */
  readonly killed: boolean
}

/** Output kept per stream: enough to judge, bounded so a flood cannot hurt the test. */
const MAX_CAPTURE = 4 * 1024 * 1024

/** At most this many CLI processes at once per test file: the machine has few cores. */
const MAX_PARALLEL = Number(process.env.HOSTILE_PARALLEL ?? 2)
let running = 0
const waiting: Array<() => void> = []
const acquire = (): Promise<void> =>
  running < MAX_PARALLEL ? (running++, Promise.resolve()) : new Promise((resolve) => waiting.push(() => (running++, resolve())))
const release = (): void => {
  running--
  waiting.shift()?.()
}

const spawnCli = async (options: CliOptions): Promise<CliRun> => {
  const { keyPath, passphrase, password } = await getFixture()
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "hostile-home-"))
  const rssFile = path.join(home, "maxrss")
  const args = [
    "connect",
    "-F",
    "/dev/null",
    "-o",
    "IdentityAgent=none",
    // The hostile server's core offers curve25519 only: ssh 10.1's warning about it is not what these cases read.
    "-o",
    "WarnWeakCrypto=no",
    "--insecure-accept-any-host-key",
    "-i",
    keyPath,
    ...(options.passwordEnv === false ? [] : ["--password-env", PASSWORD_VAR]),
    ...(options.passphraseEnv === false ? [] : ["--passphrase-env", PASSPHRASE_VAR]),
    "-p",
    String(options.port),
    ...(options.args ?? []),
    `${USER}@127.0.0.1`
  ]
  try {
    return await new Promise<CliRun>((resolve) => {
      const started = performance.now()
      // A fresh environment: nothing of ours leaks in (no SSH_AUTH_SOCK, no NODE_OPTIONS).
      const child = spawn(process.execPath, ["--import", probe, bin, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: home,
          LANG: "C.UTF-8",
          [PASSWORD_VAR]: password,
          [PASSPHRASE_VAR]: passphrase,
          HOSTILE_RSS_FILE: rssFile
        }
      })
      const capture = () => {
        const chunks: Array<Buffer> = []
        let size = 0
        return {
          add: (d: Buffer) => {
            if (size < MAX_CAPTURE) chunks.push(d.subarray(0, MAX_CAPTURE - size))
            size += d.length
          },
          text: () => Buffer.concat(chunks).toString("utf8")
        }
      }
      const out = capture()
      const err = capture()
      child.stdout.on("data", out.add)
      child.stderr.on("data", err.add)
      let killed = false
      const cap = setTimeout(() => {
        killed = true
        child.kill("SIGKILL")
      }, options.hardCapMs)
      child.on("close", (code, signal) => {
        clearTimeout(cap)
        const millis = performance.now() - started
        let maxRssKiB: number | undefined
        try {
          const text = fs.readFileSync(rssFile, "utf8").trim()
          maxRssKiB = text === "" ? undefined : Number(text)
        } catch {
          maxRssKiB = undefined
        }
        resolve({ args, code, signal, stdout: out.text(), stderr: err.text(), millis, maxRssKiB, killed })
      })
    })
  } finally {
    fs.rmSync(home, { recursive: true, force: true })
  }
}

/** Runs the CLI once (queued behind the other runs of this file). */
export const runCli = (options: CliOptions): Effect.Effect<CliRun> =>
  Effect.promise(async () => {
    await acquire()
    try {
      return await spawnCli(options)
    } finally {
      release()
    }
  })
