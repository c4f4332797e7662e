/**
 * Just enough of the WebAssembly binary format (core specification, chapter 5) to write the
 * few small kernels the crypto code runs (`DivstepLoops`, `Keccak`, `MlKemKernel`): a module
 * of functions over one exported memory, its bytes built where it is used rather than shipped
 * as an artifact, and instantiated synchronously.
 *
 * @since 0.1.0
 */

/** Unsigned LEB128. */
const uleb = (value: number): Array<number> => {
  const out: Array<number> = []
  let x = value
  do {
    const byte = x & 0x7f
    x >>>= 7
    out.push(x === 0 ? byte : byte | 0x80)
  } while (x !== 0)
  return out
}

/**
 * Signed LEB128 of a 32-bit integer.
 *
 * @since 0.1.0
 * @category encoding
 */
export const sleb = (value: number): Array<number> => {
  const out: Array<number> = []
  let x = value | 0
  for (;;) {
    const byte = x & 0x7f
    x >>= 7
    const done = (x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0)
    out.push(done ? byte : byte | 0x80)
    if (done) return out
  }
}

const vector = (items: ReadonlyArray<ReadonlyArray<number>>): Array<number> => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: ReadonlyArray<number>): Array<number> => [id, ...uleb(body.length), ...body]
const name = (text: string): Array<number> => vector([...new TextEncoder().encode(text)].map((b) => [b]))

/**
 * The opcodes the kernels use (§5.4).
 *
 * @since 0.1.0
 * @category encoding
 */
export const op = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Load: 0x28,
  i32Load8U: 0x2d,
  i32Store: 0x36,
  i32Const: 0x41,
  i64Const: 0x42,
  f64Const: 0x44,
  i32LtS: 0x48,
  i32LtU: 0x49,
  i32GeS: 0x4e,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32And: 0x71,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  i64And: 0x83,
  i64Xor: 0x85,
  i64Rotl: 0x89,
  f64Add: 0xa0,
  f64Sub: 0xa1,
  f64Mul: 0xa2,
  i64Load: 0x29,
  f64Load: 0x2b,
  i64Store: 0x37,
  f64Store: 0x39
} as const

/**
 * Value types (§5.3.1), and the empty block type.
 *
 * @since 0.1.0
 * @category encoding
 */
export const type = { i32: 0x7f, i64: 0x7e, f64: 0x7c, v128: 0x7b, voidBlock: 0x40 } as const

/**
 * A loop inside a block, opened: inside, `br_if 1` leaves it and `br 0` (or `br_if 0`) goes
 * round again; two `op.end`s close them.
 *
 * @since 0.1.0
 * @category encoding
 */
export const blockAndLoop: ReadonlyArray<number> = [op.block, type.voidBlock, op.loop, type.voidBlock]

/**
 * local.get and local.set of a local by its index.
 *
 * @since 0.1.0
 * @category encoding
 */
export const localGet = (local: number): Array<number> => [op.localGet, local]

/**
 * @since 0.1.0
 * @category encoding
 */
export const localSet = (local: number): Array<number> => [op.localSet, local]

/**
 * An 8-byte load or store (`op.i64Load`, `op.f64Store`, …) at a constant offset from the
 * address on the stack.
 *
 * @since 0.1.0
 * @category encoding
 */
export const memory8 = (opcode: number, offset: number): Array<number> => [opcode, 3, ...uleb(offset)]

/**
 * A 4-byte load or store (`op.i32Load`, `op.i32Store`) at a constant offset.
 *
 * @since 0.1.0
 * @category encoding
 */
export const memory4 = (opcode: number, offset: number): Array<number> => [opcode, 2, ...uleb(offset)]

/**
 * A 1-byte load (`op.i32Load8U`) at a constant offset.
 *
 * @since 0.1.0
 * @category encoding
 */
export const memory1 = (opcode: number, offset: number): Array<number> => [opcode, 0, ...uleb(offset)]

/**
 * f64.const of a value.
 *
 * @since 0.1.0
 * @category encoding
 */
export const constF64 = (value: number): Array<number> => [op.f64Const, ...new Uint8Array(new Float64Array([value]).buffer)]

/**
 * The 128-bit SIMD opcodes the kernels use (§5.4.8), each after the 0xfd prefix (`simd`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const simdOp = {
  v128Load: 0x00,
  v128Store: 0x0b,
  v128Const: 0x0c,
  i8x16Shuffle: 0x0d,
  v128And: 0x4e,
  i32x4Shl: 0xab,
  i32x4ShrS: 0xac,
  i32x4Add: 0xae,
  i32x4Sub: 0xb1,
  i32x4Mul: 0xb5
} as const

/**
 * A SIMD instruction: the prefix, the opcode (LEB128) and its immediates.
 *
 * @since 0.1.0
 * @category encoding
 */
