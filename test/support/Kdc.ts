/**
 * A throwaway MIT Kerberos realm on loopback, for the gssapi-with-mic tests: realm
 * EFFECT-SSH.TEST, its krb5kdc on 127.0.0.1 at a free TCP port, and its database, stash,
 * keytabs, ticket caches, replay cache and logs in one temp dir that lives as long as the
 * Scope. Nothing outside that dir is read or written, provided every program (and any process
 * calling libgssapi in-process) has `env`: KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME,
 * KRB5_KTNAME, KRB5_CLIENT_KTNAME and KRB5RCACHEDIR, all pointing into the dir.
 *
 * Made at start:
 * - `<user>@EFFECT-SSH.TEST` for the user running the tests (root under CI), who is also the
 *   account sshd logs in: the default auth_to_local maps `name@<default realm>` to `name`,
 *   and krb5_kuserok allows that when `~name/.k5login` does not exist. kuserok (and
 *   gss_userok) refuse a name missing from /etc/passwd; gss_localname maps it all the same.
 * - `host/127.0.0.1` and `host/localhost`, in `hostKeytab`. `staleHostKeytab` holds their
 *   previous keys: ktadd draws new keys and a new kvno each time, so a server with the stale
 *   keytab fails as one with an out-of-date keytab does.
 *
 * Why each krb5.conf setting:
 * - dns_lookup_kdc, dns_lookup_realm, rdns, dns_canonicalize_hostname false: the KDC is found
 *   only through [realms], and `ssh 127.0.0.1` asks for `host/127.0.0.1` as typed, not for
 *   what a resolver makes of it (with rdns, `host/localhost`, as /etc/hosts names 127.0.0.1).
 * - qualify_shortname "": since krb5 1.18, a name without a dot (`localhost`) otherwise gets
 *   resolv.conf's first search domain appended.
 * - [domain_realm] localhost: `host/localhost` gets the realm at once. An address is never
 *   looked up there: `host@127.0.0.1` becomes `host/127.0.0.1@` (the empty realm), and a
 *   client then tries its own realm first, which is this one.
 * - udp_preference_limit 1: the KDC listens on TCP only (a port free for TCP may not be for UDP).
 * - default_ccache_name, default_keytab_name: a program that names neither stays in the dir.
 * - default_client_keytab_name, a file never made: with a client keytab, GSSAPI fetches a
 *   ticket by itself, and "no ticket" would log in.
 * - forwardable: so that delegation (GSSAPIDelegateCredentials) can be tested.
 * KRB5RCACHEDIR is an env var only: an acceptor's replay cache is otherwise
 * /var/tmp/krb5_<uid>.rcache2.
 */
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { skipWithoutPeer } from "./Env.js"
import { freePort, run, stopChild, tempDir } from "./Sshd.js"

export const defaultRealm = "EFFECT-SSH.TEST"

export class KdcError extends Data.TaggedError("KdcError")<{
  readonly reason: "NotInstalled" | "BadArgument" | "CommandFailed" | "StartFailed" | "Timeout"
  /** What the fixture was doing: `kdb5_util create`, `kadmin.local addprinc alice@…`, `krb5kdc`, `kinit alice@…`. */
  readonly step: string
  readonly detail: string
  /** The tail of the KDC's log and of krb5kdc's stderr. */
  readonly log?: string
}> {
  override get message(): string {
    return `kdc fixture: ${this.step}: ${this.detail}${this.log ? `\n--- kdc log (tail) ---\n${this.log}` : ""}`
  }
}

const toolNames = ["krb5kdc", "kdb5_util", "kadmin.local", "kinit", "klist"] as const
type ToolName = typeof toolNames[number]

/** sbin first: it is often not on a test runner's PATH. */
const findTool = (name: string): string | undefined => {
  const dirs = ["/usr/sbin", "/usr/local/sbin", "/sbin", ...(process.env.PATH ?? "").split(":").filter(Boolean)]
  return dirs.map((dir) => path.join(dir, name)).find((file) => fs.existsSync(file))
}

const tools = Object.fromEntries(toolNames.map((name) => [name, findTool(name)])) as Record<ToolName, string | undefined>
/** Sets PR_SET_PDEATHSIG, then execs: the KDC dies with the test process, even if it is killed. */
const setpriv = findTool("setpriv")

