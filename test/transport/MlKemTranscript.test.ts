/**
 * mlkem768x25519-sha256 against OpenSSH 10, from a recorded session: no network and no
 * OpenSSH at test time. test/transport/vectors/mlkem768x25519-sha256-openssh-10.5.json holds
 * every byte of a client-side session of our core (seeded random source, fixed X25519 key)
 * with OpenSSH 10.5's sshd, up to its SERVICE_ACCEPT; its `source` says how it was made.
 *
 * - A fresh core with the same settings, fed the server's bytes, sends exactly the recorded
 *   bytes, accepts the server's host key signature over its exchange hash (it goes on only if
 *   that verifies: our H is OpenSSH's), and decrypts the server's EXT_INFO and SERVICE_ACCEPT
 *   (our keys are OpenSSH's).
 * - The exchange hash, computed here from the transcript's fields in RFC 4253 §8's order with
 *   node:crypto and @noble/post-quantum directly, is the core's session id, and OpenSSH's
 *   signature verifies over it; the keys derived from it here (RFC 4253 §7.2) decrypt the
 *   encrypted packets of both directions.
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import type { Connection } from "../../src/transport/Connection.js"
import { HostKeyRejected } from "../../src/transport/HostKeyPolicy.js"
import { type Transcript, transcriptClient } from "../support/Transcript.js"

const transcript = JSON.parse(
  fs.readFileSync(path.join(import.meta.dirname, "vectors/mlkem768x25519-sha256-openssh-10.5.json"), "utf8")
) as Transcript
const fromHex = (chunks: ReadonlyArray<string>) => chunks.map((h) => Buffer.from(h, "hex"))
const serverChunks = fromHex(transcript.server)
const serverBytes = Buffer.concat(serverChunks)
const clientBytes = Buffer.concat(fromHex(transcript.client))
const hostKeyBlob = Buffer.from(transcript.hostKey.split(" ")[1], "base64")

// ---- the wire, read here without src/wire: RFC 4253 §4.2 and §6, RFC 4251 §5 ----

/** Reads one side's bytes in order: the identification line, packets in the clear, then under AES-GCM. */
const cursor = (bytes: Buffer) => {
  let at = 0
  return {
    line(): string {
      const end = bytes.indexOf("\r\n", at)
      const text = bytes.subarray(at, end).toString("latin1")
      at = end + 2
      return text
    },
    plainPacket(): Buffer {
      const length = bytes.readUInt32BE(at)
      const padding = bytes[at + 4]
      const payload = bytes.subarray(at + 5, at + 4 + length - padding)
      at += 4 + length
      return payload
    },
    /** RFC 5647 §7: the length is in the clear and authenticated; the nonce's last 8 bytes count packets. */
    gcmPacket(key: Buffer, iv: Buffer, index: number): Buffer {
      const length = bytes.readUInt32BE(at)
      const nonce = Buffer.from(iv)
      nonce.writeBigUInt64BE(nonce.readBigUInt64BE(4) + BigInt(index), 4)
      const decipher = crypto.createDecipheriv("aes-128-gcm", key, nonce)
      decipher.setAAD(bytes.subarray(at, at + 4))
      decipher.setAuthTag(bytes.subarray(at + 4 + length, at + 4 + length + 16))
      const plain = Buffer.concat([decipher.update(bytes.subarray(at + 4, at + 4 + length)), decipher.final()])
      at += 4 + length + 16
      return plain.subarray(1, plain.length - plain[0])
    },
    get rest(): number {
      return bytes.length - at
    }
  }
}

/** The SSH strings of a payload after its message number. */
const strings = (payload: Buffer): Array<Buffer> => {
  const out: Array<Buffer> = []
  for (let at = 1; at < payload.length;) {
    const n = payload.readUInt32BE(at)
    out.push(payload.subarray(at + 4, at + 4 + n))
    at += 4 + n
  }
  return out
}
const string = (b: Uint8Array | string) => {
  const body = typeof b === "string" ? Buffer.from(b, "latin1") : Buffer.from(b)
  const length = Buffer.alloc(4)
  length.writeUInt32BE(body.length)
  return Buffer.concat([length, body])
}
const sha256 = (...parts: ReadonlyArray<Uint8Array>) => {
  const h = crypto.createHash("sha256")
  for (const p of parts) h.update(p)
  return h.digest()
}

// ---- the transcript's fields ----

const fields = (() => {
  const server = cursor(serverBytes)
  const client = cursor(clientBytes)
  const V_S = server.line()
  const I_S = server.plainPacket()
  const reply = server.plainPacket()
  const serverNewKeys = server.plainPacket()
  const V_C = client.line()
  const I_C = client.plainPacket()
  const init = client.plainPacket()
  const clientNewKeys = client.plainPacket()
  const [K_S, Q_S, signature] = strings(reply)
  const [Q_C] = strings(init)
  return { server, client, V_S, I_S, reply, serverNewKeys, V_C, I_C, init, clientNewKeys, K_S, Q_S, Q_C, signature }
})()

