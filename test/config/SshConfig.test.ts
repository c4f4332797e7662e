/**
 * ssh_config on an in-memory file system: what the `ssh -G` oracle cannot show on OpenSSH 9.2
 * (`Tag` and `Match tagged` are 9.4's; `Include` relative to /etc/ssh needs a file there),
 * files that exist but cannot be read (a typed error, where a missing file is no error), and
 * the typed record the raw keyword map decodes to.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as ConfigDefaults from "../../src/config/ConfigDefaults.js"
import * as ConfigDump from "../../src/config/ConfigDump.js"
import { HostConfig } from "../../src/config/HostConfig.js"
import * as SshConfig from "../../src/config/SshConfig.js"
import * as MemoryFileSystem from "../support/MemoryFileSystem.js"

const home = "/home/u"
const local: SshConfig.LocalContext = {
  localUser: "u",
  homeDir: home,
  localHostname: "box.local",
  uid: 1000,
  env: { HOME: "/home/env", SSH_AUTH_SOCK: "/run/agent.sock" }
}

/** Resolves `host` with `files` as the whole file system (the user's config at ~/.ssh/config). */
const resolveIn = (
  files: Readonly<Record<string, string>>,
  options: Partial<SshConfig.ResolveOptions> = {},
  unreadable: ReadonlyArray<string> = []
) => SshConfig.resolve({ host: "h", local, ...options }).pipe(Effect.provide(MemoryFileSystem.layer(files, { unreadable })))

const userConfig = (text: string) => ({ [`${home}/.ssh/config`]: text })

