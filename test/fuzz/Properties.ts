/**
 * The connection core and the wire parsers against garbage, as properties: whatever a peer
 * sends, in any phase of the handshake, in either role, the core never throws, ends (if it
 * ends) with a typed error, keeps its output bounded, and still has a deadline while it
 * waits; the parsers return a value or a typed error. Run by the test suite at a quick
 * count and by `test/fuzz/run.ts` at CI size (100,000 cases each).
 */
import * as fc from "fast-check"
import * as crypto from "node:crypto"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as Certificate from "../../src/keys/Certificate.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import * as PublicKey from "../../src/keys/PublicKey.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { noneSealer } from "../../src/transport/cipher/PacketCipher.js"
import { Connection, type ConnectionOptions, type Role } from "../../src/transport/Connection.js"
import { decodeKexInit } from "../../src/transport/KexInit.js"
import { framePacket, PacketDecoder, PacketError } from "../../src/transport/PacketCodec.js"
import { decode } from "../../src/wire/Reader.js"
import { plainPacket, serverKexInit } from "../support/FakeServer.js"

export interface FuzzProperty<A = any> {
  readonly name: string
  readonly arbitrary: fc.Arbitrary<A>
  readonly check: (a: A) => void
}

const property = <A>(name: string, arbitrary: fc.Arbitrary<A>, check: (a: A) => void): FuzzProperty => ({ name, arbitrary, check })

const hostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))
const options = (role: Role): ConnectionOptions => ({
  role,
  host: "127.0.0.1",
  port: 22,
  identification: `SSH-2.0-fuzz_${role}`,
  preferences: defaultPreferences,
  ...(role === "server" ? { hostKeys: [hostKey] } : {}),
  random: (n) => crypto.randomBytes(n),
  now: () => 0,
  curves: nodeCurves,
  stepTimeoutMillis: 10_000,
  rekeyBytes: 2 ** 30,
  rekeyPackets: 2 ** 28
})

/**
 * The invariants after any input: typed end or a live wait, bounded output, and EOF always
 * ends it. Plain checks, not `expect`, on this path: a hundred thousand cases a phase.
 */
const holds = (core: Connection, input: Uint8Array): void => {
  core.receive(input)
  let out = 0
  for (let b = core.pollTransmit(); b; b = core.pollTransmit()) out += b.length
  // What we send in reply to garbage is at most an UNIMPLEMENTED per packet, a DISCONNECT, a KEXDH_INIT.
  if (out >= 4096 + input.length * 2) throw new Error(`${out} bytes out for ${input.length} in`)
  const closed = core.closed
  if (closed && closed._tag !== "TransportError" && closed._tag !== "Disconnected") throw new Error(`ended with ${closed._tag}`)
  if (!closed && core.nextDeadline() === undefined && core.kexCount === 0) throw new Error("waiting with no deadline")
  core.receiveEnd()
  if (!core.closed) throw new Error("still open after EOF")
}

const bytes = (max: number) => fc.uint8Array({ minLength: 1, maxLength: max })
const SERVER_VERSION = Buffer.from("SSH-2.0-FuzzServer_1.0\r\n")
const CLIENT_VERSION = Buffer.from("SSH-2.0-FuzzClient_1.0\r\n")
const SERVER_KEXINIT = plainPacket(serverKexInit({ strict: true }))
const CLIENT_OPENING = (() => {
  // A client's opening as our client core sends it: version, KEXINIT and the guessed KEXDH_INIT.
  const client = new Connection(options("client"))
  return Buffer.from(client.pollTransmit()!)
})()

const phase = (name: string, role: Role, input: fc.Arbitrary<Uint8Array>) =>
  property(`${role}, ${name}`, input, (bytes) => holds(new Connection(options(role)), bytes))

/** The client's KEXINIT payload inside its opening (version line, then the packet). */
const kexInitOf = (opening: Uint8Array): Uint8Array => {
  const decoder = new PacketDecoder()
  decoder.push(opening)
  decoder.takeLine(1024)
  return decoder.next(0)!
}

/** Every handshake phase, in both roles. */
export const phases: ReadonlyArray<FuzzProperty> = [
  phase("garbage from the first byte", "client", bytes(400)),
  phase("garbage after a good identification line", "client", bytes(400).map((b) => Buffer.concat([SERVER_VERSION, b]))),
  phase(
    "random packets after a good KEXINIT",
    "client",
    fc.array(bytes(300), { minLength: 1, maxLength: 3 }).map((ps) =>
      Buffer.concat([SERVER_VERSION, SERVER_KEXINIT, ...ps.map((p, i) => plainPacket(p, i + 1))])
    )
  ),
  phase(
    "a good opening with flipped bits",
    "client",
    fc.tuple(fc.nat(SERVER_VERSION.length + SERVER_KEXINIT.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, mask]) => {
      const opening = Buffer.concat([SERVER_VERSION, SERVER_KEXINIT])
      opening[at] ^= mask
      return opening
    })
  ),
  phase("garbage from the first byte", "server", bytes(400)),
  phase("garbage after a good identification line", "server", bytes(400).map((b) => Buffer.concat([CLIENT_VERSION, b]))),
  phase(
    "random packets after the client's KEXINIT (random KEXDH_INIT included)",
    "server",
    fc.array(bytes(300), { minLength: 1, maxLength: 3 }).map((ps) =>
      Buffer.concat([CLIENT_VERSION, plainPacket(kexInitOf(CLIENT_OPENING), 0), ...ps.map((p, i) => plainPacket(p, i + 1))])
    )
  ),
  phase(
    "a client's opening with flipped bits",
    "server",
    fc.tuple(fc.nat(CLIENT_OPENING.length - 1), fc.integer({ min: 1, max: 255 })).map(([at, mask]) => {
      const opening = Buffer.from(CLIENT_OPENING)
      opening[at] ^= mask
      return opening
    })
  )
]

const parser = (name: string, f: (b: Uint8Array) => unknown) => property(name, fc.uint8Array({ maxLength: 300 }), (b) => void f(b))

/** The wire parsers on their own. */
export const parsers: ReadonlyArray<FuzzProperty> = [
  parser("KEXINIT", (b) => decodeKexInit(Uint8Array.of(20, ...b))),
  parser("public key blobs", (b) => PublicKey.fromBlob(b)),
  parser("certificate blobs", (b) => Certificate.fromBlob(b)),
  parser("name-lists", (b) => decode(b, (r) => r.nameList())),
  parser("packets", (b) => {
    const decoder = new PacketDecoder()
    decoder.push(b)
    try {
      for (let i = 0; i < 4 && decoder.next(i) !== undefined; i++);
    } catch (e) {
      if (!(e instanceof PacketError)) throw e
    }
  }),
  property("packet framing round trip", fc.uint8Array({ minLength: 1, maxLength: 600 }), (payload) => {
    const decoder = new PacketDecoder()
    decoder.push(framePacket(payload, noneSealer, 0))
    if (Buffer.compare(decoder.next(0)!, payload) !== 0) throw new Error("round trip changed the payload")
  })
]

/**
 * `runs` cases of a property, in slices with a turn of the event loop between them: one
 * synchronous stretch of minutes starves whatever else the process serves.
 */
export const assertMany = async (p: FuzzProperty, runs: number): Promise<void> => {
  const slice = 2_000
  const seed = Date.now() | 0
  for (let done = 0, i = 0; done < runs; done += slice, i++) {
    fc.assert(fc.property(p.arbitrary, p.check), { numRuns: Math.min(slice, runs - done), seed: (seed + i) | 0 })
    await new Promise((resolve) => setImmediate(resolve))
  }
}
