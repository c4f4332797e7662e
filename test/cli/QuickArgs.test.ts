/**
 * connect's quick command-line parser (the path a plain `ssh-auth connect` takes, without
 * @effect/cli's run) against @effect/cli itself, over the same flag declarations: for every
 * plain command line both give the same flags; anything else is left to @effect/cli.
 */
import * as Command from "@effect/cli/Command"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { expandVerbosity, parseQuick } from "../../src/cli/Connect.js"
import { flags } from "../../src/cli/ConnectCommand.js"

/** What @effect/cli hands connect's handler for `args`. */
const byEffectCli = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let parsed: unknown
    const command = Command.make("connect", flags, (f) => Effect.sync(() => void (parsed = f)))
    yield* Command.run(command, { name: "ssh-auth", version: "test" })(["node", "ssh-auth", ...args])
    return parsed
  }).pipe(Effect.provide(NodeContext.layer))

const plain: ReadonlyArray<ReadonlyArray<string>> = [
  ["host"],
  ["deploy@web.example", "-p", "2222", "-i", "a", "-i", "b", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes", "-F", "cfg", "-v", "--json"],
  ["-J", "jump@bastion:22,second", "--dry-run", "target", "--host-key", "SHA256:x", "--host-key", "SHA256:y", "--insecure-accept-any-host-key"],
  ["--password-env", "PW", "--passphrase-env", "PP", "-l", "bob", "host", "--verbosity", "2"],
  ["--port", "22", "--login", "alice", "--identity", "k", "--config-file", "c", "--option", "A=b", "--jump", "j", "--verbose", "h"],
  ["-vvv", "host"]
]

describe("connect's quick parser", () => {
  for (const args of plain) {
    it.effect(`gives what @effect/cli gives: ${args.join(" ")}`, () =>
      Effect.gen(function*() {
        const expanded = expandVerbosity(args)
        const quick = parseQuick(expanded)
        expect(quick).toBeDefined()
        expect(quick).toEqual(yield* byEffectCli(expanded))
      }))
  }

  for (
    const args of [
      ["--help"],
      ["host", "--port=22"],
      ["host", "-p"],
      ["host", "extra"],
      ["host", "--unknown"],
      ["-p", "x", "host"],
      ["host", "-v", "-v"],
      ["host", "-p", "1", "-p", "2"],
      ["--wizard"],
      []
    ]
  ) {
    it(`leaves ${JSON.stringify(args)} to @effect/cli`, () => expect(parseQuick(args)).toBeUndefined())
  }
})
