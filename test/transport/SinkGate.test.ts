/**
 * The sink side every byte channel shares: bytes straight to an open sink, in order; what
 * arrives while a sink is in its call waits its turn (no sink is re-entered); nothing
 * after the end or after close.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChannelSink, SinkGate } from "../../src/transport/ByteChannel.js"
import { TransportError } from "../../src/transport/TransportError.js"

const bytes = (...values: Array<number>) => Uint8Array.from(values)

/** A sink that records what it hears, and whether a call came while another was running. */
const recorder = (during?: (first: number) => void) => {
  const heard: Array<string> = []
  let depth = 0
  let reentered = false
  const sink: ChannelSink = {
    data: (b) => {
      if (depth > 0) reentered = true
      depth++
      heard.push(`data ${b.join(",")}`)
      during?.(b[0])
      depth--
    },
    end: () => heard.push("end"),
    lost: (e) => heard.push(`lost ${e.detail}`)
  }
  return { heard, sink, reentered: () => reentered }
}

/** An open gate whose sink runs `during` in each data call; `1` delivered first. */
const openedWith = (during: (gate: SinkGate, first: number) => void) => {
  const gate = new SinkGate()
  const r = recorder((first) => during(gate, first))
  gate.open(r.sink)
  gate.data(bytes(1))
  return { gate, r }
}

describe("SinkGate", () => {
  it("holds what comes before open, then delivers it first and in order", () => {
    const gate = new SinkGate()
    gate.data(bytes(1))
    gate.data(bytes(2))
    const r = recorder()
    gate.open(r.sink)
    gate.data(bytes(3))
    gate.deliver({ _tag: "end" })
    gate.data(bytes(4))
    expect(r.heard).toEqual(["data 1", "data 2", "data 3", "end"])
  })

  it("what a sink causes to arrive during its call waits until the call returns: never re-entered, order kept", () => {
    const { r } = openedWith((g, first) => {
      if (first === 1) {
        g.data(bytes(2))
        g.data(bytes(3))
      }
      if (first === 2) g.deliver({ _tag: "lost", error: new TransportError({ reason: "ConnectionClosed", host: "h", port: 1, detail: "gone" }) })
    })
    expect(r.reentered()).toBe(false)
    // The loss came after 2 and before 3 was taken: 3 is delivered (it arrived first), nothing after the loss.
    expect(r.heard).toEqual(["data 1", "data 2", "data 3", "lost gone"])
  })

  it("nothing reaches the sink after close, the sink's own close included", () => {
    const { gate, r } = openedWith((g, first) => {
      if (first === 1) {
        g.data(bytes(2))
        g.shut()
      }
    })
    gate.data(bytes(9))
    expect(r.heard).toEqual(["data 1"])
  })

  it("with a deferring `later`, bytes wait for it even to an open sink", () => {
    const queued: Array<() => void> = []
    const gate = new SinkGate((run) => queued.push(run))
    const r = recorder()
    gate.open(r.sink)
    gate.data(bytes(1))
    expect(r.heard).toEqual([])
    queued.shift()!()
    expect(r.heard).toEqual(["data 1"])
  })
})
