/**
 * Curve operations on node:crypto (OpenSSL).
 *
 * @since 0.1.0
 */
import * as crypto from "node:crypto"
import { CurveError, type Curves, type NistCurve } from "./CurveOps.js"
import { leftPad, stripZeros } from "./FixedWidth.js"
import { signingKey, verifyingKey } from "./KeyObjects.js"
import { mlkem768 } from "./MlKem.js"
import { drawScalar } from "./NistScalar.js"
import { sntrup761 } from "./SntrupKem.js"

const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64url")
const fromB64u = (s: string | undefined) => new Uint8Array(Buffer.from(s ?? "", "base64url"))

type OkpCurve = "Ed25519" | "X25519"

const nist: Record<NistCurve, { readonly openssl: string; readonly size: number; readonly hash: string }> = {
  "P-256": { openssl: "prime256v1", size: 32, hash: "sha256" },
  "P-384": { openssl: "secp384r1", size: 48, hash: "sha384" },
  "P-521": { openssl: "secp521r1", size: 66, hash: "sha512" }
}

// Raw keys go in and out as JWK: on Node 20 with OpenSSL 3 a DER (SPKI/PKCS#8) import costs
// ≈ 80 µs, ten times the JWK path and more than the X25519 operation itself.
const rawPrivate = (crv: OkpCurve, key: Uint8Array) =>
  // OpenSSL derives the public half from d; Node only wants x present.
  crypto.createPrivateKey({ key: { kty: "OKP", crv, d: b64u(key), x: "" }, format: "jwk" })
const rawPublic = (crv: OkpCurve, key: Uint8Array) => crypto.createPublicKey({ key: { kty: "OKP", crv, x: b64u(key) }, format: "jwk" })
// A private key's JWK carries its public half too (OpenSSL derived it on import): no public KeyObject needed.
const exportRawPublic = (key: crypto.KeyObject): Uint8Array => fromB64u(key.export({ format: "jwk" }).x)

/** KeyObjects of the ephemeral X25519 keys we made, by their raw bytes. */
const ephemeralKeys = new WeakMap<Uint8Array, crypto.KeyObject>()

const ecJwk = (curve: NistCurve, point: Uint8Array, d?: Uint8Array): crypto.JsonWebKey => {
  const { size } = nist[curve]
  if (point.length !== 1 + 2 * size || point[0] !== 4) throw new CurveError({ operation: "ecdsa", detail: "not an uncompressed point" })
  return {
    kty: "EC",
    crv: curve,
    x: b64u(point.subarray(1, 1 + size)),
    y: b64u(point.subarray(1 + size)),
    ...(d ? { d: b64u(leftPad(d, size)) } : {})
  }
}

/**
 * @since 0.1.0
 * @category implementations
 */
export const nodeCurves: Curves = {
  name: "node:crypto",
  x25519: {
    generateKeyPair(random) {
      // Not generateKeyPairSync: on Node 20 a garbage collection during the JWK export of a
      // key it has just made can deadlock the process (the generator job's destructor waits
      // on the lock the export holds), seen after ~200,000 key pairs.
      const raw = random(32)
      const privateKey = rawPrivate("X25519", raw)
      // Importing the raw key again costs more than the whole DH: keep the KeyObject.
      ephemeralKeys.set(raw, privateKey)
      return { privateKey: raw, publicKey: exportRawPublic(privateKey) }
    },
    sharedSecret(privateKey, peerPublicKey) {
      if (peerPublicKey.length !== 32) throw new CurveError({ operation: "x25519", detail: "public key must be 32 bytes" })
      let secret: Buffer
      try {
        secret = crypto.diffieHellman({
          privateKey: ephemeralKeys.get(privateKey) ?? rawPrivate("X25519", privateKey),
          publicKey: rawPublic("X25519", peerPublicKey)
        })
      } catch (cause) {
        throw new CurveError({ operation: "x25519", detail: `invalid public key: ${String(cause)}` })
      }
      if (secret.every((b) => b === 0)) throw new CurveError({ operation: "x25519", detail: "all-zero shared secret (small-order point)" })
      return new Uint8Array(secret)
    }
  },
  ed25519: {
    publicKey: (seed) => exportRawPublic(rawPrivate("Ed25519", seed)),
    sign: (seed, message) => new Uint8Array(crypto.sign(null, message, signingKey(seed, () => rawPrivate("Ed25519", seed)))),
    verify(publicKey, message, signature) {
      if (publicKey.length !== 32 || signature.length !== 64) return false
      try {
        const key = verifyingKey("ed25519", publicKey, () => rawPublic("Ed25519", publicKey))
        return crypto.verify(null, message, key, signature)
      } catch {
        return false
      }
    }
  },
  ecdh: {
    generateKeyPair(curve, random) {
      const privateKey = drawScalar(curve, random)
      return { privateKey, publicKey: nodeCurves.ecdsa.publicKey(curve, privateKey) }
    },
    sharedSecret(curve, privateKey, peerPublicKey) {
      const { openssl, size } = nist[curve]
      if (peerPublicKey.length !== 1 + 2 * size || peerPublicKey[0] !== 4) {
        throw new CurveError({ operation: "ecdh", detail: "peer key is not an uncompressed point" })
      }
      const ecdh = crypto.createECDH(openssl)
      ecdh.setPrivateKey(privateKey)
      try {
        return new Uint8Array(leftPad(ecdh.computeSecret(peerPublicKey), size))
      } catch (cause) {
        throw new CurveError({ operation: "ecdh", detail: `peer key is not on ${curve}: ${String(cause)}` })
      }
    }
  },
  ecdsa: {
    publicKey(curve, privateKey) {
      const ecdh = crypto.createECDH(nist[curve].openssl)
      ecdh.setPrivateKey(privateKey)
      return new Uint8Array(ecdh.getPublicKey())
    },
    sign(curve, privateKey, message) {
      const { hash, size } = nist[curve]
      const key = signingKey(privateKey, () =>
        crypto.createPrivateKey({
          key: ecJwk(curve, nodeCurves.ecdsa.publicKey(curve, privateKey), privateKey),
          format: "jwk"
        }))
      const sig = crypto.sign(hash, message, { key, dsaEncoding: "ieee-p1363" })
      return { r: stripZeros(sig.subarray(0, size)), s: stripZeros(sig.subarray(size)) }
    },
    verify(curve, publicKey, message, signature) {
      const { hash, size } = nist[curve]
      try {
        const key = verifyingKey(curve, publicKey, () => crypto.createPublicKey({ key: ecJwk(curve, publicKey), format: "jwk" }))
        const sig = Buffer.concat([leftPad(signature.r, size), leftPad(signature.s, size)])
        return crypto.verify(hash, message, { key, dsaEncoding: "ieee-p1363" }, sig)
      } catch {
        return false
      }
    }
  },
  // Node 20's OpenSSL has no ML-KEM: the portable implementation, as in nobleCurves.
  mlkem768,
  sntrup761
}
