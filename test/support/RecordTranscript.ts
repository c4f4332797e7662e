/**
 * Records a client-side transcript against a running SSH server, for a replay test: our
 * client core with the settings of test/support/Transcript.ts (seeded random source, fixed
 * X25519 key) over TCP, every byte each way until the server accepts ssh-userauth. The host
 * key the server shows must be the one given. Not part of the suite; run it by hand:
 *
 *   npx tsx test/support/RecordTranscript.ts --port 2222 --host-key /path/ssh_host_ed25519_key.pub \
 *     --kex mlkem768x25519-sha256 --source "what the server was" --out test/transport/vectors/x.json
 */
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import { parseArgs } from "node:util"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { type Transcript, transcriptClient } from "./Transcript.js"

const { values } = parseArgs({
  options: {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string" },
    "host-key": { type: "string" },
    kex: { type: "string" },
    source: { type: "string" },
    out: { type: "string" }
  }
})
if (!values.port || !values["host-key"] || !values.kex || !values.source || !values.out) {
  throw new Error("usage: --port N --host-key FILE.pub --kex NAME --source TEXT --out FILE.json [--host H]")
}
const host = values.host!
const port = Number(values.port)
const hostKey = fs.readFileSync(values["host-key"], "utf8").trim()
const expectedBlob = Buffer.from(hostKey.split(/\s+/)[1] ?? "", "base64")
const seed = `${values.kex} transcript`
const settings = {
  seed,
  x25519PrivateKey: crypto.createHash("sha256").update(`x25519 ${seed}`).digest("hex"),
  identification: "SSH-2.0-effect_ssh_auth_0.1.0",
  // Our defaults, written out, so the replay's KEXINIT stays the recorded one when they change.
  preferences: { ...defaultPreferences, kex: [values.kex, ...defaultPreferences.kex.filter((k) => k !== values.kex)] },
  pipelineService: "ssh-userauth"
}

const draws: Array<Uint8Array> = []
const core = transcriptClient(settings, { host, port }, draws)
const server: Array<string> = []
const client: Array<string> = []
const socket = net.connect({ host, port, noDelay: true })
const timer = setTimeout(() => finish(new Error("no SERVICE_ACCEPT within 20 s")), 20_000)

const flush = () => {
  for (let out = core.pollTransmit(); out; out = core.pollTransmit()) {
    client.push(Buffer.from(out).toString("hex"))
    socket.write(out)
  }
}

let done = false
const finish = (error?: Error) => {
  if (done) return
  done = true
  clearTimeout(timer)
  socket.destroy()
  if (error) {
    console.error(`not recorded: ${error.message}`)
    process.exitCode = 1
    return
  }
  const transcript: Transcript = {
    source: values.source!,
    ...settings,
    hostKey,
    kemSeeds: draws.filter((d) => d.length === 64).map((d) => Buffer.from(d).toString("hex")),
    server,
    client
  }
  fs.writeFileSync(values.out!, JSON.stringify(transcript, null, 1) + "\n")
  console.log(`recorded ${server.length} server chunks, ${client.length} client chunks, negotiated ${JSON.stringify(core.negotiated)} to ${values.out}`)
}

socket.on("connect", flush)
socket.on("data", (chunk) => {
  server.push(chunk.toString("hex"))
  core.receive(chunk)
  for (let e = core.pollEvent(); e; e = core.pollEvent()) {
    if (e._tag === "HostKey") {
      if (Buffer.compare(e.key.blob, expectedBlob) !== 0) return finish(new Error(`unexpected host key ${e.fingerprint}`))
      core.acceptHostKey()
    } else if (e._tag === "ServiceAccept") {
      flush()
      return finish()
    } else if (e._tag === "Closed") {
      return finish(e.error)
    }
  }
  flush()
})
socket.on("error", (e) => finish(e))
socket.on("close", () => finish(new Error("the server closed the connection")))
