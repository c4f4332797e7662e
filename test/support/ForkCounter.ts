/**
 * A supervisor that counts the fibers started under it: for tests that say how many fibers
 * a handshake or a login costs.
 */
import * as Effect from "effect/Effect"
import * as Supervisor from "effect/Supervisor"

export class ForkCounter extends Supervisor.AbstractSupervisor<number> {
  started = 0
  get value() {
    return Effect.sync(() => this.started)
  }
  override onStart() {
    this.started++
  }
}
