/**
 * authorized_keys as sshd reads and decides it: parsing (quotes, escapes, bad lines skipped
 * with their numbers, bounds), each option's effect on the restrictions, and `match` for
 * plain keys and for certificates made by `ssh-keygen -s` at test time.
 */
import * as Either from "effect/Either"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import * as PublicKeyText from "../../src/keys/PublicKeyText.js"
import * as AuthorizedKeys from "../../src/server/AuthorizedKeys.js"
import { unrestricted } from "../../src/server/AuthPolicy.js"
import { encode } from "../../src/wire/Writer.js"
import { hasTool, requireTool } from "../support/Tools.js"

/** A key made once by ssh-keygen, for the tests that need no fresh ones. */
const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIJi17zhmP5DDSAjn4/IF6fKUvEirWWw8MvkpBZPPV96"
const ECDSA =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBKE+0BsRn11R3Fj/k7AZKyFmYnKS7l76qkQRuNoYHBk+tMph3VIw6kpNC5GiNpGysoP27gUkjsRCKk94lR2I79Y="
/** A FIDO key as a token would make it: ssh-keygen cannot without one. */
const SK = `sk-ssh-ed25519@openssh.com ${
  Buffer.from(encode((w) => {
    w.string("sk-ssh-ed25519@openssh.com")
    w.string(new Uint8Array(32).fill(7))
    w.string("ssh:")
  })).toString("base64")
}`

const keyOf = (line: string) => Either.getOrThrow(PublicKeyText.parsePublicKey(line))
const only = (text: string) => {
  const parsed = AuthorizedKeys.parse(text)
  expect(parsed.errors).toEqual([])
  expect(parsed.keys.length).toBe(1)
  return parsed.keys[0]
}
const restrictionsOf = (options: string) => only(`${options} ${ED25519}`).restrictions

const context = (over: Partial<AuthorizedKeys.MatchContext> = {}): AuthorizedKeys.MatchContext => ({
  user: "alice",
  clientAddress: "127.0.0.1",
  now: Math.floor(Date.now() / 1000),
  curves: nodeCurves,
  ...over
})

