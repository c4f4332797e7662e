/**
 * known_hosts lookups judged by `ssh-keygen -F`, on a plain file and its `ssh-keygen -H`
 * hashed copy: plain, wildcard, negated, port-qualified, revoked and cert-authority entries.
 */
import * as Effect from "effect/Effect"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Redacted from "effect/Redacted"
import * as HostKeyCheck from "../../src/config/HostKeyCheck.js"
import * as KnownHosts from "../../src/config/KnownHosts.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import { hasTool, requireTool } from "../support/Tools.js"

let dir = ""
const keys: Record<string, string> = {}
const key = (name: string, type: string) => {
  const file = path.join(dir, name)
  execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", file], { timeout: 60_000 })
  keys[name] = fs.readFileSync(`${file}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ")
  return file
}
const parsedKey = (name: string) => {
  const k = PublicKeyText.parsePublicKey(keys[name])
  if (k._tag === "Left") throw k.left
  return k.right
}

/** The line numbers `ssh-keygen -F name` reports as matching. */
const keygenLines = (name: string, file: string): Array<number> => {
  const r = spawnSync("ssh-keygen", ["-F", name, "-f", file], { encoding: "utf8", timeout: 30_000 })
  return [...r.stdout.matchAll(/found: line (\d+)/g)].map((m) => Number(m[1])).sort((a, b) => a - b)
}
/** Our matching line numbers for the same name (`[h]:p` parsed back into host and port). */
const ourLines = (name: string, file: string) => {
  const m = /^\[(.*)\]:(\d+)$/.exec(name)
  const [host, port] = m ? [m[1], Number(m[2])] : [name, 22]
  return KnownHosts.parse(fs.readFileSync(file, "utf8"), file).entries.filter((e) => KnownHosts.matches(e, host, port)).map((e) => e.line)
}

describe.skipIf(!hasTool("ssh-keygen"))("known_hosts, judged by ssh-keygen -F", () => {
  let plainFile = ""
  let hashedFile = ""
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "known-hosts-"))
    for (const [name, type] of [["a", "ed25519"], ["b", "ecdsa"], ["c", "rsa"], ["d", "ed25519"], ["ca", "ed25519"], ["old", "ed25519"]]) key(name, type)
    plainFile = path.join(dir, "known_hosts")
    fs.writeFileSync(plainFile, [
      "# comment line",
      `alpha.example ${keys.a}`,
      `alpha.example,10.0.0.1 ${keys.b} second key`,
      `*.wild.example ${keys.c}`,
      `*.corp.example,!bad.corp.example ${keys.d}`,
      `[ported.example]:2222 ${keys.a}`,
      `[*.ported.example]:22 ${keys.b}`,
      `@revoked revoked.example ${keys.old}`,
      `@cert-authority *.signed.example ${keys.ca}`,
      "this line is not valid",
      `beta?.example ${keys.d}`,
      ""
    ].join("\n"))
    hashedFile = path.join(dir, "known_hosts_hashed")
    // ssh-keygen -H hashes names in place, leaving markers and wildcard lines as they are; it
    // refuses a file with an invalid line, so the hashed copy goes without it.
    fs.writeFileSync(hashedFile, fs.readFileSync(plainFile, "utf8").replace("this line is not valid\n", ""))
    execFileSync("ssh-keygen", ["-H", "-f", hashedFile], { timeout: 30_000, stdio: "ignore" })
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  const names = [
    "alpha.example",
    "ALPHA.example",
    "10.0.0.1",
    "[alpha.example]:2222",
    "x.wild.example",
    "wild.example",
    "good.corp.example",
    "bad.corp.example",
    "ported.example",
    "[ported.example]:2222",
    "x.ported.example",
    "[x.ported.example]:2222",
    "revoked.example",
    "host.signed.example",
    "beta1.example",
    "beta12.example",
    "nobody.example"
  ]

  it("the same lines match as ssh-keygen -F finds, on the plain file and the hashed one", () => {
    const hashedText = fs.readFileSync(hashedFile, "utf8")
    expect(hashedText).toMatch(/^\|1\|/m)
    for (const file of [plainFile, hashedFile]) {
      for (const name of names) expect([name, ourLines(name, file)]).toEqual([name, keygenLines(name, file)])
    }
  })

  it("lookup: known, mismatch (with the expected keys), unknown with other types, revoked", () => {
    const { entries, skipped } = KnownHosts.parse(fs.readFileSync(plainFile, "utf8"), plainFile)
    expect(skipped.map((s) => s.line)).toEqual([10])
    const now = Date.now() / 1000
    expect(KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("a"), now)._tag).toBe("Known")
    const mismatch = KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("d"), now)
    expect(mismatch._tag).toBe("Mismatch")
    if (mismatch._tag === "Mismatch") expect(mismatch.expected.map((e) => e.line)).toEqual([2])
    const unknown = KnownHosts.lookup(entries, "10.0.0.1", 22, parsedKey("a"), now)
    expect(unknown._tag === "Unknown" && unknown.otherTypes.map((e) => e.keyType)).toEqual(["ecdsa-sha2-nistp256"])
    expect(KnownHosts.lookup(entries, "nobody.example", 22, parsedKey("a"), now)).toEqual({ _tag: "Unknown", otherTypes: [] })
    expect(KnownHosts.lookup(entries, "revoked.example", 22, parsedKey("old"), now)._tag).toBe("Revoked")
    expect(KnownHosts.knownAlgorithms(entries, "alpha.example", 22)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256"])
    expect(KnownHosts.knownAlgorithms(entries, "x.wild.example", 22)).toEqual(["rsa-sha2-512", "rsa-sha2-256"])
  })

  it("host certificates: certified by a @cert-authority CA; the wrong principal or an expired one is invalid", () => {
    const { entries } = KnownHosts.parse(fs.readFileSync(plainFile, "utf8"), plainFile)
    const certify = (name: string, args: ReadonlyArray<string>) => {
      const pub = path.join(dir, `${name}.pub`)
      fs.writeFileSync(pub, `${keys.d}\n`)
      execFileSync("ssh-keygen", ["-q", "-s", path.join(dir, "ca"), "-h", "-I", name, ...args, pub], { timeout: 30_000 })
      const cert = Certificate.fromLine(fs.readFileSync(path.join(dir, `${name}-cert.pub`), "utf8"))
      if (cert._tag === "Left") throw cert.left
      return cert.right
    }
    const now = Date.now() / 1000
    const good = KnownHosts.lookup(entries, "host.signed.example", 22, certify("good", ["-n", "host.signed.example"]), now)
    expect(good._tag).toBe("CertifiedBy")
    const wrongName = KnownHosts.lookup(entries, "host.signed.example", 22, certify("wrong", ["-n", "other.signed.example"]), now)
    expect(wrongName._tag === "CertificateInvalid" && wrongName.error.reason).toBe("PrincipalNotAllowed")
    const expired = KnownHosts.lookup(entries, "host.signed.example", 22, certify("expired", ["-n", "host.signed.example", "-V", "20200101:20210101"]), now)
    expect(expired._tag === "CertificateInvalid" && expired.error.reason).toBe("Expired")
    // A CA trusted for other hosts does not vouch here.
    expect(KnownHosts.lookup(entries, "nobody.example", 22, certify("elsewhere", ["-n", "nobody.example"]), now)._tag).toBe("Unknown")
  })

  it("entries we write, hashed or not, are found by ssh-keygen -F; append creates the file and keeps lines whole", async () => {
    const file = path.join(dir, "new", "known_hosts")
    await Effect.runPromise(KnownHosts.append(file, KnownHosts.formatEntry("new.example", 22, parsedKey("a"), { hash: true })))
    await Effect.runPromise(KnownHosts.append(file, KnownHosts.formatEntry("new.example", 2200, parsedKey("b"), { hash: false })))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(keygenLines("new.example", file)).toEqual([1])
    expect(keygenLines("[new.example]:2200", file)).toEqual([2])
    const read = await Effect.runPromise(KnownHosts.readFile(file))
    expect(read.entries.map((e) => e.hosts._tag)).toEqual(["Hashed", "Patterns"])
    expect((await Effect.runPromise(KnownHosts.readFile(path.join(dir, "missing")))).entries).toEqual([])
  })
})

describe("StrictHostKeyChecking ask, with someone to ask", () => {
  it("yes (or the fingerprint) records the host and goes on; anything else refuses", async () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "ask-"))
    try {
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(work, "host")], { timeout: 30_000 })
      const line = PublicKeyText.parsePublicKey(fs.readFileSync(path.join(work, "host.pub"), "utf8").trim())
      if (line._tag === "Left") throw line.left
      const key = line.right
      const fingerprint = PublicKey.fingerprintSha256(key)
      const info = { host: "new.example", port: 2222, key, algorithm: "ssh-ed25519", fingerprint }
      for (const [answer, accepted] of [["no", false], ["yes", true], [fingerprint, true]] as const) {
        const file = path.join(work, `known_hosts_${accepted}_${answer.length}`)
        const questions: Array<string> = []
        const policy = HostKeyCheck.policy({
          strictHostKeyChecking: "ask",
          userKnownHostsFiles: [file],
          globalKnownHostsFiles: [],
          hashKnownHosts: false,
          prompter: { ask: (q) => Effect.sync(() => (questions.push(q), Redacted.make(answer))) }
        })
        const exit = await Effect.runPromiseExit(policy(info))
        expect(exit._tag === "Success").toBe(accepted)
        expect(questions[0]).toContain(`The authenticity of host '[new.example]:2222' can't be established.`)
        expect(questions[0]).toContain(`ED25519 key fingerprint is ${fingerprint}.`)
        expect(fs.existsSync(file)).toBe(accepted)
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  })
})
