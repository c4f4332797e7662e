/**
 * The `Gssapi` service over the system's MIT Kerberos library (`libgssapi_krb5.so.2`),
 * called through `koffi`, an FFI package whose prebuilt binary comes inside the npm package
 * (no compile step in anyone's install). Loaded only by `Gssapi.loadSystem`.
 *
 * Memory: every buffer the library hands out is copied into a `Uint8Array` and released at
 * once; every name, credential and context handle is released by the Scope that made it.
 * The calls that may talk to a KDC (`gss_init_sec_context`, `gss_acquire_cred_from`) and the
 * acceptor's (keytab and replay-cache I/O) run on koffi's worker threads, so a slow KDC does
 * not stall the event loop; a context is only ever used by one call at a time.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as KoffiModule from "koffi"
import {
  type Acceptor,
  type AcceptorOptions,
  type GssapiService,
  GssapiUnavailable,
  GssError,
  type Initiator,
  type InitiatorOptions,
  type Step
} from "./Gssapi.js"

type Koffi = typeof KoffiModule
type Handle = unknown
type Native = KoffiModule.KoffiFunc<(...args: Array<any>) => any>

const LIBRARY = "libgssapi_krb5.so.2"

// RFC 2744 constants.
const GSS_S_COMPLETE = 0
const GSS_C_GSS_CODE = 1
const GSS_C_MECH_CODE = 2
const GSS_C_INITIATE = 1
const GSS_C_ACCEPT = 2
const GSS_C_DELEG_FLAG = 1
const GSS_C_MUTUAL_FLAG = 2
const GSS_C_INTEG_FLAG = 32
/** GSS_ERROR(): a calling or routine error; the low bits are only supplementary information. */
const isError = (major: number) => (major & 0xffff0000) !== 0

/** The OIDs' arcs without tag and length, as gss_OID_desc holds them; kept alive for the process. */
const KRB5_MECHANISM = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02])
const NT_HOSTBASED_SERVICE = Buffer.from([0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04])

/** Status messages are chained; no library has more than a few for one code. */
const MAX_STATUS_MESSAGES = 8

interface Binding {
  readonly koffi: Koffi
  readonly fn: Record<
    | "import_name"
    | "release_name"
    | "display_name"
    | "acquire_cred_from"
    | "release_cred"
    | "init_sec_context"
    | "accept_sec_context"
    | "delete_sec_context"
    | "get_mic"
    | "verify_mic"
    | "release_buffer"
    | "display_status"
    | "userok"
    | "localname"
    | "inquire_cred",
    Native
  >
}

const bind = (koffi: Koffi): Binding => {
  const lib = koffi.load(LIBRARY)
  koffi.struct("gss_buffer_desc", { length: "size_t", value: "void *" })
  koffi.struct("gss_OID_desc", { length: "uint32_t", elements: "void *" })
  koffi.struct("gss_OID_set_desc", { count: "size_t", elements: "gss_OID_desc *" })
  koffi.struct("gss_key_value_element_desc", { key: "const char *", value: "const char *" })
  koffi.struct("gss_key_value_set_desc", { count: "uint32_t", elements: "gss_key_value_element_desc *" })
  const f = (prototype: string) => lib.func(prototype)
  return {
    koffi,
    fn: {
      import_name: f(
        "uint32_t gss_import_name(_Out_ uint32_t *minor, gss_buffer_desc *name, gss_OID_desc *type, _Out_ void **out)"
      ),
      release_name: f("uint32_t gss_release_name(_Out_ uint32_t *minor, _Inout_ void **name)"),
      display_name: f(
        "uint32_t gss_display_name(_Out_ uint32_t *minor, void *name, _Out_ gss_buffer_desc *out, void *type)"
      ),
      acquire_cred_from: f(
        "uint32_t gss_acquire_cred_from(_Out_ uint32_t *minor, void *name, uint32_t time, gss_OID_set_desc *mechs, int usage, gss_key_value_set_desc *store, _Out_ void **cred, void *actual, void *timeRec)"
      ),
      release_cred: f("uint32_t gss_release_cred(_Out_ uint32_t *minor, _Inout_ void **cred)"),
      init_sec_context: f(
        "uint32_t gss_init_sec_context(_Out_ uint32_t *minor, void *cred, _Inout_ void **context, void *target, gss_OID_desc *mech, uint32_t flags, uint32_t time, void *bindings, gss_buffer_desc *input, void *actualMech, _Out_ gss_buffer_desc *output, _Out_ uint32_t *retFlags, void *timeRec)"
      ),
      accept_sec_context: f(
        "uint32_t gss_accept_sec_context(_Out_ uint32_t *minor, _Inout_ void **context, void *cred, gss_buffer_desc *input, void *bindings, _Out_ void **source, void *mech, _Out_ gss_buffer_desc *output, _Out_ uint32_t *retFlags, void *timeRec, void *delegated)"
      ),
      delete_sec_context: f("uint32_t gss_delete_sec_context(_Out_ uint32_t *minor, _Inout_ void **context, void *output)"),
      get_mic: f(
        "uint32_t gss_get_mic(_Out_ uint32_t *minor, void *context, uint32_t qop, gss_buffer_desc *message, _Out_ gss_buffer_desc *token)"
      ),
      verify_mic: f(
        "uint32_t gss_verify_mic(_Out_ uint32_t *minor, void *context, gss_buffer_desc *message, gss_buffer_desc *token, void *qop)"
      ),
      release_buffer: f("uint32_t gss_release_buffer(_Out_ uint32_t *minor, _Inout_ gss_buffer_desc *buffer)"),
      display_status: f(
        "uint32_t gss_display_status(_Out_ uint32_t *minor, uint32_t status, int type, gss_OID_desc *mech, _Inout_ uint32_t *context, _Out_ gss_buffer_desc *out)"
      ),
      userok: f("int gss_userok(void *name, const char *user)"),
      inquire_cred: f(
        "uint32_t gss_inquire_cred(_Out_ uint32_t *minor, void *cred, _Out_ void **name, _Out_ uint32_t *lifetime, _Out_ int *usage, void *mechs)"
      ),
      localname: f("uint32_t gss_localname(_Out_ uint32_t *minor, void *name, void *mech, _Out_ gss_buffer_desc *out)")
    }
  }
}

