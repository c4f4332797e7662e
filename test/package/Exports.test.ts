/**
 * The package as users import it: the built entry point and the subpath exports.
 * `npm test` builds dist/ first.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "../..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))

describe("package exports", () => {
  it("the root entry exposes the modules as namespaces", async () => {
    const entry = path.join(root, pkg.exports["."].default)
    const mod = await import(entry)
    for (const name of ["AuthStrategy", "AuthHandler", "Transport", "TcpTransport", "ScriptedTransport", "HostKeyPolicy", "Password"]) {
      expect(mod[name], name).toBeTypeOf("object")
    }
    expect(mod.AuthStrategy.authenticate).toBeTypeOf("function")
    expect(mod.Transport.layerTcp).toBeTypeOf("function")
    expect(mod.Transport.layerScripted).toBeTypeOf("function")
    expect(fs.existsSync(path.join(root, pkg.exports["."].types))).toBe(true)
  })

  it("subpath exports resolve to built files, as the README imports them", () => {
    for (const sub of ["AuthStrategy", "handler/AuthHandler", "sources/PrivateKey", "transport/Transport", "transport/ScriptedTransport"]) {
      expect(fs.existsSync(path.join(root, "dist", `${sub}.js`)), sub).toBe(true)
      expect(fs.existsSync(path.join(root, "dist", `${sub}.d.ts`)), sub).toBe(true)
    }
    expect(pkg.bin["ssh-auth"]).toBe("bin/ssh-auth.js")
  })
})