/** The MIT tools the realm needs that this machine lacks. */
export const missingTools: ReadonlyArray<ToolName> = toolNames.filter((name) => tools[name] === undefined)
export const hasKdc = missingTools.length === 0

/**
 * True when the realm's tests should skip (tools missing, not CI), after one loud warning.
 * Under CI a missing tool throws, so the file fails instead of passing on skipped tests.
 */
export const skipWithoutKdc = (): boolean =>
  skipWithoutPeer(`MIT Kerberos (${missingTools.join(", ")} not found)`, hasKdc, "krb5-kdc krb5-admin-server krb5-user")

export interface Principal {
  /** `name@REALM`. */
  readonly name: string
  /** A keytab with the principal's current keys. */
  readonly keytab: string
}

export interface KinitOptions {
  /** A path or `FILE:path`; default `<name>.ccache` in the realm's dir. */
  readonly ccache?: string
  /** kinit's `-l`: `10h`, `3s`. */
  readonly lifetime?: string
  /** Use this instead of the principal's keytab, given on kinit's stdin. */
  readonly password?: string
  /** Use this keytab instead of the principal's latest. */
  readonly keytab?: string
}

export interface Realm {
  readonly realm: string
  readonly dir: string
  readonly host: "127.0.0.1"
  readonly port: number
  /** krb5kdc's pid. */
  readonly pid: number
  readonly krb5Conf: string
  readonly kdcConf: string
  readonly logFile: string
  /**
   * What a process needs to use the realm and nothing else: KRB5_CONFIG, KRB5_KDC_PROFILE,
   * KRB5CCNAME (an empty cache: no ticket), KRB5_KTNAME (`hostKeytab`), KRB5_CLIENT_KTNAME
   * (a keytab never made), KRB5RCACHEDIR, and KRB5_TRACE if asked for.
   */
  readonly env: Readonly<Record<string, string>>
  /** The principal of the user running the tests, with its keytab. */
  readonly user: Principal
  /** `host/127.0.0.1@REALM`, `host/localhost@REALM`. */
  readonly hostPrincipals: ReadonlyArray<string>
  /** The host principals' current keys. */
  readonly hostKeytab: string
  /** The host principals' previous keys (kvno one lower): the KDC no longer issues tickets for them. */
  readonly staleHostKeytab: string
  /** `addprinc`, then a keytab of its keys (`<name>.keytab` in the dir by default); a password keeps working. */
  readonly addPrincipal: (
    name: string,
    options?: { readonly keytab?: string; readonly password?: string }
  ) => Effect.Effect<Principal, KdcError>
  /** `ktadd -k path`: new keys and kvno, so the principals' older keytabs and passwords stop working. Returns `path`. */
  readonly keytab: (principals: ReadonlyArray<string>, path: string) => Effect.Effect<string, KdcError>
  /** Gets a ticket-granting ticket; returns the cache as `FILE:path`. */
  readonly kinit: (principal: string, options?: KinitOptions) => Effect.Effect<string, KdcError>
  /** A cache whose only ticket has expired: kinit `-l 1s`, then a bounded wait (about 2 s) until it is past its end. */
  readonly expiredTicket: (principal: string, options?: { readonly ccache?: string }) => Effect.Effect<string, KdcError>
  readonly readLog: Effect.Effect<string>
}

export interface KdcOptions {
  /** The realm's name; default EFFECT-SSH.TEST. */
  readonly realm?: string
  /** The local user whose principal is made at start; default the user running the tests. */
  readonly user?: string
  /** KRB5_TRACE=`trace.log` in the dir, in `env`: every program's libkrb5 explains itself there. */
  readonly trace?: boolean
}

/** A principal as a file name. */
const fileName = (principal: string) => principal.replace(/[^A-Za-z0-9._-]/g, "_")

const withFile = (ccache: string) => (ccache.includes(":") ? ccache : `FILE:${ccache}`)

/** Resolves true once the port accepts a TCP connection, false on refusal or after 1 s. */
const accepts = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = net.connect(port, "127.0.0.1")
    const done = (ok: boolean) => {
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(1000, () => done(false))
    socket.on("connect", () => done(true))
    socket.on("error", () => done(false))
    return Effect.sync(() => socket.destroy())
  })

