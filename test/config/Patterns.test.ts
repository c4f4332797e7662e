/**
 * Address patterns as sshd reads them: numeric addresses as glibc's getaddrinfo reads them
 * (judged by python3's socket.getaddrinfo, which is glibc's), `from=` lists as
 * `addr_match_list` and `match_host_and_ip`, `source-address` lists as `addr_match_cidr_list`.
 */
import { spawnSync } from "node:child_process"
import { describe, expect, it } from "vitest"
import { matchAddressList, matchCidrList, matchHostAndAddress, parseAddress, unmapAddress } from "../../src/config/Patterns.js"
import { hasTool, requireTool } from "../support/Tools.js"

const samples = [
  "127.0.0.1",
  "127.1",
  "0x7f.1",
  "010.0.0.1",
  "4294967295",
  "4294967296",
  "1.2.3.256",
  "1.2.3.4.5",
  "1.2.3.",
  ".1.2.3",
  "0",
  "0x",
  "09",
  "1.2.3.4 ",
  " 1.2.3.4",
  "1e3",
  "+1.2.3.4",
  "::",
  "::1",
  "1::",
  "1:2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7::",
  "::2:3:4:5:6:7:8",
  "1:2:3:4:5:6:7:8:9",
  "1::2::3",
  ":1::",
  "1:::2",
  "::ffff:1.2.3.4",
  "::1.2.3.4",
  "1:2:3:4:5:6:1.2.3.4",
  "1:2:3:4:5:6:7:1.2.3.4",
  "::ffff:01.2.3.4",
  "::ffff:1.2.3",
  "1.2.3.4::",
  "12345::",
  "fe80::1",
  "FE80::ABCD",
  "[::1]",
  "host.example",
  "*",
  "10.0.0.0/8"
]

describe("parseAddress", () => {
  it.skipIf(!hasTool("python3"))("reads every sample as glibc's getaddrinfo(AI_NUMERICHOST) does", () => {
    requireTool("python3")
    const script = [
      "import json, socket, sys",
      "out = []",
      "for s in json.load(sys.stdin):",
      "    try:",
      "        sa = socket.getaddrinfo(s, None, flags=socket.AI_NUMERICHOST)[0]",
      "        out.append(list(socket.inet_pton(sa[0], sa[4][0])))",
      "    except Exception:",
      "        out.append(None)",
      "print(json.dumps(out))"
    ].join("\n")
    const r = spawnSync("python3", ["-c", script], { input: JSON.stringify(samples), encoding: "utf8" })
    const theirs = JSON.parse(r.stdout) as Array<Array<number> | null>
    const ours = samples.map((s) => {
      const bytes = parseAddress(s)
      return bytes === undefined ? null : [...bytes]
    })
    expect(Object.fromEntries(samples.map((s, i) => [s, ours[i]]))).toEqual(Object.fromEntries(samples.map((s, i) => [s, theirs[i]])))
    // The oracle is not empty-handed: most samples do read.
    expect(theirs.filter((t) => t !== null).length).toBeGreaterThan(15)
  })

  it("IPv4-mapped IPv6 addresses read as the IPv4 address sshd sees", () => {
    expect(unmapAddress("::ffff:127.0.0.1")).toBe("127.0.0.1")
    expect(unmapAddress("::FFFF:7f00:1")).toBe("127.0.0.1")
    expect(unmapAddress("::1")).toBe("::1")
    expect(unmapAddress("10.0.0.1")).toBe("10.0.0.1")
    expect(unmapAddress("host.example")).toBe("host.example")
  })
})

