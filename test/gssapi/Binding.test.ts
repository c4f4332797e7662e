/**
 * The Gssapi service over the system's MIT Kerberos, against the test's own realm: an
 * initiator and an acceptor in this process, tickets from a real KDC on 127.0.0.1. Then the
 * binding exercised for leaks: 1,000 context establishments, with RSS flat afterwards.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as os from "node:os"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import * as Kdc from "../support/Kdc.js"

/** The realm, with this process pointed at it for the test. */
const realm = Effect.tap(Kdc.KdcRealm, Kdc.useInProcess)

/** Runs initiator and acceptor to an established context; the tokens go back and forth in memory. */
const establish = (gss: Gssapi.GssapiService, options: { readonly ccache: string; readonly keytab: string; readonly target?: string }) =>
  Effect.gen(function*() {
    const initiator = yield* gss.initiator({ target: options.target ?? "host@127.0.0.1", ccache: options.ccache })
    const acceptor = yield* gss.acceptor({ keytab: `FILE:${options.keytab}` })
    let out = yield* initiator.step(undefined)
    let accepted: Gssapi.Step = { token: undefined, complete: false }
    // Kerberos needs one round trip; bounded all the same.
    for (let round = 0; round < 4 && out.token !== undefined; round++) {
      accepted = yield* acceptor.step(out.token)
      if (accepted.token === undefined) break
      out = yield* initiator.step(accepted.token)
    }
    return { initiator, acceptor, initiated: out.complete, accepted: accepted.complete }
  })

/**
 * The process's memory outside V8's heap, MiB: where the library's contexts, names and buffers
 * live. RSS alone also moves with the heap's own growth, which is not a leak of the binding.
 */
const nativeMiB = () => {
  const m = process.memoryUsage()
  return (m.rss - m.heapTotal) / 1024 / 1024
}

describe.skipIf(Kdc.skipWithoutKdc())("the Gssapi service over MIT Kerberos", () => {
  layer(Kdc.layer(), { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.scoped("a context both ways, its MIC verified, a tampered message refused, the client's name and local name", () =>
      Effect.gen(function*() {
        const r = yield* realm
        const gss = yield* Gssapi.loadSystem
        const ccache = yield* r.kinit(r.user.name)
        const { acceptor, accepted, initiated, initiator } = yield* establish(gss, { ccache, keytab: r.hostKeytab })
        expect([initiated, accepted]).toEqual([true, true])
        expect(yield* initiator.integrity).toBe(true)
        const message = new TextEncoder().encode("session id and request")
        const mic = yield* initiator.getMic(message)
        yield* acceptor.verifyMic(message, mic)
        const tampered = yield* Effect.flip(acceptor.verifyMic(new TextEncoder().encode("session id and requesT"), mic))
        expect([tampered._tag, tampered.call]).toEqual(["GssError", "gss_verify_mic"])
        expect(tampered.majorMessage).toMatch(/invalid Message Integrity Check/i)
        expect(yield* acceptor.clientName).toBe(r.user.name)
        const local = r.user.name.split("@")[0]
        expect(yield* acceptor.localName).toEqual(Option.some(local))
        // krb5_kuserok: the principal's own account, and no other.
        expect(yield* acceptor.userOk(local)).toBe(local === os.userInfo().username)
        expect(yield* acceptor.userOk("nobody-of-this-realm")).toBe(false)
      }))

    it.scoped("credentials: whose ticket and how long it lasts; no cache and an expired ticket are typed errors with the library's words", () =>
      Effect.gen(function*() {
        const r = yield* realm
        const gss = yield* Gssapi.loadSystem
        const ccache = yield* r.kinit(r.user.name, { ccache: `${r.dir}/creds.ccache`, lifetime: "2h" })
        const creds = yield* gss.credentials({ ccache })
        expect(creds.principal).toBe(r.user.name)
        expect(creds.lifetime).toBeGreaterThan(7000)
        expect(creds.lifetime).toBeLessThanOrEqual(7200)
        const none = yield* Effect.flip(gss.credentials({ ccache: `FILE:${r.dir}/never-made.ccache` }))
        expect(none.minorMessage).toMatch(/No credentials cache found/i)
        const expired = yield* r.expiredTicket(r.user.name)
        const stale = yield* Effect.flip(Effect.scoped(Effect.flatMap(gss.initiator({ target: "host@127.0.0.1", ccache: expired }), (i) => i.step(undefined))))
        expect(stale._tag).toBe("GssError")
        expect(stale.message).toMatch(/expired/i)
      }))

    it.scoped("an acceptor with a stale keytab refuses the context, and says why", () =>
      Effect.gen(function*() {
        const r = yield* realm
        const gss = yield* Gssapi.loadSystem
        const ccache = yield* r.kinit(r.user.name)
        const refused = yield* Effect.flip(establish(gss, { ccache, keytab: r.staleHostKeytab }))
        expect([refused._tag, refused.call]).toEqual(["GssError", "gss_accept_sec_context"])
        expect(refused.minorMessage).toMatch(/key version|decrypt integrity check failed|wrong key/i)
      }))

    it.scoped("1,000 context establishments in one process: RSS flat afterwards", () =>
      Effect.gen(function*() {
        const r = yield* realm
        const gss = yield* Gssapi.loadSystem
        const ccache = yield* r.kinit(r.user.name, { ccache: `${r.dir}/leak.ccache` })
        const once = Effect.scoped(Effect.gen(function*() {
          const { acceptor, accepted, initiator } = yield* establish(gss, { ccache, keytab: r.hostKeytab })
          if (!accepted) return yield* Effect.die("not established")
          const data = new TextEncoder().encode("data")
          yield* acceptor.verifyMic(data, yield* initiator.getMic(data))
          yield* acceptor.clientName
        }))
        // Warm up first: the service ticket, the library's caches, V8's heap.
        yield* Effect.repeatN(once, 199)
        const before = nativeMiB()
        const started = Date.now()
        yield* Effect.repeatN(once, 999)
        const after = nativeMiB()
        console.log(`gssapi: 1000 establishments in ${Date.now() - started} ms; memory outside the heap ${before.toFixed(1)} -> ${after.toFixed(1)} MiB`)
        // A context, two names and the buffers not released come to kilobytes each: a leak of
        // any of them over 1,000 rounds is many MiB.
        expect(after - before).toBeLessThan(6)
      }), { timeout: 120_000 })
  })
})
