/**
 * A client connection core that replays byte for byte, for transcripts recorded against a
 * real server: the random source is SHA-256 over a seed and a counter, the clock stands
 * still, and the curves are node:crypto's with one fixed X25519 key pair (ML-KEM draws its
 * seed from the random source already). test/support/RecordTranscript.ts records a session
 * with it; test/transport/MlKemTranscript.test.ts replays one.
 */
import * as crypto from "node:crypto"
import type { Curves } from "../../src/crypto/Curves.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import type { AlgorithmPreferences } from "../../src/transport/Algorithms.js"
import { Connection } from "../../src/transport/Connection.js"

/** What a recorded client-side session holds: our settings, then every byte each way. */
export interface Transcript {
  /** Where the bytes came from: the server, its version, the date. */
  readonly source: string
  /** The seed of our random source. */
  readonly seed: string
  /** Our X25519 private key (hex); every X25519 key pair the core asks for is this one. */
  readonly x25519PrivateKey: string
  /** Our identification string, without CR LF. */
  readonly identification: string
  readonly preferences: AlgorithmPreferences
  readonly pipelineService: string
  /** The server's host key as its .pub file has it: `type base64 [comment]`. */
  readonly hostKey: string
  /** Every 64-byte draw of our random source, in order (hex): ML-KEM-768's seed d || z. */
  readonly kemSeeds: ReadonlyArray<string>
  /** The chunks the server sent (hex), as they arrived, up to the SERVICE_ACCEPT. */
  readonly server: ReadonlyArray<string>
  /** The chunks we sent (hex), as they went out, up to the SERVICE_REQUEST. */
  readonly client: ReadonlyArray<string>
}

/** A deterministic byte source: SHA-256 over the seed and a counter. */
export const seeded = (seed: string) => {
  let counter = 0
  let pool = new Uint8Array(0)
  return (n: number): Uint8Array => {
    while (pool.length < n) {
      const block = crypto.createHash("sha256").update(seed).update(String(counter++)).digest()
      pool = Buffer.concat([pool, block])
    }
    const out = pool.slice(0, n)
    pool = pool.slice(n)
    return out
  }
}

/** The raw X25519 public key of a raw private key, through node:crypto's JWK import. */
export const x25519PublicKey = (privateKey: Uint8Array): Uint8Array => {
  const key = crypto.createPrivateKey({ key: { kty: "OKP", crv: "X25519", d: Buffer.from(privateKey).toString("base64url"), x: "" }, format: "jwk" })
  return new Uint8Array(Buffer.from(crypto.createPublicKey(key).export({ format: "jwk" }).x ?? "", "base64url"))
}

/** node:crypto's curves, except that every X25519 key pair is the given one. */
export const fixedX25519Curves = (privateKey: Uint8Array): Curves => {
  const publicKey = x25519PublicKey(privateKey)
  return { ...nodeCurves, x25519: { ...nodeCurves.x25519, generateKeyPair: () => ({ privateKey: privateKey.slice(), publicKey: publicKey.slice() }) } }
}

/** The random source's draws seen on the way (ML-KEM's seed is its one 64-byte draw). */
const watched = (random: (n: number) => Uint8Array, draws: Array<Uint8Array>) => (n: number) => {
  const out = random(n)
  draws.push(out.slice())
  return out
}

/**
 * A client core with the transcript's settings. `draws` receives every draw of its random
 * source. The clock never moves: nothing in a handshake that finishes reads it for bytes.
 */
export const transcriptClient = (
  settings: Pick<Transcript, "seed" | "x25519PrivateKey" | "identification" | "preferences" | "pipelineService">,
  peer: { readonly host: string; readonly port: number },
  draws: Array<Uint8Array> = []
): Connection =>
  new Connection({
    role: "client",
    host: peer.host,
    port: peer.port,
    identification: settings.identification,
    preferences: settings.preferences,
    pipelineService: settings.pipelineService,
    random: watched(seeded(settings.seed), draws),
    now: () => 1_000,
    curves: fixedX25519Curves(new Uint8Array(Buffer.from(settings.x25519PrivateKey, "hex"))),
    stepTimeoutMillis: 30_000,
    rekeyBytes: 2 ** 30,
    rekeyPackets: 2 ** 28
  })
