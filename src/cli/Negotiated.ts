/**
 * What a connection negotiated, in `ssh -v`'s words: the lines `ssh-auth probe` prints and
 * `ssh-auth connect -v` logs.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as PublicKey from "../keys/PublicKey.js"
import type { SshConnection } from "../transport/Handshake.js"
import type { KexInit } from "../transport/KexInit.js"
import { show, showList } from "../wire/PeerText.js"

/**
 * The report, line by line, in `ssh -v`'s words.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeConnection = (c: SshConnection): ReadonlyArray<string> => {
  const a = c.algorithms
  const [, proto = "?", software = c.serverIdentification] = /^SSH-([^-]+)-(.*)$/.exec(c.serverIdentification) ?? []
  const sigAlgs = Option.match(c.serverSigAlgs, {
    onNone: () => "debug1: no EXT_INFO server-sig-algs received",
    onSome: (algs) => `debug1: kex_input_ext_info: server-sig-algs=<${showList(algs, 64, 900)}>`
  })
  return [
    `debug1: Local version string ${c.clientIdentification}`,
    `debug1: Remote protocol version ${show(proto, 32)}, remote software version ${show(software)}`,
    `debug1: kex: algorithm: ${a.kex}`,
    `debug1: kex: host key algorithm: ${a.hostKey}`,
    `debug1: kex: server->client cipher: ${a.cipherServerToClient} MAC: ${a.macServerToClient} compression: ${a.compressionServerToClient}`,
    `debug1: kex: client->server cipher: ${a.cipherClientToServer} MAC: ${a.macClientToServer} compression: ${a.compressionClientToServer}`,
    `debug1: kex: strict kex: ${a.strictKex ? "enabled" : "disabled"}`,
    `debug1: Server host key: ${c.hostKey.type} ${PublicKey.fingerprintSha256(c.hostKey)}`,
    sigAlgs
  ]
}

/**
 * The two KEXINIT proposals of the first key exchange, as `ssh -vv` prints them (its
 * "debug2:" lines, without that prefix).
 *
 * @since 0.1.0
 * @category formatting
 */
export const describeProposals = (c: SshConnection): ReadonlyArray<string> => {
  // The peer's lists are as long as it likes: each line is cut, and escaped.
  const list = (names: ReadonlyArray<string>) => showList(names, 64, 900)
  const proposal = (who: string, k: KexInit) => [
    `${who} KEXINIT proposal`,
    `KEX algorithms: ${list(k.kexAlgorithms)}`,
    `host key algorithms: ${list(k.serverHostKeyAlgorithms)}`,
    `ciphers ctos: ${list(k.ciphersClientToServer)}`,
    `ciphers stoc: ${list(k.ciphersServerToClient)}`,
    `MACs ctos: ${list(k.macsClientToServer)}`,
    `MACs stoc: ${list(k.macsServerToClient)}`,
    `compression ctos: ${list(k.compressionClientToServer)}`,
    `compression stoc: ${list(k.compressionServerToClient)}`,
    `languages ctos: ${list(k.languagesClientToServer)}`,
    `languages stoc: ${list(k.languagesServerToClient)}`,
    `first_kex_follows ${k.firstKexPacketFollows ? 1 : 0}`
  ]
  return [...proposal("local client", c.proposals.client), ...proposal("peer server", c.proposals.server)]
}
