/**
 * SSH_MSG_KEXINIT (RFC 4253 §7.1) and algorithm negotiation: for each category the first
 * client algorithm the server also lists wins.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { MessageNumber } from "../wire/MessageNumber.js"
import { decode } from "../wire/Reader.js"
import type { WireError } from "../wire/WireError.js"
import { encode } from "../wire/Writer.js"
import { supported } from "./Algorithms.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface KexInit {
  /** 16 random bytes (RFC 4253 §7.1). The sender draws them; the encoder only writes them. */
  readonly cookie: Uint8Array
  readonly kexAlgorithms: ReadonlyArray<string>
  readonly serverHostKeyAlgorithms: ReadonlyArray<string>
  readonly ciphersClientToServer: ReadonlyArray<string>
  readonly ciphersServerToClient: ReadonlyArray<string>
  readonly macsClientToServer: ReadonlyArray<string>
  readonly macsServerToClient: ReadonlyArray<string>
  readonly compressionClientToServer: ReadonlyArray<string>
  readonly compressionServerToClient: ReadonlyArray<string>
  readonly languagesClientToServer: ReadonlyArray<string>
  readonly languagesServerToClient: ReadonlyArray<string>
  readonly firstKexPacketFollows: boolean
}

/**
 * The KEXINIT payload, cookie included: encoding is pure, so what is recorded (and hashed
 * into the exchange hash) is exactly what is sent. Throws a RangeError for a cookie that is
 * not 16 bytes, a caller's bug.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeKexInit = (k: KexInit): Uint8Array => {
  checkCookie(k.cookie)
  return encode((w) =>
    w.byte(MessageNumber.KEXINIT)
      .raw(k.cookie)
      .nameList(k.kexAlgorithms)
      .nameList(k.serverHostKeyAlgorithms)
      .nameList(k.ciphersClientToServer)
      .nameList(k.ciphersServerToClient)
      .nameList(k.macsClientToServer)
      .nameList(k.macsServerToClient)
      .nameList(k.compressionClientToServer)
      .nameList(k.compressionServerToClient)
      .nameList(k.languagesClientToServer)
      .nameList(k.languagesServerToClient)
      .boolean(k.firstKexPacketFollows)
      .uint32(0), 512)
}

/** Where the cookie goes in a KEXINIT payload: right after the message number. */
const COOKIE_OFFSET = 1

const checkCookie = (cookie: Uint8Array): void => {
  if (cookie.length !== 16) throw new RangeError(`KEXINIT cookie must be 16 bytes, got ${cookie.length}`)
}

/**
 * A copy of an encoded KEXINIT with `cookie` in its place: the same bytes `encodeKexInit`
 * gives the same proposal with that cookie, without encoding its name-lists again. Throws a
 * RangeError for a cookie that is not 16 bytes, as `encodeKexInit` does.
 *
 * @since 0.1.0
 * @category encoding
 */
export const withCookie = (payload: Uint8Array, cookie: Uint8Array): Uint8Array => {
  checkCookie(cookie)
  const copy = payload.slice()
  copy.set(cookie, COOKIE_OFFSET)
  return copy
}

/**
 * @since 0.1.0
 * @category decoding
 */
export const decodeKexInit = (payload: Uint8Array): Either.Either<KexInit, WireError> =>
  decode(payload, (r) => {
    r.byte("message number")
    // A server drops the proposal with its key exchange, a client keeps its first pair whole for
    // `ssh -vv`'s report; the names any connection keeps beyond that are `negotiate`'s, our own strings.
    const cookie = r.raw(16, "cookie").slice()
    const kex = {
      cookie,
      kexAlgorithms: r.nameList("kex_algorithms"),
      serverHostKeyAlgorithms: r.nameList("server_host_key_algorithms"),
      ciphersClientToServer: r.nameList("encryption_algorithms_client_to_server"),
      ciphersServerToClient: r.nameList("encryption_algorithms_server_to_client"),
      macsClientToServer: r.nameList("mac_algorithms_client_to_server"),
      macsServerToClient: r.nameList("mac_algorithms_server_to_client"),
      compressionClientToServer: r.nameList("compression_algorithms_client_to_server"),
      compressionServerToClient: r.nameList("compression_algorithms_server_to_client"),
      languagesClientToServer: r.nameList("languages_client_to_server"),
      languagesServerToClient: r.nameList("languages_server_to_client"),
      firstKexPacketFollows: r.boolean("first_kex_packet_follows")
    }
    r.uint32("reserved")
    return kex
  })

/**
 * What a key exchange settled on.
 *
 * @since 0.1.0
 * @category models
 */
