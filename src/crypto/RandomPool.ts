/**
 * Random bytes for the connection core (cookies, padding, ephemeral keys) drawn from a pool
 * filled by the system's CSPRNG: one `randomFillSync` per 4 KiB instead of one per draw. A
 * handshake makes about ten small draws, and each call into OpenSSL costs more than the
 * bytes it returns.
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"

const POOL_SIZE = 4096
const pool = new Uint8Array(POOL_SIZE)
let offset = POOL_SIZE

/**
 * `n` fresh random bytes, a copy the caller owns. The pool's copy is zeroed as it is handed
 * out, so no drawn secret (an ephemeral key) stays behind in it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const randomBytes = (n: number): Uint8Array => {
  if (n > POOL_SIZE / 4) return new Uint8Array(crypto.randomBytes(n))
  if (offset + n > POOL_SIZE) {
    crypto.randomFillSync(pool)
    offset = 0
  }
  const out = pool.slice(offset, offset + n)
  pool.fill(0, offset, offset + n)
  offset += n
  return out
}

/**
 * Empties the pool: the next draw refills it from the CSPRNG. The CLI's startup snapshot calls
 * this after its build-time rehearsal, so that no process starts from bytes drawn at build time.
 *
 * @since 0.1.0
 * @category snapshot
 */
export const discard = (): void => {
  pool.fill(0)
  offset = POOL_SIZE
}
