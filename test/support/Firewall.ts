/**
 * A loopback port that refuses our own connections: an nftables rule (root only) that
 * resets every TCP connection to 127.0.0.1/::1 at `port` made by a process of any user but
 * one. A jump test logs in to its bastion as that user, so the bastion's forwarded
 * connection (made by sshd's session process, which runs as the user) gets through, while
 * a direct connection of the test's own process is refused: the target is reachable only
 * through the bastion, on loopback alone.
 *
 * Each rule lives in a table of its own, named after the run's pid and the port; the scope
 * deletes it, and tables of runs that died are deleted by the next.
 */
import * as Effect from "effect/Effect"
import { alive } from "./RunUser.js"
import { run } from "./Sshd.js"

const PREFIX = "sshauth_fw_"

const nft = (args: ReadonlyArray<string>) =>
  Effect.flatMap(
    run("nft", args),
    (r) => r.code === 0 ? Effect.succeed(r.stdout) : Effect.dieMessage(`nft ${args.join(" ")}: exited ${r.code}: ${r.stderr.trim()}`)
  )

/** Deletes the tables of runs that are gone. */
const sweep = Effect.gen(function*() {
  const tables = yield* nft(["list", "tables"])
  for (const line of tables.split("\n")) {
    const match = new RegExp(`^table inet (${PREFIX}(\\d+)_\\d+)$`).exec(line.trim())
    if (match && !alive(Number(match[2]))) yield* nft(["delete", "table", "inet", match[1]])
  }
})

/** The numeric uid of a user name. */
export const uidOf = (user: string) =>
  Effect.flatMap(run("id", ["-u", user]), (r) => r.code === 0 ? Effect.succeed(Number(r.stdout.trim())) : Effect.dieMessage(`id -u ${user}: ${r.stderr}`))

/** Refuses connections to `port` on loopback from every process not running as `exceptUid`, for the scope. */
export const refuseAllBut = (port: number, exceptUid: number) =>
  Effect.gen(function*() {
    yield* sweep
    const table = `${PREFIX}${process.pid}_${port}`
    yield* Effect.acquireRelease(
      Effect.gen(function*() {
        yield* nft(["add", "table", "inet", table])
        yield* nft(["add", "chain", "inet", table, "out", "{ type filter hook output priority 0 ; policy accept ; }"])
        yield* nft([
          "add",
          "rule",
          "inet",
          table,
          "out",
          "oifname",
          "lo",
          "tcp",
          "dport",
          String(port),
          "meta",
          "skuid",
          "!=",
          String(exceptUid),
          "reject",
          "with",
          "tcp",
          "reset"
        ])
      }),
      () => Effect.asVoid(Effect.exit(nft(["delete", "table", "inet", table])))
    )
  })