const krb5ConfText = (options: { readonly realm: string; readonly port: number; readonly dir: string }) => {
  const { dir, port, realm } = options
  return [
    "# Made by test/support/Kdc.ts; its header says why each setting is here.",
    "[libdefaults]",
    `  default_realm = ${realm}`,
    "  dns_lookup_kdc = false",
    "  dns_lookup_realm = false",
    "  rdns = false",
    "  dns_canonicalize_hostname = false",
    `  qualify_shortname = ""`,
    "  udp_preference_limit = 1",
    `  default_ccache_name = FILE:${path.join(dir, "default.ccache")}`,
    `  default_keytab_name = FILE:${path.join(dir, "host.keytab")}`,
    `  default_client_keytab_name = FILE:${path.join(dir, "no-client.keytab")}`,
    "  forwardable = true",
    "[realms]",
    `  ${realm} = {`,
    `    kdc = 127.0.0.1:${port}`,
    "  }",
    "[domain_realm]",
    `  localhost = ${realm}`,
    ""
  ].join("\n")
}

const kdcConfText = (options: { readonly realm: string; readonly port: number; readonly dir: string }) => {
  const { dir, port, realm } = options
  return [
    "[kdcdefaults]",
    // No UDP; TCP on loopback only (the default is every address, ports 88 and 750).
    `  kdc_listen = ""`,
    `  kdc_tcp_listen = 127.0.0.1:${port}`,
    "[realms]",
    `  ${realm} = {`,
    `    database_name = ${path.join(dir, "principal")}`,
    `    key_stash_file = ${path.join(dir, "stash")}`,
    `    acl_file = ${path.join(dir, "kadm5.acl")}`,
    "  }",
    "[logging]",
    `  kdc = FILE:${path.join(dir, "kdc.log")}`,
    `  admin_server = FILE:${path.join(dir, "kadmin.log")}`,
    `  default = FILE:${path.join(dir, "krb5.log")}`,
    ""
  ].join("\n")
}

