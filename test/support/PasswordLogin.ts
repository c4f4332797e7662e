/**
 * The smallest possible password login, for transport tests that need an authenticated
 * connection (OpenSSH refuses rekeys before authentication). Not the product's auth layer.
 */
import * as Effect from "effect/Effect"
import type { Transport } from "../../src/transport/Transport.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"

export const passwordLogin = (transport: Transport, user: string, password: string) =>
  Effect.gen(function*() {
    yield* transport.requestService("ssh-userauth")
    yield* transport.send(
      encode((w) =>
        w.byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("password").boolean(false)
          .string(password)
      )
    )
    // Banners may come first; anything else ends it. Bounded.
    for (let i = 0; i < 16; i++) {
      const reply = yield* transport.receive
      if (reply[0] === MessageNumber.USERAUTH_SUCCESS) return
      if (reply[0] !== MessageNumber.USERAUTH_BANNER) {
        return yield* Effect.fail(new Error(`password login for ${user} failed: message ${reply[0]}`))
      }
    }
    return yield* Effect.fail(new Error("too many banners"))
  })

/** A global request that sshd always answers (REQUEST_FAILURE): traffic in both directions. */
export const pingPayload = encode((w) => w.byte(MessageNumber.GLOBAL_REQUEST).string("ping@effect-ssh-auth").boolean(true))
