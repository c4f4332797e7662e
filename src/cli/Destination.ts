/**
 * Parsing `[user@]host` the way ssh does: the last `@` separates the user, and `[::1]`
 * brackets are allowed around an IPv6 address.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category models
 */
export interface Destination {
  readonly user: string | undefined
  readonly host: string
}

/**
 * @since 0.1.0
 * @category parsing
 */
export const parseDestination = (input: string): Destination => {
  const at = input.lastIndexOf("@")
  const user = at > 0 ? input.slice(0, at) : undefined
  let host = at >= 0 ? input.slice(at + 1) : input
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1)
  return { user, host }
}
