/**
 * ProxyJump's hop list as ssh's -J takes it.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import { parseHops } from "../../src/cli/Route.js"

describe("ProxyJump hops", () => {
  it("user@host:port, host alone, ssh:// URIs and bracketed IPv6, in order", () => {
    expect(parseHops("jump@bastion.example:2222,second,ssh://ops@[::1]:22/,[fe80::1]")).toEqual(Either.right([
      { user: "jump", host: "bastion.example", port: 2222 },
      { host: "second" },
      { user: "ops", host: "::1", port: 22 },
      { host: "fe80::1" }
    ]))
  })

  for (const bad of ["a,,b", "@host", "host:0", "host:99999", "host:port", "[::1", "a b"]) {
    it(`refuses ${JSON.stringify(bad)} rather than guess`, () => {
      const parsed = parseHops(bad)
      expect(Either.isLeft(parsed) && parsed.left.file).toBe("ProxyJump")
    })
  }
})
