/**
 * The seam between the binary packet protocol (RFC 4253 §6) and the ciphers. A sealer turns
 * a plaintext packet (`uint32 packet_length || byte padding_length || payload || padding`)
 * into wire bytes; an opener does the reverse in two steps, because the length must be known
 * before the rest of the packet can be read from the socket.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface PacketSealer {
  /** Padding makes the padded part a multiple of this (at least 8, RFC 4253 §6). */
  readonly blockSize: number
  /**
   * True for encrypt-then-MAC and AEAD modes, where the 4-byte length is authenticated data
   * and is left out of the padding computation (as OpenSSH does).
   */
  readonly lengthIsAad: boolean
  /** Wire bytes for one plaintext packet. `packet` may be overwritten. */
  seal(seq: number, packet: Uint8Array): Uint8Array
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PacketOpener {
  readonly blockSize: number
  readonly lengthIsAad: boolean
  /** How many bytes must arrive before `packetLength` can be called. */
  readonly headerLength: number
  /** MAC or tag bytes that follow the packet. */
  readonly macLength: number
  /** The packet_length field, from the first `headerLength` bytes (may decrypt them). */
  packetLength(seq: number, header: Uint8Array): number
  /**
   * Checks and decrypts a whole packet (`4 + packet_length + macLength` wire bytes, header
   * included). Returns `padding_length || payload || padding`, or `undefined` when the MAC
   * or tag does not match.
   */
  open(seq: number, wire: Uint8Array): Uint8Array | undefined
}

/**
 * Keys for one direction, derived after a key exchange (RFC 4253 §7.2).
 *
 * @since 0.1.0
 * @category models
 */
export interface DirectionKeys {
  readonly iv: Uint8Array
  readonly key: Uint8Array
  readonly macKey: Uint8Array
}

/** Big-endian uint32 into a fresh 4-byte array (the sequence number MACs cover). */
export const uint32be = (n: number): Uint8Array => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n >>> 0)
  return b
}

/** Reads a big-endian uint32 at `offset`. */
export const readUint32be = (b: Uint8Array, offset = 0): number => ((b[offset] << 24) | (b[offset + 1] << 16) | (b[offset + 2] << 8) | b[offset + 3]) >>> 0

/**
 * The "none" cipher in force until the first NEWKEYS.
 *
 * @since 0.1.0
 * @category constructors
 */
export const noneSealer: PacketSealer = { blockSize: 8, lengthIsAad: false, seal: (_seq, packet) => packet }

/**
 * @since 0.1.0
 * @category constructors
 */
export const noneOpener: PacketOpener = {
  blockSize: 8,
  lengthIsAad: false,
  headerLength: 4,
  macLength: 0,
  packetLength: (_seq, header) => readUint32be(header),
  open: (_seq, wire) => wire.subarray(4)
}