interface BufferDesc {
  length: number
  value: unknown
}

const input = (bytes: Uint8Array): BufferDesc => ({ length: bytes.length, value: bytes.length > 0 ? bytes : null })
const oid = (arcs: Buffer) => ({ length: arcs.length, elements: arcs })

const make = (binding: Binding): GssapiService => {
  const { fn, koffi } = binding

  /** Copies a buffer the library allocated, and releases it. */
  const take = (out: BufferDesc): Uint8Array => {
    const bytes = out.length > 0 && out.value ? new Uint8Array(koffi.view(out.value, out.length).slice(0)) : new Uint8Array(0)
    if (out.value) fn.release_buffer([0], out)
    return bytes
  }

  const statusMessages = (code: number, type: number): string => {
    const messages: Array<string> = []
    const context = [0]
    for (let i = 0; i < MAX_STATUS_MESSAGES; i++) {
      const out: BufferDesc = { length: 0, value: null }
      const major = fn.display_status([0], code, type, oid(KRB5_MECHANISM), context, out) as number
      if (isError(major)) break
      const text = Buffer.from(take(out)).toString("utf8")
      if (text) messages.push(text)
      if (context[0] === 0) break
    }
    return messages.join("; ")
  }

  const gssError = (call: string, major: number, minor: number, errorToken?: Uint8Array) =>
    new GssError({
      call,
      major,
      minor,
      majorMessage: statusMessages(major, GSS_C_GSS_CODE) || `major status 0x${major.toString(16)}`,
      // The library words an unknown minor code as "Success": that says nothing.
      minorMessage: minor === 0 ? "" : statusMessages(minor, GSS_C_MECH_CODE).replace(/^Success$/, ""),
      ...(errorToken !== undefined && errorToken.length > 0 ? { errorToken } : {})
    })

  /** A call on koffi's worker threads, as an Effect that cannot be cut short in the middle. */
  const callAsync = (f: Native, args: ReadonlyArray<unknown>): Effect.Effect<number> =>
    Effect.async<number>((resume) => {
      f.async(...args, (err: unknown, result: number) => {
        resume(err ? Effect.die(err) : Effect.succeed(result))
      })
    })

  const check = (call: string, major: number, minor: ReadonlyArray<number>): Effect.Effect<number, GssError> =>
    isError(major) ? Effect.fail(gssError(call, major, minor[0])) : Effect.succeed(major)

  const releaseHandle = (release: Native, handle: Handle) => Effect.sync(() => void release([0], [handle]))

  /** A name or credential, released with the scope. */
  const scoped = <E>(acquire: Effect.Effect<Handle, E>, release: Native) =>
    Effect.acquireRelease(acquire, (handle) => handle ? releaseHandle(release, handle) : Effect.void)

  const importName = (target: string) =>
    scoped(
      Effect.suspend(() => {
        const minor = [0]
        const out: Array<Handle> = [null]
        const major = fn.import_name(minor, input(Buffer.from(target, "utf8")), oid(NT_HOSTBASED_SERVICE), out) as number
        return Effect.as(check("gss_import_name", major, minor), out[0])
      }),
      fn.release_name
    )

  const credential = (usage: number, store: Record<string, string>) => {
    const entries = Object.entries(store)
    return scoped(
      Effect.suspend(() => {
        const minor = [0]
        const out: Array<Handle> = [null]
        const args = [
          minor,
          null,
          0,
          { count: 1, elements: [oid(KRB5_MECHANISM)] },
          usage,
          { count: entries.length, elements: entries.map(([key, value]) => ({ key, value })) },
          out,
          null,
          null
        ]
        return Effect.flatMap(callAsync(fn.acquire_cred_from, args), (major) => Effect.as(check("gss_acquire_cred_from", major, minor), out[0]))
      }),
      fn.release_cred
    )
  }

  /** A context handle, held in a cell the calls update, and deleted with the scope. */
  const contextCell = Effect.acquireRelease(
    Effect.sync(() => ({ handle: null as Handle })),
    (cell) => cell.handle ? Effect.sync(() => void fn.delete_sec_context([0], [cell.handle], null)) : Effect.void
  )

  const stepResult = (major: number, out: BufferDesc): Step => {
    const token = take(out)
    return { token: token.length > 0 ? token : undefined, complete: major === GSS_S_COMPLETE }
  }

  const mic = (cell: { handle: Handle }, message: Uint8Array) =>
    Effect.suspend(() => {
      const minor = [0]
      const out: BufferDesc = { length: 0, value: null }
      const major = fn.get_mic(minor, cell.handle, 0, input(message), out) as number
      return isError(major) ? Effect.fail(gssError("gss_get_mic", major, minor[0])) : Effect.succeed(take(out))
    })

  /** A name's text; the name stays the caller's to release. */
  const displayName = (call: string, name: Handle): Effect.Effect<string, GssError> =>
    Effect.suspend(() => {
      const minor = [0]
      const out: BufferDesc = { length: 0, value: null }
      const major = fn.display_name(minor, name, out, null) as number
      return isError(major) ? Effect.fail(gssError(call, major, minor[0])) : Effect.succeed(Buffer.from(take(out)).toString("utf8"))
    })

  const credentials = (options: { readonly ccache?: string }) =>
    Effect.scoped(Effect.gen(function*() {
      const cred = yield* credential(GSS_C_INITIATE, options.ccache === undefined ? {} : { ccache: options.ccache })
      const minor = [0]
      const name: Array<Handle> = [null]
      const lifetime = [0]
      const major = fn.inquire_cred(minor, cred, name, lifetime, [0], null) as number
      yield* check("gss_inquire_cred", major, minor)
      yield* Effect.addFinalizer(() => name[0] ? releaseHandle(fn.release_name, name[0]) : Effect.void)
      return { principal: yield* displayName("gss_display_name", name[0]), lifetime: lifetime[0] }
    }))

  const initiator = (options: InitiatorOptions): Effect.Effect<Initiator, GssError, Scope.Scope> =>
    Effect.gen(function*() {
      const target = yield* importName(options.target)
      const cred = options.ccache === undefined ? null : yield* credential(GSS_C_INITIATE, { ccache: options.ccache })
      const cell = yield* contextCell
      const flags = GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG | (options.delegate ? GSS_C_DELEG_FLAG : 0)
      let granted = 0
      const step = (token: Uint8Array | undefined): Effect.Effect<Step, GssError> =>
        Effect.suspend(() => {
          const minor = [0]
          const context = [cell.handle]
          const out: BufferDesc = { length: 0, value: null }
          const retFlags = [0]
          const args = [minor, cred, context, target, oid(KRB5_MECHANISM), flags, 0, null, token ? input(token) : null, null, out, retFlags, null]
          return Effect.flatMap(callAsync(fn.init_sec_context, args), (major) => {
            cell.handle = context[0]
            granted = retFlags[0]
            // An error may still carry a token for the peer: the error carries it.
            if (isError(major)) return Effect.fail(gssError("gss_init_sec_context", major, minor[0], take(out)))
            return Effect.succeed(stepResult(major, out))
          })
        })
      return {
        step,
        integrity: Effect.sync(() => (granted & GSS_C_INTEG_FLAG) !== 0),
        getMic: (message) => mic(cell, message)
      }
    })

  const acceptor = (options: AcceptorOptions): Effect.Effect<Acceptor, GssError, Scope.Scope> =>
    Effect.gen(function*() {
      const cred = options.keytab === undefined ? null : yield* credential(GSS_C_ACCEPT, { keytab: options.keytab })
      const cell = yield* contextCell
      // The client's name, released with the scope.
      const source = { handle: null as Handle }
      yield* Effect.addFinalizer(() => source.handle ? releaseHandle(fn.release_name, source.handle) : Effect.void)
      let complete = false
      let granted = 0
      const notComplete = (call: string) =>
        new GssError({ call, major: 0, minor: 0, majorMessage: "the security context is not established yet", minorMessage: "" })
      const step = (token: Uint8Array): Effect.Effect<Step, GssError> =>
        Effect.suspend(() => {
          const minor = [0]
          const context = [cell.handle]
          const name: Array<Handle> = [null]
          const out: BufferDesc = { length: 0, value: null }
          const retFlags = [0]
          const args = [minor, context, cred, input(token), null, name, null, out, retFlags, null, null]
          return Effect.flatMap(callAsync(fn.accept_sec_context, args), (major) => {
            cell.handle = context[0]
            if (name[0]) {
              if (source.handle) fn.release_name([0], [source.handle])
              source.handle = name[0]
            }
            // An error may still carry a token for the peer (a KRB-ERROR): the error carries it.
            if (isError(major)) return Effect.fail(gssError("gss_accept_sec_context", major, minor[0], take(out)))
            granted = retFlags[0]
            complete = major === GSS_S_COMPLETE
            return Effect.succeed(stepResult(major, out))
          })
        })
      const clientName = Effect.suspend(() =>
        !complete || !source.handle ? Effect.fail(notComplete("gss_display_name")) : displayName("gss_display_name", source.handle)
      )
      const verifyMic = (message: Uint8Array, token: Uint8Array) =>
        Effect.suspend(() => {
          if (!complete) return Effect.fail(notComplete("gss_verify_mic"))
          const minor = [0]
          const major = fn.verify_mic(minor, cell.handle, input(message), input(token), null) as number
          return isError(major) ? Effect.fail(gssError("gss_verify_mic", major, minor[0])) : Effect.void
        })
      const userOk = (user: string) =>
        Effect.suspend(() => !complete || !source.handle ? Effect.fail(notComplete("gss_userok")) : Effect.succeed(fn.userok(source.handle, user) === 1))
      const localName = Effect.suspend(() => {
        if (!complete || !source.handle) return Effect.fail(notComplete("gss_localname"))
        const out: BufferDesc = { length: 0, value: null }
        const major = fn.localname([0], source.handle, null, out) as number
        // No mapping is an answer, not an error.
        return Effect.succeed(isError(major) ? Option.none() : Option.some(Buffer.from(take(out)).toString("utf8")))
      })
      const integrity = Effect.sync(() => complete && (granted & GSS_C_INTEG_FLAG) !== 0)
      return { step, integrity, clientName, verifyMic, userOk, localName }
    })

  return { credentials, initiator, acceptor }
}

