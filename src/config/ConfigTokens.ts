/**
 * What ssh expands in config values: `~`, `${VAR}` and `%` tokens (readconf.c's
 * `default_client_percent_dollar_expand`), and the local facts the tokens stand for.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import * as os from "node:os"

/**
 * Who and where we are: what `%u`, `%d`, `%l`… expand to. Defaults come from the OS.
 *
 * @since 0.1.0
 * @category models
 */
export interface LocalContext {
  readonly localUser: string
  readonly homeDir: string
  readonly localHostname: string
  readonly uid: number
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const localContext = (): LocalContext => {
  const info = os.userInfo()
  return { localUser: info.username, homeDir: info.homedir, localHostname: os.hostname(), uid: info.uid, env: process.env }
}

/**
 * `~` and `~/x` to the home directory, as ssh's tilde_expand_filename.
 *
 * @since 0.1.0
 * @category expansion
 */
export const expandTilde = (path: string, home: string): string => (path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path)

/**
 * `${VAR}` from the environment; an unset variable is left as it is.
 *
 * @since 0.1.0
 * @category expansion
 */
export const expandEnv = (text: string, env: LocalContext["env"]): string =>
  text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (all, name: string) => env[name] ?? all)

/**
 * `%x` tokens; `%%` is a percent sign, and a token we do not have is left as it is.
 *
 * @since 0.1.0
 * @category expansion
 */
export const expandTokens = (text: string, tokens: Readonly<Record<string, string>>): string =>
  text.replace(/%(.)/g, (all, t: string) => (t === "%" ? "%" : tokens[t] ?? all))

/**
 * What the tokens stand for at a point of the resolution: the host so far, and the values
 * of Port, User and HostKeyAlias set so far (undefined: not set yet).
 *
 * @since 0.1.0
 * @category expansion
 */
export const tokens = (
  local: LocalContext,
  originalHost: string,
  host: string,
  set: { readonly port: string | undefined; readonly user: string | undefined; readonly hostKeyAlias: string | undefined }
): Record<string, string> => {
  const port = set.port ?? "22"
  const user = set.user ?? local.localUser
  return {
    C: crypto.createHash("sha1").update(`${local.localHostname}${host}${port}${user}`).digest("hex"),
    d: local.homeDir,
    h: host,
    i: String(local.uid),
    k: set.hostKeyAlias ?? host,
    L: local.localHostname.split(".")[0],
    l: local.localHostname,
    n: originalHost,
    p: port,
    r: user,
    u: local.localUser
  }
}

/**
 * A file name as ssh expands it (IdentityFile, UserKnownHostsFile…): `~`, then `${VAR}`,
 * then `%` tokens.
 *
 * @since 0.1.0
 * @category expansion
 */
export const expandPath = (path: string, local: LocalContext, tokenValues: Readonly<Record<string, string>>): string =>
  expandTokens(expandEnv(expandTilde(path, local.homeDir), local.env), tokenValues)