/** Starts the realm's KDC with its database and principals; the Scope stops it and removes the dir. */
export const start = (options: KdcOptions = {}): Effect.Effect<Realm, KdcError, Scope.Scope> =>
  Effect.gen(function*() {
    if (!hasKdc) {
      return yield* new KdcError({
        reason: "NotInstalled",
        step: "find the MIT tools",
        detail: `not found: ${missingTools.join(", ")} (install krb5-kdc krb5-admin-server krb5-user)`
      })
    }
    const tool = tools as Record<ToolName, string>
    const realm = options.realm ?? defaultRealm
    const dir = yield* tempDir("kdc-")
    const inDir = (name: string) => path.join(dir, name)
    const krb5Conf = inDir("krb5.conf")
    const kdcConf = inDir("kdc.conf")
    const logFile = inDir("kdc.log")
    const stderrFile = inDir("krb5kdc.stderr")
    const hostKeytab = inDir("host.keytab")
    const staleHostKeytab = inDir("host-stale.keytab")
    const env: Record<string, string> = {
      KRB5_CONFIG: krb5Conf,
      KRB5_KDC_PROFILE: kdcConf,
      KRB5CCNAME: `FILE:${inDir("default.ccache")}`,
      KRB5_KTNAME: `FILE:${hostKeytab}`,
      KRB5_CLIENT_KTNAME: `FILE:${inDir("no-client.keytab")}`,
      KRB5RCACHEDIR: dir,
      ...(options.trace ? { KRB5_TRACE: inDir("trace.log") } : {})
    }
    const readLog = Effect.sync(() => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "utf8") : ""))
    const tail = Effect.sync(() =>
      [logFile, stderrFile]
        .flatMap((file) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-15) : []))
        .join("\n")
    )
    const writeConfig = (port: number) => {
      fs.writeFileSync(krb5Conf, krb5ConfText({ realm, port, dir }))
      fs.writeFileSync(kdcConf, kdcConfText({ realm, port, dir }))
    }
    const qualify = (name: string) => (name.includes("@") ? name : `${name}@${realm}`)

    const exec = (step: string, file: string, args: ReadonlyArray<string>, input?: string) =>
      Effect.gen(function*() {
        const r = yield* run(file, args, { env, timeoutMs: 15_000, ...(input !== undefined ? { input } : {}) })
        if (r.code !== 0) {
          return yield* new KdcError({ reason: "CommandFailed", step, detail: `exited ${r.code}: ${(r.stderr || r.stdout).trim()}`, log: yield* tail })
        }
        return r
      })
    // kadmin.local exits 0 when its query fails, so success is read from what it prints.
    const kadmin = (step: string, query: string, succeeded: (stdout: string) => boolean) =>
      Effect.gen(function*() {
        const r = yield* exec(step, tool["kadmin.local"], ["-r", realm, "-q", query])
        if (!succeeded(r.stdout)) {
          return yield* new KdcError({ reason: "CommandFailed", step, detail: r.stderr.trim() || r.stdout.trim(), log: yield* tail })
        }
      })
    // The keys each principal can get a ticket with, for kinit.
    const keytabs = new Map<string, string>()
    const ktadd = (principals: ReadonlyArray<string>, keytab: string, keepKeys = false) =>
      Effect.gen(function*() {
        const names = principals.map(qualify)
        yield* kadmin(
          `kadmin.local ktadd ${names.join(" ")}`,
          `ktadd ${keepKeys ? "-norandkey " : ""}-k ${keytab} ${names.join(" ")}`,
          (out) => names.every((name) => out.includes(`Entry for principal ${name} with kvno`))
        )
        for (const name of names) keytabs.set(name, keytab)
        return keytab
      })
    const addPrincipal = (name: string, principalOptions: { readonly keytab?: string; readonly password?: string } = {}) =>
      Effect.gen(function*() {
        const principal = qualify(name)
        const step = `kadmin.local addprinc ${principal}`
        const { password } = principalOptions
        // kadmin.local parses its query like a shell line; a password stays out of any message.
        if (password !== undefined && !/^[^\s"'\\]+$/.test(password)) {
          return yield* new KdcError({ reason: "BadArgument", step, detail: "a password must be non-empty, without blanks, quotes or backslashes" })
        }
        const key = password === undefined ? "-randkey" : `-pw ${password}`
        yield* kadmin(step, `addprinc ${key} ${principal}`, (out) => out.includes(`Principal "${principal}" created.`))
        // -norandkey: the keytab gets the password's keys, so both work.
        const keytab = yield* ktadd([principal], principalOptions.keytab ?? inDir(`${fileName(principal)}.keytab`), password !== undefined)
        return { name: principal, keytab } satisfies Principal
      })
    const kinit = (name: string, kinitOptions: KinitOptions = {}) =>
      Effect.gen(function*() {
        const principal = qualify(name)
        const step = `kinit ${principal}`
        const ccache = withFile(kinitOptions.ccache ?? inDir(`${fileName(principal)}.ccache`))
        const lifetime = kinitOptions.lifetime === undefined ? [] : ["-l", kinitOptions.lifetime]
        if (kinitOptions.password !== undefined) {
          yield* exec(step, tool.kinit, ["-c", ccache, ...lifetime, principal], `${kinitOptions.password}\n`)
          return ccache
        }
        const keytab = kinitOptions.keytab ?? keytabs.get(principal)
        if (keytab === undefined) {
          return yield* new KdcError({ reason: "BadArgument", step, detail: "no keytab or password for it: make it with addPrincipal, or pass one" })
        }
        yield* exec(step, tool.kinit, ["-c", ccache, ...lifetime, "-k", "-t", keytab, principal])
        return ccache
      })
    const expiredTicket = (name: string, ticketOptions: { readonly ccache?: string } = {}) =>
      Effect.gen(function*() {
        // The KDC grants a 1 s lifetime. libkrb5 refuses an expired TGT itself, before asking
        // the KDC, with no clock-skew grace; but it does so only once the clock is past the
        // end time, while klist -s already calls the ticket expired in its last second.
        const ccache = yield* kinit(name, { ...ticketOptions, lifetime: "1s" })
        for (let poll = 0; poll < 50; poll++) {
          const r = yield* run(tool.klist, ["-s", "-c", ccache], { env, timeoutMs: 5000 })
          if (r.code !== 0) {
            yield* Effect.sleep("1100 millis")
            return ccache
          }
          yield* Effect.sleep("100 millis")
        }
        return yield* new KdcError({ reason: "Timeout", step: `expire ${qualify(name)}`, detail: "a 1 s ticket was still valid after 5 s" })
      })

    let port = yield* freePort
    writeConfig(port)
    yield* exec("kdb5_util create", tool.kdb5_util, ["create", "-s", "-r", realm, "-P", crypto.randomBytes(16).toString("hex")])
    const user = yield* addPrincipal(options.user ?? os.userInfo().username)
    const hostPrincipals = ["host/127.0.0.1", "host/localhost"].map(qualify)
    for (const host of hostPrincipals) {
      yield* kadmin(`kadmin.local addprinc ${host}`, `addprinc -randkey ${host}`, (out) => out.includes(`Principal "${host}" created.`))
    }
    // The stale keytab first: the second ktadd replaces the keys the first one wrote out.
    yield* ktadd(hostPrincipals, staleHostKeytab)
    yield* ktadd(hostPrincipals, hostKeytab)

    // A port picked free can be taken before krb5kdc binds it: retry a few times.
    for (let attempt = 0; attempt < 5; attempt++) {
      if (attempt > 0) {
        port = yield* freePort
        writeConfig(port)
      }
      let spawnError: Error | undefined
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const out = fs.openSync(stderrFile, "a")
          const args = ["-n", "-r", realm]
          const settings = { env: { ...process.env, ...env }, stdio: ["ignore", out, out] as Array<"ignore" | number> }
          try {
            const child = setpriv === undefined
              ? spawn(tool.krb5kdc, args, settings)
              : spawn(setpriv, ["--pdeathsig", "KILL", "--", tool.krb5kdc, ...args], settings)
            child.once("error", (e) => void (spawnError = e))
            return child
          } finally {
            fs.closeSync(out)
          }
        }),
        stopChild
      )
      // Readiness: the port accepts, polled for at most ~5 s.
      for (let poll = 0; poll < 100; poll++) {
        if (child.exitCode !== null || spawnError !== undefined) break
        if (yield* accepts(port)) {
          const realmValue: Realm = {
            realm,
            dir,
            host: "127.0.0.1",
            port,
            pid: child.pid!,
            krb5Conf,
            kdcConf,
            logFile,
            env,
            user,
            hostPrincipals,
            hostKeytab,
            staleHostKeytab,
            addPrincipal,
            keytab: (principals, keytab) => ktadd(principals, keytab),
            kinit,
            expiredTicket,
            readLog
          }
          return realmValue
        }
        yield* Effect.sleep("50 millis")
      }
      const log = yield* tail
      if (spawnError !== undefined) return yield* new KdcError({ reason: "StartFailed", step: "krb5kdc", detail: spawnError.message, log })
      if (!/Address already in use/.test(log)) {
        return child.exitCode === null
          ? yield* new KdcError({ reason: "Timeout", step: "krb5kdc", detail: `did not accept on 127.0.0.1:${port} within 5 s`, log })
          : yield* new KdcError({ reason: "StartFailed", step: "krb5kdc", detail: `exited ${child.exitCode}`, log })
      }
    }
    return yield* new KdcError({ reason: "StartFailed", step: "krb5kdc", detail: "no free port after 5 attempts", log: yield* tail })
  })

