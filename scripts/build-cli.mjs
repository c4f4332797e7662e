// `npm run build:cli`: bundles the ssh-auth command (src/cli/bin.ts and everything it imports,
// @effect/cli and @effect/platform-node included) into one file, dist/cli/ssh-auth.mjs, so that
// the CLI's own dependencies stay devDependencies of the library. Then, unless --no-snapshot,
// bin/build-snapshot.js makes a V8 startup snapshot of it for this node.
import * as esbuild from "esbuild"
import { spawn } from "node:child_process"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const started = Date.now()
// The same bundle twice: an ES module that bin/ssh-auth.js imports (node compiles an ES module
// lazily: about 12 MB less peak RSS than the same code loaded as CommonJS), and a plain script,
// the input of bin/build-snapshot.js (a startup snapshot's entry can be neither an ES module nor
// use `module`).
const common = {
  absWorkingDir: root,
  entryPoints: ["src/cli/bin.ts"],
  bundle: true,
  platform: "node",
  target: "node20",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  // A native binding, loaded only for GSSAPI and only where it is installed (an optional dependency).
  external: ["koffi"]
}
const outputs = [
  { format: "esm", outfile: "dist/cli/ssh-auth.mjs" },
  { format: "iife", outfile: "dist/cli/ssh-auth.snapshot.cjs" }
]
for (const output of outputs) {
  const result = await esbuild.build({ ...common, ...output })
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0)
  console.error(`build:cli: ${output.outfile}, ${(bytes / 1024).toFixed(0)} KiB`)
}
console.error(`build:cli: bundled in ${Date.now() - started} ms`)

if (!process.argv.includes("--no-snapshot")) {
  const code = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, "bin/build-snapshot.js")], { stdio: "inherit" })
    child.on("close", (code) => resolve(code ?? 1))
  })
  // The bundle alone works everywhere: a node that cannot make the snapshot just starts slower.
  if (code !== 0) console.error("build:cli: no startup snapshot; ssh-auth runs the bundle")
}
