/**
 * The package as users import it: the built entry point and the subpath exports.
 * `npm test` builds dist/ first.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import { builtinModules } from "node:module"
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
    for (
      const sub of ["AuthStrategy", "handler/AuthHandler", "sources/PrivateKey", "transport/Transport", "transport/TcpTransport", "transport/ScriptedTransport"]
    ) {
      expect(pkg.exports[`./${sub}`], sub).toEqual({ types: `./dist/${sub}.d.ts`, default: `./dist/${sub}.js` })
    }
    for (const [key, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
      const files = typeof target === "string" ? [target] : Object.values(target as Record<string, string>)
      for (const file of files) expect(fs.existsSync(path.join(root, file)), `${key} -> ${file}`).toBe(true)
    }
    expect(pkg.bin["ssh-auth"]).toBe("bin/ssh-auth.js")
  })

  it("exports an explicit list: every module of the root entry, and no internals or CLI", () => {
    const keys = Object.keys(pkg.exports)
    expect(keys.filter((k) => k.includes("*"))).toEqual([])
    // What src/index.ts re-exports is public, so each is a subpath too.
    const index = fs.readFileSync(path.join(root, "src/index.ts"), "utf8")
    const reexported = [...index.matchAll(/from "\.\/(.+)\.js"/g)].map((m) => `./${m[1]}`)
    expect(reexported.length).toBeGreaterThan(10)
    expect(reexported.filter((sub) => !keys.includes(sub))).toEqual([])
    // The CLI runs when loaded, and the handshake and the inbox are the transport's insides.
    for (
      const internal of [
        "./cli/main",
        "./cli/bin",
        "./cli/Connect",
        "./transport/Handshake",
        "./transport/Inbox",
        "./transport/Connection",
        "./crypto/RandomPool"
      ]
    ) {
      expect(keys, internal).not.toContain(internal)
    }
    expect(keys.filter((k) => k.startsWith("./cli"))).toEqual([])
    // dist/ holds no CLI module to reach by path: the CLI is the bundle alone.
    expect(fs.readdirSync(path.join(root, "dist/cli")).filter((f) => f.endsWith(".js") || f.endsWith(".d.ts"))).toEqual([])
  })

  it("ships no source maps: they would point at sources the package leaves out", () => {
    const maps: Array<string> = []
    const walk = (dir: string): void => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(path.join(dir, entry.name))
        else if (entry.name.endsWith(".map")) maps.push(path.join(dir, entry.name))
      }
    }
    walk(path.join(root, "dist"))
    expect(maps).toEqual([])
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

const builtin = (spec: string) => spec.startsWith("node:") || builtinModules.includes(spec)
/** `effect/Stream` belongs to `effect`, `@effect/platform/Socket` to `@effect/platform`. */
const packageOf = (spec: string) => spec.split("/").slice(0, spec.startsWith("@") ? 2 : 1).join("/")

describe("the library depends only on what its API needs", () => {
  const exported = Object.values(pkg.exports as Record<string, unknown>)
    .flatMap((t) => (typeof t === "string" ? [] : [(t as Record<string, string>).default]))
    .filter((file) => file.startsWith("./dist/"))
    .map((file) => file.slice("./dist/".length))
  const reached = new Set(exported.flatMap((entry) => [...reachable(entry)]).filter((s) => !builtin(s)).map(packageOf))

  it("every package an exported module loads is a dependency or a peer, or an optional one loaded only on first use", () => {
    const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})])
    const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}))
    expect(exported.length).toBeGreaterThan(20)
    expect([...reached].filter((p) => !declared.has(p) && !optional.has(p))).toEqual([])
    // An optional package is never imported statically: a missing one must not stop the library loading.
    const dist = path.join(root, "dist")
    const files = fs.readdirSync(dist, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".js") && !f.startsWith("cli/"))
    for (const file of files) {
      const text = fs.readFileSync(path.join(dist, file), "utf8")
      for (const name of optional) {
        expect([file, new RegExp(`^\\s*import[^(]*from\\s*["']${name}["']`, "m").test(text)]).toEqual([file, false])
      }
    }
    expect(optional.has("koffi")).toBe(true)
  })

  it("the CLI's packages are devDependencies, bundled, and the library never loads them", () => {
    for (const name of ["@effect/cli", "@effect/platform-node"]) {
      expect(reached.has(name), name).toBe(false)
      expect(pkg.dependencies?.[name], name).toBeUndefined()
      expect(pkg.devDependencies?.[name], name).toBeDefined()
    }
    // One copy of Effect: the app's. A peer, with the exact version we test with as a devDependency.
    expect(pkg.dependencies?.effect).toBeUndefined()
    expect(pkg.peerDependencies?.effect).toBeDefined()
    expect(pkg.devDependencies?.effect).toMatch(/^\d+\.\d+\.\d+$/)
    expect(reached.has("effect")).toBe(true)
  })
})
