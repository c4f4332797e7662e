import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { decodeKexInit, encodeKexInit, guessIsWrong, type KexInit, negotiate, withCookie } from "../../src/transport/KexInit.js"

const base: KexInit = {
  cookie: new Uint8Array(16),
  kexAlgorithms: ["curve25519-sha256", "ecdh-sha2-nistp256", "ext-info-c", "kex-strict-c-v00@openssh.com"],
  serverHostKeyAlgorithms: ["ssh-ed25519", "rsa-sha2-512"],
  ciphersClientToServer: ["aes128-gcm@openssh.com", "aes128-ctr"],
  ciphersServerToClient: ["aes128-gcm@openssh.com", "aes128-ctr"],
  macsClientToServer: ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"],
  macsServerToClient: ["hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"],
  compressionClientToServer: ["none"],
  compressionServerToClient: ["none"],
  languagesClientToServer: [],
  languagesServerToClient: [],
  firstKexPacketFollows: false
}
const isAead = (c: string) => c.includes("gcm")

describe("KEXINIT and negotiation (RFC 4253 §7.1)", () => {
  it("round-trips through the wire format, cookie included", () => {
    const cookie = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i)
    const payload = encodeKexInit({ ...base, cookie })
    // The encoder writes the cookie it is given, right after the message number; it draws none.
    expect(payload.subarray(1, 17)).toEqual(cookie)
    expect(encodeKexInit({ ...base, cookie })).toEqual(payload)
    const decoded = decodeKexInit(payload)
    expect(Either.isRight(decoded)).toBe(true)
    expect(Either.getOrThrow(decoded)).toEqual({ ...base, cookie })
  })

  it("a cookie that is not 16 bytes is a caller's bug", () => {
    expect(() => encodeKexInit({ ...base, cookie: new Uint8Array(15) })).toThrow(RangeError)
    expect(() => withCookie(encodeKexInit(base), new Uint8Array(17))).toThrow(RangeError)
  })

  it("an encoded proposal with another cookie put in is the same bytes as encoding it with that cookie; the template is left as it was", () => {
    const template = encodeKexInit(base)
    const before = template.slice()
    const cookie = Uint8Array.from({ length: 16 }, (_, i) => 0x30 + i)
    expect(withCookie(template, cookie)).toEqual(encodeKexInit({ ...base, cookie }))
    expect(template).toEqual(before)
  })

  it("the client's order wins; each direction is chosen on its own; AEAD makes the MAC implicit", () => {
    const server: KexInit = {
      ...base,
      kexAlgorithms: ["ecdh-sha2-nistp256", "curve25519-sha256", "kex-strict-s-v00@openssh.com"],
      ciphersClientToServer: ["aes128-ctr", "aes128-gcm@openssh.com"],
      ciphersServerToClient: ["aes128-ctr"],
      macsServerToClient: ["hmac-sha2-256"]
    }
    const n = Either.getOrThrow(negotiate(base, server, isAead, true))
    expect(n.kex).toBe("curve25519-sha256")
    expect(n.cipherClientToServer).toBe("aes128-gcm@openssh.com")
    expect(n.macClientToServer).toBe("<implicit>")
    expect(n.cipherServerToClient).toBe("aes128-ctr")
    expect(n.macServerToClient).toBe("hmac-sha2-256")
    expect(n.strictKex).toBe(true)
    // Strict kex is decided by the first exchange only.
    expect(Either.getOrThrow(negotiate(base, server, isAead, false)).strictKex).toBe(false)
  })

  it("pseudo-algorithms are never chosen as a kex", () => {
    const server = { ...base, kexAlgorithms: ["ext-info-c", "diffie-hellman-group1-sha1"] }
    const result = negotiate(base, server, isAead, true)
    expect(Either.isLeft(result) && result.left.category).toBe("kex")
  })

  it("no common algorithm names the category and both lists", () => {
    const server = { ...base, serverHostKeyAlgorithms: ["ssh-dss"] }
    const result = negotiate(base, server, isAead, true)
    expect(Either.isLeft(result) && result.left).toEqual({
      category: "host key",
      client: base.serverHostKeyAlgorithms,
      server: ["ssh-dss"]
    })
  })

  it("a guessed kex packet is right only when both sides prefer the same kex and host key algorithms", () => {
    const server = { ...base, kexAlgorithms: ["ecdh-sha2-nistp256", "curve25519-sha256"] }
    const guessing = { ...base, firstKexPacketFollows: true }
    // The client's first choice is still negotiated, but the server prefers another: wrong.
    expect(Either.getOrThrow(negotiate(guessing, server, isAead, true)).kex).toBe("curve25519-sha256")
    expect(guessIsWrong(guessing, server)).toBe(true)
    expect(guessIsWrong(guessing, { ...server, kexAlgorithms: ["curve25519-sha256"] })).toBe(false)
    expect(guessIsWrong(guessing, { ...base, serverHostKeyAlgorithms: ["rsa-sha2-512", "ssh-ed25519"] })).toBe(true)
    // No guess, nothing to be wrong about.
    expect(guessIsWrong(base, server)).toBe(false)
  })
})