/** K, as kexmlkem768x25519.c makes it: SHA-256 over ML-KEM's secret, then X25519's, raw. */
const sharedSecret = () => {
  const kem = ml_kem768.keygen(Buffer.from(transcript.kemSeeds[0], "hex"))
  expect(Buffer.from(kem.publicKey).equals(fields.Q_C.subarray(0, 1184)), "our ML-KEM key in KEXDH_INIT is the one of the recorded seed").toBe(true)
  const kemSecret = ml_kem768.decapsulate(fields.Q_S.subarray(0, 1088), kem.secretKey)
  const privateKey = crypto.createPrivateKey({
    key: { kty: "OKP", crv: "X25519", d: Buffer.from(transcript.x25519PrivateKey, "hex").toString("base64url"), x: "" },
    format: "jwk"
  })
  const serverX25519 = crypto.createPublicKey({ key: { kty: "OKP", crv: "X25519", x: fields.Q_S.subarray(1088).toString("base64url") }, format: "jwk" })
  const x25519Secret = crypto.diffieHellman({ privateKey, publicKey: serverX25519 })
  return sha256(kemSecret, x25519Secret)
}

/** H = HASH(V_C || V_S || I_C || I_S || K_S || Q_C || Q_S || K), every field a string (RFC 4253 §8). */
const exchangeHash = (encodedK: Buffer) =>
  sha256(
    string(fields.V_C),
    string(fields.V_S),
    string(fields.I_C),
    string(fields.I_S),
    string(fields.K_S),
    string(fields.Q_C),
    string(fields.Q_S),
    encodedK
  )

/** OpenSSH's ssh-ed25519 signature (RFC 8709) over `data`, checked by node:crypto. */
const openSshSigned = (data: Uint8Array) => {
  const [algorithm, raw] = strings(Buffer.concat([Buffer.of(0), fields.signature]))
  const [, publicKey] = strings(Buffer.concat([Buffer.of(0), fields.K_S]))
  const key = crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey.toString("base64url") }, format: "jwk" })
  return algorithm.toString() === "ssh-ed25519" && crypto.verify(null, data, key, raw)
}

// ---- the replay ----

interface Replay {
  readonly core: Connection
  readonly sent: Buffer
  readonly events: ReadonlyArray<string>
  readonly draws: ReadonlyArray<Uint8Array>
}

/** A fresh core fed `chunks` of the server's bytes, trusting exactly one host key: by default the recorded one. */
const replay = (chunks: ReadonlyArray<Uint8Array>, settings: Partial<Transcript> = {}, trusted: Uint8Array = hostKeyBlob): Replay => {
  const draws: Array<Uint8Array> = []
  const core = transcriptClient({ ...transcript, ...settings }, { host: "127.0.0.1", port: 22 }, draws)
  const sent: Array<Uint8Array> = []
  const events: Array<string> = []
  const drain = () => {
    for (let out = core.pollTransmit(); out; out = core.pollTransmit()) sent.push(out)
    for (let e = core.pollEvent(); e; e = core.pollEvent()) {
      events.push(e._tag === "ServiceAccept" ? `ServiceAccept ${e.name}` : e._tag)
      if (e._tag !== "HostKey") continue
      if (Buffer.compare(e.key.blob, trusted) === 0) core.acceptHostKey()
      else {
        core.rejectHostKey(
          new HostKeyRejected({ host: "127.0.0.1", port: 22, keyType: e.algorithm, fingerprint: e.fingerprint, expected: [], detail: "not the recorded key" })
        )
      }
    }
    for (let out = core.pollTransmit(); out; out = core.pollTransmit()) sent.push(out)
  }
  drain()
  for (const chunk of chunks) {
    core.receive(chunk)
    drain()
  }
  return { core, sent: Buffer.concat(sent), events, draws }
}

