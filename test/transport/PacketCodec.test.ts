/**
 * The binary packet protocol in memory: every cipher × MAC seals what its opener opens,
 * padding follows RFC 4253 §6, and the decoder copes with any chunking.
 */
import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import { ciphers } from "../../src/transport/cipher/Ciphers.js"
import { macs } from "../../src/transport/cipher/Mac.js"
import type { DirectionKeys } from "../../src/transport/cipher/PacketCipher.js"
import { noneSealer } from "../../src/transport/cipher/PacketCipher.js"
import { framePacket, MAX_PACKET_LENGTH, PacketDecoder, PacketError } from "../../src/transport/PacketCodec.js"

const keysFor = (cipherName: string, macName: string | undefined): DirectionKeys => {
  const cipher = ciphers.get(cipherName)!
  return {
    iv: crypto.randomBytes(cipher.ivLength),
    key: crypto.randomBytes(cipher.keyLength),
    macKey: macName ? crypto.randomBytes(macs.get(macName)!.keyLength) : new Uint8Array(0)
  }
}

const combos: ReadonlyArray<readonly [string, string | undefined]> = [...ciphers.values()].flatMap((c) =>
  c.aead ? [[c.name, undefined]] : [...macs.keys()].map((m): readonly [string, string | undefined] => [c.name, m])
)

const payloads = [1, 2, 15, 16, 17, 100, 1000, 32_768].map((n) => crypto.randomBytes(n))

