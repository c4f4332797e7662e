/**
 * A throwaway Kerberos realm, X.TEST, for the server's gssapi-with-mic tests: MIT's
 * krb5kdc on 127.0.0.1 at a free port with a database in a temp dir, the host principal
 * `host/127.0.0.1` in a keytab (and the same principal at an older key version, a stale
 * keytab), user principals with passwords, and a credentials cache per `kinit`. The Scope
 * stops the KDC and removes the dir.
 *
 * `KRB5_CONFIG` and `KRB5RCACHEDIR` are set in this process when the realm starts, before
 * any GSS call (MIT reads them once per context; without KRB5RCACHEDIR the acceptor's
 * replay cache goes to /var/tmp). Clients started by a test take `env`.
 *
 * Without the KDC programs or libgssapi_krb5 the tests skip loudly; under CI=true they fail.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { onPath, skipWithoutPeer } from "./Env.js"
import { run, tempDir } from "./Sshd.js"

export class RealmError extends Data.TaggedError("RealmError")<{ readonly detail: string }> {
  override get message(): string {
    return `Kerberos test realm: ${this.detail}`
  }
}

export const REALM = "X.TEST"
/** The service ssh asks for when it connects to 127.0.0.1. */
export const HOST_PRINCIPAL = "host/127.0.0.1"

