/**
 * Our client and our server in one process over the in-memory channel pair: the server's
 * handshake and userauth handler with a given policy, the client's handshake and
 * `AuthHandler`. No network, no sshd.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as crypto from "node:crypto"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"
import * as AuthHandler from "../../src/handler/AuthHandler.js"
import { authenticate, type ServerAuthOptions, verifiedAlgorithms } from "../../src/handler/ServerAuthHandler.js"
import * as PrivateKey from "../../src/keys/PrivateKey.js"
import type { AuthPolicy } from "../../src/server/AuthPolicy.js"
import { defaultPreferences } from "../../src/transport/Algorithms.js"
import { type ByteChannel, memoryPair } from "../../src/transport/ByteChannel.js"
import { handshake, type SshConnection } from "../../src/transport/Handshake.js"
import { acceptAnyInsecure } from "../../src/transport/HostKeyPolicy.js"
import { serverHandshake } from "../../src/transport/ServerHandshake.js"
import { Transport } from "../../src/transport/Transport.js"

export const serverHostKey = PrivateKey.fromEd25519Seed(nodeCurves, crypto.randomBytes(32))

/** The server side on `channel`, in a fiber of the scope: the handshake, then userauth to its end. */
export const serveOn = (channel: ByteChannel, policy: Layer.Layer<AuthPolicy>, options: ServerAuthOptions = {}) =>
  Effect.gen(function*() {
    const connection = yield* serverHandshake(channel, {
      hostKeys: [serverHostKey],
      preferences: defaultPreferences,
      serverIdentification: "SSH-2.0-effect_ssh_auth_server_test",
      handshakeTimeout: Duration.seconds(10),
      receiveTimeout: Duration.days(1),
      rekeyBytes: 2 ** 30,
      rekeyPackets: 2 ** 28,
      serverSigAlgs: verifiedAlgorithms,
      extensions: [["publickey-hostbound@openssh.com", Buffer.from("0")]]
    })
    return yield* authenticate(connection, options).pipe(Effect.provide(policy))
  }).pipe(Effect.forkScoped)

export const clientOn = (channel: ByteChannel) =>
  handshake(channel, {
    hostKeyPolicy: acceptAnyInsecure,
    preferences: defaultPreferences,
    clientIdentification: "SSH-2.0-effect_ssh_auth_client_test",
    handshakeTimeout: Duration.seconds(10),
    receiveTimeout: Duration.seconds(30),
    rekeyBytes: 2 ** 30,
    rekeyPackets: 2 ** 28,
    pipelineService: "ssh-userauth"
  })

/** A server with `policy` and a connected client; the client's AuthHandler asks for ssh-userauth. */
export const pair = (policy: Layer.Layer<AuthPolicy>, options: ServerAuthOptions = {}) =>
  Effect.gen(function*() {
    const [a, b] = memoryPair("127.0.0.1", 40000)
    const server = yield* serveOn(b, policy, options)
    const client: SshConnection = yield* clientOn(a)
    return { client, server: Fiber.join(server), handlerLayer: AuthHandler.layer.pipe(Layer.provide(Layer.succeed(Transport, client))) }
  })
