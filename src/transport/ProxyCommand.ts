/**
 * ssh_config's `ProxyCommand`: a command whose standard input and output are the byte
 * channel a connection runs over (`ssh -W %h:%p bastion`, `nc %h %p`, a corporate proxy's
 * client). Its standard error is ours, as with ssh. Its exit ends the connection with a
 * `TransportError` (reason "ProxyFailed") that names the command and its exit status.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/platform/Command"
import type * as CommandExecutor from "@effect/platform/CommandExecutor"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type ByteChannel, SinkGate } from "./ByteChannel.js"
import { TransportError } from "./TransportError.js"

/**
 * Where the command should connect: what its `%` tokens stand for.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProxyTarget {
  /** `%h`: the host name after `Hostname`. */
  readonly host: string
  /** `%p` */
  readonly port: number
  /** `%r`: the remote user name. */
  readonly user: string
  /** `%n`: the host as the user gave it (the alias). Default: `host`. */
  readonly alias?: string
}

/**
 * A `ProxyCommand` with a `%` token ssh does not expand there.
 *
 * @since 0.1.0
 * @category errors
 */
export class ProxyCommandInvalid extends Schema.TaggedError<ProxyCommandInvalid>()("ProxyCommandInvalid", {
  command: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `ProxyCommand ${JSON.stringify(this.command)}: ${this.detail}`
  }
}

/**
 * Expands ssh's tokens for ProxyCommand (`%h %p %r %n %%`, ssh_config(5)); any other token
 * is an error, as in ssh, rather than a command run with a guess.
 *
 * @since 0.1.0
 * @category parsing
 */
export const expandTokens = (command: string, target: ProxyTarget): Either.Either<string, ProxyCommandInvalid> => {
  const values: Record<string, string> = {
    "%": "%",
    h: target.host,
    p: String(target.port),
    r: target.user,
    n: target.alias ?? target.host
  }
  let out = ""
  for (let i = 0; i < command.length; i++) {
    const c = command[i]
    if (c !== "%") {
      out += c
      continue
    }
    const key = command[++i]
    const value = key === undefined ? undefined : values[key]
    if (value === undefined) {
      return Either.left(new ProxyCommandInvalid({ command, detail: key === undefined ? "a lone % at the end" : `unknown token %${key}` }))
    }
    out += value
  }
  return Either.right(out)
}

/** Writes waiting for the command to read them; a command that stops reading ends the connection here. */
const MAX_PENDING_WRITES = 1024

/**
 * Starts `command` (after `%` expansion) with the user's shell, as ssh does (`exec` in
 * `$SHELL -c`), and returns its pipes as a byte channel. The command is killed when the
 * scope closes or the channel is closed.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = (
  command: string,
  target: ProxyTarget
): Effect.Effect<ByteChannel, ProxyCommandInvalid | TransportError, CommandExecutor.CommandExecutor | Scope.Scope> =>
  Effect.gen(function*() {
    const expanded = yield* expandTokens(command, target)
    const { host, port } = target
    const failed = (detail: string, cause?: unknown) =>
      new TransportError({ reason: "ProxyFailed", host, port, step: "ProxyCommand", detail, ...(cause ? { cause } : {}) })
    const shell = process.env.SHELL || "/bin/sh"
    const proc = yield* Command.start(Command.make(shell, "-c", `exec ${expanded}`).pipe(Command.stderr("inherit"))).pipe(
      Effect.mapError((e) => failed(`cannot start ${JSON.stringify(expanded)}: ${e.message}`, e))
    )
    const gate = new SinkGate()
    const writes = yield* Queue.bounded<Uint8Array | null>(MAX_PENDING_WRITES)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    // What the command prints is the server's side; when its output ends, its exit status says why.
    const reader = yield* proc.stdout.pipe(
      Stream.runForEach((bytes) => Effect.sync(() => gate.data(bytes))),
      Effect.zipRight(proc.exitCode),
      Effect.match({
        onSuccess: (code) => failed(`ProxyCommand ${JSON.stringify(expanded)} exited with status ${code}`),
        onFailure: (e) => failed(`ProxyCommand ${JSON.stringify(expanded)} failed: ${e.message}`, e)
      }),
      Effect.flatMap((error) => Effect.sync(() => gate.deliver({ _tag: "lost", error }))),
      Effect.forkScoped
    )
    // The writer ends when told to (`null`), never by interruption: the platform's stdin sink
    // drops its "error" listener when it stops, and an EPIPE from a command that exits while
    // a write is pending would then be an uncaught exception. Ended, it waits for the pipe's
    // "finish" or error with the listener still there.
    yield* Stream.fromQueue(writes).pipe(
      Stream.takeWhile((bytes): bytes is Uint8Array => bytes !== null),
      Stream.run(proc.stdin),
      Effect.ignore,
      Effect.forkDaemon
    )
    let inputEnded = false
    const endInput = () => {
      if (inputEnded) return
      inputEnded = true
      // A full queue still ends: the writer takes what is there first.
      if (!Queue.unsafeOffer(writes, null)) runFork(Queue.offer(writes, null))
    }
    yield* Effect.addFinalizer(() => Effect.sync(endInput))
    const stop = (fiber: Fiber.RuntimeFiber<unknown, unknown>) => fiber.unsafeInterruptAsFork(fiber.id())
    return {
      host,
      port,
      open: (sink) => gate.open(sink),
      write: (bytes) => {
        // A copy: the writer may reuse its buffer before the command reads it.
        if (inputEnded) return
        if (!Queue.unsafeOffer(writes, Uint8Array.from(bytes))) {
          gate.deliver({ _tag: "lost", error: failed(`ProxyCommand ${JSON.stringify(expanded)} is not reading its input`) })
        }
      },
      close: () => {
        gate.shut()
        stop(reader)
        endInput()
        runFork(Effect.ignore(proc.kill("SIGTERM")))
      }
    } satisfies ByteChannel
  })
