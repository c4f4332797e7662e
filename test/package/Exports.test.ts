/**
 * The package as users import it: the built entry point and the subpath exports.
 * `npm test` builds dist/ first.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"

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
    expect(mod.Transport.Transport).toBeTypeOf("object")
    expect(mod.TcpTransport.layerTcp).toBeTypeOf("function")
    expect(mod.TcpTransport.makeTcp).toBeTypeOf("function")
    expect(mod.ScriptedTransport.layerScripted).toBeTypeOf("function")
    expect(mod.ScriptedTransport.makeScripted).toBeTypeOf("function")
    expect(fs.existsSync(path.join(root, pkg.exports["."].types))).toBe(true)
  })

  it("subpath exports resolve to built files, as the README imports them", () => {
    for (const sub of ["AuthStrategy", "handler/AuthHandler", "sources/PrivateKey", "transport/Transport", "transport/TcpTransport", "transport/ScriptedTransport"]) {
      expect(fs.existsSync(path.join(root, "dist", `${sub}.js`)), sub).toBe(true)
      expect(fs.existsSync(path.join(root, "dist", `${sub}.d.ts`)), sub).toBe(true)
    }
    expect(pkg.bin["ssh-auth"]).toBe("bin/ssh-auth.js")
  })
})

/** The module specifiers a built file loads: static imports, re-exports and dynamic imports. */
const specifiers = (file: string): Array<string> => {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, false, ts.ScriptKind.JS)
  const found: Array<string> = []
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text)
    } else if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined && ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text)
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** Every package or builtin reached from a built module through our own relative imports. */
const reachable = (entry: string): Set<string> => {
  const packages = new Set<string>()
  const seen = new Set<string>()
  const walk = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const spec of specifiers(file)) {
      if (spec.startsWith(".")) walk(path.resolve(path.dirname(file), spec))
      else packages.add(spec)
    }
  }
  walk(path.join(root, "dist", entry))
  return packages
}

const socketCode = (spec: string) => spec === "node:net" || spec === "net" || spec.startsWith("@effect/platform-node")

describe("the Transport tag is light", () => {
  it("importing dist/transport/Transport.js reaches neither node:net nor @effect/platform-node", () => {
    const packages = [...reachable("transport/Transport.js")]
    expect(packages.filter(socketCode)).toEqual([])
    // Nothing of its own implementations either: the tag needs effect and nothing else.
    expect(packages.every((p) => p.startsWith("effect/") || p === "effect")).toBe(true)
  })

  it("the walk does see socket code where it is, directly or through our own imports", () => {
    expect([...reachable("transport/TcpTransport.js")].filter(socketCode)).not.toEqual([])
    // The root entry has no import of its own from node:net: only through TcpTransport's.
    expect(specifiers(path.join(root, "dist/index.js")).filter(socketCode)).toEqual([])
    expect([...reachable("index.js")].filter(socketCode)).not.toEqual([])
  })
})
