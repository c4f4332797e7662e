/**
 * The small pieces every benchmark shares: a bounded pool of concurrent tasks, medians and
 * quantiles, KiB. No imports, so a runner process loads nothing for them.
 */

/** Runs `task(0 .. count-1)` with at most `limit` under way; rejects on the first failure. */
export const pool = async (count: number, limit: number, task: (i: number) => Promise<void>) => {
  let next = 0
  let failed = false
  const worker = async () => {
    while (next < count && !failed) {
      const i = next++
      await task(i).catch((e) => {
        failed = true
        throw e
      })
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, count)) }, worker))
}

const sorted = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)

export const median = (xs: ReadonlyArray<number>) => {
  const s = sorted(xs)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** The `q` quantile of `xs`, as the nearest rank. */
export const quantile = (xs: ReadonlyArray<number>, q: number) => {
  const s = sorted(xs)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}

export const kib = (bytes: number) => (bytes / 1024).toFixed(0)

/**
 * The turn order of round `round`: forward in even rounds, backward in odd ones (A B C, C B A,
 * A B C, …). A process warms up through the whole run (V8 compiles its code over thousands of
 * logins), so in a fixed order the first in every round always meets the coldest client.
 */
export const turns = <A>(items: ReadonlyArray<A>, round: number): Array<[number, A]> => {
  const order = [...items.entries()]
  return round % 2 === 0 ? order : order.reverse()
}
