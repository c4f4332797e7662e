/**
 * Streamlined NTRU Prime 761 (`Sntrup761`, our TypeScript) behind the `Kem` interface, for
 * both curve implementations: neither OpenSSL nor @noble has it.
 *
 * @since 0.1.0
 */
import type { Kem } from "./CurveOps.js"
import * as Sntrup761 from "./Sntrup761.js"

/**
 * @since 0.1.0
 * @category implementations
 */
export const sntrup761: Kem = {
  publicKeyLength: Sntrup761.publicKeyLength,
  ciphertextLength: Sntrup761.ciphertextLength,
  keyPair: Sntrup761.keyPair,
  encapsulate: Sntrup761.encapsulate,
  decapsulate: Sntrup761.decapsulate
}
