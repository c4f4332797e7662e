/**
 * The hostile server misbehaves during user authentication: oversized and malformed
 * replies, floods and drips, messages before their request, prompts that imitate the
 * local passphrase prompt, control characters in every string it sends. Besides the rules
 * of Checks.ts, a protocol violation must end the run: after it the client sends no
 * further USERAUTH_REQUEST, however the server lures it (see `tempt`).
 */
import { afterAll, describe, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { channelOpen } from "../hostile-client/HostileClient.js"
import { hasTool } from "../support/Tools.js"
import { afterNone, ESCAPES, EVERY_METHOD, honestPassword, type HostileCase, isType, manyNames, refuseAll, repeatTo, runCase, tempt } from "./Case.js"
import { anyOf, fails, requestsAfter, type Seen, succeeds, successOr, TOO_BIG } from "./Checks.js"
import { type Fixture, removeFixture } from "./Cli.js"
import {
  banner,
  type Conn,
  disconnect,
  extInfo,
  failure,
  ignore,
  infoRequest,
  parseInfoResponse,
  parsePassword,
  parsePublicKey,
  parseRequest,
  passwordChangeRequest,
  pkOk,
  serviceAccept,
  success,
  type UserauthRequest,
  verifyEd25519Request
} from "./HostileServer.js"

const PROTOCOL = /protocol|unexpected|malformed/i
const LOGIN_GRACE = /LoginGraceTime.*(within|exceed|timed? ?out|passed|expired|elapsed)|(within|exceed|timed? ?out|passed|expired|elapsed).*LoginGraceTime/i
const TIMED_OUT = /timed? ?out|within|exceed|expired|elapsed/i
const PASSWORD_CHANGE = /new password|password change|change/i

/** The local passphrase prompt, word for word, as a server would fake it. */
const fakePassphrasePrompt = (f: Fixture) => `Enter passphrase for key '${f.keyPath}': `

/** The problems of a violation case: any USERAUTH_REQUEST after the server's `occurrence`-th message of type `n`. */
const nothingAfter = (n: number, occurrence = 1) => (seen: Seen) => requestsAfter(seen.events, isType(n), occurrence)

/** The case ran as planned: the server sent (at least `count`) messages of type `n`. */
const sent = (seen: Seen, n: number, count = 1): Array<string> =>
  seen.events.filter((e) => e.from === "server" && e.payload[0] === n).length >= count
    ? []
    : [`the case did not run as planned: the server never got to send message ${n}${count > 1 ? ` ${count} times` : ""}`]

/** Userauth requests the client sent, parsed. */
const requests = (seen: Seen): Array<UserauthRequest> =>
  seen.events.flatMap((e) => {
    const request = e.from === "client" ? parseRequest(e.payload) : undefined
    return request ? [request] : []
  })

/** Answers the publickey query with FAILURE offering `next`, and returns the next request. */
const refuseKey = async (c: Conn, next: ReadonlyArray<string>): Promise<UserauthRequest> => {
  const query = await afterNone(c, ["publickey", ...next])
  if (query.method !== "publickey") throw new Error(`expected the publickey query first, got ${query.method}`)
  c.send(failure(next))
  return c.nextRequest()
}

/**
 * Turns our key down with keyboard-interactive as the way on, asks one prompt, waits for the
 * answer, then fails the client and waits for it to go.
 */
const askOnce = (prompt: (f: Fixture) => { readonly prompt: string; readonly echo: boolean }) => async (c: Conn, f: Fixture): Promise<void> => {
  await c.login()
  const request = await refuseKey(c, ["keyboard-interactive"])
  if (request.method !== "keyboard-interactive") return
  c.send(infoRequest({ prompts: [prompt(f)] }))
  await c.next(3_000).catch(() => undefined)
  c.send(failure([]))
  await c.waitClosed(5_000)
}

/** Logs in, then waits for the client's first USERAUTH_REQUEST after "none", answered with every method (its key's query). */
const awaitRequest = async (c: Conn): Promise<void> => {
  await c.login()
  await afterNone(c, EVERY_METHOD)
}

/**
 * After `opening`, `message` every second and nothing else, under LoginGraceTime=4: what the
 * server sends must not keep the client waiting past its own deadline.
 */
const everySecondUnderLoginGrace = (what: string, opening: (c: Conn) => Promise<void>, message: Uint8Array, error: RegExp): HostileCase => ({
  name: `${what}, LoginGraceTime=4`,
  script: async (c) => {
    await opening(c)
    for (let i = 0; i < 30; i++) {
      c.send(message)
      await c.sleep(1_000)
    }
  },
  args: ["-o", "LoginGraceTime=4"],
  outcome: fails(error),
  withinMs: 9_000
})

const cases: ReadonlyArray<HostileCase> = [
  // ---- honest servers: the suite's controls ----
  {
    name: "honest: password accepted",
    script: async (c, f) => {
      await c.login()
      await honestPassword(c, f)
    },
    outcome: succeeds,
    extra: (seen, _run, f) => {
      const passwords = requests(seen).filter((r) => r.method === "password")
      return passwords.length === 1 && Buffer.from(passwords[0].payload).includes(Buffer.from(f.password))
        ? []
        : [`expected one password request carrying the password, saw ${passwords.length}`]
    }
  },
  {
    name: "honest: keyboard-interactive with an echo-off Password: prompt",
    script: async (c, f) => {
      await c.login()
      const request = await refuseKey(c, ["keyboard-interactive"])
      if (request.method !== "keyboard-interactive") return
      c.send(infoRequest({ name: "", instruction: "", prompts: [{ prompt: "Password: ", echo: false }] }))
      const answer = parseInfoResponse(await c.next())
      c.send(answer._tag === "Right" && answer.right.length === 1 && answer.right[0] === f.password ? success : failure([]))
      await c.waitClosed(5_000)
    },
    outcome: succeeds
  },
  {
    name: "honest: publickey with the encrypted key (PK_OK, decrypted with the passphrase, signature verified)",
    script: async (c, f) => {
      await c.login()
      const query = await afterNone(c, EVERY_METHOD)
      const q = parsePublicKey(query)
      if (q._tag === "Left" || q.right.signed || Buffer.compare(q.right.blob, f.publicBlob) !== 0) return
      c.send(pkOk(q.right.algorithm, q.right.blob))
      const signed = await c.nextRequest()
      c.send(c.sessionId && verifyEd25519Request(c.sessionId, signed) ? success : failure([]))
      await c.waitClosed(5_000)
    },
    outcome: succeeds
  },

  // ---- replies before their request ----
  {
    name: "order: USERAUTH_SUCCESS right after NEWKEYS, before SERVICE_ACCEPT",
    script: async (c) => {
      await c.handshake()
      await c.next() // SERVICE_REQUEST
      c.send(success)
      c.send(extInfo({ "server-sig-algs": "ssh-ed25519" }))
      c.send(serviceAccept("ssh-userauth"))
      await tempt(c)
    },
    outcome: fails(PROTOCOL),
    extra: nothingAfter(MessageNumber.USERAUTH_SUCCESS)
  },
  {
    name: "order: USERAUTH_FAILURE(password) right after NEWKEYS, before SERVICE_ACCEPT",
    script: async (c) => {
      await c.handshake()
      await c.next()
      c.send(failure(["password"]))
      c.send(serviceAccept("ssh-userauth"))
      await tempt(c)
    },
    outcome: fails(PROTOCOL),
    extra: nothingAfter(MessageNumber.USERAUTH_FAILURE)
  },
  {
    name: "order: PK_OK for our key before SERVICE_ACCEPT",
    script: async (c, f) => {
      await c.handshake()
      await c.next()
      c.send(pkOk("ssh-ed25519", f.publicBlob))
      c.send(serviceAccept("ssh-userauth"))
      await tempt(c)
    },
    outcome: fails(PROTOCOL),
    extra: nothingAfter(MessageNumber.USERAUTH_PK_OK)
  },
  {
    name: "order: CHANNEL_OPEN in reply to the publickey query",
    script: async (c) => {
      await awaitRequest(c)
      c.send(channelOpen)
      await tempt(c)
    },
    outcome: fails(/protocol|unexpected|CHANNEL_OPEN/i),
    extra: nothingAfter(MessageNumber.CHANNEL_OPEN)
  },
  {
    name: "order: a KEXDH_REPLY after NEWKEYS, in reply to the query",
    script: async (c) => {
      await awaitRequest(c)
      c.send(encode((w) => w.byte(MessageNumber.KEXDH_REPLY).string(c.hostKeyBlob).string(new Uint8Array(32)).string(new Uint8Array(8))))
      await tempt(c)
    },
    outcome: fails(/protocol|unexpected|KEXDH_REPLY|key exchange/i),
    // The first KEXDH_REPLY was the key exchange's own.
    extra: nothingAfter(MessageNumber.KEXDH_REPLY, 2)
  },

  // ---- malformed replies: the run must end there ----
  {
    name: "malformed: a truncated USERAUTH_FAILURE, then is the password still sent?",
    script: async (c) => {
      await awaitRequest(c)
      c.send(Uint8Array.of(MessageNumber.USERAUTH_FAILURE, 0, 0))
      await tempt(c)
    },
    outcome: fails(/protocol|malformed|USERAUTH_FAILURE|truncated/i),
    // The first FAILURE was the honest answer to "none".
    extra: nothingAfter(MessageNumber.USERAUTH_FAILURE, 2)
  },
  {
    name: "malformed: message number 200 with garbage in reply to the query",
    script: async (c) => {
      await awaitRequest(c)
      c.send(Uint8Array.of(200, ...crypto.randomBytes(40)))
      await tempt(c)
    },
    outcome: fails(PROTOCOL),
    extra: nothingAfter(200)
  },
  {
    name: "PK_OK: naming another key",
    script: async (c) => {
      await c.login()
      const query = await afterNone(c, EVERY_METHOD)
      const q = parsePublicKey(query)
      c.send(pkOk(q._tag === "Right" ? q.right.algorithm : "ssh-ed25519", encode((w) => w.string("ssh-ed25519").string(crypto.randomBytes(32)))))
      await tempt(c)
    },
    outcome: fails(/PK_OK|protocol|key/i),
    extra: nothingAfter(MessageNumber.USERAUTH_PK_OK)
  },
  {
    name: "PK_OK: an algorithm name of 200 KB of escapes",
    script: async (c, f) => {
      await awaitRequest(c)
      c.send(pkOk(repeatTo(ESCAPES, 200_000), f.publicBlob))
      await tempt(c)
    },
    outcome: fails(anyOf(TOO_BIG, /PK_OK|protocol|key/)),
    extra: nothingAfter(MessageNumber.USERAUTH_PK_OK)
  },
  {
    name: "INFO_REQUEST: claims 4,294,967,295 prompts",
    script: async (c) => {
      await c.login()
      const request = await refuseKey(c, ["keyboard-interactive", "password"])
      if (request.method !== "keyboard-interactive") return
      c.send(infoRequest({ prompts: [{ prompt: "Password: ", echo: false }], count: 0xffffffff }))
      await tempt(c)
    },
    outcome: fails(anyOf(TOO_BIG, /prompt|protocol|INFO_REQUEST/)),
    extra: nothingAfter(MessageNumber.USERAUTH_INFO_REQUEST)
  },

  // ---- oversized fields ----
  {
    name: "USERAUTH_FAILURE: a 200 KB name-list with no method we know",
    script: async (c) => {
      await awaitRequest(c)
      c.send(failure(manyNames(40_000, "m")))
      await refuseAll(c)
    },
    outcome: fails(anyOf(TOO_BIG, /authentication failed|name-list/))
  },
  {
    name: "USERAUTH_FAILURE: a 200 KB name-list ending in password; then the password is accepted",
    script: async (c, f) => {
      await awaitRequest(c)
      c.send(failure([...manyNames(40_000, "m"), "password"]))
      await honestPassword(c, f)
    },
    outcome: successOr(anyOf(TOO_BIG, /name-list|protocol/))
  },
  {
    name: "INFO_REQUEST: name, instruction and an echo-off prompt of 60 KB of escapes each",
    script: async (c) => {
      await c.login()
      const request = await refuseKey(c, ["keyboard-interactive"])
      if (request.method !== "keyboard-interactive") return
      const big = repeatTo(ESCAPES, 60_000)
      c.send(infoRequest({ name: big, instruction: big, prompts: [{ prompt: big, echo: false }] }))
      await c.next()
      c.send(failure([]))
      await c.waitClosed(5_000)
    },
    outcome: fails(anyOf(TOO_BIG, /authentication failed|prompt/)),
    extra: (seen) => sent(seen, MessageNumber.USERAUTH_INFO_REQUEST)
  },
  {
    name: "INFO_REQUEST: an echo-on prompt of 100 KB of escapes, without --password-env",
    script: askOnce(() => ({ prompt: repeatTo(ESCAPES, 100_000), echo: true })),
    passwordEnv: false,
    outcome: fails(/authentication failed|prompt/i),
    extra: (seen) => sent(seen, MessageNumber.USERAUTH_INFO_REQUEST)
  },
  {
    name: "PASSWD_CHANGEREQ: a prompt of 100 KB of escapes",
    script: async (c) => {
      await c.login()
      const request = await refuseKey(c, ["password"])
      if (request.method !== "password") return
      c.send(passwordChangeRequest(repeatTo(ESCAPES, 100_000)))
      await refuseAll(c)
    },
    outcome: fails(PASSWORD_CHANGE),
    extra: (seen) => [...sent(seen, MessageNumber.USERAUTH_PASSWD_CHANGEREQ), ...noPasswordChange(seen)]
  },
  {
    name: "DISCONNECT: a 200 KB description full of escapes, in reply to the query",
    script: async (c) => {
      await awaitRequest(c)
      c.send(disconnect(14, repeatTo(ESCAPES, 200_000)))
      await c.waitClosed(5_000)
    },
    outcome: fails(/disconnect/i)
  },

  // ---- prompts that imitate the local passphrase prompt ----
  {
    name: "phishing: the passphrase prompt as an INFO_REQUEST in reply to \"none\", which asks nothing",
    script: async (c, f) => {
      await c.login()
      const request = await c.nextRequest()
      if (request.method !== "none") return
      c.send(infoRequest({ prompts: [{ prompt: fakePassphrasePrompt(f), echo: false }] }))
      await tempt(c)
    },
    outcome: fails(PROTOCOL),
    extra: (seen) => [...sent(seen, MessageNumber.USERAUTH_INFO_REQUEST), ...nothingAfter(MessageNumber.USERAUTH_INFO_REQUEST)(seen)]
  },
  {
    name: "phishing: a keyboard-interactive prompt reading \"Enter passphrase for key '<our key>': \" (echo off), with --password-env",
    script: askOnce((f) => ({ prompt: fakePassphrasePrompt(f), echo: false })),
    outcome: fails(/authentication failed|passphrase/i),
    extra: (seen) => sent(seen, MessageNumber.USERAUTH_INFO_REQUEST)
  },
  {
    name: "phishing: the same prompt without --password-env",
    script: askOnce((f) => ({ prompt: fakePassphrasePrompt(f), echo: false })),
    passwordEnv: false,
    outcome: fails(/authentication failed|passphrase/i),
    extra: (seen) => sent(seen, MessageNumber.USERAUTH_INFO_REQUEST)
  },
  {
    name: "phishing: an echo-on keyboard-interactive prompt never gets the password",
    script: askOnce(() => ({ prompt: "Verification code: ", echo: true })),
    outcome: fails(/authentication failed|prompt/i),
    extra: (seen) => sent(seen, MessageNumber.USERAUTH_INFO_REQUEST)
  },
  {
    name: "phishing: a password-change request reading \"Enter passphrase for key '<our key>': \", with --password-env",
    script: async (c, f) => {
      await c.login()
      const request = await refuseKey(c, ["password"])
      if (request.method !== "password") return
      c.send(passwordChangeRequest(fakePassphrasePrompt(f)))
      for (let i = 0; i < 6; i++) {
        await c.nextRequest(4_000)
        c.send(passwordChangeRequest(fakePassphrasePrompt(f)))
      }
    },
    outcome: fails(PASSWORD_CHANGE),
    extra: (seen) => [...sent(seen, MessageNumber.USERAUTH_PASSWD_CHANGEREQ), ...noPasswordChange(seen)]
  },
  {
    name: "phishing: the passphrase prompt again right after the key was decrypted and used, without --password-env",
    script: async (c, f) => {
      await c.login()
      const query = await afterNone(c, EVERY_METHOD)
      const q = parsePublicKey(query)
      if (q._tag === "Left") return
      c.send(pkOk(q.right.algorithm, q.right.blob))
      await c.nextRequest() // the signed request: refused, as if the key were not authorized after all
      c.send(failure(["keyboard-interactive"]))
      const request = await c.nextRequest()
      if (request.method !== "keyboard-interactive") return
      c.send(infoRequest({ prompts: [{ prompt: fakePassphrasePrompt(f), echo: false }] }))
      await c.next(3_000).catch(() => undefined)
      c.send(failure([]))
      await c.waitClosed(5_000)
    },
    passwordEnv: false,
    outcome: fails(/authentication failed|passphrase/i),
    extra: (seen) => sent(seen, MessageNumber.USERAUTH_INFO_REQUEST, 2)
  },

  // ---- control characters in every string ----
  {
    name: "escapes: in a banner, the keyboard-interactive name, instruction and prompt, and DISCONNECT, with -v",
    script: async (c) => {
      await awaitRequest(c)
      c.send(banner(`Welcome ${ESCAPES}\n`))
      c.send(failure(["keyboard-interactive"]))
      const request = await c.nextRequest()
      if (request.method !== "keyboard-interactive") return
      c.send(infoRequest({ name: `name ${ESCAPES}`, instruction: `instruction ${ESCAPES}`, prompts: [{ prompt: `Password ${ESCAPES}: `, echo: false }] }))
      await c.next()
      c.send(disconnect(11, `bye ${ESCAPES}`))
      await c.waitClosed(5_000)
    },
    args: ["-v"],
    outcome: fails(/disconnect/i)
  },

  // ---- banners: size, count, accumulation, drip ----
  {
    name: "banners: with escapes before each reply; then an honest login",
    script: async (c, f) => {
      await awaitRequest(c)
      c.send(banner(`Authorized use only ${ESCAPES}\n`))
      c.send(failure(["password"]))
      const request = await c.nextRequest()
      c.send(banner(`Last login ${ESCAPES}\n`))
      const p = parsePassword(request)
      c.send(p._tag === "Right" && p.right.password === f.password ? success : failure([]))
      await c.waitClosed(5_000)
    },
    outcome: succeeds
  },
  {
    name: "banners: one of 250 KB full of escapes; then an honest login",
    script: async (c, f) => {
      await awaitRequest(c)
      await c.sendAll([banner(repeatTo(ESCAPES, 250_000))])
      c.send(failure(["password"]))
      await honestPassword(c, f)
    },
    outcome: successOr(anyOf(TOO_BIG, /banner/))
  },
  {
    name: "banners: 10,000 in reply to one request",
    script: async (c) => {
      await awaitRequest(c)
      // In batches, with a pause between: a client that goes on to its next request after
      // the flood then gets it onto the wire, where the server sees it.
      for (let batch = 0; batch < 20; batch++) {
        await c.sendAll(Array.from({ length: 500 }, (_, i) => banner(`line ${batch * 500 + i}\n`)))
        await c.sleep(20)
      }
      c.send(failure(["keyboard-interactive", "password"]))
      await tempt(c)
    },
    outcome: fails(anyOf(TOO_BIG, /banner/)),
    extra: nothingAfter(MessageNumber.USERAUTH_BANNER)
  },
  {
    name: "banners: 300 of 200 KB in reply to each of three requests (180 MB in all)",
    script: async (c) => {
      await c.login()
      const huge = banner("B".repeat(200_000))
      const next = [["keyboard-interactive", "password"], ["password"], []]
      for (const allowed of next) {
        await c.nextRequest(8_000)
        await c.sendAll(Array.from({ length: 300 }, () => huge))
        c.send(failure(allowed))
      }
    },
    outcome: fails(anyOf(TOO_BIG, /authentication failed|banner/)),
    withinMs: 15_000
  },
  everySecondUnderLoginGrace("banners: one every second and never a reply", awaitRequest, banner("please wait\n"), LOGIN_GRACE),
  everySecondUnderLoginGrace("keepalives: an IGNORE every second instead of the reply", awaitRequest, ignore("keepalive"), TIMED_OUT),
  everySecondUnderLoginGrace(
    "keepalives: an IGNORE every second instead of SERVICE_ACCEPT",
    async (c) => {
      await c.handshake()
      await c.next() // SERVICE_REQUEST
    },
    ignore("keepalive"),
    TIMED_OUT
  )
]

/** A password-change request went out (the flag set): the environment must never answer one. */
function noPasswordChange(seen: Seen): Array<string> {
  const changes = requests(seen).filter((r) => {
    if (r.method !== "password") return false
    const p = parsePassword(r)
    return p._tag === "Right" && p.right.change
  })
  return changes.length > 0 ? ["the client answered a password-change request"] : []
}

describe.skipIf(!hasTool("ssh-keygen"))("hostile server: user authentication", () => {
  afterAll(removeFixture)
  describe.concurrent("the CLI ends typed, bounded and silent about secrets", () => {
    for (const c of cases) it.scopedLive(c.name, () => runCase(c))
  })
})
