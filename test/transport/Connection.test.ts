/**
 * The connection core in both roles, in one process with no network: a client core and a
 * server core wired to each other handshake for every kex × host key and every cipher ×
 * MAC, go on to the ssh-userauth service, carry messages both ways and rekey. With a
 * seeded random source and deterministic curves, the same seed gives the same bytes.
 */
import * as crypto from "node:crypto"
import { describe, expect, it } from "vitest"
import type { Curves } from "../../src/crypto/Curves.js"
import { nobleCurves } from "../../src/crypto/NobleCurves.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import { defaultPreferences, hostKeyAlgorithms } from "../../src/transport/Algorithms.js"
import { ciphers } from "../../src/transport/cipher/Ciphers.js"
import { macs } from "../../src/transport/cipher/Mac.js"
import { Connection, type ConnectionEvent, type ConnectionOptions } from "../../src/transport/Connection.js"
import { kexMethods } from "../../src/transport/kex/KexMethod.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { seeded } from "../support/Transcript.js"

const rsaHostKey = PrivateKey.fromRsaKeyObject(crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey)
const hostKeysFor = (curves: Curves): ReadonlyArray<PrivateKey.PrivateKey> => [
  PrivateKey.fromEd25519Seed(curves, new Uint8Array(32).fill(1)),
  PrivateKey.fromEcdsaScalar(curves, "P-256", new Uint8Array(32).fill(2)),
  PrivateKey.fromEcdsaScalar(curves, "P-384", new Uint8Array(48).fill(3)),
  PrivateKey.fromEcdsaScalar(curves, "P-521", Uint8Array.from({ length: 66 }, (_, i) => (i === 0 ? 1 : 4))),
  rsaHostKey
]

interface Run {
  readonly toServer: Array<Uint8Array>
  readonly toClient: Array<Uint8Array>
  readonly clientEvents: Array<ConnectionEvent["_tag"]>
  readonly serverMessages: Array<Uint8Array>
  readonly client: Connection
  readonly server: Connection
}

/** Client and server cores wired together, bytes shuttled until both are quiet. */
const pair = (seed: string, algorithms: { kex?: string; hostKey?: string; cipher?: string; mac?: string } = {}): Run => {
  const random = seeded(seed)
  // Every ephemeral key comes from `random`; noble signs ECDSA deterministically (RFC 6979).
  const curves = nobleCurves
  let now = 1_000
  const common = {
    host: "127.0.0.1",
    port: 22,
    random,
    now: () => now,
    curves,
    stepTimeoutMillis: 10_000,
    rekeyBytes: 2 ** 30,
    rekeyPackets: 2 ** 28
  } satisfies Partial<ConnectionOptions>
  const preferences = {
    kex: algorithms.kex ? [algorithms.kex] : defaultPreferences.kex,
    hostKey: algorithms.hostKey ? [algorithms.hostKey] : hostKeyAlgorithms,
    cipher: algorithms.cipher ? [algorithms.cipher] : defaultPreferences.cipher,
    mac: algorithms.mac ? [algorithms.mac] : defaultPreferences.mac
  }
  const client = new Connection({ ...common, role: "client", identification: "SSH-2.0-client_core", preferences, pipelineService: "ssh-userauth" })
  const server = new Connection({
    ...common,
    role: "server",
    identification: "SSH-2.0-server_core",
    preferences: defaultPreferences,
    hostKeys: hostKeysFor(curves),
    extensions: [["server-sig-algs", Buffer.from("ssh-ed25519,rsa-sha2-256,rsa-sha2-512")]]
  })
  const run: Run = { toServer: [], toClient: [], clientEvents: [], serverMessages: [], client, server }
  const shuttle = () => {
    // Bounded: a handshake is a handful of round trips.
    for (let round = 0; round < 50; round++) {
      let moved = false
      for (let out = client.pollTransmit(); out; out = client.pollTransmit()) {
        run.toServer.push(out)
        server.receive(out)
        moved = true
      }
      for (let out = server.pollTransmit(); out; out = server.pollTransmit()) {
        run.toClient.push(out)
        client.receive(out)
        moved = true
      }
      for (let e = client.pollEvent(); e; e = client.pollEvent()) {
        run.clientEvents.push(e._tag)
        if (e._tag === "HostKey") client.acceptHostKey()
        moved = true
      }
      for (let e = server.pollEvent(); e; e = server.pollEvent()) {
        if (e._tag === "ServiceRequest") server.acceptService(e.name)
        if (e._tag === "Message") run.serverMessages.push(e.payload)
        if (e._tag === "Closed") throw e.error
        moved = true
      }
      now += 1
      if (!moved) return
    }
    throw new Error("the cores did not settle")
  }
  shuttle()
  // A message each way, then a rekey started by the client, then another message.
  client.send(encode((w) => w.byte(MessageNumber.USERAUTH_REQUEST).string("u").string("ssh-connection").string("none")))
  server.send(Uint8Array.of(MessageNumber.USERAUTH_SUCCESS))
  shuttle()
  client.rekey()
  shuttle()
  client.send(encode((w) => w.byte(MessageNumber.GLOBAL_REQUEST).string("after-rekey").boolean(false)))
  shuttle()
  return run
}