describe("ssh_config beyond the oracle", () => {
  it.effect("Tag and Match tagged: a tag set by -o or earlier selects blocks", () =>
    Effect.gen(function*() {
      const text = "Match tagged prod\n  User prod-user\nMatch !tagged prod\n  User other\n"
      expect((yield* resolveIn(userConfig(text), { options: ["Tag=prod"] })).user).toBe("prod-user")
      expect((yield* resolveIn(userConfig(text))).user).toBe("other")
      expect((yield* resolveIn(userConfig(`Host h\n  Tag web*\n${text}`))).user).toBe("other")
    }))

  it.effect("identity files get ~, ${VAR} and tokens, -i files first; ssh's defaults only when none is named", () =>
    Effect.gen(function*() {
      const c = yield* resolveIn(userConfig("Host h\n  HostName real.example\n  User r\n  IdentityFile ~/.ssh/id_%h_%r\n  IdentityFile ${HOME}/k_%n\n"), {
        identityFiles: ["~/given"]
      })
      expect(c.identityFiles).toEqual([
        { path: `${home}/given`, origin: "-i" },
        { path: `${home}/.ssh/id_real.example_r`, origin: "IdentityFile" },
        { path: "/home/env/k_h", origin: "IdentityFile" }
      ])
      const defaults = yield* resolveIn({})
      expect(defaults.identityFiles).toEqual(ConfigDefaults.identityFiles.map((f) => ({ path: f.replace("~", home), origin: "default" })))
      expect((yield* resolveIn(userConfig("IdentityFile none\n"))).identityFiles).toEqual([])
    }))

  it.effect("Include in the system file is relative to /etc/ssh, in a user file to ~/.ssh; globs sorted, dot files and directories left out", () =>
    Effect.gen(function*() {
      const system = yield* resolveIn({ "/etc/system": "Include sys.conf\n", "/etc/ssh/sys.conf": "User from-etc-ssh\n" }, { systemConfigFile: "/etc/system" })
      expect(system.user).toBe("from-etc-ssh")
      const globbed = yield* resolveIn({
        ...userConfig("Include conf.d/*\n"),
        [`${home}/.ssh/conf.d/20-b`]: "IdentityFile ~/b\nPort 2020\n",
        [`${home}/.ssh/conf.d/10-a`]: "IdentityFile ~/a\n",
        [`${home}/.ssh/conf.d/.hidden`]: "Port 1\n",
        [`${home}/.ssh/conf.d/sub/x`]: "Port 2\n"
      })
      expect([globbed.port, globbed.identityFiles.map((f) => f.path)]).toEqual([2020, [`${home}/a`, `${home}/b`]])
    }))

  it.effect("missing files are no error, as for ssh: no user config, no system config, an Include matching nothing", () =>
    Effect.gen(function*() {
      expect((yield* resolveIn({})).user).toBe("u")
      expect((yield* resolveIn(userConfig("Include nothing/*.conf ~/.ssh/absent\nUser after\n"))).user).toBe("after")
    }))

  it.effect("a file or directory that exists but cannot be read is a ConfigError naming it, not a silent gap", () =>
    Effect.gen(function*() {
      const userFile = `${home}/.ssh/config`
      const direct = yield* Effect.flip(resolveIn(userConfig("User x\n"), {}, [userFile]))
      expect([direct._tag, direct.reason, direct.file, direct.detail]).toEqual(["ConfigError", "Unreadable", userFile, "cannot read: permission denied"])
      expect(direct.message).toBe(`${userFile}: cannot read: permission denied`)

      const included = `${home}/.ssh/private.conf`
      const viaInclude = yield* Effect.flip(resolveIn({ ...userConfig("Include private.conf\n"), [included]: "User y\n" }, {}, [included]))
      expect([viaInclude.reason, viaInclude.file]).toEqual(["Unreadable", included])

      const dir = `${home}/.ssh/locked`
      const viaGlob = yield* Effect.flip(resolveIn({ ...userConfig("Include locked/*.conf\n"), [`${dir}/a.conf`]: "User z\n" }, {}, [dir]))
      expect([viaGlob.reason, viaGlob.file, viaGlob.detail]).toEqual(["Unreadable", dir, "cannot list this directory for an Include: permission denied"])

      const behind = yield* Effect.flip(resolveIn({ ...userConfig("Include locked/a.conf\n"), [`${dir}/a.conf`]: "User z\n" }, {}, [dir]))
      expect([behind.reason, behind.file]).toEqual(["Unreadable", `${dir}/a.conf`])

      const system = yield* Effect.flip(resolveIn({ "/etc/ssh/ssh_config": "User s\n" }, {}, ["/etc/ssh/ssh_config"]))
      expect([system.reason, system.file]).toEqual(["Unreadable", "/etc/ssh/ssh_config"])
    }))

  it.effect("-F names a file that must exist", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(resolveIn({}, { configFile: "/nowhere" }))
      expect([error.reason, error.file]).toEqual(["Unreadable", "/nowhere"])
    }))
})

