/**
 * Both curve implementations against the RFC vectors, and against each other and OpenSSL
 * on random inputs.
 */
import { describe, expect, it } from "@effect/vitest"
import { p256, p384, p521 } from "@noble/curves/nist.js"
import * as crypto from "node:crypto"
import { CurveError, type Curves, type NistCurve } from "../../src/crypto/Curves.js"
import { nobleCurves } from "../../src/crypto/NobleCurves.js"
import { nodeCurves } from "../../src/crypto/NodeCurves.js"

const randomBytes = (n: number) => new Uint8Array(crypto.randomBytes(n))

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"))
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")
const implementations: ReadonlyArray<readonly [string, Curves]> = [["node:crypto", nodeCurves], ["@noble/curves", nobleCurves]]
const curves: ReadonlyArray<NistCurve> = ["P-256", "P-384", "P-521"]
const order: Record<NistCurve, bigint> = { "P-256": p256.Point.Fn.ORDER, "P-384": p384.Point.Fn.ORDER, "P-521": p521.Point.Fn.ORDER }
const size: Record<NistCurve, number> = { "P-256": 32, "P-384": 48, "P-521": 66 }
const toBig = (b: Uint8Array) => BigInt(`0x${toHex(b) || "0"}`)
const fromBig = (n: bigint) => hex(n.toString(16).padStart(2 * Math.ceil(n.toString(16).length / 2), "0"))

