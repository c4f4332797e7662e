/**
 * Where our server's CPU goes, by phase of a login: reads a `.cpuprofile` written by
 * `BENCH_SERVER_PROFILE=DIR npm run bench:server` (node --cpu-prof on our server's process)
 * and prints each phase's share, in ms per login.
 *
 *   node dist-bench/bench/server/Profile.js FILE.cpuprofile LOGINS [CPU_MS_PER_LOGIN]
 *
 * A sample belongs to the deepest frame of ours on its stack (src/…), skipping the codec and
 * helpers (wire/, KeyObjects, …) so that their time lands on what called them; Effect's
 * runtime and node's internals below a frame of ours count for that frame's phase. Samples
 * with no frame of ours are Effect's runtime on its own (fibers resumed from the scheduler),
 * node's socket and stream work, GC, start-up, or "(program)" (native, not attributed).
 * V8 samples on wall-clock intervals, so on a loaded machine every phase is inflated by the
 * time the process waited for a core; the shares hold, and with CPU_MS_PER_LOGIN (the
 * benchmark's /proc figure) each share is also given as ms of that.
 */
import * as fs from "node:fs"

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly children?: ReadonlyArray<number>
}
interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

/** A frame of ours (`src/…`), or of ssh2 (`ssh2/…`), by its file without `.js`. */
const fileOf = (url: string): string | undefined => {
  const ours = /\/src\/(.+)\.js$/.exec(url)
  if (ours !== null) return ours[1]
  const ssh2 = /\/node_modules\/ssh2\/lib\/(.+)\.js$/.exec(url)
  return ssh2 === null ? undefined : `ssh2/${ssh2[1]}`
}
/** Files whose time belongs to their caller. */
const helpers = /^(wire\/|crypto\/(KeyObjects|FixedWidth|RandomPool|Curves)$|ssh2\/(utils|protocol\/utils)$)/

const kexFunctions = new Set([
  "onKexInitMessage",
  "onKexMethodMessage",
  "onKexInit",
  "beginKex",
  "ourKexInit",
  "deriveKeys",
  "derive",
  "direction",
  "exchangeHash",
  "hash",
  "onNewKeys",
  "newKeys"
])

/**
 * The phase of a frame of ours, by its file and function; `below` are the frames under it
 * (toward the leaf). ssh2's files map to the same phases where they do the same work.
 */
const phaseOf = (file: string, fn: string, below: ReadonlyArray<CallFrame>): string => {
  if (file.startsWith("ssh2/")) {
    if (file === "ssh2/protocol/keyParser") {
      return fn === "verify"
        ? "userauth: signature check (Ed25519 verify)"
        : fn === "sign"
        ? "kex: host-key signature (Ed25519)"
        : "userauth: handler and policy"
    }
    if (file === "ssh2/protocol/kex") {
      return below.some((f) => /^(diffieHellman|generateKeyPairSync|generateKeyPair)$/.test(f.functionName))
        ? "kex: X25519 key pair and shared secret"
        : "kex: KEXINIT, exchange hash, keys, cipher set-up"
    }
    if (file === "ssh2/protocol/crypto") {
      return /^(encrypt|decrypt|allocPacket|free)$/.test(fn) ? "packets: framing, AES-GCM, dispatch (core)" : "kex: KEXINIT, exchange hash, keys, cipher set-up"
    }
    if (file.startsWith("ssh2/protocol/")) return "packets: framing, AES-GCM, dispatch (core)"
    if (file === "ssh2/server") return "server: accept, per-connection objects (ssh2's server.js)"
    return `other: ${file}`
  }
  if (file === "crypto/NodeCurves") {
    return fn === "sign"
      ? "kex: host-key signature (Ed25519)"
      : fn === "verify"
      ? "userauth: signature check (Ed25519 verify)"
      : "kex: X25519 key pair and shared secret"
  }
  if (file === "keys/PrivateKey") return "kex: host-key signature (Ed25519)"
  if (file === "keys/PublicKey") return fn === "verify" ? "userauth: signature check (Ed25519 verify)" : "userauth: handler and policy"
  if (file.startsWith("transport/kex/") || file === "transport/KexInit") return "kex: KEXINIT, exchange hash, keys, cipher set-up"
  if (file === "transport/cipher/AesGcm" || file === "transport/cipher/PacketCipher") {
    return fn === "open" || fn === "seal" || fn === "packetLength"
      ? "packets: framing, AES-GCM, dispatch (core)"
      : "kex: KEXINIT, exchange hash, keys, cipher set-up"
  }
  if (file === "transport/Connection") {
    return kexFunctions.has(fn)
      ? "kex: KEXINIT, exchange hash, keys, cipher set-up"
      : "packets: framing, AES-GCM, dispatch (core)"
  }
  if (file === "transport/PacketCodec") return "packets: framing, AES-GCM, dispatch (core)"
  if (file === "transport/TransportError") return "errors: TransportError built at close"
  if (file.startsWith("handler/") || /^server\/(UserTable|AuthPolicy|ServerAuthResult|AuthorizedKeys|UserCertificates)$/.test(file)) {
    return "userauth: handler and policy"
  }
  if (file === "server/Session" || file.startsWith("connection/")) return "after auth: serveExec"
  if (/^transport\/(CoreDriver|ByteChannel|Inbox|ServerHandshake|HandshakeSpans)$/.test(file)) {
    return "edge: driver, byte channel, inbox, handshake rules, spans"
  }
  if (file === "server/ServerLogin") return "server: the login in callbacks, its policy calls (fibers)"
  if (file === "server/Server") return "server: accept, the session's fiber and scope"
  return `other: ${file}`
}

