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

/**
 * An IPv4 address in the forms `getaddrinfo` takes with `AI_NUMERICHOST` on glibc, as
 * `inet_aton` reads them: one to four parts, each decimal, octal (leading 0) or hex (0x),
 * the last filling the bytes left (`127.1` is 127.0.0.1, `010.0.0.1` is 8.0.0.1).
 */
const parseIPv4 = (text: string): Uint8Array | undefined => {
  const parts = text.split(".")
  if (parts.length > 4) return undefined
  const values: Array<number> = []
  for (const part of parts) {
    const value = /^0x[0-9a-f]+$/i.test(part)
      ? parseInt(part.slice(2), 16)
      : /^0[0-7]*$/.test(part)
      ? parseInt(part, 8)
      : /^[1-9][0-9]*$/.test(part)
      ? Number(part)
      : undefined
    if (value === undefined) return undefined
    values.push(value)
  }
  const last = values.pop()!
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return undefined
  const bytes = new Uint8Array(4)
  values.forEach((v, i) => (bytes[i] = v))
  for (let i = 3, rest = last; i >= values.length; i--, rest = Math.floor(rest / 256)) bytes[i] = rest % 256
  return bytes
}

/** A strict dotted quad, as `inet_pton` reads one inside an IPv6 address. */
const dottedQuad = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

/** RFC 4291 §2.2 text: hex groups, one `::` at most, an IPv4 tail allowed. No zone (`%eth0`). */
const parseIPv6 = (text: string): Uint8Array | undefined => {
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const groups = (half: string): Array<number> | undefined => {
    if (half === "") return []
    const out: Array<number> = []
    const pieces = half.split(":")
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && dottedQuad.test(piece)) {
        const [a, b, c, d] = piece.split(".").map(Number)
        out.push(a * 256 + b, c * 256 + d)
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) out.push(parseInt(piece, 16))
      else return undefined
    }
    return out
  }
  const head = groups(halves[0])
  const tail = halves.length === 2 ? groups(halves[1]) : []
  if (head === undefined || tail === undefined) return undefined
  // A tail's IPv4 part may only end the address.
  if (halves.length === 2 && head.length > 0 && halves[0].includes(".")) return undefined
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail]
  const bytes = new Uint8Array(16)
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8
    bytes[2 * i + 1] = g & 0xff
  })
  return bytes
}

/**
 * A numeric IP address as its bytes (4 for IPv4, 16 for IPv6), as OpenSSH's `addr_pton`
 * reads it; undefined for a host name or anything else.
 *
 * @since 0.1.0
 * @category addresses
 */
export const parseAddress = (text: string): Uint8Array | undefined => text.includes(":") ? parseIPv6(text) : parseIPv4(text)

/**
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as Node reports IPv4 peers of a
 * dual-stack socket) as the plain IPv4 address sshd sees; anything else as it is.
 *
 * @since 0.1.0
 * @category addresses
 */
export const unmapAddress = (text: string): string => {
  const bytes = text.includes(":") ? parseIPv6(text) : undefined
  const mapped = bytes !== undefined && bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  return mapped ? bytes.subarray(12).join(".") : text
}

interface Network {
  readonly bytes: Uint8Array
  readonly bits: number
}

/**
 * `address[/bits]`, as OpenSSH's `addr_pton_cidr`: undefined when it is not an address at
 * all, "invalid" when it is but the length is too long or bits are set past it.
 */
const parseCidr = (text: string): Network | "invalid" | undefined => {
  if (text.length >= 64) return undefined
  const slash = text.indexOf("/")
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1)
  if (bitsText !== undefined && !/^\d+$/.test(bitsText)) return undefined
  const bytes = parseAddress(slash < 0 ? text : text.slice(0, slash))
  if (bytes === undefined) return undefined
  const bits = bitsText === undefined ? bytes.length * 8 : Number(bitsText)
  if (bits > bytes.length * 8) return "invalid"
  for (let i = 0; i < bytes.length * 8; i++) {
    if (i >= bits && (bytes[i >> 3] >> (7 - (i & 7))) & 1) return "invalid"
  }
  return { bytes, bits }
}

const inNetwork = (address: Uint8Array, network: Network): boolean => {
  if (address.length !== network.bytes.length) return false
  for (let i = 0; i < network.bits; i++) {
    if (((address[i >> 3] ^ network.bytes[i >> 3]) >> (7 - (i & 7))) & 1) return false
  }
  return true
}

/**
 * An address against a list of CIDR networks and wildcard patterns, as OpenSSH's
 * `addr_match_list` (`from=` in authorized_keys, `Match Address`): an entry that reads as
 * `address[/bits]` is matched as a network, any other as a wildcard pattern on the
 * address text; `!` negates. "negated" as soon as a negated entry matches; "invalid" for
 * an empty entry or a network with a bad length or host bits set, which sshd refuses.
 *
 * @since 0.1.0
 * @category addresses
 */
export const matchAddressList = (address: string, patterns: ReadonlyArray<string>): "match" | "negated" | "none" | "invalid" => {
  const bytes = parseAddress(address)
  // sshd gives up at once on an address it cannot read, before it reads the list.
  if (bytes === undefined) return "none"
  let result: "match" | "none" = "none"
  for (const raw of patterns) {
    const negated = raw.startsWith("!")
    const entry = negated ? raw.slice(1) : raw
    if (entry === "") return "invalid"
    const network = parseCidr(entry)
    if (network === "invalid") return "invalid"
    const hit = network === undefined ? matchPattern(address, entry, false) : inNetwork(bytes, network)
    if (hit && negated) return "negated"
    if (hit) result = "match"
  }
  return result
}

/**
 * An address against a comma-separated list of CIDR networks, as OpenSSH's
 * `addr_match_cidr_list` (a certificate's `source-address`): no wildcards, no negation.
 * "invalid" for a list sshd refuses, whatever the address.
 *
 * @since 0.1.0
 * @category addresses
 */
export const matchCidrList = (address: string, list: string): "match" | "none" | "invalid" => {
  const networks: Array<Network> = []
  for (const entry of list.split(",")) {
    // INET6_ADDRSTRLEN + 3 for the length, and only the characters an address has.
    if (entry === "" || entry.length > 49 || !/^[0-9a-fA-F.:/]+$/.test(entry)) return "invalid"
    const network = parseCidr(entry)
    if (network === undefined || network === "invalid") return "invalid"
    networks.push(network)
  }
  const bytes = parseAddress(address)
  return bytes !== undefined && networks.some((n) => inNetwork(bytes, n)) ? "match" : "none"
}

/**
 * A client against a `from=` list, as OpenSSH's `match_host_and_ip`: its address through
 * {@link matchAddressList}, its host name through {@link matchList} (case-insensitive).
 * Without DNS, sshd's host name is the address text itself. Either list negating wins.
 *
 * @since 0.1.0
 * @category addresses
 */
export const matchHostAndAddress = (
  host: string,
  address: string,
  patterns: ReadonlyArray<string>
): "match" | "negated" | "none" | "invalid" => {
  const byAddress = matchAddressList(address, patterns)
  if (byAddress === "invalid" || byAddress === "negated") return byAddress
  const byName = matchList(host.toLowerCase(), patterns)
  if (byName === "negated") return "negated"
  return byAddress === "match" || byName === "match" ? "match" : "none"
}
