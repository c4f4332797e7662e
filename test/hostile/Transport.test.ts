/**
 * The hostile server misbehaves before authentication: in the identification line, in the
 * key exchange, and in the transport messages around it. Each case runs the real CLI
 * against it and checks every rule of Checks.ts: a typed error or a correct success, exit
 * 0 or 255 (never 1, never silent), the time bound, peak RSS under 200 MB, no secret where
 * it does not belong, and clean, bounded output.
 */
import { afterAll, describe, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as crypto from "node:crypto"
import { decodeKexInit, type KexInit, pseudoAlgorithms } from "../../src/transport/KexInit.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { hasTool } from "../support/Tools.js"
import { ESCAPES, honestPassword, type HostileCase, manyNames, repeatTo, runCase } from "./Case.js"
import { anyOf, fails, succeeds, successOr, TOO_BIG } from "./Checks.js"
import { removeFixture } from "./Cli.js"
import { debug, disconnect, extInfo, ignore, kexReply, serviceAccept } from "./HostileServer.js"

const TIMED_OUT = /timed? ?out|within/i
const KEX_FAILED = /KEXDH_REPLY|key exchange|host key|signature|verif/i

/** A KEXINIT written field by field, so a name-list can hold anything. */
const rawKexInit = (kexList: Uint8Array | string): Uint8Array =>
  encode((w) =>
    w.byte(MessageNumber.KEXINIT).raw(crypto.randomBytes(16)).string(kexList).string("ssh-ed25519")
      .string("aes128-gcm@openssh.com").string("aes128-gcm@openssh.com").string("hmac-sha2-256").string("hmac-sha2-256")
      .string("none").string("none").string("").string("").boolean(false).uint32(0)
  )

/** The core's KEXINIT without the strict-kex marker. */
const notStrict = (ours: KexInit): KexInit => ({ ...ours, kexAlgorithms: ours.kexAlgorithms.filter((a) => a !== pseudoAlgorithms.strictKexServer) })

const cases: ReadonlyArray<HostileCase> = [
  // ---- the identification line ----
  {
    name: "version line: 200 KB without a newline",
    script: async (c) => {
      c.write(`SSH-2.0-${"A".repeat(200_000)}`)
      await c.waitClosed(10_000)
    },
    outcome: fails(/identification|version|too long|longer than/i)
  },
  {
    name: "version line: malformed, ~1000 bytes with ESC, BEL, DEL and an 8-bit CSI",
    script: async (c) => {
      c.write(Buffer.concat([Buffer.from("SSH-\x1b[2J\x1b]0;owned\x07\x7f\x9b", "latin1"), Buffer.alloc(990, "x"), Buffer.from("\r\n")]))
      await c.waitClosed(10_000)
    },
    outcome: fails(/identification|version/i)
  },
  {
    name: "version line: escapes in the software version, printed by -v; then an honest login",
    script: async (c, f) => {
      c.version("SSH-2.0-OpenSSH_9.9\x1b]0;owned\x07\x1b[2J\x7f")
      c.kexInit()
      await c.kex()
      await c.acceptService()
      await honestPassword(c, f)
    },
    args: ["-v"],
    outcome: succeeds
  },
  {
    name: "version line: dripped one byte per 100 ms (7 s), ConnectTimeout=3",
    script: async (c) => {
      await c.drip(`SSH-2.0-${"D".repeat(60)}\r\n`, 100)
      await c.waitClosed(10_000)
    },
    args: ["-o", "ConnectTimeout=3"],
    outcome: fails(TIMED_OUT),
    withinMs: 8_000
  },
  {
    name: "version line: never sent (silent server), ConnectTimeout=2",
    script: (c) => c.waitClosed(20_000),
    args: ["-o", "ConnectTimeout=2"],
    outcome: fails(TIMED_OUT),
    withinMs: 7_000
  },
  {
    name: "version line: 10,000 lines before it",
    script: async (c) => {
      c.write("not yet\r\n".repeat(10_000))
      await c.waitClosed(10_000)
    },
    outcome: fails(/identification|version/i)
  },

  // ---- keepalives and floods before KEXINIT ----
  {
    name: "kex: an IGNORE every second and never KEXINIT, ConnectTimeout=3",
    script: async (c) => {
      c.version()
      for (let i = 0; i < 30; i++) {
        c.send(ignore("keepalive"))
        await c.sleep(1_000)
      }
    },
    args: ["-o", "ConnectTimeout=3"],
    outcome: fails(TIMED_OUT),
    withinMs: 8_000
  },
  {
    name: "kex: a DEBUG (always_display, escapes) every 500 ms and never KEXINIT, ConnectTimeout=3, -v",
    script: async (c) => {
      c.version()
      for (let i = 0; i < 60; i++) {
        c.send(debug(`still negotiating ${ESCAPES}`))
        await c.sleep(500)
      }
    },
    args: ["-o", "ConnectTimeout=3", "-v"],
    outcome: fails(TIMED_OUT),
    withinMs: 8_000
  },
  {
    name: "kex: 10,000 IGNOREs of 1 KB (10 MB) before KEXINIT without strict kex, then an honest login",
    script: async (c, f) => {
      c.version()
      const filler = ignore(crypto.randomBytes(1024))
      await c.sendAll(Array.from({ length: 10_000 }, () => filler))
      c.kexInit(notStrict)
      await c.kex()
      await c.acceptService()
      await honestPassword(c, f)
    },
    outcome: succeeds,
    withinMs: 12_000
  },
  {
    name: "kex: an IGNORE before KEXINIT under strict kex",
    script: async (c) => {
      c.version()
      c.send(ignore("early"))
      c.kexInit()
      await c.kex()
    },
    outcome: fails(/strict|KEXINIT|protocol/i)
  },
  {
    name: "kex: DISCONNECT with a 200 KB description full of escapes, before KEXINIT",
    script: async (c) => {
      c.version()
      c.send(disconnect(2, repeatTo(ESCAPES, 200_000)))
      await c.waitClosed(5_000)
    },
    outcome: fails(/disconnect/i)
  },

  // ---- KEXINIT ----
  {
    name: "KEXINIT: 50,000 kex names, none in common",
    script: async (c) => {
      c.version()
      c.kexInit((ours) => ({ ...ours, kexAlgorithms: [...manyNames(50_000), pseudoAlgorithms.strictKexServer] }))
      await c.waitClosed(10_000)
    },
    outcome: fails(/no common|kex|algorithm/i)
  },
  {
    name: "KEXINIT: 50,000 names in the languages lists (ignored); then an honest login",
    script: async (c, f) => {
      c.version()
      c.kexInit((ours) => ({ ...ours, languagesServerToClient: manyNames(25_000, "l"), languagesClientToServer: manyNames(25_000, "m") }))
      await c.kex()
      await c.acceptService()
      await honestPassword(c, f)
    },
    outcome: successOr(anyOf(TOO_BIG, /KEXINIT|name-list/)),
    // The case ran as planned: the KEXINIT the core sent carried the lists.
    extra: (seen) => {
      const sent = seen.events.find((e) => e.from === "server" && e.payload[0] === MessageNumber.KEXINIT)
      const languages = sent && Either.getOrUndefined(decodeKexInit(sent.payload))
      return languages?.languagesClientToServer.length === 25_000 && languages.languagesServerToClient.length === 25_000
        ? []
        : ["the server's KEXINIT did not carry the 50,000 language names"]
    }
  },
  {
    name: "KEXINIT: a name-list holding ESC and a control sequence",
    script: async (c) => {
      c.version()
      c.send(rawKexInit(`curve25519-sha256,\x1b[31mevil\x1b[0m,kex-strict-s-v00@openssh.com`))
      await c.waitClosed(10_000)
    },
    outcome: fails(/KEXINIT|malformed|protocol|name-list/i)
  },
  {
    name: "KEXINIT: truncated in the middle of a name-list",
    script: async (c) => {
      c.version()
      c.send(rawKexInit("curve25519-sha256,ext-info-s,kex-strict-s-v00@openssh.com").subarray(0, 40))
      await c.waitClosed(10_000)
    },
    outcome: fails(/KEXINIT|malformed|protocol|truncated/i)
  },

  // ---- out of order during the kex ----
  {
    name: "kex order: KEXDH_REPLY before KEXINIT",
    script: async (c) => {
      c.version()
      c.send(kexReply({ hostKeyBlob: c.hostKeyBlob, serverPublic: new Uint8Array(32), signature: new Uint8Array(8) }))
      await c.waitClosed(10_000)
    },
    outcome: fails(/protocol|unexpected|KEXDH_REPLY|KEXINIT/i)
  },
  {
    name: "kex order: NEWKEYS before KEXDH_REPLY",
    script: async (c) => {
      c.version()
      c.kexInit()
      await c.next() // the client's KEXINIT
      await c.next() // its KEXDH_INIT
      c.send(Uint8Array.of(MessageNumber.NEWKEYS))
      await c.waitClosed(10_000)
    },
    outcome: fails(/protocol|NEWKEYS/i)
  },

  // ---- KEXDH_REPLY ----
  {
    name: "KEXDH_REPLY: a signature that does not verify",
    script: (c) =>
      c.handshake({
        reply: (p) => kexReply({ ...p, signature: encode((w) => w.string("ssh-ed25519").string(crypto.randomBytes(64))) })
      }),
    outcome: fails(KEX_FAILED)
  },
  {
    name: "KEXDH_REPLY: a 200 KB host key blob",
    script: (c) =>
      c.handshake({
        reply: (p) => kexReply({ ...p, hostKeyBlob: encode((w) => w.string("ssh-ed25519").string(crypto.randomBytes(200_000))) })
      }),
    outcome: fails(KEX_FAILED)
  },
  {
    name: "KEXDH_REPLY: a host key type of 100 KB of escapes",
    script: (c) =>
      c.handshake({
        reply: (p) => kexReply({ ...p, hostKeyBlob: encode((w) => w.string(repeatTo(ESCAPES, 100_000)).string(crypto.randomBytes(32))) })
      }),
    outcome: fails(KEX_FAILED)
  },
  {
    name: "KEXDH_REPLY: a signature algorithm of 100 KB of escapes",
    script: (c) =>
      c.handshake({
        reply: (p) => kexReply({ ...p, signature: encode((w) => w.string(repeatTo(ESCAPES, 100_000)).string(crypto.randomBytes(64))) })
      }),
    outcome: fails(KEX_FAILED)
  },
  {
    name: "KEXDH_REPLY: a 200 KB ephemeral public key",
    script: (c) => c.handshake({ reply: (p) => kexReply({ ...p, serverPublic: crypto.randomBytes(200_000) }) }),
    outcome: fails(/KEXDH_REPLY|key exchange|invalid|public/i)
  },
  {
    name: "KEXDH_REPLY: truncated",
    script: (c) => c.handshake({ reply: (p) => kexReply(p).subarray(0, 60) }),
    outcome: fails(/KEXDH_REPLY|malformed|key exchange|truncated/i)
  },

  // ---- after NEWKEYS, before userauth ----
  {
    name: "EXT_INFO: claims 4,294,967,295 extensions",
    script: async (c) => {
      await c.handshake()
      await c.acceptService({
        extInfo: encode((w) => w.byte(MessageNumber.EXT_INFO).uint32(0xffffffff).string("server-sig-algs").string("ssh-ed25519"))
      })
      await c.waitClosed(10_000)
    },
    outcome: fails(anyOf(TOO_BIG, /EXT_INFO|malformed|protocol/))
  },
  {
    name: "EXT_INFO: a 200 KB server-sig-algs and an extension name full of escapes; then an honest login",
    script: async (c, f) => {
      await c.handshake()
      await c.acceptService({
        extInfo: extInfo({ "server-sig-algs": ["ssh-ed25519", ...manyNames(35_000, "s")].join(","), [`x${ESCAPES}`]: ESCAPES })
      })
      await honestPassword(c, f)
    },
    outcome: successOr(anyOf(TOO_BIG, /EXT_INFO/))
  },
  {
    name: "SERVICE_ACCEPT: a 200 KB service name full of escapes",
    script: async (c) => {
      await c.handshake()
      await c.acceptService({ accept: serviceAccept(repeatTo(ESCAPES, 200_000)) })
      await c.waitClosed(10_000)
    },
    outcome: fails(/service|SERVICE_ACCEPT|protocol/i)
  },
  {
    name: "SERVICE_ACCEPT: sent twice; then an honest login",
    script: async (c, f) => {
      await c.handshake()
      await c.acceptService()
      c.send(serviceAccept("ssh-userauth"))
      await honestPassword(c, f)
    },
    outcome: successOr(/SERVICE_ACCEPT|protocol|unexpected/i)
  },
  {
    name: "packets: one maximal packet (a 262,000-byte IGNORE) before the reply; then an honest login",
    script: async (c, f) => {
      await c.login()
      await c.nextRequest()
      await c.sendAll([ignore(crypto.randomBytes(262_000))])
      c.send(encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).string("password").boolean(false)))
      await honestPassword(c, f)
    },
    outcome: succeeds
  },
  {
    name: "packets: a packet length of 300,000, over the 256 KiB limit",
    script: async (c) => {
      await c.login()
      await c.nextRequest()
      const header = Buffer.alloc(4)
      header.writeUInt32BE(300_000)
      c.write(Buffer.concat([header, Buffer.alloc(4_000)]))
      await c.waitClosed(10_000)
    },
    outcome: fails(anyOf(TOO_BIG, /packet/))
  },
  {
    name: "packets: 20,000 IGNOREs and DEBUGs (always_display, escapes) before the reply, -v; then an honest login",
    script: async (c, f) => {
      await c.login()
      await c.nextRequest()
      const chatter = [ignore("x".repeat(100)), debug(`debugging ${ESCAPES}`)]
      await c.sendAll(Array.from({ length: 20_000 }, (_, i) => chatter[i % 2]))
      c.send(encode((w) => w.byte(MessageNumber.USERAUTH_FAILURE).string("password").boolean(false)))
      await honestPassword(c, f)
    },
    args: ["-v"],
    outcome: successOr(TOO_BIG),
    withinMs: 12_000
  }
]

describe.skipIf(!hasTool("ssh-keygen"))("hostile server: identification, key exchange, transport", () => {
  afterAll(removeFixture)
  describe.concurrent("the CLI ends typed, bounded and silent about secrets", () => {
    for (const c of cases) it.scopedLive(c.name, () => runCase(c))
  })
})
