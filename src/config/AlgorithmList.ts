/**
 * Algorithm lists as ssh assembles them from a config value (kex.c's `kex_assemble_names`).
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import { matchPattern } from "./Patterns.js"

/**
 * A plain list replaces the default; `+list` appends, `-list` removes (patterns allowed)
 * and `^list` puts first. Left: ssh's complaint about a name it does not know.
 *
 * @since 0.1.0
 * @category algorithms
 */
export const assemble = (
  spec: string | undefined,
  defaults: ReadonlyArray<string>,
  all: ReadonlyArray<string>,
  options: {
    /** How ssh names the list in its complaint. */
    readonly what?: string
    /** Patterns only in a `-` list (ssh's KexAlgorithms); elsewhere a pattern is an unknown name. */
    readonly patternsOnlyToRemove?: boolean
  } = {}
): Either.Either<ReadonlyArray<string>, string> => {
  if (spec === undefined) return Either.right(defaults)
  const op = spec[0]
  const names = (op === "+" || op === "-" || op === "^" ? spec.slice(1) : spec).split(",").filter((n) => n !== "")
  const expand = (list: ReadonlyArray<string>) => all.filter((a) => list.some((p) => matchPattern(a, p, false)))
  if (op === "-") return Either.right(defaults.filter((d) => !names.some((p) => matchPattern(d, p, false))))
  const wanted = expand(names)
  const unknown = names.filter((n) => (options.patternsOnlyToRemove || !/[*?]/.test(n)) && !all.includes(n))
  if (unknown.length > 0) return Either.left(`Bad ${options.what ?? "key types"} '${spec}'.`)
  // Patterns expand in the order ssh knows the algorithms; plain names keep their order.
  const ordered = names.flatMap((n) => (/[*?]/.test(n) ? wanted.filter((a) => matchPattern(a, n, false)) : [n]))
  const unique = [...new Set(ordered)]
  if (op === "+") return Either.right([...defaults, ...unique.filter((a) => !defaults.includes(a))])
  if (op === "^") return Either.right([...unique, ...defaults.filter((a) => !unique.includes(a))])
  return Either.right(unique)
}