describe("the typed record", () => {
  it.effect("numbers, booleans, lists and enums, decoded once; unset keywords take OpenSSH's defaults", () =>
    Effect.gen(function*() {
      const c = yield* resolveIn(
        userConfig([
          "Host h",
          "  HostName Real.Example",
          "  Port 2222",
          "  BatchMode yes",
          "  IdentitiesOnly true",
          "  StrictHostKeyChecking off",
          "  PubkeyAuthentication unbound",
          "  PasswordAuthentication no",
          "  ConnectTimeout 1m30s",
          "  NumberOfPasswordPrompts 1",
          "  PreferredAuthentications keyboard-interactive,password",
          "  HostKeyAlgorithms ^ssh-ed25519",
          "  PubkeyAcceptedAlgorithms -rsa-sha2-256",
          "  UserKnownHostsFile ~/.ssh/kh_%h none",
          "  IdentityAgent none",
          "  ProxyJump jump",
          ""
        ].join("\n")),
        { options: ["LoginGraceTime=30"] }
      )
      expect(c).toBeInstanceOf(HostConfig)
      expect(c.hostname).toBe("real.example")
      expect(c.port).toBe(2222)
      expect([c.batchMode, c.identitiesOnly, c.passwordAuthentication, c.kbdInteractiveAuthentication, c.hashKnownHosts]).toEqual([
        true,
        true,
        false,
        true,
        false
      ])
      expect([c.strictHostKeyChecking, c.pubkeyAuthentication]).toEqual(["no", "unbound"])
      expect([c.connectTimeout, c.loginGraceTime, c.numberOfPasswordPrompts]).toEqual([90, 30, 1])
      expect(c.preferredAuthentications).toEqual(["keyboard-interactive", "password"])
      expect(c.hostKeyAlgorithms?.[0]).toBe("ssh-ed25519")
      expect(c.pubkeyAcceptedAlgorithms).toEqual(ConfigDefaults.keyAlgorithms.filter((a) => a !== "rsa-sha2-256"))
      expect(c.userKnownHostsFiles).toEqual([`${home}/.ssh/kh_real.example`])
      expect(c.globalKnownHostsFiles).toEqual(ConfigDefaults.globalKnownHostsFiles)
      expect(c.identityAgent).toEqual({ _tag: "NoAgent", detail: "IdentityAgent is none" })
      expect(c.proxyJump).toBe("jump")
      expect([c.methodEnabled("publickey"), c.methodEnabled("password"), c.methodEnabled("keyboard-interactive")]).toEqual([true, false, true])

      const d = yield* resolveIn({})
      expect([d.port, d.user, d.strictHostKeyChecking, d.pubkeyAuthentication, d.connectTimeout, d.loginGraceTime, d.numberOfPasswordPrompts])
        .toEqual([22, "u", "ask", "yes", undefined, ConfigDefaults.loginGraceTime, ConfigDefaults.numberOfPasswordPrompts])
      expect([d.hostKeyAlgorithms, d.effectiveHostKeyAlgorithms, d.preferredAuthentications]).toEqual([undefined, ConfigDefaults.keyAlgorithms, undefined])
      expect(d.identityAgent).toEqual({ _tag: "Socket", path: "/run/agent.sock" })
    }))

  it.effect("the record round-trips through its Schema as JSON, and holds nothing from the environment beyond the paths it names", () =>
    Effect.gen(function*() {
      const secretLocal = { ...local, env: { ...local.env, API_TOKEN: "s3cret-token-value" } }
      const c = yield* resolveIn(userConfig("User r\nPort 2200\n"), { local: secretLocal })
      const json = JSON.stringify(Schema.encodeSync(HostConfig)(c))
      expect(json).not.toContain("s3cret-token-value")
      const back = Schema.decodeUnknownSync(HostConfig)(JSON.parse(json))
      expect(back).toEqual(c)
    }))

  it.effect("what can only be checked once resolved is a ConfigError: an unknown algorithm, a port out of range", () =>
    Effect.gen(function*() {
      const algorithm = yield* Effect.flip(resolveIn(userConfig("HostKeyAlgorithms +no-such-alg\n")))
      expect([algorithm.reason, algorithm.detail]).toEqual(["BadValue", "hostkeyalgorithms: Bad key types '+no-such-alg'."])
      const port = yield* Effect.flip(resolveIn({}, { port: 0 }))
      expect([port.reason, port.detail]).toEqual(["BadValue", "Bad port '0'."])
    }))

  it.effect("dump prints identity files as written (-i ~-expanded, as ssh's command line), and ssh's defaults when none is named", () =>
    Effect.gen(function*() {
      const { config, raw } = yield* SshConfig.resolveWithRaw({ host: "h", local, identityFiles: ["~/given"] }).pipe(
        Effect.provide(MemoryFileSystem.layer(userConfig("IdentityFile ~/.ssh/id_%h\n")))
      )
      expect(ConfigDump.dump(raw, config).filter((l) => l.startsWith("identityfile "))).toEqual([`identityfile ${home}/given`, "identityfile ~/.ssh/id_%h"])
      const none = yield* SshConfig.resolveWithRaw({ host: "h", local }).pipe(Effect.provide(MemoryFileSystem.layer({})))
      expect(ConfigDump.dump(none.raw, none.config).filter((l) => l.startsWith("identityfile "))).toEqual(
        ConfigDefaults.identityFiles.map((f) => `identityfile ${f}`)
      )
    }))
})
