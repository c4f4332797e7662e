/**
 * The package as a new Effect user gets it: `npm pack` (of the dist/ that `npm test` builds
 * first), installed from the tarball into a scratch app under the system's temporary directory
 * (outside the repository, so nothing resolves from its node_modules), once at the
 * lowest versions of effect and @effect/platform that the peer ranges allow and once at the
 * newest. In each app: one copy of effect, README.md's ```ts blocks and a login type-check
 * under strict settings against the app's effect, and the login succeeds against our own
 * server on 127.0.0.1. The install size beyond the app's own packages is measured too.
 *
 * It needs the npm registry. Without it the suite skips, and says so; with CI=true it fails.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "../..")
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"))
const work = path.join(os.tmpdir(), `effect-ssh-auth-consumer-${process.pid}`)
const isCI = process.env.CI === "true"
const npm = process.platform === "win32" ? "npm.cmd" : "npm"

interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a program to its end, asynchronously (a blocked worker misses vitest's RPC deadline), with a bound on time. */
const run = (file: string, args: ReadonlyArray<string>, options: { readonly cwd: string; readonly timeoutMs: number }): Promise<Ran> =>
  new Promise((resolve) => {
    const child = spawn(file, args, { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, npm_config_update_notifier: "false" } })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`
      child.kill("SIGKILL")
    }, options.timeoutMs)
    child.on("error", (error) => (stderr += String(error)))
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const shown = (r: Ran) => `exit ${r.code}\n${r.stdout.slice(-4000)}\n${r.stderr.slice(-4000)}`

// The registry, asked once before the tests are collected.
const ping = await run(npm, ["ping"], { cwd: root, timeoutMs: 30_000 })
const registry = ping.code === 0
if (!registry) {
  console.warn(
    `SKIPPED${isCI ? " (and failing: CI=true)" : ""}: the consumer test needs the npm registry, and npm ping failed:\n${ping.stderr.trim().slice(0, 500)}`
  )
}

/** The versions in a range such as `^0.93.0 || ^0.94.0`, lowest first. */
const versionsIn = (range: string): Array<string> =>
  [...range.matchAll(/\d+\.\d+\.\d+/g)].map((m) => m[0]).sort((a, b) => {
    const [x, y] = [a, b].map((v) => v.split(".").map(Number))
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2]
  })

const peers: Record<string, string> = pkg.peerDependencies
/**
 * The README's examples read key files through @effect/platform-node, as a Node app does: the
 * app brings the platform-node line that pairs with its @effect/platform (their peers say so).
 */
const platformNodeFor: Record<string, string> = { "0.95": "~0.105.0", "0.96": "~0.107.0", "0.97": "~0.108.0" }
const withPlatformNode = (versions: Record<string, string>, platform: string): Record<string, string> => {
  const line = platformNodeFor[platform.split(".").slice(0, 2).join(".")]
  if (line === undefined) throw new Error(`consumer test: no @effect/platform-node line known for @effect/platform ${platform}`)
  return { ...versions, "@effect/platform-node": line }
}
const lowest = Object.fromEntries(Object.entries(peers).map(([name, range]) => [name, versionsIn(range)[0]]))
const scenarios = [
  { name: "lowest", versions: withPlatformNode(lowest, lowest["@effect/platform"]) },
  { name: "latest", versions: withPlatformNode(peers, versionsIn(peers["@effect/platform"]).at(-1)!) }
] as const

/** Apparent bytes of every file under `dir`. */
const bytesUnder = (dir: string): number => {
  let total = 0
  const stack = [dir]
  while (stack.length > 0) {
    const next = stack.pop()!
    for (const entry of fs.readdirSync(next, { withFileTypes: true })) {
      const full = path.join(next, entry.name)
      if (entry.isDirectory()) stack.push(full)
      else if (entry.isFile()) total += fs.statSync(full).size
    }
  }
  return total
}

/** Every installed copy of a package, found on disk: `node_modules/<name>/package.json` at any depth. */
const copiesOf = (dir: string, name: string): Array<string> => {
  const found: Array<string> = []
  const stack = [path.join(dir, "node_modules")]
  while (stack.length > 0) {
    const modules = stack.pop()!
    if (!fs.existsSync(modules)) continue
    const candidate = path.join(modules, name, "package.json")
    if (fs.existsSync(candidate) && JSON.parse(fs.readFileSync(candidate, "utf8")).name === name) found.push(path.dirname(candidate))
    for (const entry of fs.readdirSync(modules, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith(".")) continue
      const scoped = entry.name.startsWith("@")
        ? fs.readdirSync(path.join(modules, entry.name)).map((n) => path.join(modules, entry.name, n))
        : [path.join(modules, entry.name)]
      for (const dep of scoped) stack.push(path.join(dep, "node_modules"))
    }
  }
  return found
}

/** README.md's ```ts blocks, in order, whatever they are. */
const readmeExamples = (): Array<string> => {
  const blocks: Array<string> = []
  const text = fs.readFileSync(path.join(root, "README.md"), "utf8")
  for (const m of text.matchAll(/^```ts\n([\s\S]*?)^```/gm)) blocks.push(m[1])
  return blocks
}

const MiB = 1024 * 1024

describe.skipIf(!registry && !isCI)("the packed package in a fresh Effect app", () => {
  let tarball = ""
  // The scratch apps are hundreds of MB: gone with the run (the sizes were printed).
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

  it("npm pack: the registry answers, and the tarball holds the built library, the CLI bundle and bin, and nothing else", async () => {
    expect(registry, `npm ping failed: ${ping.stderr}`).toBe(true)
    expect(fs.existsSync(path.join(root, "dist/cli/ssh-auth.mjs")), "dist/ is not built: npm test runs `npm run build` first").toBe(true)
    fs.rmSync(work, { recursive: true, force: true })
    fs.mkdirSync(work, { recursive: true })
    // dist/ is built already; prepack would build it again.
    const packed = await run(npm, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: root, timeoutMs: 60_000 })
    expect(packed.code, shown(packed)).toBe(0)
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }>; unpackedSize: number }>
    tarball = path.join(work, info.filename)
    const files = info.files.map((f) => f.path)
    for (const needed of ["package.json", "LICENSE", "bin/ssh-auth.js", "dist/index.js", "dist/index.d.ts", "dist/cli/ssh-auth.mjs"]) {
      expect(files, needed).toContain(needed)
    }
    expect(files.filter((f) => f.endsWith(".map") || f.startsWith("src/") || f.includes(".blob") || f.startsWith("dist/cli/") && f.endsWith(".d.ts"))).toEqual(
      []
    )
  }, 90_000)

  for (const scenario of scenarios) {
    it(
      `${scenario.name} (${
        Object.entries(scenario.versions).map(([n, v]) => `${n}@${v}`).join(", ")
      }): one effect, the README's examples type-check, one login succeeds`,
      async () => {
        expect(tarball, "npm pack failed").not.toBe("")
        const app = path.join(work, scenario.name)
        fs.mkdirSync(app, { recursive: true })
        fs.writeFileSync(
          path.join(app, "package.json"),
          JSON.stringify({ name: `consumer-${scenario.name}`, private: true, type: "module", dependencies: scenario.versions }, null, 2)
        )
        const npmInstall = (args: ReadonlyArray<string>) => run(npm, ["install", "--no-audit", "--no-fund", ...args], { cwd: app, timeoutMs: 120_000 })

        // The app's own packages first, then ours, as a user adds a library.
        const own = await npmInstall([])
        expect(own.code, shown(own)).toBe(0)
        const before = bytesUnder(path.join(app, "node_modules"))
        const ours = await npmInstall([tarball])
        expect(ours.code, shown(ours)).toBe(0)
        const after = bytesUnder(path.join(app, "node_modules"))

        // One copy of effect: the app's, at the version the scenario asked for.
        const effectCopies = copiesOf(app, "effect")
        expect(effectCopies.map((dir) => path.relative(app, dir))).toEqual([path.join("node_modules", "effect")])
        const installed = JSON.parse(fs.readFileSync(path.join(app, "node_modules/effect/package.json"), "utf8")).version
        if (scenario.name === "lowest") expect(installed).toBe(scenario.versions.effect)
        const ls = await run(npm, ["ls", "effect", "--all"], { cwd: app, timeoutMs: 60_000 })
        expect(ls.code, shown(ls)).toBe(0)
        expect(ls.stdout).not.toMatch(/invalid|UNMET|extraneous/)

        // README.md's examples, each its own module, and the login, under strict settings.
        const examples = readmeExamples()
        expect(examples.length).toBeGreaterThan(0)
        fs.mkdirSync(path.join(app, "src"), { recursive: true })
        examples.forEach((code, i) => fs.writeFileSync(path.join(app, "src", `readme-${i + 1}.ts`), code))
        fs.copyFileSync(path.join(root, "test/consumer/app/login.ts"), path.join(app, "src/login.ts"))
        fs.writeFileSync(
          path.join(app, "tsconfig.json"),
          JSON.stringify(
            {
              compilerOptions: {
                target: "ES2022",
                module: "NodeNext",
                moduleResolution: "NodeNext",
                lib: ["ES2022"],
                strict: true,
                exactOptionalPropertyTypes: true,
                noUncheckedIndexedAccess: true,
                noImplicitOverride: true,
                noFallthroughCasesInSwitch: true,
                verbatimModuleSyntax: true,
                // Our .d.ts files against the app's effect, too.
                skipLibCheck: false,
                // The repository's @types/node: the app has no other need of it.
                typeRoots: [path.join(root, "node_modules/@types")],
                types: ["node"],
                rootDir: "src",
                outDir: "out"
              },
              include: ["src"]
            },
            null,
            2
          )
        )
        const tsc = await run(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", app], { cwd: app, timeoutMs: 120_000 })
        expect(tsc.code, `README.md's examples (src/readme-N.ts, in order) or the login do not type-check:\n${shown(tsc)}`).toBe(0)

        const login = await run(process.execPath, ["out/login.js"], { cwd: app, timeoutMs: 30_000 })
        expect(login.code, shown(login)).toBe(0)
        expect(login.stdout).toMatch(/-> success/)
        // A second copy of effect would say so on every fiber.
        expect(login.stderr).not.toMatch(/Executing an Effect versioned/)

        console.log(
          `consumer ${scenario.name}: effect ${installed}; the package adds ${((after - before) / MiB).toFixed(1)} MiB to node_modules ` +
            `(the app's own: ${(before / MiB).toFixed(1)} MiB)`
        )
        // The target of issue 13: beyond the app's effect and @effect/platform, at most 10 MB.
        expect(after - before).toBeLessThanOrEqual(10 * 1000 * 1000)
      },
      240_000
    )
  }
})
