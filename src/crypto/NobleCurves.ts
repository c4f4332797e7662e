/**
 * Curve operations on @noble/curves: pure JavaScript, audited, portable to any runtime.
 * Slower than node:crypto by an order of magnitude, so not the default on Node.
 *
 * @since 0.1.0
 */
import { ed25519, x25519 } from "@noble/curves/ed25519.js"
import { p256, p384, p521 } from "@noble/curves/nist.js"
import { CurveError, type Curves, type NistCurve } from "./CurveOps.js"
import { leftPad, stripZeros } from "./FixedWidth.js"
import { mlkem768 } from "./MlKem.js"
import { drawScalar } from "./NistScalar.js"
import { sntrup761 } from "./SntrupKem.js"

// Each curve's prehash is its SSH hash (RFC 5656 §6.2.1): SHA-256, SHA-384, SHA-512.
const nist = {
  "P-256": { curve: p256, size: 32 },
  "P-384": { curve: p384, size: 48 },
  "P-521": { curve: p521, size: 66 }
} as const satisfies Record<NistCurve, unknown>

const uncompressed = (curve: NistCurve, point: Uint8Array, operation: string): void => {
  if (point.length !== 1 + 2 * nist[curve].size || point[0] !== 4) {
    throw new CurveError({ operation, detail: "not an uncompressed point" })
  }
}

/**
 * @since 0.1.0
 * @category implementations
 */
export const nobleCurves: Curves = {
  name: "@noble/curves",
  x25519: {
    generateKeyPair(random) {
      const { secretKey, publicKey } = x25519.keygen(random(32))
      return { privateKey: secretKey, publicKey }
    },
    sharedSecret(privateKey, peerPublicKey) {
      if (peerPublicKey.length !== 32) throw new CurveError({ operation: "x25519", detail: "public key must be 32 bytes" })
      let secret: Uint8Array
      try {
        secret = x25519.getSharedSecret(privateKey, peerPublicKey)
      } catch (cause) {
        throw new CurveError({ operation: "x25519", detail: `invalid public key: ${String(cause)}` })
      }
      if (secret.every((b) => b === 0)) throw new CurveError({ operation: "x25519", detail: "all-zero shared secret (small-order point)" })
      return secret
    }
  },
  ed25519: {
    publicKey: (seed) => ed25519.getPublicKey(seed),
    sign: (seed, message) => ed25519.sign(message, seed),
    verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false
      try {
        return ed25519.verify(signature, message, publicKey)
      } catch {
        return false
      }
    }
  },
  ecdh: {
    generateKeyPair(curve, random) {
      const privateKey = drawScalar(curve, random)
      return { privateKey, publicKey: nist[curve].curve.getPublicKey(privateKey, false) }
    },
    sharedSecret(curve, privateKey, peerPublicKey) {
      uncompressed(curve, peerPublicKey, "ecdh")
      try {
        // The shared point, uncompressed; SSH uses its X coordinate.
        return nist[curve].curve.getSharedSecret(privateKey, peerPublicKey, false).slice(1, 1 + nist[curve].size)
      } catch (cause) {
        throw new CurveError({ operation: "ecdh", detail: `peer key is not on ${curve}: ${String(cause)}` })
      }
    }
  },
  ecdsa: {
    publicKey: (curve, privateKey) => nist[curve].curve.getPublicKey(privateKey, false),
    sign(curve, privateKey, message) {
      const { curve: c, size } = nist[curve]
      const sig = c.sign(message, privateKey, { lowS: false, format: "compact" })
      return { r: stripZeros(sig.subarray(0, size)), s: stripZeros(sig.subarray(size)) }
    },
    verify(curve, publicKey, message, signature) {
      const { curve: c, size } = nist[curve]
      try {
        uncompressed(curve, publicKey, "ecdsa")
        const compact = new Uint8Array(2 * size)
        compact.set(leftPad(signature.r, size), 0)
        compact.set(leftPad(signature.s, size), size)
        // SSH signatures are not low-S normalised: OpenSSL makes high-S ones half the time.
        return c.verify(compact, message, publicKey, { lowS: false, format: "compact" })
      } catch {
        return false
      }
    }
  },
  mlkem768,
  sntrup761
}
