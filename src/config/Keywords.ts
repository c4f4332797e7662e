/**
 * The ssh_config(5) keywords: every one OpenSSH 9 accepts (so that real configs parse), and
 * for the ones this library acts on, how their values are checked, whether they accumulate,
 * and how `ssh -G` prints them.
 *
 * @since 0.1.0
 */

/** A value check: an error detail in ssh's words, or undefined when fine. */
type Check = (args: ReadonlyArray<string>) => string | undefined

/**
 * @since 0.1.0
 * @category models
 */
export interface Keyword {
  /** Every occurrence adds (IdentityFile, SendEnv…) instead of the first one winning. */
  readonly accumulates?: boolean
  readonly check?: Check
  /** Takes the rest of the line as written, one value (ProxyCommand: a shell command line). */
  readonly verbatim?: boolean
}

const oneArg: Check = (args) => (args.length === 0 ? "missing argument." : undefined)
/** Most keywords take exactly one argument; ssh refuses more. */
const single = (check: Check): Check => (args) => args.length > 1 ? "extra arguments at end of line" : check(args)
const flagValues = ["yes", "no", "true", "false"]
const oneOf = (values: ReadonlyArray<string>): Check => (args) =>
  args.length === 0 ? "missing argument." : values.includes(args[0].toLowerCase()) ? undefined : `unsupported option "${args[0]}".`
const flag = oneOf(flagValues)
const integer: Check = (args) =>
  args.length === 0 ? "missing argument." : /^-/.test(args[0]) ? "integer value too small." : /^\d+$/.test(args[0]) ? undefined : `Bad number '${args[0]}'.`
const port: Check = (args) => {
  if (args.length === 0) return "missing argument."
  const n = Number(args[0])
  return /^\d+$/.test(args[0]) && n >= 1 && n <= 65535 ? undefined : `Bad port '${args[0]}'.`
}

