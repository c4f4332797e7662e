import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The per-run password user (root only), made before the first file and deleted after the last.
    globalSetup: ["test/support/GlobalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ["default", ["json", { outputFile: ".tmp/vitest-report.json" }]]
  }
})
