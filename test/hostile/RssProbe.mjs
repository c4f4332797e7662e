// Preloaded into the CLI under test with `node --import`: when the process exits (the end
// of the event loop or an explicit process.exit), it writes its peak resident set size, in
// KiB as getrusage reports it, to the file named by HOSTILE_RSS_FILE. A process killed by a
// signal writes nothing, and the test reads that as "no measurement".
import { writeFileSync } from "node:fs"

const file = process.env.HOSTILE_RSS_FILE
if (file) {
  process.on("exit", () => {
    try {
      writeFileSync(file, String(process.resourceUsage().maxRSS))
    } catch {
      // Nothing to report to: the test notices the missing file.
    }
  })
}
