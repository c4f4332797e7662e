/**
 * ssh_config(5) lines: the keyword (case-insensitive, `key value` or `key=value`) and its
 * arguments, split the way OpenSSH's `argv_split` splits them (whitespace, double and single
 * quotes, backslash escapes, `#` starting a comment). Pure; no file access.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { ConfigError } from "./ConfigError.js"

/**
 * One meaningful line of a config file.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigLine {
  /** Lower-case. */
  readonly keyword: string
  readonly args: ReadonlyArray<string>
  /** The text after the keyword, as written: ProxyCommand takes it whole, as ssh does. */
  readonly rest: string
  readonly file: string
  readonly line: number
}

/** Splits arguments like OpenSSH's argv_split with comments terminating the line. */
const splitArgs = (text: string): Either.Either<Array<string>, string> => {
  const args: Array<string> = []
  let i = 0
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++
    if (i >= text.length) break
    if (text[i] === "#") break
    let arg = ""
    let quote: string | undefined
    for (; i < text.length; i++) {
      const c = text[i]
      if (quote === undefined && /\s/.test(c)) break
      if (
        c === "\\" && i + 1 < text.length &&
        (text[i + 1] === "\"" || text[i + 1] === "'" || text[i + 1] === "\\" || (quote === undefined && text[i + 1] === " "))
      ) {
        arg += text[++i]
      } else if (quote === undefined && (c === "\"" || c === "'")) {
        quote = c
      } else if (c === quote) {
        quote = undefined
      } else {
        arg += c
      }
    }
    if (quote !== undefined) return Either.left("unterminated quote")
    args.push(arg)
  }
  return Either.right(args)
}

/**
 * Parses one line. Answers undefined for blank lines and comments.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseLine = (text: string, file: string, line: number): Either.Either<ConfigLine | undefined, ConfigError> => {
  const trimmed = text.replace(/^\s+/, "").replace(/\s+$/, "")
  if (trimmed === "" || trimmed.startsWith("#")) return Either.right(undefined)
  const m = /^([^\s=]+)(?:\s*=\s*|\s+|$)([\s\S]*)$/.exec(trimmed)
  if (!m) return Either.left(new ConfigError({ reason: "BadOption", file, line, detail: "Bad configuration option" }))
  const [, keyword, rest] = m
  return Either.match(splitArgs(rest), {
    onLeft: (detail) => Either.left(new ConfigError({ reason: "BadValue", file, line, detail: `${detail} in ${keyword}` })),
    onRight: (args) => Either.right({ keyword: keyword.toLowerCase(), args, rest, file, line })
  })
}

/**
 * Parses a whole file.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseText = (text: string, file: string): Either.Either<ReadonlyArray<ConfigLine>, ConfigError> => {
  const out: Array<ConfigLine> = []
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const parsed = parseLine(raw, file, i + 1)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    if (parsed.right !== undefined) out.push(parsed.right)
  }
  return Either.right(out)
}