/** A realm shared by a test file. */
export class KdcRealm extends Context.Tag("test/KdcRealm")<KdcRealm, Realm>() {}

export const layer = (options: KdcOptions = {}): Layer.Layer<KdcRealm, KdcError> => Layer.scoped(KdcRealm, start(options))

/**
 * `Sshd.start` options for gssapi-with-mic against the realm, with `keytab` (default the right
 * one). GSSAPIStrictAcceptorCheck no: sshd would accept only for `host/<gethostname()>`,
 * while `ssh 127.0.0.1` brings a ticket for `host/127.0.0.1`. A client that delegates its
 * ticket makes sshd store it in /tmp, outside the dir, until the session ends.
 */
export const sshdOptions = (realm: Realm, keytab: string = realm.hostKeytab) => ({
  config: ["GSSAPIAuthentication yes", "GSSAPIStrictAcceptorCheck no"],
  env: { ...realm.env, KRB5_KTNAME: `FILE:${keytab}` }
})

/**
 * Points this process at the realm for the Scope (libgssapi reads KRB5_CONFIG, KRB5RCACHEDIR
 * and the rest from the environment when it is called in-process), then puts the variables
 * back, so later test files in the same worker do not inherit a realm that is gone.
 */
export const useInProcess = (realm: Realm): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const saved = Object.fromEntries(Object.keys(realm.env).map((name) => [name, process.env[name]]))
      Object.assign(process.env, realm.env)
      return saved
    }),
    (saved) =>
      Effect.sync(() => {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name]
          else process.env[name] = value
        }
      })
  ).pipe(Effect.asVoid)
