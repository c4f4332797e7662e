/**
 * A login rehearsed while the CLI's startup snapshot is built. V8 compiles a function the first
 * time it runs and keeps the bytecode in a snapshot, so every function a login runs and the
 * snapshot's build did not was compiled again by every `ssh-auth connect`: most of a login's
 * own CPU, measured. Here `connect` logs in to `ssh-auth serve` on 127.0.0.1, once per
 * post-quantum kex and once with curve25519, in a throwaway directory with throwaway keys,
 * printing nothing. The server runs in a process of its own, so that none of its code or
 * state is in the snapshot (a snapshot's heap costs a process about twice its size in RSS).
 *
 * What a rehearsal leaves behind is then dropped (`forget`), before V8 serializes the heap:
 * the random pool's bytes (no two processes may start from the same ones), the kept
 * KeyObjects (OpenSSL handles), and sntrup761's step loops and ML-KEM's Keccak (the rehearsal
 * ran their JavaScript versions; the WebAssembly ones are made at first use in each process).
 *
 * @since 0.1.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as KeyObjects from "../crypto/KeyObjects.js"
import * as MlKem768 from "../crypto/MlKem768.js"
import * as MlKemKernel from "../crypto/MlKemKernel.js"
import { nodeCurves } from "../crypto/NodeCurves.js"
import * as RandomPool from "../crypto/RandomPool.js"
import * as Sntrup761 from "../crypto/Sntrup761.js"
import * as OpenSshKeyV1 from "../keys/OpenSshKeyV1.js"
import * as PrivateKey from "../keys/PrivateKey.js"
import * as PublicKeyText from "../keys/PublicKeyText.js"
import { parseQuick, runConnect } from "./Connect.js"

const USER = "rehearsal"
const KEX = ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "curve25519-sha256"]

/**
 * The rehearsal could not take place: its server did not start, or a login failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RehearsalError extends Schema.TaggedError<RehearsalError>()("RehearsalError", { detail: Schema.String }) {
  override get message(): string {
    return `the snapshot's rehearsal: ${this.detail}`
  }
}

/** A console that prints nothing: the rehearsal's result lines. */
const quiet = Console.consoleWith((console) =>
  Effect.succeed<Console.Console>({ ...console, log: () => Effect.void, error: () => Effect.void, warn: () => Effect.void })
)

/**
 * `serve` (the command line `server`, then serve's arguments) in a child process, ended with
 * the scope: its port, once it says it listens.
 */
const startServer = (server: ReadonlyArray<string>, args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly stop: () => void }, RehearsalError>((resume) => {
      const child = spawn(server[0]!, [...server.slice(1), "serve", ...args], { stdio: ["ignore", "pipe", "pipe"] })
      let said = ""
      const timer = setTimeout(() => fail("did not say it listens within 20 s"), 20_000)
      const fail = (why: string) => {
        clearTimeout(timer)
        child.kill("SIGKILL")
        resume(Effect.fail(new RehearsalError({ detail: `ssh-auth serve ${why}: ${said.slice(-300)}` })))
      }
      child.on("error", (e) => fail(`did not start (${e.message})`))
      child.on("exit", (code) => fail(`exited ${code}`))
      const hear = (bytes: Buffer) => {
        said = (said + String(bytes)).slice(-4096)
        const port = /Server listening on 127\.0\.0\.1 port (\d+)\./.exec(said)?.[1]
        if (port === undefined) return
        clearTimeout(timer)
        child.removeAllListeners("exit")
        resume(Effect.succeed({ port: Number(port), stop: () => child.kill("SIGKILL") }))
      }
      child.stdout.on("data", hear)
      child.stderr.on("data", hear)
    }),
    (server) => Effect.sync(() => server.stop())
  )

/**
 * Logs in with `ssh-auth connect` to `ssh-auth serve` (started by the command line `server`,
 * as `[node, bundle]`) on a free loopback port, with each kex in turn. Fails if a login does.
 *
 * @since 0.1.0
 * @category snapshot
 */
export const rehearse = (server: ReadonlyArray<string>): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    // A snapshot cannot hold a WebAssembly instance: the rehearsal runs the JavaScript kernels.
    // It can hold a module's bytes, which take longer to write than to compile.
    Sntrup761.useDivstepLoops("javascript")
    MlKem768.useKernel("javascript")
    MlKemKernel.moduleBytes()
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "ssh-auth-rehearsal-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    const userKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
    const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
    const identityFile = path.join(dir, "id_ed25519")
    const hostKeyFile = path.join(dir, "host_ed25519")
    const authorizedKeys = path.join(dir, "authorized_keys")
    fs.writeFileSync(identityFile, OpenSshKeyV1.write(userKey), { mode: 0o600 })
    fs.writeFileSync(hostKeyFile, OpenSshKeyV1.write(hostKey), { mode: 0o600 })
    fs.writeFileSync(authorizedKeys, `${PublicKeyText.format(userKey.publicKey)}\n`)
    const { port } = yield* startServer(server, ["--port", "0", "--user", USER, "--authorized-keys", authorizedKeys, "--host-key", hostKeyFile])
    const knownHosts = path.join(dir, "known_hosts")
    fs.writeFileSync(knownHosts, `[127.0.0.1]:${port} ${PublicKeyText.format(hostKey.publicKey)}\n`)
    const config = path.join(dir, "ssh_config")
    fs.writeFileSync(
      config,
      [
        `Host ${USER}`,
        "  HostName 127.0.0.1",
        `  Port ${port}`,
        `  User ${USER}`,
        `  IdentityFile ${identityFile}`,
        "  IdentitiesOnly yes",
        "  IdentityAgent none",
        `  UserKnownHostsFile ${knownHosts}`,
        "  GlobalKnownHostsFile /dev/null",
        "  StrictHostKeyChecking yes",
        "  BatchMode yes",
        ""
      ].join("\n")
    )
    for (const kex of KEX) {
      const flags = parseQuick(["-F", config, "-o", `KexAlgorithms=${kex}`, USER])
      if (flags === undefined) return yield* Effect.dieMessage("the rehearsal's command line did not parse")
      yield* runConnect(flags)
    }
  }).pipe(
    Effect.scoped,
    (rehearsal) => Effect.flatMap(quiet, (console) => Effect.withConsole(rehearsal, console)),
    Effect.provide(NodeContext.layer),
    Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new RehearsalError({ detail: "took more than 60 seconds" }) }),
    Effect.ensuring(Effect.sync(() => forget()))
  )

/**
 * Drops what a rehearsal leaves in module state that a snapshot must not hold.
 *
 * @since 0.1.0
 * @category snapshot
 */
export const forget = (): void => {
  RandomPool.discard()
  KeyObjects.forget()
  Sntrup761.useDivstepLoops("default")
  MlKem768.useKernel("default")
}
