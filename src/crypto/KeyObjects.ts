/**
 * Importing a raw key into OpenSSL costs more than the operation itself, so node:crypto
 * KeyObjects are kept: for private keys (loaded signing keys) by the identity of their bytes,
 * which the holder keeps alive; for public keys (a server's host key, seen again on every
 * connection to it) by value, in a small bounded map.
 *
 * @since 0.1.0
 */
import type * as crypto from "node:crypto"

let signingKeys = new WeakMap<Uint8Array, crypto.KeyObject>()
const verifyingKeys = new Map<string, crypto.KeyObject>()
const VERIFYING_KEYS_MAX = 64

/**
 * The KeyObject for a private key, made once per key array.
 *
 * @since 0.1.0
 * @category internal
 */
export const signingKey = (secret: Uint8Array, make: () => crypto.KeyObject): crypto.KeyObject => {
  let key = signingKeys.get(secret)
  if (key === undefined) {
    key = make()
    signingKeys.set(secret, key)
  }
  return key
}

/**
 * The KeyObject for a public key, shared by value across connections.
 *
 * @since 0.1.0
 * @category internal
 */
export const verifyingKey = (kind: string, bytes: Uint8Array, make: () => crypto.KeyObject): crypto.KeyObject => {
  const id = `${kind}:${Buffer.from(bytes).toString("base64")}`
  let key = verifyingKeys.get(id)
  if (key === undefined) {
    key = make()
    verifyingKeys.set(id, key)
    // Oldest first, by insertion order.
    if (verifyingKeys.size > VERIFYING_KEYS_MAX) verifyingKeys.delete(verifyingKeys.keys().next().value!)
  }
  return key
}

/**
 * Drops every kept KeyObject. The CLI's startup snapshot calls this after its build-time
 * rehearsal: a KeyObject is an OpenSSL handle, which a V8 snapshot cannot hold.
 *
 * @since 0.1.0
 * @category snapshot
 */
export const forget = (): void => {
  signingKeys = new WeakMap()
  verifyingKeys.clear()
}
