/**
 * Text that came from a peer, made safe to show a person: no terminal control sequence
 * gets through, and no piece is longer than a bound. ssh runs banners, prompts and
 * disconnect messages through `strnvis` for the same reason: a server that can write
 * ESC sequences can repaint the screen, retitle the window, or draw a fake local prompt.
 *
 * Everything a peer says passes through here on its way into a message, a log line or
 * the terminal. The raw text stays available in the data (a banner, a description) for
 * programs that want it.
 *
 * @since 0.1.0
 */

/**
 * What a piece of peer text may be shown at most, in characters, unless said otherwise.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_MAX_LENGTH = 256

/**
 * C0 controls, DEL, C1 controls (8-bit CSI and friends), the bidirectional overrides
 * that reorder what a person reads, and the Unicode line and paragraph separators.
 */
const unsafe = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g
// JSON.stringify escapes C0 already.
const unsafeBeyondC0 = /[\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g
const unsafeKeepingLines = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g

const escape = (c: string): string => {
  const code = c.charCodeAt(0)
  // Octal for the single-byte controls, as strnvis writes them; \u for the rest.
  return code < 0x100 ? `\\${code.toString(8).padStart(3, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`
}

/**
 * The text with every control character escaped (`\033` for ESC). With `multiline`,
 * newlines and tabs are kept, for banners and instructions that are meant to span lines.
 *
 * @since 0.1.0
 * @category sanitising
 */
export const printable = (text: string, options: { readonly multiline?: boolean } = {}): string =>
  text.replace(options.multiline ? unsafeKeepingLines : unsafe, escape)

/**
 * JSON text with the characters `JSON.stringify` leaves as they are but a terminal still
 * acts on (DEL, C1 controls, bidirectional marks, line separators) written as `\uXXXX`,
 * which is still valid JSON: an `AuthResult` in JSON carries the server's banners.
 *
 * @since 0.1.0
 * @category sanitising
 */
export const safeJson = (value: unknown, space?: number): string =>
  JSON.stringify(value, null, space).replace(unsafeBeyondC0, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/**
 * `printable`, cut to `max` characters of what is shown, saying how much of the text was left
 * out. The bound holds after escaping (an escape is up to six characters), and an escape is
 * never cut in half.
 *
 * @since 0.1.0
 * @category sanitising
 */
export const show = (text: string, max = DEFAULT_MAX_LENGTH, options: { readonly multiline?: boolean } = {}): string => {
  // No more than `max` characters of the text can be shown: escape only those.
  const head = text.length > max ? text.slice(0, max) : text
  const safe = printable(head, options)
  if (safe.length <= max) return text.length > max ? `${safe}… (${text.length - max} more characters)` : safe
  // Escapes made it longer: take whole characters while their shown form fits.
  let shown = ""
  let taken = 0
  for (const c of head) {
    const piece = printable(c, options)
    if (shown.length + piece.length > max) break
    shown += piece
    taken += c.length
  }
  return `${shown}… (${text.length - taken} more characters)`
}

/**
 * A peer's name-list for a message: the first few names, each shown safely, and a count
 * of the rest. A server that lists 50,000 algorithms gets one short line.
 *
 * @since 0.1.0
 * @category sanitising
 */
export const showList = (names: ReadonlyArray<string>, maxNames = 12, maxLength = DEFAULT_MAX_LENGTH): string => {
  const shown = show(names.slice(0, maxNames).join(","), maxLength)
  return names.length > maxNames ? `${shown},… (${names.length - maxNames} more)` : shown
}