describe.each(implementations)("%s", (_name, c) => {
  describe("X25519: RFC 7748", () => {
    it("§5.2 test vectors", () => {
      expect(toHex(c.x25519.sharedSecret(
        hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
        hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
      ))).toBe("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
      expect(toHex(c.x25519.sharedSecret(
        hex("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
        hex("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493")
      ))).toBe("95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")
    })

    it("§5.2 iterated: 1 and 1,000 iterations", () => {
      let k: Uint8Array = hex("0900000000000000000000000000000000000000000000000000000000000000")
      let u = k
      const after: Record<number, string> = {}
      for (let i = 1; i <= 1000; i++) {
        const next = c.x25519.sharedSecret(k, u)
        u = k
        k = next
        if (i === 1 || i === 1000) after[i] = toHex(k)
      }
      expect(after[1]).toBe("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079")
      expect(after[1000]).toBe("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")
    })

    it("§6.1 Diffie-Hellman", () => {
      const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
      const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
      const alicePublic = hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
      const bobPublic = hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
      const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
      expect(toHex(c.x25519.sharedSecret(alice, bobPublic))).toBe(shared)
      expect(toHex(c.x25519.sharedSecret(bob, alicePublic))).toBe(shared)
    })

    it("an all-zero (small-order) or malformed peer key is a CurveError", () => {
      const priv = c.x25519.generateKeyPair(randomBytes).privateKey
      expect(() => c.x25519.sharedSecret(priv, new Uint8Array(32))).toThrow(CurveError)
      expect(() => c.x25519.sharedSecret(priv, new Uint8Array(31))).toThrow(CurveError)
    })
  })

  describe("Ed25519: RFC 8032 §7.1", () => {
    const vectors = [
      {
        name: "TEST 1",
        secret: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        public: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        message: "",
        signature: "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
      },
      {
        name: "TEST 2",
        secret: "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        public: "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        message: "72",
        signature: "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
      },
      {
        name: "TEST 3",
        secret: "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
        public: "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        message: "af82",
        signature: "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
      }
    ]
    it.each(vectors)("$name: public key, signature and verification", (v) => {
      expect(toHex(c.ed25519.publicKey(hex(v.secret)))).toBe(v.public)
      expect(toHex(c.ed25519.sign(hex(v.secret), hex(v.message)))).toBe(v.signature)
      expect(c.ed25519.verify(hex(v.public), hex(v.message), hex(v.signature))).toBe(true)
      const tampered = hex(v.signature)
      tampered[10] ^= 1
      expect(c.ed25519.verify(hex(v.public), hex(v.message), tampered)).toBe(false)
      expect(c.ed25519.verify(hex(v.public), hex("00"), hex(v.signature))).toBe(false)
    })

    it("malformed keys and signatures verify false, never throw", () => {
      expect(c.ed25519.verify(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64))).toBe(false)
      expect(c.ed25519.verify(new Uint8Array(32).fill(0xff), new Uint8Array(0), new Uint8Array(64))).toBe(false)
      expect(c.ed25519.verify(hex(vectors[0].public), new Uint8Array(0), new Uint8Array(63))).toBe(false)
    })
  })

  describe.each(curves)("%s", (curve) => {
    it("ECDH with a point not on the curve is a CurveError", () => {
      const { privateKey, publicKey } = c.ecdh.generateKeyPair(curve, randomBytes)
      const bad = Uint8Array.from(publicKey)
      bad[bad.length - 1] ^= 1
      expect(() => c.ecdh.sharedSecret(curve, privateKey, bad)).toThrow(CurveError)
      expect(() => c.ecdh.sharedSecret(curve, privateKey, publicKey.subarray(1))).toThrow(CurveError)
    })

    it("ECDSA verifies an OpenSSL signature, high-S included, and rejects tampering", () => {
      const { privateKey } = crypto.generateKeyPairSync("ec", { namedCurve: curve })
      const jwk = privateKey.export({ format: "jwk" })
      const point = Uint8Array.from([4, ...Buffer.from(jwk.x!, "base64url"), ...Buffer.from(jwk.y!, "base64url")])
      const hash = { "P-256": "sha256", "P-384": "sha384", "P-521": "sha512" }[curve]
      const message = crypto.randomBytes(100)
      const sig = crypto.sign(hash, message, { key: privateKey, dsaEncoding: "ieee-p1363" })
      const r = sig.subarray(0, size[curve])
      const s = sig.subarray(size[curve])
      expect(c.ecdsa.verify(curve, point, message, { r, s })).toBe(true)
      // n - s is just as valid; SSH never normalises S, so both halves must verify.
      const flipped = fromBig(order[curve] - toBig(s))
      expect(c.ecdsa.verify(curve, point, message, { r, s: flipped })).toBe(true)
      expect(c.ecdsa.verify(curve, point, Buffer.concat([message, Buffer.of(0)]), { r, s })).toBe(false)
      expect(c.ecdsa.verify(curve, point.subarray(1), message, { r, s })).toBe(false)
    })
  })
})

describe("node:crypto and @noble/curves agree on random inputs", () => {
  const pairs = [[nodeCurves, nobleCurves], [nobleCurves, nodeCurves]] as const

  it("X25519: a key pair's private key is the random source's 32 bytes, and both implementations derive the same public key", () => {
    for (let i = 0; i < 20; i++) {
      const drawn = randomBytes(32)
      const draws: Array<number> = []
      const source = (n: number) => (draws.push(n), drawn.slice())
      const [a, b] = [nodeCurves.x25519.generateKeyPair(source), nobleCurves.x25519.generateKeyPair(source)]
      expect(draws).toEqual([32, 32])
      expect(toHex(a.privateKey)).toBe(toHex(drawn))
      expect(toHex(b.privateKey)).toBe(toHex(drawn))
      expect(toHex(a.publicKey)).toBe(toHex(b.publicKey))
    }
  })

  it("X25519: either side's keys give the same shared secret", () => {
    for (let i = 0; i < 20; i++) {
      for (const [a, b] of pairs) {
        const alice = a.x25519.generateKeyPair(randomBytes)
        const bob = b.x25519.generateKeyPair(randomBytes)
        expect(toHex(a.x25519.sharedSecret(alice.privateKey, bob.publicKey)))
          .toBe(toHex(b.x25519.sharedSecret(bob.privateKey, alice.publicKey)))
      }
    }
  })

  it("Ed25519: same public keys, byte-identical signatures, cross-verification", () => {
    for (let i = 0; i < 20; i++) {
      const seed = crypto.randomBytes(32)
      const message = crypto.randomBytes(i * 7)
      expect(toHex(nodeCurves.ed25519.publicKey(seed))).toBe(toHex(nobleCurves.ed25519.publicKey(seed)))
      const sig = nodeCurves.ed25519.sign(seed, message)
      expect(toHex(nobleCurves.ed25519.sign(seed, message))).toBe(toHex(sig))
      expect(nobleCurves.ed25519.verify(nodeCurves.ed25519.publicKey(seed), message, sig)).toBe(true)
    }
  })

  it.each(curves)("%s ECDH and ECDSA: keys, secrets and signatures cross over", (curve) => {
    for (let i = 0; i < 10; i++) {
      for (const [a, b] of pairs) {
        const alice = a.ecdh.generateKeyPair(curve, randomBytes)
        const bob = b.ecdh.generateKeyPair(curve, randomBytes)
        expect(alice.privateKey.length).toBe(size[curve])
        expect(toHex(a.ecdh.sharedSecret(curve, alice.privateKey, bob.publicKey)))
          .toBe(toHex(b.ecdh.sharedSecret(curve, bob.privateKey, alice.publicKey)))
        expect(toHex(b.ecdsa.publicKey(curve, alice.privateKey))).toBe(toHex(alice.publicKey))
        const message = crypto.randomBytes(50)
        const sig = a.ecdsa.sign(curve, alice.privateKey, message)
        expect(b.ecdsa.verify(curve, alice.publicKey, message, sig)).toBe(true)
        expect(b.ecdsa.verify(curve, bob.publicKey, message, sig)).toBe(false)
      }
    }
  })
})
