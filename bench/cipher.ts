/**
 * `npm run bench:cipher`: CPU per packet, sealed and then opened, for the two AEAD ciphers
 * two ways each in one run, taking turns: this library's sealer and opener, and the same
 * cipher from node:crypto alone, whose ciphers are made anew for every nonce (what ssh2 does
 * without its native addon).
 * - aes128-gcm@openssh.com: ours runs small packets on a kept AES context and `Ghash`, long
 *   ones on OpenSSL's GCM; against OpenSSL's GCM made for every packet.
 * - chacha20-poly1305@openssh.com: ours runs inputs up to 512 bytes through its own ChaCha20
 *   block function; against OpenSSL's "chacha20" made for each of the packet's three uses (the
 *   length, the Poly1305 key, the payload), Poly1305 the same in both.
 *
 * Packet sizes are those of a login (32–192 bytes after the length field) and of bulk data.
 */
import * as crypto from "node:crypto"
import * as os from "node:os"
import { poly1305 } from "../src/crypto/Poly1305.js"
import { gcmOpener, gcmSealer } from "../src/transport/cipher/AesGcm.js"
import { chachaOpener, chachaSealer } from "../src/transport/cipher/ChaCha20Poly1305.js"
import type { PacketOpener, PacketSealer } from "../src/transport/cipher/PacketCipher.js"

const N = Number(process.env.BENCH_N ?? 20_000)
const ROUNDS = 6
const SIZES = (process.env.BENCH_SIZES ?? "32,64,128,176,192,256,1024,32768").split(",").map(Number)

/** A plaintext packet: its length field, then `size` bytes. */
const packetOf = (size: number) => {
  const packet = crypto.randomBytes(4 + size)
  packet.writeUInt32BE(size, 0)
  return packet
}

/** OpenSSL's AES-GCM for one packet under `nonce`, sealed and opened. */
const gcmPacket = (key: Uint8Array, nonce: Uint8Array) => (packet: Uint8Array) => {
  const cipher = crypto.createCipheriv("aes-128-gcm", key, nonce)
  cipher.setAAD(packet.subarray(0, 4))
  const body = Buffer.concat([cipher.update(packet.subarray(4)), cipher.final()])
  const decipher = crypto.createDecipheriv("aes-128-gcm", key, nonce)
  decipher.setAAD(packet.subarray(0, 4))
  decipher.setAuthTag(cipher.getAuthTag())
  decipher.update(body)
  decipher.final()
}

/** OpenSSL's ChaCha20 with OpenSSH's layout: the counter in bytes 0..3, the nonce in 12..15. */
const openSslChaCha = (key: Uint8Array, seq: number, counter: number, data: Uint8Array) => {
  const iv = Buffer.alloc(16)
  iv.writeUInt32LE(counter, 0)
  iv.writeUInt32BE(seq, 12)
  return crypto.createCipheriv("chacha20", key, iv).update(data)
}

/** chacha20-poly1305@openssh.com for one packet on OpenSSL's ChaCha20, sealed and opened. */
const chachaPacket = (key: Uint8Array) => (packet: Uint8Array) => {
  const main = key.subarray(0, 32)
  const header = key.subarray(32, 64)
  const sealed = Buffer.concat([openSslChaCha(header, 7, 0, packet.subarray(0, 4)), openSslChaCha(main, 7, 1, packet.subarray(4))])
  const tag = poly1305(openSslChaCha(main, 7, 0, new Uint8Array(32)), sealed)
  openSslChaCha(header, 7, 0, sealed.subarray(0, 4))
  if (!crypto.timingSafeEqual(poly1305(openSslChaCha(main, 7, 0, new Uint8Array(32)), sealed), tag)) throw new Error("tag")
  openSslChaCha(main, 7, 1, sealed.subarray(4))
}

interface Cipher {
  readonly name: string
  readonly keyBytes: number
  readonly ours: (keys: { key: Uint8Array; iv: Uint8Array; macKey: Uint8Array }) => readonly [PacketSealer, PacketOpener]
  readonly alone: (keys: { key: Uint8Array; iv: Uint8Array }) => (packet: Uint8Array) => void
  readonly aloneName: string
}

const ciphers: ReadonlyArray<Cipher> = [
  {
    name: "aes128-gcm@openssh.com",
    keyBytes: 16,
    ours: (keys) => [gcmSealer(128, keys), gcmOpener(128, keys)],
    alone: (keys) => gcmPacket(keys.key, keys.iv),
    aloneName: "OpenSSL's GCM made per packet"
  },
  {
    name: "chacha20-poly1305@openssh.com",
    keyBytes: 64,
    ours: (keys) => [chachaSealer(keys), chachaOpener(keys)],
    alone: (keys) => chachaPacket(keys.key),
    aloneName: "OpenSSL's chacha20 made per use"
  }
]

const cpuMicros = (op: () => void, n: number) => {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) op()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

const lines: Array<string> = [
  `cipher benchmark: one packet sealed then opened, CPU µs per packet (${ROUNDS} blocks taking turns, after a warm-up)`,
  `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · OpenSSL ${process.versions.openssl}`
]
for (const cipher of ciphers) {
  lines.push("", `| ${cipher.name}, bytes after the length | effect-ssh-auth | ${cipher.aloneName} | ratio |`, "| ---: | ---: | ---: | ---: |")
  for (const size of SIZES) {
    const packet = packetOf(size)
    const keys = { key: crypto.randomBytes(cipher.keyBytes), iv: crypto.randomBytes(12), macKey: new Uint8Array(0) }
    const [sealer, opener] = cipher.ours(keys)
    // Correctness first: the packet opens back to what was sealed.
    if (!Buffer.from(opener.open(0, sealer.seal(0, Buffer.from(packet))) ?? []).equals(packet.subarray(4))) {
      throw new Error(`${cipher.name}: our packet of ${size} bytes does not open back`)
    }
    const alone = cipher.alone(keys)
    const n = Math.max(200, Math.floor((N * 64) / Math.max(64, size)))
    const clients: ReadonlyArray<() => void> = [() => void opener.open(0, sealer.seal(0, packet)), () => alone(packet)]
    const totals = [0, 0]
    clients.forEach((op) => cpuMicros(op, n))
    for (let round = 0; round < ROUNDS; round++) {
      for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) totals[i] += cpuMicros(clients[i], n)
    }
    const [ours, other] = totals.map((t) => t / ROUNDS)
    lines.push(`| ${size} | ${ours.toFixed(2)} | ${other.toFixed(2)} | ${(ours / other).toFixed(2)}× |`)
  }
}
console.log(lines.join("\n"))
