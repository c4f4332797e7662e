/**
 * Ephemeral NIST private keys drawn from a connection's random source, the same way in both
 * curve implementations, so that a seeded handshake repeats whichever one runs it.
 *
 * @since 0.1.0
 */
import type { NistCurve } from "./CurveOps.js"
import { fromBigInt, toBigInt } from "./FixedWidth.js"

/** The group orders n (SEC 2 / FIPS 186-5) and the scalars' width in bytes. */
const orders: Record<NistCurve, { readonly n: bigint; readonly size: number }> = {
  "P-256": { n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n, size: 32 },
  "P-384": {
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    size: 48
  },
  "P-521": {
    n: 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    size: 66
  }
}

/** The extra random bytes drawn beyond the scalar's width: the result's bias is below 2^-64. */
const EXTRA_BYTES = 8

/**
 * A private scalar in [1, n − 1], big-endian and left-padded to the curve's size: `size + 8`
 * bytes of `random` reduced mod n − 1, plus one (FIPS 186-5 A.2.1, "extra random bits").
 * No rejection loop: one draw, always in range.
 *
 * @since 0.1.0
 * @category constructors
 */
export const drawScalar = (curve: NistCurve, random: (n: number) => Uint8Array): Uint8Array => {
  const { n, size } = orders[curve]
  return fromBigInt(toBigInt(random(size + EXTRA_BYTES)) % (n - 1n) + 1n, size)
}