/**
 * A time as ssh_config takes it (`30`, `1m`, `1h30m`): seconds, or undefined when malformed.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseTime = (text: string): number | undefined => {
  if (text === "") return undefined
  const units: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }
  let total = 0
  for (const part of text.toLowerCase().match(/\d+[smhdw]?|./g) ?? []) {
    const m = /^(\d+)([smhdw]?)$/.exec(part)
    if (!m) return undefined
    total += Number(m[1]) * units[m[2]]
  }
  return total
}
const time: Check = (args) => (args.length === 0 ? "missing argument." : parseTime(args[0]) === undefined ? `invalid time value.` : undefined)

const acted: Record<string, Keyword> = {
  user: { check: single(oneArg) },
  hostname: { check: single(oneArg) },
  port: { check: single(port) },
  identityfile: { accumulates: true, check: single(oneArg) },
  certificatefile: { accumulates: true, check: single(oneArg) },
  identitiesonly: { check: single(flag) },
  identityagent: { check: single(oneArg) },
  preferredauthentications: { check: single(oneArg) },
  pubkeyauthentication: { check: single(oneOf([...flagValues, "unbound", "host-bound"])) },
  passwordauthentication: { check: single(flag) },
  gssapiauthentication: { check: single(flag) },
  gssapidelegatecredentials: { check: single(flag) },
  gssapiserveridentity: { check: single(oneArg) },
  kbdinteractiveauthentication: { check: single(flag) },
  numberofpasswordprompts: { check: single(integer) },
  batchmode: { check: single(flag) },
  connecttimeout: { check: single((args) => (args[0]?.toLowerCase() === "none" ? undefined : time(args))) },
  // Ours, not ssh's (ssh has no bound on a whole login): sshd's name for the same bound.
  logingracetime: { check: single(time) },
  userknownhostsfile: { check: oneArg },
  globalknownhostsfile: { check: oneArg },
  stricthostkeychecking: { check: single(oneOf([...flagValues, "off", "ask", "accept-new"])) },
  hostkeyalgorithms: { check: single(oneArg) },
  kexalgorithms: { check: single(oneArg) },
  // OpenSSH 10.1's; 9.2 does not know it.
  warnweakcrypto: { check: single(oneOf([...flagValues, "no-pq-kex"])) },
  pubkeyacceptedalgorithms: { check: single(oneArg) },
  hostkeyalias: { check: single(oneArg) },
  addkeystoagent: {
    check: (args) =>
      args.length === 0
        ? "missing argument."
        : [...flagValues, "ask", "confirm"].includes(args[0].toLowerCase()) || parseTime(args[0]) !== undefined
        ? undefined
        : `unsupported option "${args[0]}".`
  },
  proxyjump: { check: single(oneArg) },
  proxycommand: { verbatim: true, check: oneArg },
  proxyusefdpass: { check: single(flag) },
  hashknownhosts: { check: single(flag) },
  sendenv: { accumulates: true },
  setenv: {},
  localforward: { accumulates: true },
  remoteforward: { accumulates: true },
  dynamicforward: { accumulates: true },
  tag: { check: single(oneArg) }
}

/** Keywords ssh accepts that we read past. */
const accepted = `addressfamily bindaddress bindinterface canonicaldomains canonicalizefallbacklocal
canonicalizehostname canonicalizemaxdots canonicalizepermittedcnames casignaturealgorithms checkhostip
ciphers clearallforwardings compression connectionattempts controlmaster controlpath controlpersist
enableescapecommandline enablesshkeysign escapechar exitonforwardfailure fingerprinthash
forkafterauthentication forwardagent forwardx11 forwardx11timeout forwardx11trusted gatewayports
gssapikeyexchange gssapiclientidentity gssapirenewalforcesrekey gssapitrustdns gssapikexalgorithms hostbasedacceptedalgorithms
hostbasedauthentication ipqos kbdinteractivedevices knownhostscommand localcommand
loglevel logverbose macs nohostauthenticationforlocalhost permitlocalcommand permitremoteopen
pkcs11provider rekeylimit remotecommand requesttty requiredrsasize
revokedhostkeys securitykeyprovider serveralivecountmax serveraliveinterval sessiontype stdinnull
streamlocalbindmask streamlocalbindunlink syslogfacility tcpkeepalive tunnel tunneldevice
updatehostkeys verifyhostkeydns visualhostkey xauthlocation obscurekeystroketiming channeltimeout
ignoreunknown`.split(/\s+/)

/** Old names ssh still takes for current keywords. */
const aliases: Record<string, string> = {
  challengeresponseauthentication: "kbdinteractiveauthentication",
  pubkeyacceptedkeytypes: "pubkeyacceptedalgorithms",
  hostbasedkeytypes: "hostbasedacceptedalgorithms",
  dsaauthentication: "pubkeyauthentication"
}

/** Removed options ssh warns about and ignores. */
const deprecated = `protocol cipher fallbacktorsh globalknownhostsfile2 rhostsauthentication rhostsrsaauthentication
rsaauthentication compressionlevel useroaming usersh userknownhostsfile2 useprivilegedport
skeyauthentication kerberosauthentication kerberostgtpassing afstokenpassing`.split(/\s+/)

/**
 * What a keyword is, by its lower-case name after aliases; undefined for a keyword ssh
 * does not know.
 *
 * @since 0.1.0
 * @category lookup
 */
export const lookup = (keyword: string): { readonly name: string; readonly info: Keyword; readonly ignored: boolean } | undefined => {
  const name = aliases[keyword] ?? keyword
  if (name in acted) return { name, info: acted[name], ignored: false }
  if (accepted.includes(name)) return { name, info: {}, ignored: true }
  if (deprecated.includes(name)) return { name, info: {}, ignored: true }
  return undefined
}

/**
 * Whether ssh treats a value as yes.
 *
 * @since 0.1.0
 * @category parsing
 */
export const isYes = (value: string | undefined): boolean => value !== undefined && ["yes", "true"].includes(value.toLowerCase())