describe("mlkem768x25519-sha256, replayed from a session with OpenSSH 10.5's sshd", () => {
  it("the transcript is what it says: our KEXINIT and guessed KEXDH_INIT, OpenSSH 10.5's reply, both NEWKEYS, then encrypted packets", () => {
    expect(transcript.source).toMatch(/OpenSSH_10\.5p1/)
    expect(fields.V_C).toBe(transcript.identification)
    expect(fields.V_S).toBe("SSH-2.0-OpenSSH_10.5")
    expect([fields.I_C[0], fields.init[0], fields.clientNewKeys[0]]).toEqual([20, 30, 21])
    expect([fields.I_S[0], fields.reply[0], fields.serverNewKeys[0]]).toEqual([20, 31, 21])
    expect(fields.Q_C.length).toBe(1184 + 32)
    expect(fields.Q_S.length).toBe(1088 + 32)
    expect(fields.K_S.equals(hostKeyBlob)).toBe(true)
    expect(transcript.kemSeeds).toHaveLength(1)
  })

  it("(a, b, c) a fresh core with the recorded seed sends exactly the recorded bytes, verifies OpenSSH's signature and reaches SERVICE_ACCEPT", () => {
    const run = replay(serverChunks)
    expect(run.core.closed).toBeUndefined()
    // (a) Byte for byte: version, KEXINIT, the guessed KEXDH_INIT, NEWKEYS, SERVICE_REQUEST.
    expect(run.sent.toString("hex")).toBe(clientBytes.toString("hex"))
    expect(Buffer.from(run.draws.find((d) => d.length === 64)!).toString("hex")).toBe(transcript.kemSeeds[0])
    // (b) HostKey comes only after the signature over the core's H verified.
    // (c) EXT_INFO and SERVICE_ACCEPT decrypt only under keys derived as OpenSSH derived them.
    expect(run.events).toEqual(["HostKey", "KexDone", "ServiceAccept ssh-userauth"])
    expect(run.core.negotiated).toMatchObject({
      kex: "mlkem768x25519-sha256",
      hostKey: "ssh-ed25519",
      cipherServerToClient: "aes128-gcm@openssh.com",
      strictKex: true
    })
    expect(Buffer.from(run.core.extensions.get("server-sig-algs") ?? []).toString()).toMatch(/^ssh-ed25519,/)
    expect(run.core.peerIdentification).toBe("SSH-2.0-OpenSSH_10.5")
  })

  it("the same, with the server's bytes one at a time", () => {
    const run = replay([...serverBytes].map((b) => Uint8Array.of(b)))
    expect(run.sent.equals(clientBytes)).toBe(true)
    expect(run.events).toEqual(["HostKey", "KexDone", "ServiceAccept ssh-userauth"])
  })

  it("(d) the exchange hash computed here from the transcript's fields is the core's session id, and OpenSSH signed it", () => {
    const K = sharedSecret()
    const H = exchangeHash(string(K))
    expect(openSshSigned(H)).toBe(true)
    const run = replay(serverChunks)
    expect(Buffer.from(run.core.sessionId!).toString("hex")).toBe(H.toString("hex"))
    expect(Buffer.from(run.core.hostKeySignature!).equals(fields.signature)).toBe(true)
    // K goes in as a string, not an mpint: for this K (top bit set) the two differ, and only the string is signed.
    expect(K[0]).toBeGreaterThanOrEqual(0x80)
    expect(openSshSigned(exchangeHash(string(Buffer.concat([Buffer.of(0), K]))))).toBe(false)
  })

  it("(d) keys derived here from K and H (RFC 4253 §7.2) decrypt OpenSSH's EXT_INFO and SERVICE_ACCEPT, and our SERVICE_REQUEST", () => {
    const encodedK = string(sharedSecret())
    const H = exchangeHash(encodedK)
    const derive = (letter: string, length: number) => sha256(encodedK, H, Buffer.from(letter), H).subarray(0, length)
    const { server, client } = fields
    const extInfo = server.gcmPacket(derive("D", 16), derive("B", 12), 0)
    const accept = server.gcmPacket(derive("D", 16), derive("B", 12), 1)
    expect(server.rest).toBe(0)
    expect(extInfo[0]).toBe(7)
    expect(strings(extInfo.subarray(4)).map((s) => s.toString())).toContain("server-sig-algs")
    expect(accept[0]).toBe(6)
    expect(strings(accept).map((s) => s.toString())).toEqual(["ssh-userauth"])
    const request = client.gcmPacket(derive("C", 16), derive("A", 12), 0)
    expect(client.rest).toBe(0)
    expect(request[0]).toBe(5)
    expect(strings(request).map((s) => s.toString())).toEqual(["ssh-userauth"])
  })

  it("the checks bite: another seed, or one flipped bit of the signature, and the core refuses the server's reply", () => {
    const otherSeed = replay(serverChunks, { seed: "another seed" })
    expect(otherSeed.sent.equals(clientBytes)).toBe(false)
    expect(otherSeed.events).toEqual(["Closed"])
    expect(otherSeed.core.closed).toMatchObject({ _tag: "TransportError", reason: "KexFailed" })
    expect(otherSeed.core.closed?.message).toMatch(/signature over the exchange hash does not verify/)

    const tampered = Buffer.from(serverBytes)
    const at = serverBytes.indexOf(fields.signature) + fields.signature.length - 1
    tampered[at] ^= 1
    const forged = replay([tampered])
    expect(forged.events).toEqual(["Closed"])
    expect(forged.core.closed?.message).toMatch(/signature over the exchange hash does not verify/)
  })

  it("the replay's policy trusts exactly the recorded host key: with another key trusted, the session stops there", () => {
    const other = Buffer.from(hostKeyBlob)
    other[other.length - 1] ^= 1
    const run = replay(serverChunks, {}, other)
    expect(run.events).toEqual(["HostKey", "Closed"])
    expect(run.core.closed).toMatchObject({ _tag: "HostKeyRejected" })
  })
})
