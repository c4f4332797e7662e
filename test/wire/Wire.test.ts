import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { decode, disconnectReasonName, encode, isKexMessage, isTransportMessage, messageName, MessageNumber, WireError } from "../../src/wire/index.js"

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

describe("wire: RFC 4251 §5 data types", () => {
  // The mpint examples are RFC 4251 §5's own table.
  const mpints: ReadonlyArray<readonly [bigint, string]> = [
    [0n, "00000000"],
    [0x9a378f9b2e332a7n, "0000000809a378f9b2e332a7"],
    [0x80n, "000000020080"],
    [-0x1234n, "00000002edcc"],
    [-0xdeadbeefn, "00000005ff21524111"]
  ]

  it.each(mpints)("mpint %s round-trips through the RFC's encoding", (value, wire) => {
    expect(toHex(encode((w) => w.mpint(value)))).toBe(wire)
    expect(decode(hex(wire), (r) => r.mpint())).toEqual(Either.right(value))
  })

  it("mpintUnsigned strips leading zeros and adds one where the high bit is set", () => {
    expect(toHex(encode((w) => w.mpintUnsigned(hex("0000ff01"))))).toBe("0000000300ff01")
    expect(toHex(encode((w) => w.mpintUnsigned(hex("7f"))))).toBe("000000017f")
    expect(toHex(encode((w) => w.mpintUnsigned(hex("0000"))))).toBe("00000000")
    expect(decode(hex("0000000300ff01"), (r) => toHex(r.mpintUnsigned()))).toEqual(Either.right("ff01"))
  })

  it("rejects non-minimal and negative mpints where positive ones are required", () => {
    const padded = decode(hex("000000020001"), (r) => r.mpint())
    expect(Either.isLeft(padded) && padded.left.reason).toBe("Malformed")
    const negative = decode(hex("0000000180"), (r) => r.mpintUnsigned())
    expect(Either.isLeft(negative) && negative.left.detail).toMatch(/negative/)
  })

  it("name-lists: RFC examples, and malformed ones fail", () => {
    expect(toHex(encode((w) => w.nameList([])))).toBe("00000000")
    expect(toHex(encode((w) => w.nameList(["zlib"])))).toBe("000000047a6c6962")
    expect(toHex(encode((w) => w.nameList(["zlib", "none"])))).toBe("000000097a6c69622c6e6f6e65")
    expect(decode(hex("000000097a6c69622c6e6f6e65"), (r) => r.nameList())).toEqual(Either.right(["zlib", "none"]))
    const empty = decode(encode((w) => w.string("a,,b")), (r) => r.nameList())
    expect(Either.isLeft(empty) && empty.left.detail).toMatch(/empty name/)
    const control = decode(encode((w) => w.string("a\u0001")), (r) => r.nameList())
    expect(Either.isLeft(control)).toBe(true)
  })

  it("fixed-width types round-trip", () => {
    const bytes = encode((w) => w.byte(0x1ff).boolean(true).boolean(false).uint32(0xdeadbeef).uint64(2n ** 63n + 5n).string("héllo"))
    const read = decode(bytes, (r) => {
      const out = [r.byte(), r.boolean(), r.boolean(), r.uint32(), r.uint64(), r.text()]
      r.end()
      return out
    })
    expect(read).toEqual(Either.right([0xff, true, false, 0xdeadbeef, 2n ** 63n + 5n, "héllo"]))
    // RFC 4251: any non-zero byte is true.
    expect(decode(hex("07"), (r) => r.boolean())).toEqual(Either.right(true))
  })

  it("every read is bounds-checked and names the field and offset", () => {
    const result = decode(hex("0102"), (r) => r.uint32("window size"))
    expect(Either.isLeft(result)).toBe(true)
    const e = (result as Either.Left<WireError, number>).left
    expect(e).toBeInstanceOf(WireError)
    expect(e.reason).toBe("Truncated")
    expect(e.field).toBe("window size")
    expect(e.offset).toBe(0)
    expect(e.message).toMatch(/window size at offset 0/)

    // A string whose length runs past the end, after a good byte.
    const long = decode(hex("05 000000ff 6162"), (r) => (r.byte(), r.string("service name")))
    expect(Either.isLeft(long) && [long.left.reason, long.left.offset, long.left.field]).toEqual(["Truncated", 1, "service name"])

    const trailing = decode(hex("0102"), (r) => (r.byte(), r.end("message")))
    expect(Either.isLeft(trailing) && trailing.left.reason).toBe("TrailingData")

    const badUtf8 = decode(hex("00000002c328"), (r) => r.text("description"))
    expect(Either.isLeft(badUtf8) && badUtf8.left.detail).toMatch(/UTF-8/)
  })

  it("a huge declared length does not allocate or crash", () => {
    const result = decode(hex("ffffffff00"), (r) => r.string())
    expect(Either.isLeft(result) && result.left.reason).toBe("Truncated")
  })

  it("a runtime throw inside a decoder is a typed WireError; another module's tagged error is rethrown", () => {
    const thrown = decode(hex("00"), () => {
      throw new RangeError("Maximum call stack size exceeded")
    })
    expect(Either.isLeft(thrown) && thrown.left._tag).toBe("WireError")
    expect(Either.isLeft(thrown) && thrown.left.message).toMatch(/cannot be decoded \(RangeError\)/)
    class KeyError extends Error {
      readonly _tag = "KeyError"
    }
    expect(() =>
      decode(hex("00"), () => {
        throw new KeyError("nested key")
      })
    ).toThrow(KeyError)
  })

  it("a name-list far past V8's argument limit (200 KB, 50,000 names) decodes", () => {
    const names = Array.from({ length: 50_000 }, (_, i) => `n${i}`)
    const listed = decode(encode((w) => w.string(names.join(","))), (r) => r.nameList())
    expect(Either.isRight(listed) && listed.right.length).toBe(50_000)
    const big = "a".repeat(200 * 1024)
    expect(decode(encode((w) => w.string(big)), (r) => r.nameList())).toEqual(Either.right([big]))
  })

  it("text goes out as UTF-8 with its byte length: ASCII, two- and three-byte characters, a surrogate pair, a lone surrogate", () => {
    for (const text of ["", "ssh-userauth", "é", "€uro", "😀 ok", "a\ud800b", "x".repeat(5000) + "€"]) {
      const bytes = encode((w) => w.string(text).byte(0x7f))
      const utf8 = Buffer.from(text, "utf8")
      expect(toHex(bytes)).toBe(toHex(encode((w) => w.uint32(utf8.length).raw(utf8).byte(0x7f))))
    }
    // Nested writes, each with writers of their own.
    const nested = encode((w) => w.string(encode((inner) => inner.string("€").string("b"))).string("c"))
    expect(toHex(nested)).toBe("0000000c" + "00000003e282ac" + "0000000162" + "0000000163")
  })

  it("the writer grows past its initial capacity", () => {
    const big = new Uint8Array(10_000).fill(7)
    const bytes = encode((w) => w.string(big).uint32(1), 4)
    expect(bytes.length).toBe(10_008)
    expect(decode(bytes, (r) => r.string().length)).toEqual(Either.right(10_000))
  })
})

describe("wire: message catalog", () => {
  it("numbers and ranges follow RFC 4250 §4.1 and RFC 4253 §7", () => {
    expect(MessageNumber.KEXINIT).toBe(20)
    expect(MessageNumber.EXT_INFO).toBe(7)
    expect(MessageNumber.USERAUTH_REQUEST).toBe(50)
    expect(MessageNumber.USERAUTH_INFO_RESPONSE).toBe(61)
    expect(isTransportMessage(2)).toBe(true)
    expect(isTransportMessage(50)).toBe(false)
    expect(isKexMessage(31)).toBe(true)
    expect(isKexMessage(5)).toBe(false)
    expect(messageName(31)).toBe("KEXDH_REPLY")
    expect(messageName(200)).toBe("MSG_200")
    expect(disconnectReasonName(2)).toBe("PROTOCOL_ERROR")
    expect(disconnectReasonName(99)).toBe("UNKNOWN(99)")
  })
})
