/**
 * `npm run bench:cipher`: CPU per packet, sealed and then opened, for aes128-gcm@openssh.com
 * two ways in one run, taking turns: this library's sealer and opener (the keystream of a
 * kept AES context and `Ghash` for small packets, OpenSSL's GCM past them), and OpenSSL's
 * GCM made anew for every packet, which is all that node:crypto offers for a new nonce (and
 * what ssh2 does without its native addon). Packet sizes are those of a login (32–192 bytes
 * after the length field) and of bulk data.
 */
import * as crypto from "node:crypto"
import * as os from "node:os"
import { gcmOpener, gcmSealer } from "../src/transport/cipher/AesGcm.js"

const N = Number(process.env.BENCH_N ?? 20_000)
const ROUNDS = 6
const SIZES = (process.env.BENCH_SIZES ?? "32,64,128,176,192,256,1024,32768").split(",").map(Number)

const keys = { key: crypto.randomBytes(16), iv: crypto.randomBytes(12), macKey: new Uint8Array(0) }

/** OpenSSL's AES-GCM for one packet under `nonce`, sealed and opened. */
const openSslPacket = (nonce: Buffer, packet: Uint8Array) => {
  const cipher = crypto.createCipheriv("aes-128-gcm", keys.key, nonce)
  cipher.setAAD(packet.subarray(0, 4))
  const body = Buffer.concat([cipher.update(packet.subarray(4)), cipher.final()])
  const tag = cipher.getAuthTag()
  const decipher = crypto.createDecipheriv("aes-128-gcm", keys.key, nonce)
  decipher.setAAD(packet.subarray(0, 4))
  decipher.setAuthTag(tag)
  const plain = decipher.update(body)
  decipher.final()
  return plain
}

const cpuMicros = (op: () => void, n: number) => {
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) op()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

const rows: Array<string> = []
for (const size of SIZES) {
  const packet = crypto.randomBytes(4 + size)
  packet.writeUInt32BE(size, 0)
  const sealer = gcmSealer(128, keys)
  const opener = gcmOpener(128, keys)
  const nonce = Buffer.from(keys.iv)
  // Correctness first: the bytes OpenSSL makes, opened back.
  const wire = sealer.seal(0, Buffer.from(packet))
  const reference = crypto.createCipheriv("aes-128-gcm", keys.key, nonce).setAAD(packet.subarray(0, 4))
  const expected = Buffer.concat([packet.subarray(0, 4), reference.update(packet.subarray(4)), reference.final(), reference.getAuthTag()])
  if (!Buffer.from(wire).equals(expected) || !Buffer.from(opener.open(0, wire) ?? []).equals(packet.subarray(4))) {
    throw new Error(`aes128-gcm: our packet of ${size} bytes differs from OpenSSL's`)
  }
  const n = Math.max(200, Math.floor((N * 64) / Math.max(64, size)))
  const clients: ReadonlyArray<() => void> = [
    () => void opener.open(0, sealer.seal(0, packet)),
    () => void openSslPacket(nonce, packet)
  ]
  const totals = [0, 0]
  // Warm-up, then blocks taking turns (A B, B A, …).
  clients.forEach((op) => cpuMicros(op, n))
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) totals[i] += cpuMicros(clients[i], n)
  }
  const [ours, openSsl] = totals.map((t) => t / ROUNDS)
  rows.push(`| ${size} | ${ours.toFixed(2)} | ${openSsl.toFixed(2)} | ${(ours / openSsl).toFixed(2)}× |`)
}

console.log([
  `cipher benchmark: aes128-gcm@openssh.com, one packet sealed then opened, CPU µs per packet (${ROUNDS} blocks taking turns, after a warm-up)`,
  `${new Date().toISOString()} · node ${process.version} · ${os.cpus().length} cores · ${process.versions.openssl}`,
  "",
  "| bytes after the length | effect-ssh-auth | OpenSSL's GCM made per packet | ratio |",
  "| ---: | ---: | ---: | ---: |",
  ...rows
].join("\n"))
