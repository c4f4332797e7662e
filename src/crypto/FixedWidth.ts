/**
 * Unsigned big-endian integers between SSH's minimal encodings and the fixed-width fields
 * the curve libraries want.
 *
 * @since 0.1.0
 */
import { CurveError } from "./CurveOps.js"

/**
 * `bytes` left-padded with zeros to `size`; leading zeros beyond it are dropped. Throws
 * CurveError when the number does not fit.
 *
 * @since 0.1.0
 * @category internal
 */
export const leftPad = (bytes: Uint8Array, size: number): Uint8Array => {
  let i = 0
  while (bytes.length - i > size && bytes[i] === 0) i++
  const trimmed = bytes.subarray(i)
  if (trimmed.length > size) throw new CurveError({ operation: "pad", detail: `integer longer than ${size} bytes` })
  const out = new Uint8Array(size)
  out.set(trimmed, size - trimmed.length)
  return out
}

/**
 * A copy of `bytes` without leading zeros (one zero byte stays for zero).
 *
 * @since 0.1.0
 * @category internal
 */
export const stripZeros = (bytes: Uint8Array): Uint8Array => {
  let i = 0
  while (i < bytes.length - 1 && bytes[i] === 0) i++
  return bytes.slice(i)
}
