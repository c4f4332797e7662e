/**
 * The hostile suite's wire check itself: it must read a hostile server's message-60s the way
 * the client must have read them, so it neither cries leak at a correct answer nor lets a
 * password through to an echo-on prompt.
 */
import { describe, expect, it } from "@effect/vitest"
import { infoResponse } from "../hostile-client/HostileClient.js"
import { wireLeaks } from "./Checks.js"
import { infoRequest, pkOk, type WireEvent } from "./HostileServer.js"

const secrets = { password: "pw-secret", passphrase: "pp-secret" }
const server = (payload: Uint8Array): WireEvent => ({ from: "server", payload, at: 0 })
const client = (payload: Uint8Array): WireEvent => ({ from: "client", payload, at: 0 })
const ask = (...echo: ReadonlyArray<boolean>) => infoRequest({ name: "", instruction: "", prompts: echo.map((e, i) => ({ prompt: `q${i}`, echo: e })) })
const answer = (...answers: ReadonlyArray<string>) => infoResponse(answers)

describe("the hostile suite's wire check", () => {
  it("reads INFO_REQUESTs sent ahead of time in order: the answer to the first is not judged by the last", () => {
    // The server sent three requests and a PK_OK before the client answered the first.
    const events = [
      server(ask(false, false, false)),
      server(ask(true, false)),
      server(pkOk("ssh-ed25519", new Uint8Array(32))),
      client(answer("pw-secret", "pw-secret", "pw-secret")),
      client(answer("visible", "pw-secret"))
    ]
    expect(wireLeaks(events, secrets)).toEqual([])
  })

  it("still names a password given to an echo-on prompt", () => {
    const events = [server(ask(false)), server(ask(true, false)), client(answer("pw-secret")), client(answer("pw-secret", "x"))]
    expect(wireLeaks(events, secrets)).toEqual([expect.stringMatching(/client message #3 .*echo-on prompt\(s\) "q0"/)])
  })

  it("names an answer no request asked for, and the passphrase anywhere", () => {
    const events = [server(ask(false)), client(answer("a")), client(answer("pw-secret")), client(answer("pp-secret"))]
    expect(wireLeaks(events, secrets)).toEqual([
      expect.stringMatching(/#2 .*not a password request nor an answer to an echo-off prompt/),
      "the passphrase went out in client message #3 (USERAUTH_61)"
    ])
  })
})