describe("packet codec", () => {
  it.each(combos)("%s / %s: sealed packets open, in order, with any chunking", (cipherName, macName) => {
    const cipher = ciphers.get(cipherName)!
    const mac = macName ? macs.get(macName) : undefined
    const keys = keysFor(cipherName, macName)
    const sealer = cipher.sealer(keys, mac)
    const decoder = new PacketDecoder()
    decoder.opener = cipher.opener(keys, mac)
    const wire = Buffer.concat(payloads.map((p, i) => framePacket(p, sealer, 1000 + i)))
    // Feed in awkward chunk sizes: 1, 3, 7 … bytes, so headers and MACs straddle chunks.
    const out: Array<Uint8Array> = []
    let seq = 1000
    for (let offset = 0, step = 1; offset < wire.length; offset += step, step = (step * 2 + 1) % 97 || 1) {
      decoder.push(wire.subarray(offset, Math.min(wire.length, offset + step)))
      for (let p = decoder.next(seq); p !== undefined; p = decoder.next(seq)) {
        out.push(p)
        seq++
      }
    }
    expect(out.map((p) => Buffer.from(p).toString("hex"))).toEqual(payloads.map((p) => p.toString("hex")))
    expect(decoder.buffered).toBe(0)
  })

  it("reads a chunk where it is, keeps a copy of what is left of it, and keeps no buffer once drained", () => {
    const gcm = ciphers.get("aes128-gcm@openssh.com")!
    const keys = keysFor("aes128-gcm@openssh.com", undefined)
    const sealer = gcm.sealer(keys, undefined)
    const decoder = new PacketDecoder()
    decoder.opener = gcm.opener(keys, undefined)
    const [first, second] = [crypto.randomBytes(100), crypto.randomBytes(5000)]
    // Sealed in order: the nonce counts packets.
    const firstWire = framePacket(first, sealer, 0)
    const secondWire = framePacket(second, sealer, 1)
    const wire = Buffer.concat([firstWire, secondWire])
    // One chunk: all of the first packet and the start of the second.
    const chunk = Buffer.from(wire.subarray(0, wire.length - 3000))
    decoder.push(chunk)
    expect(Buffer.from(decoder.next(0)!)).toEqual(first)
    expect(decoder.next(1)).toBeUndefined()
    decoder.release()
    // The caller may reuse its chunk now: the decoder holds a copy of the begun packet.
    chunk.fill(0xff)
    expect(decoder.held).toBeGreaterThan(0)
    decoder.push(wire.subarray(wire.length - 3000))
    expect(Buffer.from(decoder.next(1)!)).toEqual(second)
    decoder.release()
    expect({ buffered: decoder.buffered, held: decoder.held }).toEqual({ buffered: 0, held: 0 })
  })

  it("a packet's claimed length does not size the buffer: what was received does", () => {
    const decoder = new PacketDecoder()
    // A length of 256 KiB − 4 (allowed, and to the block size), and one byte of the packet.
    decoder.push(Uint8Array.of(0, 3, 0xff, 0xfc, 12))
    expect(decoder.next(0)).toBeUndefined()
    decoder.release()
    expect(decoder.buffered).toBe(5)
    expect(decoder.held).toBeLessThanOrEqual(4096)
  })

  it.each(combos)("%s / %s: a flipped bit anywhere is a MAC error", (cipherName, macName) => {
    const cipher = ciphers.get(cipherName)!
    const mac = macName ? macs.get(macName) : undefined
    const keys = keysFor(cipherName, macName)
    const packet = Buffer.from(framePacket(crypto.randomBytes(64), cipher.sealer(keys, mac), 7))
    // Past the length field, so the length still decodes; the tag or MAC must catch it.
    packet[packet.length - 20] ^= 0x40
    const decoder = new PacketDecoder()
    decoder.opener = cipher.opener(keys, mac)
    decoder.push(packet)
    expect(() => decoder.next(7)).toThrow(PacketError)
  })

  // AES-GCM as OpenSSH runs it binds packets to their order through the nonce counter instead.
  it.each(combos.filter(([c]) => !c.includes("gcm")))("%s / %s: the MAC covers the sequence number", (cipherName, macName) => {
    const cipher = ciphers.get(cipherName)!
    const mac = macName ? macs.get(macName) : undefined
    const keys = keysFor(cipherName, macName)
    const decoder = new PacketDecoder()
    decoder.opener = cipher.opener(keys, mac)
    decoder.push(framePacket(crypto.randomBytes(10), cipher.sealer(keys, mac), 5))
    // chacha20-poly1305 also keys the length by sequence number, so the failure may be either.
    expect(() => decoder.next(6)).toThrow(PacketError)
  })

  it.each(["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"])("%s: a replayed packet fails, the nonce has moved on", (name) => {
    const gcm = ciphers.get(name)!
    const keys = keysFor(name, undefined)
    const packet = framePacket(crypto.randomBytes(10), gcm.sealer(keys, undefined), 0)
    const decoder = new PacketDecoder()
    decoder.opener = gcm.opener(keys, undefined)
    decoder.push(packet)
    expect(decoder.next(0)?.length).toBe(10)
    decoder.push(packet)
    expect(() => decoder.next(1)).toThrow(/message authentication code incorrect/)
  })

  it("padding follows RFC 4253 §6: at least 4 bytes, to a multiple of the block size", () => {
    for (let n = 1; n < 80; n++) {
      const wire = framePacket(new Uint8Array(n), noneSealer, 0)
      const length = Buffer.from(wire).readUInt32BE(0)
      const padding = wire[4]
      expect(padding).toBeGreaterThanOrEqual(4)
      expect(padding).toBeLessThan(4 + 8)
      expect((4 + length) % 8).toBe(0)
      expect(length).toBe(1 + n + padding)
    }
    // AEAD/etm: the length field is left out of the padding computation.
    const gcm = ciphers.get("aes128-gcm@openssh.com")!
    const keys = keysFor(gcm.name, undefined)
    for (let n = 1; n < 40; n++) {
      const wire = framePacket(new Uint8Array(n), gcm.sealer(keys, undefined), 0)
      const length = Buffer.from(wire).readUInt32BE(0)
      expect(length % 16).toBe(0)
    }
  })

  it("a length over 256 KiB is refused before any of the body arrives", () => {
    const decoder = new PacketDecoder()
    const header = Buffer.alloc(4)
    header.writeUInt32BE(MAX_PACKET_LENGTH + 8)
    decoder.push(header)
    try {
      decoder.next(0)
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(PacketError)
      expect((e as PacketError).reason).toBe("PacketTooLarge")
    }
  })

  it("a packet of exactly the limit is accepted", () => {
    const payload = new Uint8Array(MAX_PACKET_LENGTH - 1 - 8)
    const wire = framePacket(payload, noneSealer, 0)
    expect(Buffer.from(wire).readUInt32BE(0)).toBeLessThanOrEqual(MAX_PACKET_LENGTH)
    const decoder = new PacketDecoder()
    decoder.push(wire)
    expect(decoder.next(0)?.length).toBe(payload.length)
  })

  it("lengths that break the block rule, and bad padding, are typed errors", () => {
    const misaligned = new PacketDecoder()
    misaligned.push(Buffer.from([0, 0, 0, 13, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    expect(() => misaligned.next(0)).toThrow(/not a valid multiple/)
    const badPadding = new PacketDecoder()
    // length 12, padding length 2 (< 4)
    badPadding.push(Buffer.from([0, 0, 0, 12, 2, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    expect(() => badPadding.next(0)).toThrow(/invalid padding length 2/)
  })
})
