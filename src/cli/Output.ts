/**
 * How the command writes to a stream, as ssh and most Unix tools decide it: a terminal gets
 * its own width and may get escapes (bold, colour); a pipe or a file gets 80 columns and
 * plain text; `NO_COLOR` (set and not empty, per no-color.org) and `TERM=dumb` turn escapes
 * off everywhere. The log lines of `--log-level` follow the same rule.
 *
 * @since 0.1.0
 */
import * as Logger from "effect/Logger"

/**
 * How to write to one output stream: its width in columns, and whether escape sequences
 * (bold) may be used.
 *
 * @since 0.1.0
 * @category models
 */
export interface OutputStyle {
  readonly width: number
  readonly color: boolean
}

/** The least width help is laid out for, however narrow the terminal says it is. */
const MIN_WIDTH = 40

/**
 * The style for a stream: a terminal's width and escapes, or 80 columns and plain text.
 *
 * @since 0.1.0
 * @category constructors
 */
export const outputStyle = (
  stream: { readonly isTTY?: boolean; readonly columns?: number },
  env: Readonly<Record<string, string | undefined>> = process.env
): OutputStyle => {
  const tty = stream.isTTY === true
  const columns = tty && typeof stream.columns === "number" && stream.columns > 0 ? stream.columns : 80
  const noColor = (env.NO_COLOR ?? "") !== "" || env.TERM === "dumb"
  return { width: Math.max(MIN_WIDTH, columns), color: tty && !noColor }
}

/**
 * Effect's pretty logger, with colours only where stdout's style allows them (Effect's own
 * default looks at the terminal alone, not at `NO_COLOR`). The command installs it in place
 * of the default logger; `connect` puts ssh's log lines in its place.
 *
 * @since 0.1.0
 * @category loggers
 */
export const prettyLogger: Logger.Logger<unknown, void> = Logger.make((options) => {
  // Made at the first line logged, not as the module loads: a startup snapshot of the CLI
  // loads its modules at build time, where stdout is not the user's.
  pretty ??= Logger.prettyLogger({ colors: outputStyle(process.stdout).color })
  pretty.log(options)
})
let pretty: Logger.Logger<unknown, void> | undefined
