/**
 * The binary packet protocol (RFC 4253 §6): framing outgoing payloads with padding, and an
 * incremental decoder for the incoming byte stream with a hard maximum packet size.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as crypto from "node:crypto"
import { noneOpener, type PacketOpener, type PacketSealer } from "./cipher/PacketCipher.js"

/**
 * The largest packet_length accepted. OpenSSH uses the same bound.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_PACKET_LENGTH = 256 * 1024

/**
 * A packet that breaks the framing rules. Always fatal for the connection.
 *
 * @since 0.1.0
 * @category errors
 */
export class PacketError extends Schema.TaggedError<PacketError>()("PacketError", {
  reason: Schema.Literal("PacketTooLarge", "BadLength", "BadPadding", "MacError"),
  sequence: Schema.Number,
  detail: Schema.String
}) {
  override get message(): string {
    return `packet ${this.sequence}: ${this.detail}`
  }
}

/**
 * Frames one payload into a plaintext packet with random padding, then seals it. The
 * padding comes from `random` when given (a seeded source replays a connection byte for
 * byte), else from node:crypto.
 *
 * @since 0.1.0
 * @category encoding
 */
export const framePacket = (payload: Uint8Array, sealer: PacketSealer, seq: number, random?: (n: number) => Uint8Array): Uint8Array => {
  const block = Math.max(8, sealer.blockSize)
  const covered = 4 + 1 + payload.length - (sealer.lengthIsAad ? 4 : 0)
  let padding = block - (covered % block)
  if (padding < 4) padding += block
  const length = 1 + payload.length + padding
  const packet = Buffer.allocUnsafe(4 + length)
  packet.writeUInt32BE(length, 0)
  packet[4] = padding
  packet.set(payload, 5)
  if (random) packet.set(random(padding), 5 + payload.length)
  else crypto.randomFillSync(packet, 5 + payload.length, padding)
  return sealer.seal(seq, packet)
}

const empty = new Uint8Array(0)

/**
 * Accumulates bytes from the socket and cuts them into packets, one at a time, with the
 * opener in force. The caller swaps the opener after NEWKEYS, before asking for the next
 * packet, so no byte is ever decrypted with the wrong keys.
 *
 * A chunk that arrives with nothing buffered is read where it is, not copied; `release` then
 * keeps what is left of it, in memory of the decoder's own, or nothing at all: an idle
 * connection holds no read buffer.
 *
 * @since 0.1.0
 * @category decoding
 */
export class PacketDecoder {
  opener: PacketOpener = noneOpener
  private buf: Uint8Array = empty
  private start = 0
  private end = 0
  private pendingLength: number | undefined
  /** The bytes are the caller's chunk, to be read only until `release`. */
  private borrowed = false

  /** Bytes received and not yet consumed as whole packets. */
  get buffered(): number {
    return this.end - this.start
  }

  /** Bytes of memory of its own the decoder keeps (a borrowed chunk is not its own). */
  get held(): number {
    return this.borrowed ? 0 : this.buf.length
  }

  push(chunk: Uint8Array): void {
    if (this.start === this.end) {
      this.buf = chunk
      this.start = 0
      this.end = chunk.length
      this.borrowed = true
      return
    }
    const live = this.end - this.start
    if (this.borrowed) {
      // The caller's chunk is not ours to write into.
      this.own(Math.max(2 * live, live + chunk.length, 4096))
    } else if (this.end + chunk.length > this.buf.length) {
      if (live + chunk.length <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end)
        this.start = 0
        this.end = live
      } else {
        this.own(Math.max(2 * this.buf.length, live + chunk.length, 4096))
      }
    }
    this.buf.set(chunk, this.end)
    this.end += chunk.length
  }

  /** Moves the bytes not yet consumed to the start of a buffer of our own, `capacity` bytes long. */
  private own(capacity: number): void {
    const live = this.end - this.start
    const owned = new Uint8Array(capacity)
    owned.set(this.buf.subarray(this.start, this.end))
    this.buf = owned
    this.start = 0
    this.end = live
    this.borrowed = false
  }

  /**
   * Lets go of the last chunk pushed: what is left of it is copied, with room to grow; a
   * drained decoder keeps no buffer. Call it once the packets that can be taken have been.
   * The room follows the bytes received, never the length a packet claims: four bytes may
   * claim 256 KiB.
   */
  release(): void {
    const live = this.end - this.start
    if (live === 0) {
      this.buf = empty
      this.start = this.end = 0
      this.borrowed = false
    } else if (this.borrowed) {
      this.own(Math.max(2 * live, 4096))
    }
  }

  /** Takes bytes that came before the first packet (the version exchange reads lines). */
  takeLine(maxLength: number): { readonly line: string } | { readonly tooLong: true } | undefined {
    const avail = this.buf.subarray(this.start, this.end)
    const nl = avail.indexOf(0x0a)
    if (nl < 0) return avail.length > maxLength ? { tooLong: true } : undefined
    if (nl > maxLength) return { tooLong: true }
    const end = nl > 0 && avail[nl - 1] === 0x0d ? nl - 1 : nl
    const line = Buffer.from(avail.subarray(0, end)).toString("latin1")
    this.start += nl + 1
    return { line }
  }

  /** The next payload, or undefined when more bytes are needed. Throws PacketError. */
  next(seq: number): Uint8Array | undefined {
    const opener = this.opener
    const avail = this.end - this.start
    if (this.pendingLength === undefined) {
      if (avail < opener.headerLength) return undefined
      const length = opener.packetLength(seq, this.buf.subarray(this.start, this.start + opener.headerLength))
      this.pendingLength = length
      if (length > MAX_PACKET_LENGTH) {
        throw new PacketError({
          reason: "PacketTooLarge",
          sequence: seq,
          detail: `packet length ${length} exceeds the limit of ${MAX_PACKET_LENGTH} bytes`
        }, true)
      }
      const covered = opener.lengthIsAad ? length : length + 4
      if (length < 5 || covered % Math.max(8, opener.blockSize) !== 0) {
        throw new PacketError({
          reason: "BadLength",
          sequence: seq,
          detail: `packet length ${length} is not a valid multiple of the cipher block size`
        }, true)
      }
    }
    const length = this.pendingLength
    const total = 4 + length + opener.macLength
    if (avail < total) return undefined
    const wire = this.buf.subarray(this.start, this.start + total)
    const plain = opener.open(seq, wire)
    if (plain === undefined) {
      throw new PacketError({ reason: "MacError", sequence: seq, detail: "message authentication code incorrect" }, true)
    }
    this.start += total
    this.pendingLength = undefined
    const padding = plain[0]
    if (padding < 4 || padding + 1 >= length) {
      throw new PacketError({ reason: "BadPadding", sequence: seq, detail: `invalid padding length ${padding}` }, true)
    }
    const payload = plain.subarray(1, length - padding)
    // Payloads that still point into our buffer, or the caller's chunk, must be copied.
    return payload.buffer === this.buf.buffer ? payload.slice() : payload
  }
}