export interface NegotiatedAlgorithms {
  readonly kex: string
  readonly hostKey: string
  readonly cipherClientToServer: string
  readonly cipherServerToClient: string
  /** The MAC name, or "<implicit>" for AEAD ciphers, as `ssh -v` prints it. */
  readonly macClientToServer: string
  readonly macServerToClient: string
  readonly compressionClientToServer: string
  readonly compressionServerToClient: string
  /** Strict key exchange (kex-strict-*-v00@openssh.com, the Terrapin mitigation). */
  readonly strictKex: boolean
}

/**
 * Names that signal a capability inside kex_algorithms rather than name an algorithm.
 *
 * @since 0.1.0
 * @category constants
 */
export const pseudoAlgorithms = {
  extInfoClient: "ext-info-c",
  extInfoServer: "ext-info-s",
  strictKexClient: "kex-strict-c-v00@openssh.com",
  strictKexServer: "kex-strict-s-v00@openssh.com"
} as const

/** Every name this library knows, once. */
const knownNames = new Map(
  [
    ...supported.kex,
    ...supported.hostKey,
    ...supported.cipher,
    ...supported.mac,
    "none",
    "zlib",
    "zlib@openssh.com",
    ...Object.values(pseudoAlgorithms)
  ].map((name) => [name, name])
)

/**
 * A category in which client and server share no algorithm.
 *
 * @since 0.1.0
 * @category models
 */
export interface NoCommonAlgorithm {
  readonly category: string
  readonly client: ReadonlyArray<string>
  readonly server: ReadonlyArray<string>
}

/**
 * The first client algorithm the server also lists, as our one string of that name: the
 * connection keeps it, and a name split from the peer's list would keep the whole list alive.
 */
const choose = (category: string, client: ReadonlyArray<string>, server: ReadonlyArray<string>) => {
  const found = client.find((c) => server.includes(c))
  if (found === undefined) throw { category, client, server } satisfies NoCommonAlgorithm
  return knownNames.get(found) ?? found
}

/**
 * Negotiates per RFC 4253 §7.1. `isAead` tells which ciphers make the MAC implicit.
 *
 * @since 0.1.0
 * @category negotiation
 */
export const negotiate = (
  client: KexInit,
  server: KexInit,
  isAead: (cipher: string) => boolean,
  initial: boolean
): Either.Either<NegotiatedAlgorithms, NoCommonAlgorithm> => {
  try {
    const pseudo = new Set<string>(Object.values(pseudoAlgorithms))
    const kex = choose("kex", client.kexAlgorithms.filter((a) => !pseudo.has(a)), server.kexAlgorithms)
    const hostKey = choose("host key", client.serverHostKeyAlgorithms, server.serverHostKeyAlgorithms)
    const cipherClientToServer = choose("cipher client->server", client.ciphersClientToServer, server.ciphersClientToServer)
    const cipherServerToClient = choose("cipher server->client", client.ciphersServerToClient, server.ciphersServerToClient)
    const macClientToServer = isAead(cipherClientToServer)
      ? "<implicit>"
      : choose("MAC client->server", client.macsClientToServer, server.macsClientToServer)
    const macServerToClient = isAead(cipherServerToClient)
      ? "<implicit>"
      : choose("MAC server->client", client.macsServerToClient, server.macsServerToClient)
    return Either.right({
      kex,
      hostKey,
      cipherClientToServer,
      cipherServerToClient,
      macClientToServer,
      macServerToClient,
      compressionClientToServer: choose("compression client->server", client.compressionClientToServer, server.compressionClientToServer),
      compressionServerToClient: choose("compression server->client", client.compressionServerToClient, server.compressionServerToClient),
      // Strict kex is decided by the first exchange and stays for the connection.
      strictKex: initial &&
        client.kexAlgorithms.includes(pseudoAlgorithms.strictKexClient) &&
        server.kexAlgorithms.includes(pseudoAlgorithms.strictKexServer)
    })
  } catch (e) {
    return Either.left(e as NoCommonAlgorithm)
  }
}

/**
 * RFC 4253 §7.1: a guessed kex packet is wrong when the two sides' *preferred* (first-listed)
 * kex or host key algorithms differ, which is also how OpenSSH decides. Negotiation can still
 * settle on the guessed method; the guessed packet is dropped all the same.
 *
 * @since 0.1.0
 * @category negotiation
 */
export const guessIsWrong = (sender: KexInit, receiver: KexInit): boolean =>
  sender.firstKexPacketFollows &&
  (sender.kexAlgorithms[0] !== receiver.kexAlgorithms[0] ||
    sender.serverHostKeyAlgorithms[0] !== receiver.serverHostKeyAlgorithms[0])
