/**
 * `npm run bench:mlkem`: ML-KEM-768's three operations, warm, ours (`MlKem768`, node:crypto's
 * SHA-3) against @noble/post-quantum's, in this process. After BENCH_WARMUP untimed rounds,
 * BENCH_N timed rounds alternate between the two, on the same seeds; medians per operation.
 */
import { ml_kem768 } from "@noble/post-quantum/ml-kem.js"
import * as crypto from "node:crypto"
import * as MlKem768 from "../src/crypto/MlKem768.js"
import { median, quantile } from "./Stats.js"

const WARMUP = Number(process.env.BENCH_WARMUP ?? 200)
const N = Number(process.env.BENCH_N ?? 1000)

type Times = { keygen: Array<number>; encapsulate: Array<number>; decapsulate: Array<number> }
const times = (): Times => ({ keygen: [], encapsulate: [], decapsulate: [] })

const round = (into: Times | undefined, which: "ours" | "noble", seed: Uint8Array, m: Uint8Array) => {
  let t0 = performance.now()
  const pair = which === "ours" ? MlKem768.keyPairFromSeed(seed.subarray(0, 32), seed.subarray(32)) : ml_kem768.keygen(seed)
  let t1 = performance.now()
  into?.keygen.push(t1 - t0)
  t0 = performance.now()
  const ciphertext = which === "ours"
    ? MlKem768.encapsulateWith(pair.publicKey, m).ciphertext
    : ml_kem768.encapsulate(pair.publicKey, m).cipherText
  t1 = performance.now()
  into?.encapsulate.push(t1 - t0)
  t0 = performance.now()
  if (which === "ours") MlKem768.decapsulate(ciphertext, pair.secretKey)
  else ml_kem768.decapsulate(ciphertext, pair.secretKey)
  t1 = performance.now()
  into?.decapsulate.push(t1 - t0)
}

const ours = times()
const noble = times()
for (let i = 0; i < WARMUP + N; i++) {
  const seed = new Uint8Array(crypto.randomBytes(64))
  const m = new Uint8Array(crypto.randomBytes(32))
  const timed = i >= WARMUP
  if (i % 2 === 0) {
    round(timed ? ours : undefined, "ours", seed, m)
    round(timed ? noble : undefined, "noble", seed, m)
  } else {
    round(timed ? noble : undefined, "noble", seed, m)
    round(timed ? ours : undefined, "ours", seed, m)
  }
}

const ms = (x: number) => x.toFixed(3)
console.log(`ML-KEM-768, warm, ${N} rounds alternating (after ${WARMUP}), ms per operation: median (p90)`)
for (const op of ["keygen", "encapsulate", "decapsulate"] as const) {
  const a = median(ours[op])
  const b = median(noble[op])
  console.log(
    `  ${op.padEnd(12)} ours ${ms(a)} (${ms(quantile(ours[op], 0.9))})   noble ${ms(b)} (${ms(quantile(noble[op], 0.9))})   noble/ours ${(b / a).toFixed(1)}×`
  )
}
const client = (t: Times) => median(t.keygen) + median(t.decapsulate)
console.log(`  client's share (keygen + decapsulate): ours ${ms(client(ours))}   noble ${ms(client(noble))}`)
