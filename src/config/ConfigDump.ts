/**
 * A resolved configuration printed the way `ssh -G` prints it, for the keywords this library
 * acts on: lower-case keyword, a space, the value; repeated keywords on several lines; unset
 * optional ones left out. Values ssh prints as written come from the raw map, the others
 * from the decoded `HostConfig`.
 *
 * @since 0.1.0
 */
import * as Defaults from "./ConfigDefaults.js"
import { type RawConfig, tokensOf } from "./ConfigResolver.js"
import { expandPath } from "./ConfigTokens.js"
import { type HostConfig, identityFilesAsWritten } from "./HostConfig.js"
import * as Keywords from "./Keywords.js"

const addKeysToAgent = (raw: RawConfig) => {
  const args = raw.values.get("addkeystoagent")
  if (args === undefined) return "false"
  const [v, t] = args
  const lower = v.toLowerCase()
  if (lower === "yes" || lower === "true") return "true"
  if (lower === "no" || lower === "false") return "false"
  if (lower === "ask" || lower === "confirm") return t === undefined ? lower : `${lower} ${Keywords.parseTime(t)}`
  return String(Keywords.parseTime(v))
}

/** ssh prints its flags as yes/no, and its multi-valued ones with true/false for yes/no. */
const yesNo = (b: boolean) => (b ? "yes" : "no")
const trueFalse = (v: string) => (v === "yes" ? "true" : v === "no" ? "false" : v)

/**
 * The lines, in the order this library prints them.
 *
 * @since 0.1.0
 * @category formatting
 */
export const dump = (raw: RawConfig, config: HostConfig): ReadonlyArray<string> => {
  const lines: Array<string> = []
  const put = (keyword: string, v: string | undefined) => {
    if (v !== undefined) lines.push(`${keyword} ${v}`)
  }
  const tokens = tokensOf(raw, raw.host, raw.values)
  const expand = (path: string) => expandPath(path, raw.local, tokens)
  const value = (keyword: string) => raw.values.get(keyword)?.[0]
  put("host", config.originalHost)
  put("user", config.user)
  put("hostname", config.hostname)
  put("port", String(config.port))
  put("batchmode", yesNo(config.batchMode))
  put("hashknownhosts", yesNo(config.hashKnownHosts))
  put("identitiesonly", yesNo(config.identitiesOnly))
  put("kbdinteractiveauthentication", yesNo(config.kbdInteractiveAuthentication))
  put("passwordauthentication", yesNo(config.passwordAuthentication))
  put("gssapiauthentication", yesNo(config.gssapiAuthentication))
  put("gssapidelegatecredentials", yesNo(config.gssapiDelegateCredentials))
  put("gssapiserveridentity", config.gssapiServerIdentity)
  put("pubkeyauthentication", trueFalse(config.pubkeyAuthentication))
  put("stricthostkeychecking", trueFalse(config.strictHostKeyChecking))
  put("numberofpasswordprompts", String(config.numberOfPasswordPrompts))
  put("hostkeyalgorithms", config.effectiveHostKeyAlgorithms.join(","))
  put("hostkeyalias", config.hostKeyAlias)
  put("pubkeyacceptedalgorithms", config.pubkeyAcceptedAlgorithms.join(","))
  put("kexalgorithms", config.kexAlgorithms.join(","))
  put("preferredauthentications", config.preferredAuthentications?.join(","))
  for (const f of identityFilesAsWritten(raw)) put("identityfile", f.path)
  for (const args of raw.lists.get("certificatefile") ?? []) put("certificatefile", args[0])
  put("globalknownhostsfile", (raw.values.get("globalknownhostsfile") ?? Defaults.globalKnownHostsFiles).join(" "))
  put(
    "userknownhostsfile",
    (raw.values.get("userknownhostsfile") ?? Defaults.userKnownHostsFiles).map((f) => f.toLowerCase() === "none" ? f : expand(f)).join(" ")
  )
  put("addkeystoagent", addKeysToAgent(raw))
  const agent = value("identityagent")
  put("identityagent", agent === undefined || agent === "SSH_AUTH_SOCK" || agent.toLowerCase() === "none" || /^\$[A-Za-z_]/.test(agent) ? agent : expand(agent))
  put("connecttimeout", config.connectTimeout === undefined ? "none" : String(config.connectTimeout))
  put("proxyjump", config.proxyJump)
  put("proxycommand", config.proxyCommand)
  return lines
}
