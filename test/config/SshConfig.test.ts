/**
 * What the `ssh -G` oracle cannot show on OpenSSH 9.2: `Tag` and `Match tagged` (OpenSSH
 * 9.4), and `Include` relative to /etc/ssh in a system file.
 */
import * as Effect from "effect/Effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as SshConfig from "../../src/config/SshConfig.js"
import { skipUnlessRoot } from "../support/Env.js"

let dir = ""
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ssh-config-unit-"))
})
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

const resolveText = (text: string, options: Partial<SshConfig.ResolveOptions> = {}) => {
  const configFile = path.join(dir, `c-${crypto.randomBytes(4).toString("hex")}`)
  fs.writeFileSync(configFile, text)
  return Effect.runPromise(SshConfig.resolve({ host: "h", configFile, ...options }))
}

describe("ssh_config beyond the oracle", () => {
  it("Tag and Match tagged: a tag set by -o or earlier selects blocks", async () => {
    const text = "Match tagged prod\n  User prod-user\nMatch !tagged prod\n  User other\n"
    expect(SshConfig.user(await resolveText(text, { options: ["Tag=prod"] }))).toBe("prod-user")
    expect(SshConfig.user(await resolveText(text))).toBe("other")
    expect(SshConfig.user(await resolveText(`Host h\n  Tag web*\n${text}`))).toBe("other")
  })

  it("accessors expand what ssh expands: identity files get ~, ${VAR} and tokens", async () => {
    const c = await resolveText("Host h\n  HostName real.example\n  User u\n  IdentityFile ~/.ssh/id_%h_%r\n  IdentityFile ${HOME}/k_%n\n", {
      local: { ...SshConfig.localContext(), homeDir: "/home/test", env: { HOME: "/home/env" } }
    })
    expect(SshConfig.identityFiles(c)).toEqual({ files: ["/home/test/.ssh/id_real.example_u", "/home/env/k_h"], explicit: true })
  })

  it.skipIf(skipUnlessRoot("ssh_config Include relative to /etc/ssh (writes a file there)"))("Include in the system file is relative to /etc/ssh", async () => {
    const name = `effect-ssh-auth-test-${crypto.randomBytes(4).toString("hex")}.conf`
    fs.writeFileSync(path.join("/etc/ssh", name), "User from-etc-ssh\n")
    try {
      const systemConfigFile = path.join(dir, "system")
      fs.writeFileSync(systemConfigFile, `Include ${name}\n`)
      const c = await Effect.runPromise(SshConfig.resolve({ host: "h", systemConfigFile, local: { ...SshConfig.localContext(), homeDir: dir } }))
      expect(SshConfig.user(c)).toBe("from-etc-ssh")
    } finally {
      fs.rmSync(path.join("/etc/ssh", name), { force: true })
    }
  })
})