const sbin = (name: string) => ["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map((d) => path.join(d, name)).find((p) => fs.existsSync(p))
const kdcTools = ["krb5kdc", "kdb5_util", "kadmin.local"].map(sbin)
const available = kdcTools.every((t) => t !== undefined) && onPath("kinit") && onPath("klist")
  && ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"].some((d) => fs.existsSync(path.join(d, "libgssapi_krb5.so.2")))

/** True when the realm's tests should skip (no KDC or GSS library, not CI), after one loud warning. */
export const skipRealm = (): boolean => skipWithoutPeer("a Kerberos KDC and libgssapi_krb5", available, "krb5-kdc krb5-admin-server krb5-user libgssapi-krb5-2")

export interface Realm {
  readonly dir: string
  readonly port: number
  /** KRB5_CONFIG, KRB5RCACHEDIR: for a client process. */
  readonly env: Readonly<Record<string, string>>
  /** `FILE:…`: host/127.0.0.1's keys, current. */
  readonly keytab: string
  /** `FILE:…`: host/127.0.0.1's keys at an older version: what a server with a stale keytab holds. */
  readonly staleKeytab: string
  /** Adds `name@X.TEST` with `password`. */
  readonly addPrincipal: (name: string, password: string) => Effect.Effect<void, RealmError>
  /** kinit into a cache of its own; its name, `FILE:…`. */
  readonly kinit: (name: string, password: string) => Effect.Effect<string, RealmError>
}

const freePort = Effect.async<number>((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as net.AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

const listening = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    socket.once("connect", () => (socket.destroy(), resume(Effect.succeed(true))))
    socket.once("error", () => (socket.destroy(), resume(Effect.succeed(false))))
  })

/** The realm, up for the life of the scope. */
export const start: Effect.Effect<Realm, RealmError, Scope.Scope> = Effect.gen(function*() {
  const [krb5kdc, kdb5Util, kadminLocal] = kdcTools as [string, string, string]
  const dir = yield* tempDir("krb5-realm-")
  const port = yield* freePort
  const krb5Conf = path.join(dir, "krb5.conf")
  fs.writeFileSync(
    krb5Conf,
    [
      "[libdefaults]",
      ` default_realm = ${REALM}`,
      " dns_lookup_kdc = false",
      " dns_lookup_realm = false",
      " rdns = false",
      " dns_canonicalize_hostname = false",
      " udp_preference_limit = 1",
      "[realms]",
      ` ${REALM} = {`,
      `  kdc = 127.0.0.1:${port}`,
      " }",
      "[domain_realm]",
      ` 127.0.0.1 = ${REALM}`,
      ""
    ].join("\n")
  )
  fs.writeFileSync(
    path.join(dir, "kdc.conf"),
    [
      "[kdcdefaults]",
      ` kdc_tcp_listen = 127.0.0.1:${port}`,
      ` kdc_listen = 127.0.0.1:${port}`,
      "[realms]",
      ` ${REALM} = {`,
      `  database_name = ${dir}/principal`,
      `  key_stash_file = ${dir}/stash`,
      `  acl_file = ${dir}/kadm5.acl`,
      " }",
      ""
    ].join("\n")
  )
  const env = { KRB5_CONFIG: krb5Conf, KRB5RCACHEDIR: dir }
  const adminEnv = { ...env, KRB5_KDC_PROFILE: path.join(dir, "kdc.conf") }
  // In this process too, before the first GSS call.
  Object.assign(process.env, env)
  const step = (file: string, args: ReadonlyArray<string>, input?: string) =>
    Effect.flatMap(
      run(file, args, { env: adminEnv, timeoutMs: 20_000, ...(input !== undefined ? { input } : {}) }),
      (r) => r.code === 0 ? Effect.succeed(r.stdout) : Effect.fail(new RealmError({ detail: `${path.basename(file)} ${args.join(" ")}: ${r.stderr.trim()}` }))
    )
  const kadmin = (query: string) => step(kadminLocal, ["-r", REALM, "-q", query])
  yield* step(kdb5Util, ["create", "-s", "-r", REALM, "-P", "master-password"])
  yield* kadmin(`addprinc -randkey ${HOST_PRINCIPAL}`)
  // The first ktadd's keys are then replaced by the second's: the first keytab is stale.
  const staleKeytab = `FILE:${dir}/stale.keytab`
  const keytab = `FILE:${dir}/host.keytab`
  yield* kadmin(`ktadd -k ${staleKeytab.slice(5)} ${HOST_PRINCIPAL}`)
  yield* kadmin(`ktadd -k ${keytab.slice(5)} ${HOST_PRINCIPAL}`)
  const kdc = yield* Effect.acquireRelease(
    Effect.sync(() => spawn(krb5kdc, ["-n", "-r", REALM, "-P", path.join(dir, "kdc.pid")], { env: { ...process.env, ...adminEnv }, stdio: "ignore" })),
    (child) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        const kill = setTimeout(() => child.kill("SIGKILL"), 2000)
        child.once("exit", () => (clearTimeout(kill), resume(Effect.void)))
        child.kill("SIGTERM")
      })
  )
  // Readiness: the TCP port answers, polled for at most ~5 s.
  let up = false
  for (let poll = 0; poll < 100 && !up && kdc.exitCode === null; poll++) {
    up = yield* listening(port)
    if (!up) yield* Effect.sleep("50 millis")
  }
  if (!up) return yield* new RealmError({ detail: `krb5kdc did not come up on port ${port}` })
  let caches = 0
  return {
    dir,
    port,
    env,
    keytab,
    staleKeytab,
    addPrincipal: (name, password) => Effect.asVoid(kadmin(`addprinc -pw ${password} ${name}`)),
    kinit: (name, password) =>
      Effect.gen(function*() {
        const cache = `FILE:${dir}/cc.${++caches}`
        const r = yield* run("kinit", [name], { env: { ...env, KRB5CCNAME: cache }, input: `${password}\n`, timeoutMs: 20_000 })
        if (r.code !== 0) return yield* new RealmError({ detail: `kinit ${name}: ${r.stderr.trim()}` })
        return cache
      })
  } satisfies Realm
})

/** The system GSS-API, loaded: the realm's tests need the real one. */
export const systemGssapi = Effect.orDie(Gssapi.loadSystem)

export class KerberosRealm extends Context.Tag("test/KerberosRealm")<KerberosRealm, Realm>() {}

/** One realm for a test file. */
export const layer: Layer.Layer<KerberosRealm, RealmError> = Layer.scoped(KerberosRealm, start)

/** RFC 4462 §3.5: what a client's MIC covers, as a test's own initiator signs it. */
export const micData = (sessionId: Uint8Array, user: string): Uint8Array =>
  encode((w) => w.string(sessionId).byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("gssapi-with-mic"))
