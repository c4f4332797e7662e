/**
 * Algorithm preferences for the client: which algorithms we offer, in order.
 *
 * @since 0.1.0
 */
import { ciphers } from "./cipher/Ciphers.js"
import { macs } from "./cipher/Mac.js"
import { kexMethods } from "./kex/KexMethod.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface AlgorithmPreferences {
  readonly kex: ReadonlyArray<string>
  readonly hostKey: ReadonlyArray<string>
  readonly cipher: ReadonlyArray<string>
  readonly mac: ReadonlyArray<string>
}

/**
 * Host key algorithms we can verify.
 *
 * @since 0.1.0
 * @category constants
 */
export const hostKeyAlgorithms: ReadonlyArray<string> = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256"
]

/**
 * Host certificate algorithms (PROTOCOL.certkeys). Not offered by default: only a policy
 * that can judge a CA (known_hosts with `@cert-authority`) should ask for them.
 *
 * @since 0.1.0
 * @category constants
 */
export const hostCertificateAlgorithms: ReadonlyArray<string> = [
  "ssh-ed25519-cert-v01@openssh.com",
  "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "rsa-sha2-512-cert-v01@openssh.com",
  "rsa-sha2-256-cert-v01@openssh.com"
]

/**
 * The defaults. AES-GCM comes before chacha20-poly1305 only because node:crypto runs it in
 * one OpenSSL call with AES-NI, while chacha20-poly1305 needs three cipher objects and a
 * Poly1305 in JavaScript per packet; both are equally sound.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPreferences: AlgorithmPreferences = {
  kex: [...kexMethods.keys()],
  hostKey: hostKeyAlgorithms,
  cipher: [
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr"
  ],
  mac: [...macs.keys()]
}

/**
 * Every algorithm we implement, per category, for validating user preferences.
 *
 * @since 0.1.0
 * @category constants
 */
export const supported: { readonly [K in keyof AlgorithmPreferences]: ReadonlySet<string> } = {
  kex: new Set(kexMethods.keys()),
  hostKey: new Set([...hostKeyAlgorithms, ...hostCertificateAlgorithms]),
  cipher: new Set(ciphers.keys()),
  mac: new Set(macs.keys())
}

/** Preferences with what they name that we do not implement. */
interface Resolved {
  readonly preferences: AlgorithmPreferences
  readonly unsupported: ReadonlyArray<string>
}

const resolve = (overrides: Partial<AlgorithmPreferences> | undefined): Resolved => {
  const preferences = { ...defaultPreferences, ...overrides }
  const unsupported: Array<string> = []
  for (const category of Object.keys(supported) as Array<keyof AlgorithmPreferences>) {
    for (const name of preferences[category]) {
      if (!supported[category].has(name)) unsupported.push(`${category} ${name}`)
    }
    if (preferences[category].length === 0) unsupported.push(`${category} (empty list)`)
  }
  return { preferences, unsupported }
}

const resolvedDefaults = resolve(undefined)
const resolved = new WeakMap<Partial<AlgorithmPreferences>, Resolved>()

/**
 * Merges user preferences over the defaults. Answers the names we do not implement, so
 * the caller can fail with a clear error instead of offering something we cannot do.
 * Made once per overrides object (they are read-only): every connection made with the same
 * options then has the same preferences, and with them the same KEXINIT, encoded once.
 *
 * @since 0.1.0
 * @category constructors
 */
export const resolvePreferences = (
  overrides: Partial<AlgorithmPreferences> | undefined
): Resolved => {
  if (overrides === undefined) return resolvedDefaults
  let found = resolved.get(overrides)
  if (found === undefined) resolved.set(overrides, found = resolve(overrides))
  return found
}
