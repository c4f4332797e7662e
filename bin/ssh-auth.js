#!/usr/bin/env node
// The TypeScript is compiled to dist/ by `npm ci` / `npm install` (the "prepare" script).
import("../dist/cli/main.js").catch((error) => {
  if (error && error.code === "ERR_MODULE_NOT_FOUND") {
    console.error("ssh-auth: dist/ is missing; run `npm run build` (npm ci does it through `prepare`).")
    process.exit(2)
  }
  throw error
})