const transcript = (run: Run) => Buffer.concat([...run.toServer, Buffer.from("|"), ...run.toClient]).toString("hex")

describe("the connection core, client and server in one process", () => {
  const check = (run: Run) => {
    expect(run.client.closed).toBeUndefined()
    expect(run.server.closed).toBeUndefined()
    expect(run.client.kexCount).toBe(2)
    expect(run.server.kexCount).toBe(2)
    expect(Buffer.compare(run.client.sessionId!, run.server.sessionId!)).toBe(0)
    expect(run.clientEvents.filter((t) => t === "HostKey")).toHaveLength(1)
    expect(run.clientEvents).toContain("ServiceAccept")
    expect(run.clientEvents).toContain("Message")
    expect(run.serverMessages.map((m) => m[0])).toEqual([MessageNumber.USERAUTH_REQUEST, MessageNumber.GLOBAL_REQUEST])
    expect(Buffer.from(run.client.extensions.get("server-sig-algs") ?? []).toString()).toMatch(/rsa-sha2-512/)
    expect(run.client.strictKex && run.server.strictKex).toBe(true)
  }

  for (const kex of kexMethods.keys()) {
    for (const hostKey of hostKeyAlgorithms) {
      it(`${kex} × ${hostKey}: handshake, service, messages, rekey; the same seed gives the same bytes`, () => {
        const first = pair(`seed ${kex} ${hostKey}`, { kex, hostKey })
        check(first)
        expect(first.client.negotiated).toMatchObject({ kex, hostKey })
        const again = pair(`seed ${kex} ${hostKey}`, { kex, hostKey })
        expect(transcript(again)).toBe(transcript(first))
        expect(transcript(pair(`another ${kex} ${hostKey}`, { kex, hostKey }))).not.toBe(transcript(first))
      })
    }
  }

  for (const cipher of ciphers.keys()) {
    const aead = ciphers.get(cipher)!.aead
    for (const mac of aead ? ["<implicit>"] : [...macs.keys()]) {
      it(`${cipher} × ${mac}: handshake, service, messages, rekey, deterministically`, () => {
        const run = pair(`cipher ${cipher} ${mac}`, { cipher, ...(aead ? {} : { mac }) })
        check(run)
        expect(run.client.negotiated).toMatchObject({ cipherClientToServer: cipher, cipherServerToClient: cipher, macClientToServer: mac })
        expect(transcript(pair(`cipher ${cipher} ${mac}`, { cipher, ...(aead ? {} : { mac }) }))).toBe(transcript(run))
      })
    }
  }

  it("the exchange hash is ordered by role: both sides derive the same keys from opposite points of view", () => {
    const run = pair("roles")
    // Had either side ordered V_C/V_S or I_C/I_S by ours/theirs, NEWKEYS would not decrypt.
    expect(run.client.proposals!.client.kexAlgorithms).toContain("ext-info-c")
    expect(run.client.proposals!.server.kexAlgorithms).toContain("ext-info-s")
    expect(run.client.proposals!.client.kexAlgorithms).toContain("kex-strict-c-v00@openssh.com")
    expect(run.client.proposals!.server.kexAlgorithms).toContain("kex-strict-s-v00@openssh.com")
    // A server keeps neither proposal, nor its own signature, once the exchange is done.
    expect(run.server.proposals).toBeUndefined()
    expect(run.server.hostKeySignature).toBeUndefined()
    expect(run.client.hostKeySignature!.length).toBeGreaterThan(0)
    expect(run.client.peerIdentification).toBe("SSH-2.0-server_core")
    expect(run.server.peerIdentification).toBe("SSH-2.0-client_core")
  })

  it("deadlines are data: a silent peer times out at the step's deadline, whatever the clock says before it", () => {
    let now = 0
    const client = new Connection({
      role: "client",
      host: "h",
      port: 22,
      identification: "SSH-2.0-c",
      preferences: defaultPreferences,
      random: seeded("deadline"),
      now: () => now,
      curves: nobleCurves,
      stepTimeoutMillis: 5_000,
      identificationTimeoutMillis: 2_000,
      rekeyBytes: 2 ** 30,
      rekeyPackets: 2 ** 28
    })
    expect(client.nextDeadline()).toBe(2_000)
    client.onDeadline(1_999)
    expect(client.closed).toBeUndefined()
    now = 1_000
    client.receive(Buffer.from("SSH-2.0-slow\r\n"))
    // The identification came: now the KEXINIT step, from its own start.
    expect(client.nextDeadline()).toBe(6_000)
    client.onDeadline(6_000)
    expect(client.closed?._tag === "TransportError" && [client.closed.reason, client.closed.step]).toEqual(["Timeout", "KEXINIT"])
    const disconnect = client.pollTransmit()
    expect(Buffer.from(disconnect ?? []).length).toBeGreaterThan(0)
  })
})
