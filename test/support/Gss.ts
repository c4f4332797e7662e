/**
 * What the server's gssapi-with-mic tests add to the Kerberos realm of Kdc.ts: the realm with
 * its `env` set in this process too (an in-process acceptor or initiator reads KRB5_CONFIG and
 * KRB5RCACHEDIR like any program; set before the first GSS call, with one realm per file),
 * the system GSS-API loaded, the bytes a client's MIC covers, and honest skipping: without
 * the MIT tools or libgssapi_krb5 the tests skip loudly; under CI=true they fail.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Gssapi from "../../src/gssapi/Gssapi.js"
import { MessageNumber } from "../../src/wire/MessageNumber.js"
import { encode } from "../../src/wire/Writer.js"
import { skipWithoutPeer } from "./Env.js"
import * as Kdc from "./Kdc.js"

const libraryDirs = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]
const hasLibrary = libraryDirs.some((dir) => fs.existsSync(path.join(dir, "libgssapi_krb5.so.2")))

/** True when the tests should skip (no KDC tools or GSS library, not CI), after one loud warning. */
export const skipWithoutGss = (): boolean => Kdc.skipWithoutKdc() || skipWithoutPeer("MIT's libgssapi_krb5.so.2", hasLibrary, "libgssapi-krb5-2")

/** A realm for the file, its env set in this process as well. */
export const layer: Layer.Layer<Kdc.KdcRealm, Kdc.KdcError> = Layer.tap(
  Kdc.layer(),
  (context) => Effect.sync(() => void Object.assign(process.env, Context.get(context, Kdc.KdcRealm).env))
)

/** A keytab path as the acceptor names it. */
export const fileKeytab = (file: string): string => `FILE:${file}`

/** The system GSS-API, loaded: these tests need the real one. */
export const systemGssapi = Effect.orDie(Gssapi.loadSystem)

/** RFC 4462 §3.5: what a client's MIC covers, as a test's own initiator signs it. */
export const micData = (sessionId: Uint8Array, user: string): Uint8Array =>
  encode((w) => w.string(sessionId).byte(MessageNumber.USERAUTH_REQUEST).string(user).string("ssh-connection").string("gssapi-with-mic"))
