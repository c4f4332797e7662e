/**
 * One channel of the connection protocol (RFC 4254 §5), as both roles keep it: the two ids,
 * both windows and packet sizes, and EOF/CLOSE in each direction. Pure bookkeeping that
 * answers with the messages to send: no I/O, so a session channel of the server and a
 * client's `direct-tcpip` channel run on the same code.
 *
 * @since 0.1.0
 */
import { MessageNumber } from "../wire/MessageNumber.js"
import { encode, type Writer } from "../wire/Writer.js"

/**
 * What we give a peer to send us before it must wait for a WINDOW_ADJUST, and the largest
 * data packet we take: OpenSSH's defaults for a session.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultWindow = 2 * 1024 * 1024
/**
 * @since 0.1.0
 * @category constants
 */
export const defaultMaxPacket = 32 * 1024

/** Our queued outbound data beyond this is refused: a peer that never opens its window cannot make us hold more. */
const MAX_QUEUED = 4 * 1024 * 1024

/**
 * RFC 4254 §5.1 reason codes.
 *
 * @since 0.1.0
 * @category constants
 */
export const OpenFailure = {
  ADMINISTRATIVELY_PROHIBITED: 1,
  CONNECT_FAILED: 2,
  UNKNOWN_CHANNEL_TYPE: 3,
  RESOURCE_SHORTAGE: 4
} as const

/**
 * @since 0.1.0
 * @category models
 */
export class Channel {
  /** What the peer may still send us. */
  private localWindow: number
  /** What we may still send the peer. */
  private remoteWindow: number
  private readonly queued: Array<{ readonly bytes: Uint8Array; readonly stream: number | undefined }> = []
  private queuedBytes = 0
  eofSent = false
  eofReceived = false
  closeSent = false
  closeReceived = false

  constructor(
    readonly localId: number,
    readonly remoteId: number,
    remoteWindow: number,
    private readonly remoteMaxPacket: number,
    private readonly localWindowSize = defaultWindow
  ) {
    this.remoteWindow = remoteWindow
    this.localWindow = localWindowSize
  }

  /** Queues data (stream 1 is stderr) and answers what can go now. Undefined when the queue would pass its bound. */
  write(bytes: Uint8Array, stream?: number): Array<Uint8Array> | undefined {
    if (this.eofSent || this.closeSent) return []
    if (this.queuedBytes + bytes.length > MAX_QUEUED) return undefined
    if (bytes.length > 0) {
      this.queued.push({ bytes, stream })
      this.queuedBytes += bytes.length
    }
    return this.flush()
  }

  /** The peer's WINDOW_ADJUST: answers what queued data can go now. */
  windowAdjust(bytes: number): Array<Uint8Array> {
    // A window past 2^32−1 is the peer's error; cap it rather than overflow (RFC 4254 §5.2).
    this.remoteWindow = Math.min(0xffffffff, this.remoteWindow + bytes)
    return this.flush()
  }

  /** Data arrived: false when it overran the window we gave. Answers a WINDOW_ADJUST when half of it is used. */
  received(length: number): { readonly ok: boolean; readonly adjust?: Uint8Array } {
    if (length > this.localWindow) return { ok: false }
    this.localWindow -= length
    if (this.localWindow > this.localWindowSize / 2) return { ok: true }
    const grant = this.localWindowSize - this.localWindow
    this.localWindow += grant
    return { ok: true, adjust: encode((w) => w.byte(MessageNumber.CHANNEL_WINDOW_ADJUST).uint32(this.remoteId).uint32(grant)) }
  }

  /** Whether everything written has gone out. */
  get drained(): boolean {
    return this.queued.length === 0
  }

  /** CHANNEL_REQUEST without a reply wanted (exit-status, say). */
  request(type: string, body: (w: Writer) => unknown = () => {}, wantReply = false): Uint8Array {
    return encode((w) => body(w.byte(MessageNumber.CHANNEL_REQUEST).uint32(this.remoteId).string(type).boolean(wantReply)))
  }

  reply(ok: boolean): Uint8Array {
    return encode((w) => w.byte(ok ? MessageNumber.CHANNEL_SUCCESS : MessageNumber.CHANNEL_FAILURE).uint32(this.remoteId))
  }

  eof(): Array<Uint8Array> {
    if (this.eofSent || this.closeSent) return []
    this.eofSent = true
    return [encode((w) => w.byte(MessageNumber.CHANNEL_EOF).uint32(this.remoteId))]
  }

  close(): Array<Uint8Array> {
    if (this.closeSent) return []
    this.closeSent = true
    return [encode((w) => w.byte(MessageNumber.CHANNEL_CLOSE).uint32(this.remoteId))]
  }

  private flush(): Array<Uint8Array> {
    const out: Array<Uint8Array> = []
    // Bounded: every turn sends at least one byte of the queue or stops.
    while (this.queued.length > 0 && this.remoteWindow > 0) {
      const head = this.queued[0]
      const n = Math.min(head.bytes.length, this.remoteWindow, this.remoteMaxPacket)
      const chunk = head.bytes.subarray(0, n)
      out.push(encode((w) =>
        head.stream === undefined
          ? w.byte(MessageNumber.CHANNEL_DATA).uint32(this.remoteId).string(chunk)
          : w.byte(MessageNumber.CHANNEL_EXTENDED_DATA).uint32(this.remoteId).uint32(head.stream).string(chunk)
      ))
      this.remoteWindow -= n
      this.queuedBytes -= n
      if (n === head.bytes.length) this.queued.shift()
      else this.queued[0] = { bytes: head.bytes.subarray(n), stream: head.stream }
    }
    return out
  }
}

/**
 * CHANNEL_OPEN_CONFIRMATION for a channel we accepted.
 *
 * @since 0.1.0
 * @category encoding
 */
export const openConfirmation = (channel: Channel, window = defaultWindow, maxPacket = defaultMaxPacket): Uint8Array =>
  encode((w) => w.byte(MessageNumber.CHANNEL_OPEN_CONFIRMATION).uint32(channel.remoteId).uint32(channel.localId).uint32(window).uint32(maxPacket))

/**
 * CHANNEL_OPEN_FAILURE for a channel we refuse.
 *
 * @since 0.1.0
 * @category encoding
 */
export const openFailure = (remoteId: number, reason: number, description: string): Uint8Array =>
  encode((w) => w.byte(MessageNumber.CHANNEL_OPEN_FAILURE).uint32(remoteId).uint32(reason).string(description).string(""))
