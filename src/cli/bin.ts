/**
 * The entry point of the `ssh-auth` bundle, `dist/cli/ssh-auth.mjs`, which `bin/ssh-auth.js`
 * imports: it runs the command on `process.argv`. Built into a V8 startup snapshot
 * (`node --build-snapshot`), it runs nothing at build time, and the command on every start from
 * the snapshot, where `process.argv` is `[node, ...arguments]`.
 *
 * @since 0.1.0
 */
import * as v8 from "node:v8"
import { main } from "./main.js"

if (v8.startupSnapshot.isBuildingSnapshot()) {
  v8.startupSnapshot.setDeserializeMainFunction(() => main([process.execPath, "ssh-auth", ...process.argv.slice(1)]))
} else {
  main(process.argv)
}
