/**
 * ML-KEM-768 (FIPS 203) behind the `Kem` interface, on @noble/post-quantum: Node 20's
 * OpenSSL has no ML-KEM, so both curve implementations use this one. The caller's random
 * source gives the key-generation seed (d and z, 64 bytes) and the encapsulation message
 * (32 bytes), so a handshake replays from a seed.
 *
 * @since 0.1.0
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js"
import { CurveError, type Kem } from "./CurveOps.js"

const PUBLIC_KEY = 1184
const CIPHERTEXT = 1088

/**
 * @since 0.1.0
 * @category implementations
 */
export const mlkem768: Kem = {
  publicKeyLength: PUBLIC_KEY,
  ciphertextLength: CIPHERTEXT,
  keyPair(random) {
    const { publicKey, secretKey } = ml_kem768.keygen(random(64))
    return { publicKey, secretKey }
  },
  encapsulate(publicKey, random) {
    if (publicKey.length !== PUBLIC_KEY) throw new CurveError({ operation: "mlkem768", detail: `public key of ${publicKey.length} bytes, not ${PUBLIC_KEY}` })
    try {
      // FIPS 203 §7.2's input check: every coefficient of the key below q.
      const { cipherText, sharedSecret } = ml_kem768.encapsulate(publicKey, random(32))
      return { ciphertext: cipherText, sharedSecret }
    } catch (cause) {
      throw new CurveError({ operation: "mlkem768", detail: `invalid public key: ${cause instanceof Error ? cause.message : String(cause)}` })
    }
  },
  decapsulate(ciphertext, secretKey) {
    if (ciphertext.length !== CIPHERTEXT) throw new CurveError({ operation: "mlkem768", detail: `ciphertext of ${ciphertext.length} bytes, not ${CIPHERTEXT}` })
    return ml_kem768.decapsulate(ciphertext, secretKey)
  }
}
