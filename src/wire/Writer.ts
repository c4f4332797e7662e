/**
 * A growable writer for the SSH data types of RFC 4251 §5.
 *
 * @since 0.1.0
 */

const utf8 = new TextEncoder()

/**
 * @since 0.1.0
 * @category models
 */
export class Writer {
  private buf: Uint8Array
  private view: DataView
  private pos = 0

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity)
    this.view = new DataView(this.buf.buffer)
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos
  }

  /**
   * Bytes it can hold before it grows.
   *
   * @since 0.1.0
   */
  get capacity(): number {
    return this.buf.length
  }

  /**
   * Empties it, its bytes zeroed: it may be reused for another message.
   *
   * @since 0.1.0
   */
  reset(): void {
    this.buf.fill(0, 0, this.pos)
    this.pos = 0
  }

  /** @since 0.1.0 */
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.pos + n) cap *= 2
    const next = new Uint8Array(cap)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }

  /** @since 0.1.0 */
  byte(v: number): this {
    this.ensure(1)
    this.buf[this.pos++] = v & 0xff
    return this
  }

  /** @since 0.1.0 */
  boolean(v: boolean): this {
    return this.byte(v ? 1 : 0)
  }

  /** @since 0.1.0 */
  uint32(v: number): this {
    this.ensure(4)
    this.view.setUint32(this.pos, v >>> 0)
    this.pos += 4
    return this
  }

  /** @since 0.1.0 */
  uint64(v: bigint): this {
    this.ensure(8)
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v))
    this.pos += 8
    return this
  }

  /**
   * Raw bytes, with no length prefix.
   *
   * @since 0.1.0
   */
  raw(bytes: Uint8Array): this {
    this.ensure(bytes.length)
    this.buf.set(bytes, this.pos)
    this.pos += bytes.length
    return this
  }

  /**
   * An SSH `string`: bytes as given, or text as UTF-8.
   *
   * @since 0.1.0
   */
  string(v: Uint8Array | string): this {
    if (typeof v !== "string") return this.uint32(v.length).raw(v)
    // Straight into the buffer: a string's UTF-8 is at most 3 bytes per UTF-16 unit, and its
    // length goes in front once known (an encode per string was an ArrayBuffer each).
    this.ensure(4 + 3 * v.length)
    const start = this.pos + 4
    const { written } = utf8.encodeInto(v, this.buf.subarray(start, start + 3 * v.length))
    this.view.setUint32(this.pos, written)
    this.pos = start + written
    return this
  }

  /** @since 0.1.0 */
  nameList(names: ReadonlyArray<string>): this {
    return this.string(names.join(","))
  }

  /**
   * An SSH `mpint` from a bigint, two's complement, minimal length.
   *
   * @since 0.1.0
   */
  mpint(v: bigint): this {
    return this.string(bigintToMpintBytes(v))
  }

  /**
   * An SSH `mpint` from an unsigned big-endian magnitude (such as a shared secret).
   *
   * @since 0.1.0
   */
  mpintUnsigned(magnitude: Uint8Array): this {
    let i = 0
    while (i < magnitude.length && magnitude[i] === 0) i++
    const trimmed = magnitude.subarray(i)
    if (trimmed.length > 0 && trimmed[0] & 0x80) {
      this.uint32(trimmed.length + 1).byte(0)
      return this.raw(trimmed)
    }
    return this.string(trimmed)
  }

  /**
   * A copy of the bytes written.
   *
   * @since 0.1.0
   */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos)
  }
}

const bigintToMpintBytes = (v: bigint): Uint8Array => {
  if (v === 0n) return new Uint8Array(0)
  const negative = v < 0n
  // Enough bytes for the magnitude plus a sign bit.
  const bits = (negative ? -v - 1n : v).toString(2).length
  const len = Math.floor(bits / 8) + 1
  const out = new Uint8Array(len)
  let x = BigInt.asUintN(len * 8, v)
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return out
}

/**
 * Writers `encode` reuses: a fresh one was two ArrayBuffers per message (its buffer, then the
 * copy out), and a login encodes a few dozen. Nested calls each take their own. A writer
 * comes back zeroed, as what it held may be a secret; one grown past `MAX_IDLE_CAPACITY` is
 * dropped.
 */
const idleWriters: Array<Writer> = []
const MAX_IDLE_WRITERS = 8
const MAX_IDLE_CAPACITY = 64 * 1024

/**
 * Writes a value with `f` and returns the bytes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (f: (w: Writer) => unknown, initialCapacity?: number): Uint8Array => {
  const w = idleWriters.pop() ?? new Writer(initialCapacity)
  try {
    f(w)
    return w.toBytes()
  } finally {
    w.reset()
    if (w.capacity <= MAX_IDLE_CAPACITY && idleWriters.length < MAX_IDLE_WRITERS) idleWriters.push(w)
  }
}
