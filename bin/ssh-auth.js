#!/bin/sh
":" //; [ -z "${NODE_EXTRA_CA_CERTS+x}" ] || { SSH_AUTH_NODE_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS; export SSH_AUTH_NODE_EXTRA_CA_CERTS; unset NODE_EXTRA_CA_CERTS; }; u=; [ -n "${MALLOC_ARENA_MAX+x}" ] || { export MALLOC_ARENA_MAX=1; u="$u MALLOC_ARENA_MAX"; }; [ -n "${MALLOC_MMAP_THRESHOLD_+x}" ] || { export MALLOC_MMAP_THRESHOLD_=131072; u="$u MALLOC_MMAP_THRESHOLD_"; }; [ -z "$u" ] || { SSH_AUTH_UNSET=${u# }; export SSH_AUTH_UNSET; }; b=$0; { [ ! -L "$b" ] || b=$(readlink -f "$b" 2>/dev/null); } && b="${b%/*}/../dist/cli/ssh-auth.blob" && n=$(command -v node) && { [ ! -L "$n" ] || n=$(readlink -f "$n"); } && { read -r sn && read -r ss && read -r sf; } 2>/dev/null < "$b.node" && [ "${sf#--}" != "$sf" ] && [ "$sn" = "$n" ] && [ -f "$b" ] && [ "$ss" -eq "$(wc -c < "$n")" ] 2>/dev/null && exec "$n" $sf --snapshot-blob "$b" -- "$@"; exec node "$0" "$@"
// The line above is for sh, and a string and a comment for node. Run as a command, sh sets
// node's environment for a short process, and leaves a note of what it changed, for the
// command to undo for the programs it runs (src/cli/bin.ts):
// - NODE_EXTRA_CA_CERTS goes (kept in SSH_AUTH_NODE_EXTRA_CA_CERTS): node reads and parses
//   that file at every start, 35 ms for a system CA bundle, and ssh-auth speaks no TLS;
// - where they are not set (SSH_AUTH_UNSET lists those it set), two of glibc's malloc settings:
//   MALLOC_ARENA_MAX=1, as an arena per thread costs a login 2 MB of peak RSS; and
//   MALLOC_MMAP_THRESHOLD_ at glibc's default, which turns off its raising of the threshold
//   once node frees the snapshot file it read (7 MB): later large blocks would come from the
//   heap and stay there, 0.9 MB of a login's peak RSS.
// Then sh starts
// node from dist/cli/ssh-auth.blob, a V8 startup snapshot of the bundle, when one was made for
// this very node binary (bin/build-snapshot.js; its stamp names the binary and its size, and
// gives the V8 flags the snapshot was made with);
// otherwise it runs this file with node, which loads the bundle. `node bin/ssh-auth.js` always
// loads the bundle.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"

const bundle = fileURLToPath(new URL("../dist/cli/ssh-auth.mjs", import.meta.url))
const builder = fileURLToPath(new URL("../scripts/build-cli.mjs", import.meta.url))
if (!fs.existsSync(bundle) && fs.existsSync(builder)) {
  // A fresh clone after `npm ci`: the package builds at pack time (`prepack`), not at install.
  console.error("ssh-auth: dist/cli/ssh-auth.mjs is missing; bundling it now (npm run build makes it too)")
  spawnSync(process.execPath, [builder, "--no-snapshot"], { stdio: ["ignore", "inherit", "inherit"] })
}
if (!fs.existsSync(bundle)) {
  console.error("ssh-auth: dist/cli/ssh-auth.mjs is missing: run `npm run build` in the repository, or reinstall the package")
  process.exit(2)
}
// The bundle runs the command on process.argv as it loads.
await import(pathToFileURL(bundle).href)
