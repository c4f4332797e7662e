/**
 * OpenSSH's host patterns (ssh_config(5) PATTERNS): `*` and `?` wildcards, `!` negation,
 * comma-separated lists, compared case-insensitively for host names.
 *
 * @since 0.1.0
 */

const compiled = new Map<string, RegExp>()

/**
 * Whether `value` matches one wildcard pattern.
 *
 * @since 0.1.0
 * @category matching
 */
export const matchPattern = (value: string, pattern: string, caseInsensitive = true): boolean => {
  const key = `${caseInsensitive ? "i" : "s"}${pattern}`
  let re = compiled.get(key)
  if (re === undefined) {
    re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[\\s\\S]*").replace(/\?/g, "[\\s\\S]")}$`, caseInsensitive ? "i" : "")
    if (compiled.size > 1000) compiled.clear()
    compiled.set(key, re)
  }
  return re.test(value)
}

/**
 * A pattern list against a value, as OpenSSH's `match_pattern_list`: "negated" as soon as a
 * `!pattern` matches, else "match" if any plain pattern matched, else "none".
 *
 * @since 0.1.0
 * @category matching
 */
export const matchList = (value: string, patterns: ReadonlyArray<string>, caseInsensitive = true): "match" | "negated" | "none" => {
  let matched = false
  for (const p of patterns) {
    if (p.startsWith("!")) {
      if (matchPattern(value, p.slice(1), caseInsensitive)) return "negated"
    } else if (matchPattern(value, p, caseInsensitive)) matched = true
  }
  return matched ? "match" : "none"
}