describe("matchAddressList (addr_match_list)", () => {
  const cases: ReadonlyArray<readonly [string, string, ReturnType<typeof matchAddressList>]> = [
    ["10.1.2.3", "10.0.0.0/8", "match"],
    ["11.1.2.3", "10.0.0.0/8", "none"],
    ["10.1.2.3", "10.0.0.0/8,!10.1.0.0/16", "negated"],
    ["10.2.2.3", "10.0.0.0/8,!10.1.0.0/16", "match"],
    ["10.1.2.3", "!10.1.0.0/16,10.0.0.0/8", "negated"],
    ["192.168.1.7", "192.168.1.7", "match"],
    ["192.168.1.7", "192.168.1.*", "match"],
    ["192.168.1.7", "192.168.?.7", "match"],
    ["192.168.1.7", "!192.168.1.*", "negated"],
    ["2001:db8::5", "2001:db8::/32", "match"],
    ["2001:db9::5", "2001:db8::/32", "none"],
    ["2001:db8::5", "2001:DB8::5", "match"],
    ["2001:db8::5", "2001:db8::*", "match"],
    ["::1", "127.0.0.0/8", "none"],
    ["127.0.0.1", "::1/128", "none"],
    ["0.0.0.1", "0.0.0.0/0", "match"],
    ["8.8.8.8", "0.0.0.0/0", "match"],
    // sshd refuses the whole list for a network with host bits set, a length too long, an empty entry.
    ["10.1.2.3", "10.0.0.1/8", "invalid"],
    ["10.1.2.3", "10.0.0.0/33", "invalid"],
    ["10.1.2.3", "10.0.0.0/8,", "invalid"],
    ["10.1.2.3", "!", "invalid"],
    ["10.1.2.3", "", "invalid"],
    // ... unless a negated entry matched first: the list is read no further.
    ["10.1.2.3", "!10.0.0.0/8,10.0.0.1/8", "negated"],
    ["10.1.2.3", "10.0.0.0/8,10.0.0.1/8", "invalid"],
    // A mask that is not a number is no network: the entry is a wildcard on the text, and matches nothing.
    ["10.1.2.3", "10.0.0.0/x", "none"],
    // A host name pattern says nothing of an address.
    ["10.1.2.3", "*.example.com", "none"],
    // An address sshd cannot read matches nothing, whatever the list.
    ["not-an-address", "*", "none"]
  ]
  for (const [address, list, expected] of cases) {
    it(`${address} against ${JSON.stringify(list)}: ${expected}`, () => {
      expect(matchAddressList(address, list.split(","))).toBe(expected)
    })
  }
})

describe("matchHostAndAddress (match_host_and_ip)", () => {
  it("the address or the name may match; either negating refuses", () => {
    expect(matchHostAndAddress("gw.example.com", "10.1.2.3", ["*.example.com"])).toBe("match")
    expect(matchHostAndAddress("GW.Example.COM", "10.1.2.3", ["*.EXAMPLE.com"])).toBe("match")
    expect(matchHostAndAddress("gw.example.com", "10.1.2.3", ["10.0.0.0/8"])).toBe("match")
    expect(matchHostAndAddress("gw.example.com", "10.1.2.3", ["*.example.com", "!10.1.0.0/16"])).toBe("negated")
    expect(matchHostAndAddress("gw.example.com", "10.1.2.3", ["10.0.0.0/8", "!gw.*"])).toBe("negated")
    expect(matchHostAndAddress("gw.example.org", "11.1.2.3", ["*.example.com", "10.0.0.0/8"])).toBe("none")
    expect(matchHostAndAddress("gw.example.com", "10.1.2.3", ["*.example.com", "10.0.0.0/99"])).toBe("invalid")
  })
  it("without DNS the name is the address text, so address wildcards match through either", () => {
    expect(matchHostAndAddress("127.0.0.1", "127.0.0.1", ["127.0.0.*"])).toBe("match")
    expect(matchHostAndAddress("127.0.0.1", "127.0.0.1", ["localhost"])).toBe("none")
    expect(matchHostAndAddress("127.0.0.1", "127.0.0.1", ["*", "!127.0.0.1"])).toBe("negated")
  })
})

describe("matchCidrList (addr_match_cidr_list)", () => {
  it("networks and single addresses, IPv4 and IPv6", () => {
    expect(matchCidrList("127.0.0.1", "127.0.0.1/32,::1")).toBe("match")
    expect(matchCidrList("::1", "127.0.0.1/32,::1")).toBe("match")
    expect(matchCidrList("10.0.0.1", "127.0.0.1/32,::1")).toBe("none")
    expect(matchCidrList("10.200.0.1", "10.0.0.0/8")).toBe("match")
    expect(matchCidrList("fd00::7", "fd00::/8")).toBe("match")
  })
  it("no wildcards, no negation, no empty entries, no host bits: the list is invalid whatever the address", () => {
    for (const list of ["10.0.0.*", "!10.0.0.0/8", "10.0.0.0/8,", "10.0.0.1/8", "10.0.0.0/40", "host.example", "", "fe80::1%eth0"]) {
      expect([list, matchCidrList("10.0.0.1", list)]).toEqual([list, "invalid"])
      expect([list, matchCidrList("", list)]).toEqual([list, "invalid"])
    }
  })
  it("an address sshd cannot read is in no network", () => {
    expect(matchCidrList("not-an-address", "0.0.0.0/0")).toBe("none")
  })
})