describe("AuthorizedKeys.parse", () => {
  it("keys of each kind, comments, blank and comment lines, leading blanks, CRLF: numbered as in the file", () => {
    const text = [
      "# a comment",
      "",
      `${ED25519} alice@laptop`,
      "   ",
      `  \t${ECDSA}`,
      "\t# indented comment",
      `${SK} yubikey 5`,
      `${ED25519} with CRLF\r`,
      ""
    ].join("\n")
    const parsed = AuthorizedKeys.parse(text)
    expect(parsed.errors).toEqual([])
    expect(parsed.keys.map((k) => [k.line, k.key.type, k.comment])).toEqual([
      [3, "ssh-ed25519", "alice@laptop"],
      [5, "ecdsa-sha2-nistp256", ""],
      [7, "sk-ssh-ed25519@openssh.com", "yubikey 5"],
      [8, "ssh-ed25519", "with CRLF"]
    ])
    expect(parsed.keys.every((k) => !k.certAuthority && k.options.length === 0)).toBe(true)
    expect(parsed.keys[0].restrictions).toEqual(unrestricted)
  })

  it("quoted values keep commas, spaces and escaped quotes; a backslash before anything else stays", () => {
    const entry = only(`command="echo \\"a, b\\" c\\d",from="10.0.0.0/8,!10.1.0.0/16",environment="X=1,2" ${ED25519} c`)
    expect(entry.restrictions.forceCommand).toBe(`echo "a, b" c\\d`)
    expect(entry.from).toEqual(["10.0.0.0/8", "!10.1.0.0/16"])
    expect(entry.restrictions.environment).toEqual(["X=1,2"])
    expect(entry.options.map((o) => o.name)).toEqual(["command", "from", "environment"])
  })

  it("a bad line is skipped and reported with its number; the lines around it still count", () => {
    const bad = [
      `unknown-option ${ED25519}`,
      `command="unterminated ${ED25519}`,
      `pty="yes" ${ED25519}`,
      `command ${ED25519}`,
      `command=unquoted ${ED25519}`,
      `command="a",command="b" ${ED25519}`,
      `from="a",from="b" ${ED25519}`,
      `cert-authority,principals="a",principals="b" ${ED25519}`,
      `no-restrict ${ED25519}`,
      `no-cert-authority ${ED25519}`,
      `constructor ${ED25519}`,
      `toString ${ED25519}`,
      `__proto__ ${ED25519}`,
      `expiry-time="2030" ${ED25519}`,
      `expiry-time="20301301" ${ED25519}`,
      `expiry-time="19691231Z" ${ED25519}`,
      `expiry-time="20300101T" ${ED25519}`,
      `environment="NOEQUALS" ${ED25519}`,
      `environment="BAD-NAME=1" ${ED25519}`,
      `environment="=1" ${ED25519}`,
      `permitopen="host" ${ED25519}`,
      `permitopen="host:0" ${ED25519}`,
      `permitopen="host:65536" ${ED25519}`,
      `permitopen="[::1]" ${ED25519}`,
      `tunnel="-1" ${ED25519}`,
      `tunnel="2147483646" ${ED25519}`,
      `pty;no-x11-forwarding ${ED25519}`,
      `ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAA`,
      `ecdsa-sha2-nistp256 ${ED25519.split(" ")[1]}`,
      `ssh-ed25519 AAAA`,
      `ssh-ed25519`,
      `just garbage`
    ]
    const text = [`${ED25519} first`, ...bad, `${ED25519} last`].join("\n")
    const parsed = AuthorizedKeys.parse(text)
    expect(parsed.keys.map((k) => [k.line, k.comment])).toEqual([[1, "first"], [bad.length + 2, "last"]])
    expect(parsed.errors.map((e) => e.line)).toEqual(bad.map((_, i) => i + 2))
    const detail = (i: number) => parsed.errors[i].detail
    expect(detail(0)).toMatch(/unknown option unknown-option/)
    expect(detail(2)).toMatch(/takes no value/)
    expect(detail(3)).toMatch(/needs a quoted value/)
    expect(detail(5)).toMatch(/more than one command=/)
    expect(detail(10)).toMatch(/unknown option constructor/)
    expect(detail(14)).toMatch(/invalid expiry-time/)
    expect(detail(22)).toMatch(/invalid permission port/)
    expect(detail(27)).toMatch(/a certificate is not an authorized key/)
    expect(detail(28)).toMatch(/names ecdsa-sha2-nistp256 but the key is ssh-ed25519/)
  })

  it("option names are case-insensitive, as sshd's strncasecmp", () => {
    expect(restrictionsOf("NO-PTY,Restrict,Port-Forwarding")).toMatchObject({ pty: false, portForwarding: true, agentForwarding: false })
    expect(only(`CERT-AUTHORITY,PRINCIPALS="a" ${ED25519}`)).toMatchObject({ certAuthority: true, principals: ["a"] })
  })

  it("a line over the bound is skipped; past the entry cap the rest is ignored, said once; bad lines past the report cap are counted", () => {
    const long = `command="${"x".repeat(AuthorizedKeys.MAX_LINE_LENGTH)}" ${ED25519}`
    const parsed = AuthorizedKeys.parse([long, ED25519].join("\n"))
    expect(parsed.keys.map((k) => k.line)).toEqual([2])
    expect(parsed.errors).toEqual([{ line: 1, detail: `line longer than ${AuthorizedKeys.MAX_LINE_LENGTH} characters` }])

    const many = AuthorizedKeys.parse(Array.from({ length: AuthorizedKeys.MAX_ENTRIES + 5 }, () => ED25519).join("\n"))
    expect(many.keys.length).toBe(AuthorizedKeys.MAX_ENTRIES)
    expect(many.errors).toEqual([{ line: AuthorizedKeys.MAX_ENTRIES + 1, detail: expect.stringMatching(/this line and those after it are ignored/) }])

    const garbage = AuthorizedKeys.parse(Array.from({ length: 250 }, () => "garbage").join("\n"))
    expect(garbage.errors.length).toBe(AuthorizedKeys.MAX_REPORTED_ERRORS + 1)
    expect(garbage.errors.at(-1)).toEqual({ line: AuthorizedKeys.MAX_REPORTED_ERRORS + 1, detail: "150 more bad lines from here on" })
  })

  it("a name in a bad line reaches the report escaped", () => {
    const parsed = AuthorizedKeys.parse(`evil\u001b[2J ${ED25519}\ncommand="x",\u001b ${ED25519}`)
    expect(parsed.errors.length).toBe(2)
    for (const e of parsed.errors) expect(e.detail).not.toMatch(/\u001b/)
  })
})

