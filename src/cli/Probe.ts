/**
 * `ssh-auth probe [user@]host [-p port]`: connect, run the key exchange, request the
 * ssh-userauth service and print what the first lines of `ssh -v` would tell.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { acceptAnyInsecure } from "../transport/HostKeyPolicy.js"
import { makeTcp } from "../transport/TcpTransport.js"
import { parseDestination } from "./Destination.js"
import { describeConnection } from "./Negotiated.js"

const destination = Args.text({ name: "destination" }).pipe(Args.withDescription("[user@]host"))
const port = Options.integer("port").pipe(Options.withAlias("p"), Options.withDefault(22), Options.withDescription("port"))

/**
 * @since 0.1.0
 * @category commands
 */
export const probe = Command.make("probe", { destination, port }, ({ destination, port }) =>
  Effect.gen(function*() {
    const { host } = parseDestination(destination)
    yield* Console.log(`debug1: Connecting to ${host} port ${port}.`)
    // A probe reports the host key instead of judging it, as ssh-keyscan does.
    const connection = yield* makeTcp({ host, port, hostKeyPolicy: acceptAnyInsecure })
    yield* connection.requestService("ssh-userauth")
    for (const line of describeConnection(connection)) yield* Console.log(line)
    yield* Console.log("debug1: SSH2_MSG_SERVICE_ACCEPT received")
  }).pipe(Effect.scoped)).pipe(Command.withDescription("connect, run the key exchange and print what ssh -v would tell"))