/** The phase of a sample with no frame of ours, by its leaf. */
const unattributed = (leaf: CallFrame, stack: ReadonlyArray<CallFrame>): string => {
  if (leaf.functionName === "(garbage collector)") return "GC"
  if (leaf.functionName === "(program)") return "(program): native, not attributed"
  if (stack.some((f) => f.url.startsWith("node:internal/modules") || f.functionName === "compileSourceTextModule")) return "start-up: loading modules"
  if (leaf.url.includes("/effect/")) return "Effect runtime, no frame of ours on the stack"
  return "node: sockets, streams, timers (no frame of ours)"
}

const main = () => {
  const [file, loginsText, cpuText] = process.argv.slice(2)
  if (file === undefined || loginsText === undefined) {
    console.error("usage: node dist-bench/bench/server/Profile.js FILE.cpuprofile LOGINS [CPU_MS_PER_LOGIN]")
    process.exit(2)
  }
  const logins = Number(loginsText)
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)

  // Time per leaf node, then per phase.
  const perNode = new Map<number, number>()
  profile.samples.forEach((id, i) => perNode.set(id, (perNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const phases = new Map<string, number>()
  let idle = 0
  let busy = 0
  for (const [id, micros] of perNode) {
    const leaf = byId.get(id)!.callFrame
    if (leaf.functionName === "(idle)") {
      idle += micros
      continue
    }
    const stack: Array<CallFrame> = []
    // Bounded by the tree's depth: each step goes to a parent.
    for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) stack.push(byId.get(p)!.callFrame)
    let phase: string | undefined
    for (const [i, frame] of stack.entries()) {
      const f = fileOf(frame.url)
      if (f === undefined || helpers.test(f)) continue
      phase = phaseOf(f, frame.functionName, stack.slice(0, i))
      break
    }
    phase ??= unattributed(leaf, stack)
    phases.set(phase, (phases.get(phase) ?? 0) + micros)
    busy += micros
  }
  const startup = phases.get("start-up: loading modules") ?? 0
  const perLogin = busy - startup
  const cpu = cpuText === undefined ? undefined : Number(cpuText)
  console.log(
    `${file}: ${(busy / 1000).toFixed(0)} ms busy (${(startup / 1000).toFixed(0)} ms of it start-up), ${(idle / 1000).toFixed(0)} ms idle; ${logins} logins`
  )
  console.log(`| phase | share | profile ms/login |${cpu === undefined ? "" : ` of ${cpu.toFixed(2)} ms/login (/proc) |`}`)
  console.log(`| --- | ---: | ---: |${cpu === undefined ? "" : " ---: |"}`)
  for (const [phase, micros] of [...phases].sort((a, b) => b[1] - a[1])) {
    if (phase === "start-up: loading modules") continue
    const share = micros / perLogin
    console.log(
      `| ${phase} | ${(100 * share).toFixed(1)}% | ${(micros / 1000 / logins).toFixed(2)} |${cpu === undefined ? "" : ` ${(share * cpu).toFixed(2)} |`}`
    )
  }
}

main()