describe("restrictions", () => {
  it("no options: sshd's defaults, everything allowed, touch required", () => {
    expect(restrictionsOf("")).toEqual(unrestricted)
  })

  it("each no-* option turns off its own permission only", () => {
    const flags = [
      ["no-pty", "pty"],
      ["no-port-forwarding", "portForwarding"],
      ["no-agent-forwarding", "agentForwarding"],
      ["no-X11-forwarding", "x11Forwarding"],
      ["no-user-rc", "userRc"]
    ] as const
    for (const [option, field] of flags) expect(restrictionsOf(option)).toEqual({ ...unrestricted, [field]: false })
  })

  it("restrict turns every permission off; a re-enable after it turns one back on; before it, restrict wins", () => {
    const off = { pty: false, portForwarding: false, agentForwarding: false, x11Forwarding: false, userRc: false }
    expect(restrictionsOf("restrict")).toEqual({ ...unrestricted, ...off })
    expect(restrictionsOf("restrict,pty,port-forwarding")).toEqual({ ...unrestricted, ...off, pty: true, portForwarding: true })
    expect(restrictionsOf("restrict,agent-forwarding,x11-forwarding,user-rc")).toEqual({
      ...unrestricted,
      ...off,
      agentForwarding: true,
      x11Forwarding: true,
      userRc: true
    })
    expect(restrictionsOf("pty,restrict")).toEqual({ ...unrestricted, ...off })
  })

  it("touch and verification requirements", () => {
    expect(restrictionsOf("no-touch-required")).toEqual({ ...unrestricted, touchRequired: false })
    expect(restrictionsOf("no-touch-required,touch-required").touchRequired).toBe(true)
    expect(restrictionsOf("verify-required")).toEqual({ ...unrestricted, verifyRequired: true })
    expect(restrictionsOf("verify-required,no-verify-required").verifyRequired).toBe(false)
    // restrict is about permissions, not requirements.
    expect(restrictionsOf("no-touch-required,restrict").touchRequired).toBe(false)
  })

  it("command, environment (first of a name wins), permitopen and permitlisten (repeatable; a bare port listens anywhere), tunnel", () => {
    const r = restrictionsOf(
      [
        `command="/usr/bin/backup --daily"`,
        `environment="A=1"`,
        `environment="B=x=y"`,
        `environment="A=2"`,
        `permitopen="db.internal:5432"`,
        `permitopen="[2001:db8::1]:443"`,
        `permitopen="*:*"`,
        `permitlisten="8080"`,
        `permitlisten="localhost:9090"`,
        `tunnel="7"`
      ].join(",")
    )
    expect(r).toEqual({
      ...unrestricted,
      forceCommand: "/usr/bin/backup --daily",
      environment: ["A=1", "B=x=y"],
      permitOpen: ["db.internal:5432", "[2001:db8::1]:443", "*:*"],
      permitListen: ["*:8080", "localhost:9090"],
      tunnel: "7"
    })
    expect(restrictionsOf(`tunnel="ANY"`).tunnel).toBe("any")
    expect(restrictionsOf(`tunnel="0"`).tunnel).toBe("0")
  })

  it("a port by service name, which sshd looks up in /etc/services, is refused here: the line is skipped and says so", () => {
    const parsed = AuthorizedKeys.parse(`permitopen="host:https" ${ED25519}`)
    expect(parsed.keys).toEqual([])
    expect(parsed.errors).toEqual([{ line: 1, detail: "invalid permission port in permitopen=host:https" }])
  })
})

