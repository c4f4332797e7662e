/**
 * A hop: the next connection of a chain, run over a `direct-tcpip` channel of the one
 * before it, as `ssh -J` does. Each hop is a connection of its own, with its own host-key
 * check and its own authentication; a chain is hops composed:
 *
 *     const bastion = yield* makeTcp({ host: "bastion", hostKeyPolicy })
 *     yield* login(bastion)
 *     const target = yield* Jump.through(bastion, { host: "10.0.0.5", hostKeyPolicy })
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as DirectTcpip from "../connection/DirectTcpip.js"
import type { SshConnection } from "./Handshake.js"
import type { HostKeyRejected } from "./HostKeyPolicy.js"
import { makeOver, type TcpOptions } from "./TcpTransport.js"
import type { Transport } from "./Transport.js"
import type { TransportFailure } from "./TransportError.js"

/**
 * Connects to `target` through `jumpHost`, an authenticated connection: the jump host opens
 * the TCP connection, and ours runs inside it. Closing the scope closes the channel.
 *
 * @since 0.1.0
 * @category constructors
 */
export const through = (
  jumpHost: Transport,
  target: TcpOptions & DirectTcpip.DirectTcpipOptions
): Effect.Effect<SshConnection, DirectTcpip.ChannelOpenRefused | TransportFailure | HostKeyRejected, Scope.Scope> =>
  Effect.flatMap(
    DirectTcpip.open(jumpHost, { host: target.host, port: target.port ?? 22 }, target),
    (channel) => makeOver(channel, target)
  )
