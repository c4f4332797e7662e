/**
 * known_hosts parsing, matching and lookup, judged by `ssh-keygen -F` on a plain file and on
 * its `ssh-keygen -H` hashed copy: plain, wildcard, negated, port-qualified, revoked and
 * cert-authority entries. Keys and certificates are made by ssh-keygen at test time.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as fc from "fast-check"
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as HostKeyCheck from "../../src/config/HostKeyCheck.js"
import * as KnownHosts from "../../src/config/KnownHosts.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as MemoryFileSystem from "../support/MemoryFileSystem.js"
import * as NodeFiles from "../support/NodeFiles.js"
import { hasTool, requireTool } from "../support/Tools.js"

const keygen = (args: ReadonlyArray<string>) => execFileSync("ssh-keygen", args, { timeout: 60_000, stdio: "pipe" })

let dir = ""
/** `type base64` of each generated key, by name. */
const keys: Record<string, string> = {}
const makeKey = (name: string, type: string, bits?: number) => {
  const file = path.join(dir, name)
  keygen(["-q", "-t", type, ...(bits ? ["-b", String(bits)] : []), "-N", "", "-C", "", "-f", file])
  keys[name] = fs.readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ")
}
const parsedKey = (name: string): PublicKey.PublicKey => {
  const k = PublicKeyText.parsePublicKey(keys[name])
  if (k._tag === "Left") throw k.left
  return k.right
}
const keyText = (e: KnownHosts.Entry) => `${e.keyType} ${Buffer.from(e.key.blob).toString("base64")}`

/** A match as `ssh-keygen -F` reports it: line number, marker label, and the line's key. */
interface Found {
  readonly line: number
  readonly marker: "" | "CA" | "REVOKED"
  readonly key: string
}

/** Runs `ssh-keygen -F name -f file` and reads its `# Host name found: line N [CA|REVOKED]` blocks. */
const keygenFind = (name: string, file: string): Array<Found> => {
  const r = spawnSync("ssh-keygen", ["-F", name, "-f", file], { encoding: "utf8", timeout: 30_000 })
  if (r.error) throw r.error
  const out = r.stdout.split("\n")
  const found: Array<Found> = []
  out.forEach((text, i) => {
    const m = /^# Host .* found: line (\d+)\s*(CA|REVOKED)?\s*$/.exec(text)
    if (!m) return
    const fields = out[i + 1].trim().split(/\s+/)
    const rest = fields[0].startsWith("@") ? fields.slice(2) : fields.slice(1)
    found.push({ line: Number(m[1]), marker: (m[2] ?? "") as Found["marker"], key: rest.slice(0, 2).join(" ") })
  })
  return found.sort((a, b) => a.line - b.line)
}

const markerLabel = { none: "", "cert-authority": "CA", revoked: "REVOKED" } as const
const ourFind = (entries: ReadonlyArray<KnownHosts.Entry>, host: string, port: number): Array<Found> =>
  entries.filter((e) => KnownHosts.matches(e, host, port)).map((e) => ({ line: e.line, marker: markerLabel[e.marker], key: keyText(e) }))

/** The name ssh-keygen -F is asked for, written out here rather than taken from the code under test. */
const keygenName = (host: string, port: number) => (port === 22 ? host : `[${host}]:${port}`)

const parseFile = (file: string) => KnownHosts.parse(fs.readFileSync(file, "utf8"), file)