describe("expiry-time", () => {
  const savedTz = process.env.TZ
  afterEach(() => {
    if (savedTz === undefined) delete process.env.TZ
    else process.env.TZ = savedTz
  })
  const expiresAt = (value: string) => only(`expiry-time="${value}" ${ED25519}`).expiresAt

  it("UTC with a trailing Z or UTC, any case; date, minutes or seconds", () => {
    expect(expiresAt("20300101Z")).toBe(Date.UTC(2030, 0, 1) / 1000)
    expect(expiresAt("203001011230z")).toBe(Date.UTC(2030, 0, 1, 12, 30) / 1000)
    expect(expiresAt("20300101123045UTC")).toBe(Date.UTC(2030, 0, 1, 12, 30, 45) / 1000)
    // A day past the month's end rolls over, as mktime rolls it.
    expect(expiresAt("20300231Z")).toBe(Date.UTC(2030, 2, 3) / 1000)
  })

  it("the earliest of several wins", () => {
    expect(only(`expiry-time="20310101Z",expiry-time="20300101Z",expiry-time="20320101Z" ${ED25519}`).expiresAt).toBe(Date.UTC(2030, 0, 1) / 1000)
  })

  it("local time is standard time, as mktime with tm_isdst 0 reads it: in summer an hour past the wall clock", () => {
    process.env.TZ = "UTC"
    expect(expiresAt("203007151230")).toBe(Date.UTC(2030, 6, 15, 12, 30) / 1000)
    // Berlin's standard time is UTC+1, summer or winter.
    process.env.TZ = "Europe/Berlin"
    expect(expiresAt("203001151230")).toBe(Date.UTC(2030, 0, 15, 11, 30) / 1000)
    expect(expiresAt("203007151230")).toBe(Date.UTC(2030, 6, 15, 11, 30) / 1000)
    // Sydney's is UTC+10; its summer is in January.
    process.env.TZ = "Australia/Sydney"
    expect(expiresAt("20300115")).toBe(Date.UTC(2030, 0, 14, 14) / 1000)
    expect(expiresAt("20300715")).toBe(Date.UTC(2030, 6, 14, 14) / 1000)
  })

  it.skipIf(!hasTool("python3"))("local time agrees with glibc's mktime (python3's time.mktime, tm_isdst 0)", () => {
    requireTool("python3")
    const stamps = ["20300115083000", "20300715083000", "20301103013000", "20300331023000"]
    const fields = stamps.map((s) => [s.slice(0, 4), s.slice(4, 6), s.slice(6, 8), s.slice(8, 10), s.slice(10, 12), s.slice(12)].map(Number))
    const script = `import time; print(" ".join(str(int(time.mktime((*f, 0, 0, 0)))) for f in ${JSON.stringify(fields)}))`
    for (const tz of ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]) {
      const theirs = execFileSync("python3", ["-c", script], { env: { ...process.env, TZ: tz }, encoding: "utf8" }).trim().split(" ").map(Number)
      process.env.TZ = tz
      expect([tz, stamps.map(expiresAt)]).toEqual([tz, theirs])
    }
  })
})

