// `npm run build:cli`: bundles the ssh-auth command (src/cli/bin.ts and everything it imports,
// @effect/cli and @effect/platform-node included) into one file, dist/cli/ssh-auth.mjs, so that
// the CLI's own dependencies stay devDependencies of the library. Then, unless --no-snapshot,
// bin/build-snapshot.js makes a V8 startup snapshot of it for this node.
import * as esbuild from "esbuild"
import { spawn } from "node:child_process"
import { builtinModules, createRequire } from "node:module"
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

// In a script bundle every module that imports a node builtin gets its own copy of it: an object
// with a getter per export (esbuild's CommonJS interop), 24 copies of node:crypto's 73 in all.
// The startup snapshot holds them, and each MB of snapshot heap is about 2.4 MB of a command's
// RSS. This plugin puts one module per builtin in between, with a plain binding per export.
const require = createRequire(import.meta.url)
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
/** Getters that are safe to read once at load: no deprecation warning, no WebCrypto set-up. */
const eagerAccessors = new Set(["promises", "ReadStream", "WriteStream", "Dir", "opendir", "opendirSync"])
const oneCopyOfEachBuiltin = {
  name: "one-copy-of-each-builtin",
  setup(build) {
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      builtins.has(args.path) && args.namespace !== "builtin"
        ? { path: args.path.replace(/^node:/, ""), namespace: "builtin" }
        : undefined)
    build.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => {
      const descriptors = Object.getOwnPropertyDescriptors(require(args.path))
      const names = Object.keys(descriptors).filter((name) =>
        /^[A-Za-z_$][\w$]*$/.test(name) && name !== "default" && (!descriptors[name].get || eagerAccessors.has(name))
      )
      const contents = [
        `const m = require("node:${args.path}")`,
        "export default m",
        ...names.map((name) => `export const ${name} = m.${name}`)
      ].join("\n")
      return { contents, loader: "js", resolveDir: root }
    })
  }
}
const outputs = [
  { format: "esm", outfile: "dist/cli/ssh-auth.mjs" },
  {
    format: "iife",
    outfile: "dist/cli/ssh-auth.snapshot.cjs",
    plugins: [oneCopyOfEachBuiltin],
    // A name the plugin does not export would be `undefined` at run time: fail the build instead.
    logOverride: { "import-is-undefined": "error" }
  }
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
