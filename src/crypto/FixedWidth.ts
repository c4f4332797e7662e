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

/**
 * An unsigned big-endian integer as a bigint (an empty array is zero).
 *
 * @since 0.1.0
 * @category internal
 */
export const toBigInt = (bytes: Uint8Array): bigint =>
  bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex")}`)

/**
 * A non-negative bigint as unsigned big-endian bytes: minimal (one zero byte for zero), or
 * left-padded to `size`, which throws CurveError when the number does not fit (`leftPad`).
 *
 * @since 0.1.0
 * @category internal
 */
export const fromBigInt = (value: bigint, size?: number): Uint8Array => {
  const hex = value.toString(16)
  const minimal = new Uint8Array(Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex"))
  return size === undefined ? minimal : leftPad(minimal, size)
}