describe.skipIf(!hasTool("ssh-keygen"))("known_hosts, judged by ssh-keygen", () => {
  let plainFile = ""
  let hashedFile = ""
  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "known-hosts-"))
    makeKey("a", "ed25519")
    makeKey("b", "ecdsa")
    makeKey("c", "rsa", 2048)
    makeKey("d", "ed25519")
    makeKey("e", "ecdsa", 384)
    makeKey("ca", "ed25519")
    makeKey("old", "ed25519")
    makeKey("hostkey", "ed25519")
    plainFile = path.join(dir, "known_hosts")
    fs.writeFileSync(
      plainFile,
      [
        /* 1 */ "# comment line",
        /* 2 */ `alpha.example ${keys.a} first key`,
        /* 3 */ `Alpha.Example,10.0.0.1 ${keys.b} second key`,
        /* 4 */ `*.wild.example ${keys.c}`,
        /* 5 */ `*.corp.example,!bad.corp.example ${keys.d}`,
        /* 6 */ `[h.example]:2222 ${keys.a}`,
        /* 7 */ `[*.ported.example]:2222,![bad.ported.example]:2222 ${keys.b}`,
        /* 8 */ `[h.example]:22 ${keys.c}`,
        /* 9 */ `h.example ${keys.d}`,
        /* 10 */ "",
        /* 11 */ `beta?.example ${keys.d}`,
        /* 12 */ `stale.example ${keys.old}`,
        /* 13 */ `@revoked revoked.example,stale.example,*.wild.example ${keys.old}`,
        /* 14 */ `@cert-authority *.example ${keys.ca}`,
        /* 15 */ `[2001:db8::1]:2222,2001:db8::1 ${keys.a}`,
        /* 16 */ "   # indented comment",
        /* 17 */ `\th.example\t${keys.e}\tcomment after a tab`,
        ""
      ].join("\n")
    )
    hashedFile = path.join(dir, "known_hosts_hashed")
    fs.copyFileSync(plainFile, hashedFile)
    keygen(["-H", "-f", hashedFile])
  })
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  const queries: ReadonlyArray<readonly [string, number]> = [
    ["alpha.example", 22],
    ["ALPHA.EXAMPLE", 22],
    ["10.0.0.1", 22],
    ["alpha.example", 2222],
    ["x.wild.example", 22],
    ["deep.x.wild.example", 22],
    ["wild.example", 22],
    ["x.wild.example", 2222],
    ["good.corp.example", 22],
    ["bad.corp.example", 22],
    ["BAD.Corp.Example", 22],
    ["h.example", 22],
    ["h.example", 2222],
    ["h.example", 2200],
    ["x.ported.example", 2222],
    ["bad.ported.example", 2222],
    ["x.ported.example", 22],
    ["beta1.example", 22],
    ["beta12.example", 22],
    ["stale.example", 22],
    ["revoked.example", 22],
    ["host.example", 22],
    ["host.example", 2222],
    ["2001:db8::1", 22],
    ["2001:db8::1", 2222],
    ["other.test", 22]
  ]

  it("the plain file parses whole, and -H hashed every name without a wildcard", () => {
    const plain = parseFile(plainFile)
    expect(plain.skipped).toEqual([])
    expect(plain.entries.map((e) => e.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 17])
    expect(plain.entries.find((e) => e.line === 17)?.comment).toBe("comment after a tab")
    const hashed = parseFile(hashedFile)
    expect(hashed.skipped).toEqual([])
    // Wildcard and negated lists stay as they are; comma lists become one line per name.
    expect(hashed.entries.filter((e) => e.hosts._tag === "Patterns").map((e) => e.hosts)).toEqual([
      { _tag: "Patterns", patterns: ["*.wild.example"] },
      { _tag: "Patterns", patterns: ["*.corp.example", "!bad.corp.example"] },
      { _tag: "Patterns", patterns: ["[*.ported.example]:2222", "![bad.ported.example]:2222"] },
      { _tag: "Patterns", patterns: ["beta?.example"] },
      { _tag: "Patterns", patterns: ["revoked.example", "stale.example", "*.wild.example"] },
      { _tag: "Patterns", patterns: ["*.example"] }
    ])
    expect(hashed.entries.filter((e) => e.hosts._tag === "Hashed").length).toBe(10)
  })

  it(`the same entries match as ssh-keygen -F finds, for ${queries.length} names, in the plain file`, () => {
    const { entries } = parseFile(plainFile)
    for (const [host, port] of queries) {
      const name = keygenName(host, port)
      expect(KnownHosts.hostName(host, port)).toBe(name)
      expect({ name, found: ourFind(entries, host, port) }).toEqual({ name, found: keygenFind(name, plainFile) })
    }
  })

  it("and in the hashed file (asked with the lowercased name, as ssh asks)", () => {
    const { entries } = parseFile(hashedFile)
    let hashedHits = 0
    for (const [host, port] of queries) {
      const name = keygenName(host, port)
      const found = ourFind(entries, host, port)
      hashedHits += found.filter((f) => entries.find((e) => e.line === f.line)?.hosts._tag === "Hashed").length
      expect({ name, found }).toEqual({ name, found: keygenFind(name.toLowerCase(), hashedFile) })
    }
    expect(hashedHits).toBeGreaterThan(5)
  })

  it("ssh-keygen -F hashes the name exactly as given; we lowercase it first, as ssh does", () => {
    const hashed = parseFile(hashedFile).entries
    expect(keygenFind("ALPHA.EXAMPLE", hashedFile).filter((f) => f.marker === "")).toEqual([])
    expect(keygenFind("ALPHA.EXAMPLE", plainFile).map((f) => f.line)).toEqual([2, 3, 14])
    expect(ourFind(hashed, "ALPHA.EXAMPLE", 22)).toEqual(keygenFind("alpha.example", hashedFile))
  })

  it("port 22 looks up only the bare name: [h]:22 entries are dead, and *.example does not cover [x.example]:2222", () => {
    // ssh-keygen -F takes the name literally, so it finds the [h.example]:22 line that ssh never consults.
    expect(keygenFind("[h.example]:22", plainFile).map((f) => f.line)).toEqual([8])
    const { entries } = parseFile(plainFile)
    expect(ourFind(entries, "h.example", 22).map((f) => f.line)).toEqual([9, 14, 17])
    expect(ourFind(entries, "host.example", 2222)).toEqual([])
  })

  it("lookup: known, mismatch with the expected keys, unknown with other types, revoked", () => {
    const { entries } = parseFile(plainFile)
    const now = Date.now() / 1000
    const known = KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("a"), now)
    expect(known._tag === "Known" && known.entry.line).toBe(2)
    expect(KnownHosts.lookup(entries, "Alpha.Example", 22, parsedKey("b"), now)._tag).toBe("Known")
    expect(KnownHosts.lookup(entries, "x.wild.example", 22, parsedKey("c"), now)._tag).toBe("Known")

    const mismatch = KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("d"), now)
    expect(mismatch._tag).toBe("Mismatch")
    if (mismatch._tag === "Mismatch") {
      expect(mismatch.expected.map((e) => [e.line, PublicKey.fingerprintSha256(e.key)])).toEqual([[2, PublicKey.fingerprintSha256(parsedKey("a"))]])
    }
    // h.example has an ed25519 key (line 9) and a P-384 one (line 17): only the first is expected.
    const mismatchH = KnownHosts.lookup(entries, "h.example", 22, parsedKey("a"), now)
    expect(mismatchH._tag === "Mismatch" && mismatchH.expected.map((e) => e.line)).toEqual([9])

    const unknown = KnownHosts.lookup(entries, "10.0.0.1", 22, parsedKey("a"), now)
    expect(unknown._tag === "Unknown" && unknown.otherTypes.map((e) => [e.line, e.keyType])).toEqual([[3, "ecdsa-sha2-nistp256"]])
    // P-384 against a P-256 entry is another type, not a mismatch.
    const otherCurve = KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("e"), now)
    expect(otherCurve._tag === "Unknown" && otherCurve.otherTypes.map((e) => e.line)).toEqual([2, 3])
    expect(KnownHosts.lookup(entries, "other.test", 22, parsedKey("a"), now)).toEqual({ _tag: "Unknown", otherTypes: [] })
    expect(KnownHosts.lookup(entries, "alpha.example", 2222, parsedKey("a"), now)).toEqual({ _tag: "Unknown", otherTypes: [] })
    expect(KnownHosts.lookup(entries, "h.example", 2222, parsedKey("a"), now)._tag).toBe("Known")

    const revoked = KnownHosts.lookup(entries, "revoked.example", 22, parsedKey("old"), now)
    expect(revoked._tag === "Revoked" && revoked.entry.line).toBe(13)
    // Revoked wins over the plain entry for the same key on line 12.
    expect(KnownHosts.lookup(entries, "stale.example", 22, parsedKey("old"), now)._tag).toBe("Revoked")
    expect(KnownHosts.lookup(entries, "deep.x.wild.example", 22, parsedKey("old"), now)._tag).toBe("Revoked")
    // The revocation is for those hosts only.
    expect(KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("old"), now)._tag).toBe("Mismatch")
  })

  it("lookup in the hashed file gives the same answers", () => {
    const { entries } = parseFile(hashedFile)
    const now = Date.now() / 1000
    expect(KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("a"), now)._tag).toBe("Known")
    expect(KnownHosts.lookup(entries, "ALPHA.example", 22, parsedKey("b"), now)._tag).toBe("Known")
    expect(KnownHosts.lookup(entries, "h.example", 2222, parsedKey("a"), now)._tag).toBe("Known")
    expect(KnownHosts.lookup(entries, "2001:db8::1", 2222, parsedKey("a"), now)._tag).toBe("Known")
    expect(KnownHosts.lookup(entries, "alpha.example", 22, parsedKey("d"), now)._tag).toBe("Mismatch")
    expect(KnownHosts.lookup(entries, "stale.example", 22, parsedKey("old"), now)._tag).toBe("Revoked")
  })

  describe("host certificates", () => {
    let n = 0
    const certify = (keyName: string, signer: string, args: ReadonlyArray<string>): Certificate.Certificate => {
      const pub = path.join(dir, `cert${++n}.pub`)
      fs.writeFileSync(pub, `${keys[keyName]}\n`)
      keygen(["-q", "-s", path.join(dir, signer), "-I", `cert${n}`, ...args, pub])
      const cert = Certificate.fromLine(fs.readFileSync(path.join(dir, `cert${n}-cert.pub`), "utf8").trim())
      if (cert._tag === "Left") throw cert.left
      return cert.right
    }
    const now = () => Date.now() / 1000

    it("certified by the @cert-authority CA for the host", () => {
      const { entries } = parseFile(plainFile)
      const cert = certify("hostkey", "ca", ["-h", "-n", "host.example"])
      const r = KnownHosts.lookup(entries, "host.example", 22, cert, now())
      expect(r._tag === "CertifiedBy" && [r.entry.line, r.certificate.keyId]).toEqual([14, cert.keyId])
      // Same answer from the hashed file, where the CA line stays unhashed.
      expect(KnownHosts.lookup(parseFile(hashedFile).entries, "host.example", 22, cert, now())._tag).toBe("CertifiedBy")
    })

    it("invalid when the principal does not match, when expired, or for a user certificate", () => {
      const { entries } = parseFile(plainFile)
      const wrong = KnownHosts.lookup(entries, "host.example", 22, certify("hostkey", "ca", ["-h", "-n", "other.example"]), now())
      expect(wrong._tag === "CertificateInvalid" && [wrong.entry.line, wrong.error.reason]).toEqual([14, "PrincipalNotAllowed"])
      const expired = KnownHosts.lookup(entries, "host.example", 22, certify("hostkey", "ca", ["-h", "-n", "host.example", "-V", "20200101:20210101"]), now())
      expect(expired._tag === "CertificateInvalid" && expired.error.reason).toBe("Expired")
      const user = KnownHosts.lookup(entries, "host.example", 22, certify("hostkey", "ca", ["-n", "host.example"]), now())
      expect(user._tag === "CertificateInvalid" && user.error.reason).toBe("WrongRole")
    })

    it("a CA for other hosts or another port does not vouch; a known certified key is known; revocations reach CA and key", () => {
      const { entries } = parseFile(plainFile)
      const forOther = certify("hostkey", "ca", ["-h", "-n", "other.test"])
      expect(KnownHosts.lookup(entries, "other.test", 22, forOther, now())).toEqual({ _tag: "Unknown", otherTypes: [] })
      const good = certify("hostkey", "ca", ["-h", "-n", "host.example"])
      expect(KnownHosts.lookup(entries, "host.example", 2222, good, now())._tag).toBe("Unknown")
      // ssh falls back to the plain key when the certificate does not help.
      const ofKnownKey = certify("a", "ca", ["-h", "-n", "nobody"])
      expect(KnownHosts.lookup(entries, "alpha.example", 22, ofKnownKey, now())._tag).toBe("Known")
      const ofRevokedKey = certify("old", "ca", ["-h", "-n", "x.wild.example"])
      expect(KnownHosts.lookup(entries, "x.wild.example", 22, ofRevokedKey, now())._tag).toBe("Revoked")
      const byRevokedCa = certify("hostkey", "old", ["-h", "-n", "x.wild.example"])
      const r = KnownHosts.lookup(entries, "x.wild.example", 22, byRevokedCa, now())
      expect(r._tag === "Revoked" && r.entry.line).toBe(13)
    })
  })

  it("knownAlgorithms: the known plain keys' algorithms in file order; no CA, no revoked key", () => {
    const { entries } = parseFile(plainFile)
    expect(KnownHosts.knownAlgorithms(entries, "alpha.example", 22)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256"])
    expect(KnownHosts.knownAlgorithms(entries, "x.wild.example", 22)).toEqual(["rsa-sha2-512", "rsa-sha2-256"])
    expect(KnownHosts.knownAlgorithms(entries, "h.example", 22)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp384"])
    expect(KnownHosts.knownAlgorithms(entries, "h.example", 2222)).toEqual(["ssh-ed25519"])
    expect(KnownHosts.knownAlgorithms(entries, "host.example", 22)).toEqual([])
    expect(KnownHosts.knownAlgorithms(entries, "stale.example", 22)).toEqual([])
    const twice = [...entries, ...parseFile(hashedFile).entries]
    expect(KnownHosts.knownAlgorithms(twice, "alpha.example", 22)).toEqual(["ssh-ed25519", "ecdsa-sha2-nistp256"])
  })

  it("formatEntry: the hashed line equals ssh-keygen -H's for the same salt, and ssh-keygen -F finds ours", () => {
    const file = path.join(dir, "format_oracle")
    fs.writeFileSync(file, `new.example ${keys.a}\n[new.example]:2200 ${keys.c}\n`)
    keygen(["-H", "-f", file])
    const theirs = fs.readFileSync(file, "utf8").trim().split("\n")
    const salts = theirs.map((l) => Buffer.from(l.split("|")[2], "base64"))
    expect(KnownHosts.formatEntry("new.example", 22, parsedKey("a"), { hash: true, salt: salts[0] })).toBe(theirs[0])
    expect(KnownHosts.formatEntry("New.Example", 2200, parsedKey("c"), { hash: true, salt: salts[1] })).toBe(theirs[1])

    const ours = path.join(dir, "format_ours")
    fs.writeFileSync(
      ours,
      [
        KnownHosts.formatEntry("New.Example", 22, parsedKey("a"), { hash: true }),
        KnownHosts.formatEntry("new.example", 2200, parsedKey("b"), { hash: true }),
        KnownHosts.formatEntry("plain.example", 2200, parsedKey("c"), { hash: false }),
        ""
      ].join("\n")
    )
    expect(fs.readFileSync(ours, "utf8")).toMatch(/^\|1\|[A-Za-z0-9+/]{27}=\|[A-Za-z0-9+/]{27}= ssh-ed25519 /)
    expect(fs.readFileSync(ours, "utf8").split("\n")[2]).toBe(`[plain.example]:2200 ${keys.c}`)
    expect(keygenFind("new.example", ours)).toEqual([{ line: 1, marker: "", key: keys.a }])
    expect(keygenFind("[new.example]:2200", ours)).toEqual([{ line: 2, marker: "", key: keys.b }])
    expect(keygenFind("[plain.example]:2200", ours)).toEqual([{ line: 3, marker: "", key: keys.c }])
    // Two hashes of one name differ: the salt is random.
    const [x, y] = [0, 1].map(() => KnownHosts.formatEntry("new.example", 22, parsedKey("a"), { hash: true }))
    expect(x).not.toBe(y)
  })

  it("append then readFile on disk: creates the file 0600 in a 0700 directory, ends an unfinished last line", async () => {
    const file = path.join(dir, "made", "deeper", "known_hosts")
    const onDisk = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) => Effect.runPromise(Effect.provide(effect, NodeFiles.layer))
    await onDisk(KnownHosts.append(file, KnownHosts.formatEntry("one.example", 22, parsedKey("a"), { hash: true })))
    await onDisk(KnownHosts.append(file, `${KnownHosts.formatEntry("two.example", 2222, parsedKey("b"), { hash: false })}\n`))
    expect(fs.statSync(file).mode & 0o777).toBe(0o600)
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700)
    fs.appendFileSync(file, `three.example ${keys.c}`) // no final newline
    await onDisk(KnownHosts.append(file, `four.example ${keys.d}`))
    expect(fs.readFileSync(file, "utf8").split("\n")).toHaveLength(5)
    const read = await onDisk(KnownHosts.readFile(file))
    expect(read.skipped).toEqual([])
    expect(read.entries.map((e) => [e.line, e.hosts._tag, e.file])).toEqual([[1, "Hashed", file], [2, "Patterns", file], [3, "Patterns", file], [
      4,
      "Patterns",
      file
    ]])
    expect(KnownHosts.lookup(read.entries, "one.example", 22, parsedKey("a"), 0)._tag).toBe("Known")
    expect(KnownHosts.lookup(read.entries, "two.example", 2222, parsedKey("b"), 0)._tag).toBe("Known")
    expect(keygenFind("one.example", file).map((f) => f.line)).toEqual([1])
    expect(keygenFind("four.example", file).map((f) => f.line)).toEqual([4])
  })

  it("readFile on disk: a missing file is empty; a directory is a KnownHostsError with the path; so is an append that cannot write", async () => {
    const onDisk = <A, E>(effect: Effect.Effect<A, E, FileSystem.FileSystem | Path.Path>) => Effect.runPromise(Effect.provide(effect, NodeFiles.layer))
    expect(await onDisk(KnownHosts.readFile(path.join(dir, "missing", "known_hosts")))).toEqual({ entries: [], skipped: [] })
    const notAFile = path.join(dir, "a-directory")
    fs.mkdirSync(notAFile)
    const readError = await onDisk(Effect.flip(KnownHosts.readFile(notAFile)))
    expect([readError._tag, readError.reason, readError.path, readError.detail]).toEqual(["KnownHostsError", "ReadFailed", notAFile, "it is a directory"])
    expect(readError.message).toContain(notAFile)
    const underAFile = path.join(dir, "a", "known_hosts") // "a" is a private key file
    const writeError = await onDisk(Effect.flip(KnownHosts.append(underAFile, `x ${keys.a}`)))
    expect([writeError.reason, writeError.path]).toEqual(["WriteFailed", underAFile])
  })

  it("malformed lines are skipped with their line numbers; ssh-keygen -F reports some of them unparsed", () => {
    const file = path.join(dir, "malformed")
    const [type, b64] = keys.a.split(" ")
    const lines = [
      /* 1 */ `m.example ${type} AAAAgarbage`,
      /* 2 */ `m.example ssh-foo ${b64}`,
      /* 3 */ `@unknown m.example ${keys.a}`,
      /* 4 */ "m.example",
      /* 5 */ `m.example ssh-rsa ${b64}`,
      /* 6 */ `|1|garbage|x ${keys.a}`,
      /* 7 */ "@revoked",
      /* 8 */ `m.example ${type}`,
      /* 9 */ `m.example ${type} ${b64.slice(0, -4)}`,
      /* 10 */ `m.example ${keys.a}\r`,
      /* 11 */ `|1|${Buffer.alloc(10).toString("base64")}|${Buffer.alloc(20).toString("base64")} ${keys.a}`,
      /* 12 */ `m.example ${keys.b} fine`,
      /* 13 */ "\u0000\u00ff binary junk",
      ""
    ]
    fs.writeFileSync(file, lines.join("\n"))
    const { entries, skipped } = parseFile(file)
    expect(entries.map((e) => e.line)).toEqual([10, 12])
    expect(skipped.map((s) => s.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 13])
    for (const s of skipped) expect(s.reason).not.toBe("")
    // ssh-keygen -F prints matching lines without reading their keys, so it also reports some
    // we skip (as ssh skips them when it loads keys); everything we match, it matches.
    const theirs = keygenFind("m.example", file).map((f) => f.line)
    const ours = entries.filter((e) => KnownHosts.matches(e, "m.example", 22)).map((e) => e.line)
    expect(ours.every((l) => theirs.includes(l))).toBe(true)
    expect(theirs.filter((l) => !ours.includes(l)).every((l) => skipped.some((s) => s.line === l))).toBe(true)
    expect(theirs).toContain(1)
  })
})

