/**
 * A bounds-checked reader for the SSH data types of RFC 4251 §5.
 *
 * Pure code: each read either returns a value or throws a {@link WireError} that names the
 * field and the offset. {@link decode} turns that into an `Either` at the edge, so parsers
 * can be written as straight-line code.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { WireError } from "./WireError.js"

const utf8 = new TextDecoder("utf-8", { fatal: true })
const latin1 = new TextDecoder("latin1")

/**
 * @since 0.1.0
 * @category models
 */
export class Reader {
  private pos = 0
  /** @since 0.1.0 */
  readonly bytes: Uint8Array

  constructor(bytes: Uint8Array) {
    // A plain Uint8Array view even for a Buffer, whose slice() would not copy. No DataView:
    // one more object per message read, for the few integers `uint32` reads by hand.
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** Bytes read so far. */
  get offset(): number {
    return this.pos
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.bytes.length - this.pos
  }

  /** @since 0.1.0 */
  private need(n: number, field: string): void {
    if (n > this.bytes.length - this.pos) {
      throw new WireError({
        reason: "Truncated",
        field,
        offset: this.pos,
        detail: `need ${n} bytes, have ${this.bytes.length - this.pos}`
      }, true)
    }
  }

  /**
   * Fails with a Malformed WireError at the current offset.
   *
   * @since 0.1.0
   */
  fail(field: string, detail: string): never {
    throw new WireError({ reason: "Malformed", field, offset: this.pos, detail }, true)
  }

  /** @since 0.1.0 */
  byte(field = "byte"): number {
    this.need(1, field)
    return this.bytes[this.pos++]
  }

  /**
   * RFC 4251: any non-zero value is true.
   *
   * @since 0.1.0
   */
  boolean(field = "boolean"): boolean {
    return this.byte(field) !== 0
  }

  /** @since 0.1.0 */
  uint32(field = "uint32"): number {
    this.need(4, field)
    const b = this.bytes
    const p = this.pos
    this.pos = p + 4
    return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0
  }

  /** @since 0.1.0 */
  uint64(field = "uint64"): bigint {
    this.need(8, field)
    const high = this.uint32(field)
    return (BigInt(high) << 32n) | BigInt(this.uint32(field))
  }

  /**
   * `n` raw bytes, as a view into the buffer (no copy).
   *
   * @since 0.1.0
   */
  raw(n: number, field = "bytes"): Uint8Array {
    this.need(n, field)
    const out = this.bytes.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }

  /**
   * An SSH `string`: uint32 length and that many bytes, as a view (no copy).
   *
   * @since 0.1.0
   */
  string(field = "string"): Uint8Array {
    const start = this.pos
    const len = this.uint32(field)
    if (len > this.remaining) {
      this.pos = start
      throw new WireError({
        reason: "Truncated",
        field,
        offset: start,
        detail: `length ${len} exceeds the ${this.remaining - 4} bytes left`
      }, true)
    }
    return this.raw(len, field)
  }

  /**
   * An SSH `string` that must be valid UTF-8 text.
   *
   * @since 0.1.0
   */
  text(field = "string"): string {
    const start = this.pos
    /** @since 0.1.0 */
    const bytes = this.string(field)
    try {
      return utf8.decode(bytes)
    } catch {
      throw new WireError({ reason: "Malformed", field, offset: start, detail: "invalid UTF-8" }, true)
    }
  }

  /**
   * An SSH `name-list`: comma-separated US-ASCII names, no empty names.
   *
   * @since 0.1.0
   */
  nameList(field = "name-list"): Array<string> {
    const start = this.pos
    /** @since 0.1.0 */
    const bytes = this.string(field)
    if (bytes.length === 0) return []
    for (const b of bytes) {
      if (b < 0x21 || b > 0x7e) {
        throw new WireError({ reason: "Malformed", field, offset: start, detail: "non-printable character in name-list" }, true)
      }
    }
    // Checked ASCII above; decoded without spreading, which overflows the stack on long lists.
    const names = latin1.decode(bytes).split(",")
    if (names.some((n) => n.length === 0)) {
      throw new WireError({ reason: "Malformed", field, offset: start, detail: "empty name in name-list" }, true)
    }
    return names
  }

  /**
   * An SSH `mpint` as a (possibly negative) bigint.
   *
   * @since 0.1.0
   */
  mpint(field = "mpint"): bigint {
    const start = this.pos
    /** @since 0.1.0 */
    const bytes = this.string(field)
    if (bytes.length === 0) return 0n
    if (bytes.length > 1 && ((bytes[0] === 0 && bytes[1] < 0x80) || (bytes[0] === 0xff && bytes[1] >= 0x80))) {
      throw new WireError({ reason: "Malformed", field, offset: start, detail: "mpint has unnecessary leading bytes" }, true)
    }
    let v = 0n
    for (const b of bytes) v = (v << 8n) | BigInt(b)
    if (bytes[0] & 0x80) v -= 1n << BigInt(bytes.length * 8)
    return v
  }

  /**
   * A non-negative `mpint` as its unsigned big-endian magnitude (no leading zero).
   *
   * @since 0.1.0
   */
  mpintUnsigned(field = "mpint"): Uint8Array {
    const start = this.pos
    /** @since 0.1.0 */
    const bytes = this.string(field)
    if (bytes.length > 0 && bytes[0] & 0x80) {
      throw new WireError({ reason: "Malformed", field, offset: start, detail: "negative mpint where a positive one is required" }, true)
    }
    if (bytes.length > 1 && bytes[0] === 0 && bytes[1] < 0x80) {
      throw new WireError({ reason: "Malformed", field, offset: start, detail: "mpint has unnecessary leading bytes" }, true)
    }
    return bytes[0] === 0 ? bytes.subarray(1) : bytes
  }

  /**
   * Everything not read yet, as a view.
   *
   * @since 0.1.0
   */
  rest(): Uint8Array {
    const out = this.bytes.subarray(this.pos)
    this.pos = this.bytes.length
    return out
  }

  /**
   * Fails unless every byte has been read.
   *
   * @since 0.1.0
   */
  end(field = "message"): void {
    if (this.pos !== this.bytes.length) {
      throw new WireError({
        reason: "TrailingData",
        field,
        offset: this.pos,
        detail: `${this.bytes.length - this.pos} bytes left`
      }, true)
    }
  }
}

/**
 * Runs a parser over `bytes`. A WireError becomes a Left, and so does any other throw from
 * the runtime (a RangeError from a huge value, say): peer bytes must never crash a caller.
 * Typed errors of other modules (a `_tag`ged error, such as a nested key's KeyError) are
 * rethrown for the caller that knows them.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = <A>(bytes: Uint8Array, parse: (r: Reader) => A): Either.Either<A, WireError> => {
  const reader = new Reader(bytes)
  try {
    return Either.right(parse(reader))
  } catch (e) {
    if (e instanceof WireError) return Either.left(e)
    if (typeof e === "object" && e !== null && "_tag" in e) throw e
    return Either.left(
      new WireError(
        { reason: "Malformed", field: "message", offset: reader.offset, detail: `cannot be decoded (${e instanceof Error ? e.name : "error"})` },
        true
      )
    )
  }
}