describe("match: plain keys", () => {
  const key = keyOf(ED25519)
  const other = keyOf(ECDSA)

  it("a key matches the entry with the same key, with that entry's restrictions", () => {
    const { keys } = AuthorizedKeys.parse(`${ECDSA}\nrestrict,pty ${ED25519} me`)
    const granted = Either.getOrThrow(AuthorizedKeys.match(keys, key, context()))
    expect(granted.via).toBe("key")
    expect(granted.entry.line).toBe(2)
    expect(granted.restrictions.pty).toBe(true)
    expect(granted.restrictions.portForwarding).toBe(false)
    expect(granted.certificate).toBeUndefined()
  })

  it("a key no entry has: NoMatchingKey, naming its fingerprint", () => {
    const { keys } = AuthorizedKeys.parse(ED25519)
    const refused = Either.flip(AuthorizedKeys.match(keys, other, context()))
    expect(Either.getOrThrow(refused)).toMatchObject({ _tag: "KeyNotAuthorized", reason: "NoMatchingKey" })
    expect(Either.getOrThrow(refused).message).toContain(PublicKey.fingerprintSha256(other))
  })

  it("a cert-authority entry never lets its own key log in", () => {
    const { keys } = AuthorizedKeys.parse(`cert-authority ${ED25519}`)
    expect(reasonOf(AuthorizedKeys.match(keys, key, context()))).toBe("NoMatchingKey")
  })

  it("principals= without cert-authority refuses, as sshd does", () => {
    const { keys } = AuthorizedKeys.parse(`principals="alice" ${ED25519}`)
    expect(reasonOf(AuthorizedKeys.match(keys, key, context()))).toBe("PrincipalsOnPlainKey")
  })

  it("an entry whose options refuse is passed over: the next entry with the key may accept", () => {
    const { keys } = AuthorizedKeys.parse([`from="10.0.0.0/8" ${ED25519} office`, `expiry-time="20200101Z" ${ED25519} old`, `no-pty ${ED25519} any`].join("\n"))
    const granted = Either.getOrThrow(AuthorizedKeys.match(keys, key, context()))
    expect(granted.entry.comment).toBe("any")
    expect(granted.restrictions.pty).toBe(false)
    // From the office, the first entry wins, with its own (unrestricted) options.
    expect(Either.getOrThrow(AuthorizedKeys.match(keys, key, context({ clientAddress: "10.2.3.4" }))).entry.comment).toBe("office")
  })

  it("when every candidate refuses, the first refusal is told, with its line, and the others counted", () => {
    const { keys } = AuthorizedKeys.parse([ECDSA, `from="10.0.0.0/8" ${ED25519}`, `expiry-time="20200101Z" ${ED25519}`].join("\n"))
    const error = leftOf(AuthorizedKeys.match(keys, key, context()))
    expect(error).toMatchObject({ reason: "FromNotAllowed", line: 2 })
    expect(error.detail).toMatch(/127\.0\.0\.1 is not allowed by from=10\.0\.0\.0\/8; 1 more entries refused it too/)
    expect(error.message).toMatch(/\(authorized_keys line 2\)$/)
  })

  it("from=: CIDR, negation, IPv6, host name patterns against the name given, invalid lists refuse", () => {
    const allowed = (from: string, over: Partial<AuthorizedKeys.MatchContext>) =>
      Either.isRight(AuthorizedKeys.match(AuthorizedKeys.parse(`from="${from}" ${ED25519}`).keys, key, context(over)))
    expect(allowed("10.0.0.0/8", { clientAddress: "10.9.8.7" })).toBe(true)
    expect(allowed("10.0.0.0/8,!10.9.0.0/16", { clientAddress: "10.9.8.7" })).toBe(false)
    expect(allowed("10.0.0.0/8,!10.9.0.0/16", { clientAddress: "10.8.8.7" })).toBe(true)
    expect(allowed("2001:db8::/32", { clientAddress: "2001:db8:1::9" })).toBe(true)
    expect(allowed("2001:db8::/32", { clientAddress: "2001:db9::9" })).toBe(false)
    expect(allowed("127.0.0.1", { clientAddress: "::ffff:127.0.0.1" })).toBe(true)
    expect(allowed("*.example.com", { clientAddress: "192.0.2.1", clientName: "gw.EXAMPLE.com" })).toBe(true)
    expect(allowed("*.example.com", { clientAddress: "192.0.2.1" })).toBe(false)
    expect(allowed("*.example.com,!bad.example.com", { clientAddress: "192.0.2.1", clientName: "bad.example.com" })).toBe(false)
    expect(allowed("192.0.2.*", { clientAddress: "192.0.2.1", clientName: "gw.example.com" })).toBe(true)
    expect(allowed("*,!192.0.2.1", { clientAddress: "192.0.2.1", clientName: "gw.example.com" })).toBe(false)
    expect(allowed("10.0.0.1/8", { clientAddress: "10.0.0.1" })).toBe(false)
    const invalid = leftOf(AuthorizedKeys.match(AuthorizedKeys.parse(`from="10.0.0.1/8" ${ED25519}`).keys, key, context({ clientAddress: "10.0.0.1" })))
    expect(invalid.detail).toMatch(/invalid from= list/)
  })

  it("expiry-time: refused only once the time is past", () => {
    const { keys } = AuthorizedKeys.parse(`expiry-time="20300101Z" ${ED25519}`)
    const at = Date.UTC(2030, 0, 1) / 1000
    expect(Either.isRight(AuthorizedKeys.match(keys, key, context({ now: at })))).toBe(true)
    expect(Either.isRight(AuthorizedKeys.match(keys, key, context({ now: at + 0.9 })))).toBe(true)
    expect(reasonOf(AuthorizedKeys.match(keys, key, context({ now: at + 1 })))).toBe("Expired")
  })

  it("what the client chose (its address, its name) is escaped in the detail", () => {
    const { keys } = AuthorizedKeys.parse(`from="10.0.0.0/8" ${ED25519}`)
    const error = leftOf(AuthorizedKeys.match(keys, key, context({ clientAddress: "192.0.2.1", clientName: "x\u001b]0;pwned\u0007" })))
    expect(error.detail).toContain("x\\033]0;pwned\\007")
    expect(error.detail).not.toMatch(/[\u0000-\u001f]/)
  })
})

