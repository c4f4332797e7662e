/**
 * The agent client against agents a real ssh-agent cannot imitate: one that never answers,
 * one that answers garbage, one that hangs up.
 */
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import * as Agent from "../../src/agent/Agent.js"

/** A unix-socket server that answers each connection with `reply` (or not at all). */
const fakeAgent = (reply: (socket: net.Socket) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly path: string; readonly server: net.Server }>((resume) => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fake-agent-"))
      const socketPath = path.join(dir, "agent.sock")
      const server = net.createServer((socket) => socket.once("data", () => reply(socket)))
      server.listen(socketPath, () => resume(Effect.succeed({ path: socketPath, server })))
    }),
    ({ path: p, server }) => Effect.sync(() => (server.close(), fs.rmSync(path.dirname(p), { recursive: true, force: true })))
  )

const run = <A, E>(effect: Effect.Effect<A, E, import("effect/Scope").Scope>) => Effect.runPromise(Effect.scoped(effect))

describe("the agent client against misbehaving agents", () => {
  it("an agent that never answers: a Timeout, not a hang", async () => {
    const error = await run(Effect.gen(function*() {
      const fake = yield* fakeAgent(() => {})
      const agent = yield* Agent.make({ path: fake.path, timeout: "300 millis" })
      return yield* Effect.flip(agent.identities)
    }))
    expect(error._tag === "AgentError" && error.reason).toBe("Timeout")
  })

  it("a reply longer than any agent sends: a ProtocolError", async () => {
    const error = await run(Effect.gen(function*() {
      const fake = yield* fakeAgent((s) => s.write(Buffer.from([0x7f, 0xff, 0xff, 0xff, 12])))
      const agent = yield* Agent.make({ path: fake.path, timeout: "2 seconds" })
      return yield* Effect.flip(agent.identities)
    }))
    expect(error._tag === "AgentError" && error.reason).toBe("ProtocolError")
  })

  it("a truncated identities answer: a ProtocolError naming the field", async () => {
    const error = await run(Effect.gen(function*() {
      // IDENTITIES_ANSWER claiming one key, then nothing.
      const fake = yield* fakeAgent((s) => s.write(Buffer.from([0, 0, 0, 5, 12, 0, 0, 0, 1])))
      const agent = yield* Agent.make({ path: fake.path, timeout: "2 seconds" })
      return yield* Effect.flip(agent.identities)
    }))
    expect(error._tag === "AgentError" && error.reason).toBe("ProtocolError")
    expect(error.message).toMatch(/key blob/)
  })

  it("an agent that hangs up: ConnectionLost; and extensions on an agent without query are empty", async () => {
    const error = await run(Effect.gen(function*() {
      const fake = yield* fakeAgent((s) => s.destroy())
      const agent = yield* Agent.make({ path: fake.path, timeout: "2 seconds" })
      return yield* Effect.flip(agent.identities)
    }))
    expect(error._tag === "AgentError" && error.reason).toBe("ConnectionLost")
    const extensions = await run(Effect.gen(function*() {
      const fake = yield* fakeAgent((s) => s.write(Buffer.from([0, 0, 0, 1, 5])))
      const agent = yield* Agent.make({ path: fake.path, timeout: "2 seconds" })
      return yield* agent.extensions
    }))
    expect(extensions).toEqual([])
  })
})
