/**
 * The deterministic random source of NIST's post-quantum known-answer tests: the
 * `randombytes` of the submission packages' `rng.c`, an AES-256 CTR_DRBG (NIST SP 800-90A,
 * §10.2.1) without a derivation function, with no reseeding and no additional input.
 * Written here from SP 800-90A, on node:crypto's AES-256-ECB.
 *
 * - Instantiate: Key = 0^32, V = 0^16, then Update(entropy ⊕ personalization).
 * - Update(data): V+1, V+2, V+3 (V a 128-bit big-endian counter) encrypted under Key give 48
 *   bytes; XOR data into them; the first 32 are the new Key, the last 16 the new V.
 * - Generate(n): encrypt V+1, V+2, … under Key for n bytes (the last block cut short), then
 *   Update with no data. Every call rekeys, so how a caller splits its reads matters: four
 *   calls of 4 bytes are not one call of 16.
 */
import * as crypto from "node:crypto"

const increment = (v: Uint8Array): void => {
  for (let j = 15; j >= 0; j--) {
    if (v[j] === 0xff) v[j] = 0
    else {
      v[j]++
      return
    }
  }
}

export class NistDrbg {
  private key = new Uint8Array(32)
  private v = new Uint8Array(16)

  constructor(entropy: Uint8Array, personalization?: Uint8Array) {
    if (entropy.length !== 48) throw new RangeError("the DRBG takes 48 bytes of entropy")
    const seed = Uint8Array.from(entropy)
    if (personalization !== undefined) { for (let i = 0; i < 48; i++) seed[i] ^= personalization[i] }
    this.update(seed)
  }

  /** Blocks V+1 … V+count under the current key, advancing V. */
  private blocks(count: number): Uint8Array {
    const counters = new Uint8Array(16 * count)
    for (let i = 0; i < count; i++) {
      increment(this.v)
      counters.set(this.v, 16 * i)
    }
    const cipher = crypto.createCipheriv("aes-256-ecb", this.key, null).setAutoPadding(false)
    return new Uint8Array(cipher.update(counters))
  }

  private update(data?: Uint8Array): void {
    const temp = this.blocks(3)
    if (data !== undefined) { for (let i = 0; i < 48; i++) temp[i] ^= data[i] }
    this.key = temp.slice(0, 32)
    this.v = temp.slice(32, 48)
  }

  /** `randombytes(out, n)`: n bytes, then the state update. */
  randomBytes(n: number): Uint8Array {
    const out = this.blocks(Math.ceil(n / 16)).slice(0, n)
    this.update()
    return out
  }
}
