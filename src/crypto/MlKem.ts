/**
 * ML-KEM-768 (FIPS 203) behind the `Kem` interface, on our TypeScript implementation
 * (`MlKem768`, with node:crypto's SHA-3): Node 20's OpenSSL has no ML-KEM, so both curve
 * implementations use this one. The caller's random source gives the key-generation seed
 * (d and z, 64 bytes) and the encapsulation message (32 bytes), so a handshake replays from
 * a seed.
 *
 * @since 0.1.0
 */
import type { Kem } from "./CurveOps.js"
import * as MlKem768 from "./MlKem768.js"

/**
 * @since 0.1.0
 * @category implementations
 */
export const mlkem768: Kem = {
  publicKeyLength: MlKem768.publicKeyLength,
  ciphertextLength: MlKem768.ciphertextLength,
  keyPair(random) {
    const seed = random(64)
    return MlKem768.keyPairFromSeed(seed.subarray(0, 32), seed.subarray(32, 64))
  },
  // FIPS 203 §7.2's input check (every coefficient of the key below q) comes first, so a
  // malformed key draws nothing from the random source.
  encapsulate: (publicKey, random) => MlKem768.encapsulate(publicKey, () => random(32)),
  decapsulate: MlKem768.decapsulate
}