let loaded: GssapiService | GssapiUnavailable | undefined

/**
 * koffi, by `import()`; where a V8 startup snapshot runs (the ssh-auth command's) there is no
 * `import()`, and it is required from beside the snapshot file instead, which resolves the
 * same node_modules the bundle would.
 */
const importKoffi = async (): Promise<Koffi> => {
  try {
    const module = await import("koffi")
    return (module as unknown as { default?: Koffi }).default ?? module
  } catch (cause) {
    const at = process.execArgv.indexOf("--snapshot-blob")
    if (at < 0 || process.execArgv[at + 1] === undefined) throw cause
    const { createRequire } = process.getBuiltinModule("node:module") as typeof import("node:module")
    return createRequire(process.execArgv[at + 1])("koffi") as Koffi
  }
}

/**
 * Loads koffi and the library once per process; the outcome, either way, is kept.
 *
 * @since 0.1.0
 * @category constructors
 */
export const load: Effect.Effect<GssapiService, GssapiUnavailable> = Effect.suspend(() => {
  const outcome = (result: GssapiService | GssapiUnavailable) => result instanceof GssapiUnavailable ? Effect.fail(result) : Effect.succeed(result)
  if (loaded !== undefined) return outcome(loaded)
  return Effect.tryPromise({
    try: importKoffi,
    catch: (cause) => new GssapiUnavailable({ reason: `the optional package koffi is not installed (${String(cause)})` })
  }).pipe(
    Effect.tapError((e) => Effect.sync(() => (loaded ??= e))),
    Effect.flatMap((module) =>
      Effect.suspend(() => {
        // Fibers that asked at once all waited for the import; the first to get here binds,
        // in one synchronous step, and the others take its outcome: koffi refuses a second
        // declaration of the same struct name.
        if (loaded === undefined) {
          try {
            loaded = make(bind(module))
          } catch (cause) {
            loaded = new GssapiUnavailable({ reason: `${LIBRARY} could not be loaded: ${cause instanceof Error ? cause.message : String(cause)}` })
          }
        }
        return outcome(loaded)
      })
    )
  )
})