const reasonOf = <A>(result: Either.Either<A, AuthorizedKeys.KeyNotAuthorized>) => Either.isLeft(result) ? result.left.reason : "authorized"
const leftOf = <A>(result: Either.Either<A, AuthorizedKeys.KeyNotAuthorized>) => Either.getOrThrow(Either.flip(result))

describe.skipIf(!hasTool("ssh-keygen"))("match: certificates made by ssh-keygen -s", () => {
  let dir = ""
  const exec = (args: ReadonlyArray<string>) => execFileSync("ssh-keygen", [...args], { encoding: "utf8", timeout: 60_000, stdio: "pipe" })
  const keygen = (name: string, type: ReadonlyArray<string> = ["-t", "ed25519"]) => {
    const file = path.join(dir, name)
    if (!fs.existsSync(file)) exec(["-q", "-N", "", "-C", name, ...type, "-f", file])
    return { file, line: fs.readFileSync(`${file}.pub`, "utf8").trim() }
  }
  let serial = 0
  /** A certificate of `subject` (made if needed) signed by `ca`, with ssh-keygen's options. */
  const certify = (ca: string, options: ReadonlyArray<string>, subject = "subject") => {
    const name = `cert-${++serial}`
    fs.copyFileSync(`${keygen(subject).file}.pub`, path.join(dir, `${name}.pub`))
    exec(["-q", "-s", keygen(ca).file, "-I", name, ...options, path.join(dir, `${name}.pub`)])
    return Either.getOrThrow(Certificate.fromLine(fs.readFileSync(path.join(dir, `${name}-cert.pub`), "utf8")))
  }
  const entries = (...lines: ReadonlyArray<string>) => AuthorizedKeys.parse(lines.join("\n")).keys
  const ca = () => keygen("ca").line

  beforeAll(() => {
    requireTool("ssh-keygen")
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "authorized-keys-"))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it("a certificate listing the user, signed by a cert-authority entry's key: granted, with ssh-keygen's default extensions", () => {
    const cert = certify("ca", ["-n", "alice,bob"])
    const granted = Either.getOrThrow(AuthorizedKeys.match(entries(ED25519, `cert-authority ${ca()} our CA`), cert, context()))
    expect(granted).toMatchObject({ via: "cert-authority", principal: "alice", certificate: cert })
    expect(granted.entry.line).toBe(2)
    expect(granted.restrictions).toEqual(unrestricted)
  })

  it("the user is not among its principals: PrincipalNotAllowed; principals= accepts any name it lists instead", () => {
    const cert = certify("ca", ["-n", "deploy,ops"])
    expect(reasonOf(AuthorizedKeys.match(entries(`cert-authority ${ca()}`), cert, context()))).toBe("PrincipalNotAllowed")
    const granted = AuthorizedKeys.match(entries(`cert-authority,principals="admin,ops" ${ca()}`), cert, context())
    expect(Either.getOrThrow(granted).principal).toBe("ops")
    // principals= replaces the user name: the name alone no longer does.
    const byName = certify("ca", ["-n", "alice"])
    expect(reasonOf(AuthorizedKeys.match(entries(`cert-authority,principals="admin" ${ca()}`), byName, context()))).toBe("PrincipalNotAllowed")
    // sshd reads principals= up to its first empty name.
    expect(reasonOf(AuthorizedKeys.match(entries(`cert-authority,principals="admin,,ops" ${ca()}`), cert, context()))).toBe("PrincipalNotAllowed")
  })

  it("several cert-authority entries for one CA: the first that accepts wins", () => {
    const cert = certify("ca", ["-n", "ops"])
    const granted = AuthorizedKeys.match(entries(`cert-authority,principals="db" ${ca()}`, `cert-authority,principals="ops",no-pty ${ca()}`), cert, context())
    expect(Either.getOrThrow(granted).entry.line).toBe(2)
    expect(Either.getOrThrow(granted).restrictions.pty).toBe(false)
  })

  it("wrong CA, a CA listed without cert-authority, the certified key listed as a key: NoMatchingKey", () => {
    const cert = certify("ca", ["-n", "alice"])
    expect(reasonOf(AuthorizedKeys.match(entries(`cert-authority ${keygen("other-ca").line}`), cert, context()))).toBe("NoMatchingKey")
    expect(reasonOf(AuthorizedKeys.match(entries(ca()), cert, context()))).toBe("NoMatchingKey")
    expect(reasonOf(AuthorizedKeys.match(entries(keygen("subject").line), cert, context()))).toBe("NoMatchingKey")
    expect(leftOf(AuthorizedKeys.match(entries(ED25519), cert, context())).detail).toMatch(/no cert-authority entry for the CA ED25519 SHA256:/)
  })

  it("expired, not yet valid, a host certificate, a bad CA signature: CertificateRejected, with the certificate's reason as cause", () => {
    const list = entries(`cert-authority ${ca()}`)
    const rejected = (cert: Certificate.Certificate) => {
      const error = leftOf(AuthorizedKeys.match(list, cert, context()))
      expect(error.reason).toBe("CertificateRejected")
      return error.cause?.reason
    }
    expect(rejected(certify("ca", ["-n", "alice", "-V", "20200101:20200102"]))).toBe("Expired")
    expect(rejected(certify("ca", ["-n", "alice", "-V", "20990101:20991231"]))).toBe("NotYetValid")
    expect(rejected(certify("ca", ["-n", "alice", "-h"]))).toBe("WrongRole")
    const good = certify("ca", ["-n", "alice"])
    const blob = Uint8Array.from(good.blob)
    blob[blob.length - 5] ^= 1
    expect(rejected(Either.getOrThrow(Certificate.fromBlob(blob)))).toBe("BadSignature")
  })

  it("a certificate with no principals is refused for users, though ssh-keygen makes it valid for all", () => {
    const error = leftOf(AuthorizedKeys.match(entries(`cert-authority ${ca()}`), certify("ca", []), context()))
    expect(error).toMatchObject({ reason: "PrincipalNotAllowed", line: 1 })
    expect(error.detail).toMatch(/lists no principals/)
  })

  it("force-command: the certificate's alone forces it; equal to command= is fine; different is ForcedCommandConflict", () => {
    const cert = certify("ca", ["-n", "alice", "-O", "force-command=/usr/bin/rsync --server"])
    const alone = Either.getOrThrow(AuthorizedKeys.match(entries(`cert-authority ${ca()}`), cert, context()))
    expect(alone.restrictions.forceCommand).toBe("/usr/bin/rsync --server")
    const same = AuthorizedKeys.match(entries(`cert-authority,command="/usr/bin/rsync --server" ${ca()}`), cert, context())
    expect(Either.getOrThrow(same).restrictions.forceCommand).toBe("/usr/bin/rsync --server")
    const conflict = leftOf(AuthorizedKeys.match(entries(`cert-authority,command="/bin/sh" ${ca()}`), cert, context()))
    expect(conflict).toMatchObject({ reason: "ForcedCommandConflict", line: 1 })
    const entryOnly = AuthorizedKeys.match(entries(`cert-authority,command="uptime" ${ca()}`), certify("ca", ["-n", "alice"]), context())
    expect(Either.getOrThrow(entryOnly).restrictions.forceCommand).toBe("uptime")
  })

  it("source-address: the client must be inside it, IPv4-mapped or not", () => {
    const cert = certify("ca", ["-n", "alice", "-O", "source-address=127.0.0.1/32,::1,10.0.0.0/8"])
    const list = entries(`cert-authority ${ca()}`)
    expect(Either.isRight(AuthorizedKeys.match(list, cert, context()))).toBe(true)
    expect(Either.isRight(AuthorizedKeys.match(list, cert, context({ clientAddress: "::ffff:10.1.1.1" })))).toBe(true)
    expect(Either.isRight(AuthorizedKeys.match(list, cert, context({ clientAddress: "::1" })))).toBe(true)
    const outside = leftOf(AuthorizedKeys.match(list, cert, context({ clientAddress: "192.0.2.1" })))
    expect(outside.reason).toBe("SourceAddressNotAllowed")
    expect(outside.detail).toMatch(/may not be used from 192\.0\.2\.1/)
  })

  it("from= on the cert-authority entry applies to its certificates too", () => {
    const cert = certify("ca", ["-n", "alice"])
    expect(reasonOf(AuthorizedKeys.match(entries(`cert-authority,from="10.0.0.0/8" ${ca()}`), cert, context()))).toBe("FromNotAllowed")
  })

  it("permissions need both the entry and the certificate; requirements need either", () => {
    const ptyOnly = certify("ca", ["-n", "alice", "-O", "clear", "-O", "permit-pty"])
    const grant = (options: string, cert: Certificate.Certificate) =>
      Either.getOrThrow(AuthorizedKeys.match(entries(`${options} ${ca()}`), cert, context())).restrictions
    expect(grant("cert-authority", ptyOnly)).toEqual({
      ...unrestricted,
      portForwarding: false,
      agentForwarding: false,
      x11Forwarding: false,
      userRc: false
    })
    expect(grant("cert-authority,restrict", ptyOnly).pty).toBe(false)
    expect(grant("cert-authority,restrict,pty", ptyOnly).pty).toBe(true)
    const noTouch = certify("ca", ["-n", "alice", "-O", "no-touch-required"])
    expect(grant("cert-authority", noTouch).touchRequired).toBe(true)
    expect(grant("cert-authority,no-touch-required", noTouch).touchRequired).toBe(false)
    expect(grant("cert-authority,no-touch-required", certify("ca", ["-n", "alice"])).touchRequired).toBe(true)
    const verify = certify("ca", ["-n", "alice", "-O", "verify-required"])
    expect(grant("cert-authority", verify).verifyRequired).toBe(true)
    expect(grant("cert-authority,verify-required", certify("ca", ["-n", "alice"])).verifyRequired).toBe(true)
  })

  it("lists and the environment come from the entry, the certificate has none", () => {
    const cert = certify("ca", ["-n", "alice"])
    const granted = Either.getOrThrow(AuthorizedKeys.match(entries(`cert-authority,permitopen="h:22",environment="A=b",tunnel="3" ${ca()}`), cert, context()))
    expect(granted.restrictions).toMatchObject({ permitOpen: ["h:22"], environment: ["A=b"], tunnel: "3" })
  })

  it("an unknown critical option refuses the certificate; an unknown extension is ignored", () => {
    const list = entries(`cert-authority ${ca()}`)
    const critical = certify("ca", ["-n", "alice", "-O", "critical:unknown@example.com=1"])
    const error = leftOf(AuthorizedKeys.match(list, critical, context()))
    expect(error.reason).toBe("BadCertificateOptions")
    expect(error.detail).toMatch(/critical option unknown@example\.com is not supported/)
    expect(Either.isRight(AuthorizedKeys.match(list, certify("ca", ["-n", "alice", "-O", "extension:unknown@example.com=1"]), context()))).toBe(true)
  })

  it("a certificate's key id reaches the detail escaped", () => {
    const cert = certify("ca", ["-n", "bob", "-I", "id\u001b[2Jx"])
    const error = leftOf(AuthorizedKeys.match(entries(`cert-authority ${ca()}`), cert, context()))
    expect(error.detail).toContain("id\\033[2Jx")
    expect(error.detail).not.toMatch(/\u001b/)
  })

  it("RSA and ECDSA CAs and subjects as well", () => {
    for (const [caName, type] of [["ca-rsa", ["-t", "rsa", "-b", "2048"]], ["ca-ecdsa", ["-t", "ecdsa", "-b", "384"]]] as const) {
      const caLine = keygen(caName, type).line
      const cert = certify(caName, ["-n", "alice"], `${caName}-subject`)
      expect(Either.isRight(AuthorizedKeys.match(entries(`cert-authority ${caLine}`), cert, context()))).toBe(true)
    }
  })
})