export const simd = (opcode: number, ...immediates: ReadonlyArray<number>): Array<number> => [0xfd, ...uleb(opcode), ...immediates]

/**
 * A 16-byte load or store (`simdOp.v128Load`, `simdOp.v128Store`) at a constant offset from
 * the address on the stack.
 *
 * @since 0.1.0
 * @category encoding
 */
export const memory16 = (opcode: number, offset: number): Array<number> => simd(opcode, 4, ...uleb(offset))

/**
 * v128.const of four 32-bit lanes.
 *
 * @since 0.1.0
 * @category encoding
 */
export const constI32x4 = (lanes: readonly [number, number, number, number]): Array<number> => {
  const bytes = new DataView(new ArrayBuffer(16))
  lanes.forEach((lane, i) => bytes.setInt32(4 * i, lane, true)) // WebAssembly's memory order
  return simd(simdOp.v128Const, ...new Uint8Array(bytes.buffer))
}

/**
 * i8x16.shuffle choosing 32-bit lanes: 0–3 from the first operand, 4–7 from the second.
 *
 * @since 0.1.0
 * @category encoding
 */
export const shuffleI32x4 = (lanes: readonly [number, number, number, number]): Array<number> =>
  simd(simdOp.i8x16Shuffle, ...lanes.flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]))

/**
 * A function: its parameter types, its locals (a type per local, after the parameters), its
 * body, which ends with `op.end`, and its result types (none unless given). Functions call
 * each other by their index in the module's list.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExportedFunction {
  readonly name: string
  readonly params: ReadonlyArray<number>
  readonly locals: ReadonlyArray<number>
  readonly body: ReadonlyArray<number>
  readonly results?: ReadonlyArray<number>
}

/**
 * The module's bytes: `functions`, exported by name, and one memory of `pages` 64 KiB pages
 * exported as "memory".
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (functions: ReadonlyArray<ExportedFunction>, pages: number): Uint8Array => {
  const locals = (types: ReadonlyArray<number>) => vector(types.map((t) => [1, t]))
  const code = (f: ExportedFunction) => {
    const body = [...locals(f.locals), ...f.body]
    return [...uleb(body.length), ...body]
  }
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector(functions.map((f) => [0x60, ...vector(f.params.map((t) => [t])), ...vector((f.results ?? []).map((t) => [t]))]))),
    ...section(3, vector(functions.map((_, i) => uleb(i)))),
    ...section(5, vector([[0x00, ...uleb(pages)]])),
    ...section(7, vector([[...name("memory"), 0x02, 0], ...functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])])),
    ...section(10, vector(functions.map(code)))
  ])
}

/**
 * The module's memory and exported functions; `undefined` where this runtime has no
 * WebAssembly (`node --jitless`) or will not compile the module.
 *
 * @since 0.1.0
 * @category constructors
 */
export const instantiate = (bytes: Uint8Array): { readonly memory: ArrayBuffer; readonly exports: Record<string, unknown> } | undefined => {
  // The global, typed here as far as it is used: the project's lib has no WebAssembly types.
  const wasm = (globalThis as { readonly WebAssembly?: WebAssemblyApi }).WebAssembly
  if (wasm === undefined) return undefined
  try {
    const exports = new wasm.Instance(new wasm.Module(bytes)).exports as Record<string, unknown> & { readonly memory: { readonly buffer: ArrayBuffer } }
    return { memory: exports.memory.buffer, exports }
  } catch {
    return undefined
  }
}

/**
 * Which implementation of a kernel to use: "webassembly" or "javascript" (the tests run both),
 * or "default", chosen at the next use.
 *
 * @since 0.1.0
 * @category models
 */
export type KernelKind = "webassembly" | "javascript" | "default"

/**
 * A kernel made at its first use, in WebAssembly where the runtime has it and in JavaScript
 * otherwise (a V8 startup snapshot cannot hold a WebAssembly instance, so none is made as a
 * module loads); `use` chooses one, and "default" goes back to choosing at the next use (the
 * CLI's snapshot does, after its build-time rehearsal ran the JavaScript ones).
 *
 * @since 0.1.0
 * @category constructors
 */
export const kernel = <K>(webAssembly: () => K | undefined, javascript: () => K): { readonly get: () => K; readonly use: (kind: KernelKind) => void } => {
  let made: K | undefined
  return {
    get: () => (made ??= webAssembly() ?? javascript()),
    use: (kind) => {
      if (kind === "default") {
        made = undefined
        return
      }
      const chosen = kind === "webassembly" ? webAssembly() : javascript()
      if (chosen === undefined) throw new Error("this runtime has no WebAssembly")
      made = chosen
    }
  }
}

interface WebAssemblyApi {
  readonly Module: new(bytes: Uint8Array) => object
  readonly Instance: new(module: object) => { readonly exports: object }
}