describe("parse never throws", () => {
  const validLine = "h.example,[h.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKNZCiIcEJIOs1PEhkJRRDg2WqQd8EEgXIXth1ouOWX4 c"
  it("on mangled known_hosts text: every non-blank, non-comment line is an entry or skipped", () => {
    const line = fc.oneof(
      fc.string(),
      fc.constantFrom("@revoked ", "@cert-authority ", "|1|", "#", "!", "[", "]:", ",", " ", "\t").chain((p) =>
        fc.nat(validLine.length).map((i) => validLine.slice(0, i) + p + validLine.slice(i))
      ),
      fc.nat(validLine.length).map((i) => validLine.slice(0, i))
    )
    fc.assert(fc.property(fc.array(line, { maxLength: 8 }), (lines) => {
      const text = lines.join("\n")
      const { entries, skipped } = KnownHosts.parse(text, "f")
      const all = text.split("\n")
      const counted = all.filter((l) => l.trim() !== "" && !l.trim().startsWith("#")).length
      return entries.length + skipped.length === counted && skipped.every((s) => s.line >= 1 && s.line <= all.length)
    }))
  })
})

const hostKeyLine = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKNZCiIcEJIOs1PEhkJRRDg2WqQd8EEgXIXth1ouOWX4"

describe("StrictHostKeyChecking ask, with someone to ask", () => {
  it("yes (or the fingerprint) records the host and goes on; anything else refuses", async () => {
    const line = PublicKeyText.parsePublicKey(hostKeyLine)
    if (line._tag === "Left") throw line.left
    const key = line.right
    const fingerprint = PublicKey.fingerprintSha256(key)
    const info = { host: "new.example", port: 2222, key, algorithm: "ssh-ed25519", fingerprint }
    const memory = MemoryFileSystem.make({})
    for (const [answer, accepted] of [["no", false], ["yes", true], [fingerprint, true]] as const) {
      const file = `/home/u/.ssh/known_hosts_${accepted}_${answer.length}`
      const questions: Array<string> = []
      const policy = await Effect.runPromise(Effect.provide(
        HostKeyCheck.make({
          strictHostKeyChecking: "ask",
          userKnownHostsFiles: [file],
          globalKnownHostsFiles: [],
          hashKnownHosts: false,
          prompter: {
            ask: (q) => Effect.sync(() => (questions.push(q._tag === "Confirm" ? q.question : `not a confirmation: ${q._tag}`), Redacted.make(answer)))
          }
        }),
        MemoryFileSystem.layerOf(memory)
      ))
      const exit = await Effect.runPromiseExit(policy(info))
      expect(exit._tag === "Success").toBe(accepted)
      expect(questions[0]).toContain(`The authenticity of host '[new.example]:2222' can't be established.`)
      expect(questions[0]).toContain(`ED25519 key fingerprint is ${fingerprint}.`)
      expect(memory.read(file)).toBe(accepted ? `[new.example]:2222 ${hostKeyLine}\n` : undefined)
    }
  })
})
