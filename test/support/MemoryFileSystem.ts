/**
 * An in-memory `FileSystem` (with the platform's POSIX `Path`) for tests of code that reads
 * and writes through @effect/platform: files by absolute path, with text or bytes, made
 * directories with their modes, and paths that exist but may not be read, listed or entered
 * (EACCES), the way a mode-000 file or directory fails for a user who is not root, something
 * a test run as root cannot get from the real file system. test/config/MemoryFileSystem.test.ts
 * holds it to Node's on the calls it serves; every other call fails as the platform's no-op
 * file system does.
 */
import * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as posix from "node:path/posix"

/** Marks a file that exists but may not be read: EACCES. */
export const denied: unique symbol = Symbol.for("test/MemoryFileSystem/denied")

/** A file's content, or a file this process may not read. */
export type Entry = string | Uint8Array | typeof denied

export interface MemoryFiles {
  readonly [path: string]: Entry
}

interface Node {
  readonly type: "File" | "Directory"
  data: Uint8Array
  readonly mode: number
}

/** The file system, and what a test looks at afterwards. */
export interface MemoryFileSystem extends FileSystem.FileSystem {
  /** A file's text, or undefined. */
  readonly read: (path: string) => string | undefined
  readonly modeOf: (path: string) => number | undefined
}

const systemError = (reason: PlatformError.SystemErrorReason, method: string, path: string, description: string) =>
  new PlatformError.SystemError({ reason, module: "FileSystem", method, pathOrDescriptor: path, description })

/**
 * A file system holding `files` (parent directories are made), where `denied` files and the
 * `unreadable` paths (files or directories) cannot be read, listed or entered.
 */
export const make = (files: MemoryFiles, options: { readonly unreadable?: ReadonlyArray<string> } = {}): MemoryFileSystem => {
  const nodes = new Map<string, Node>([["/", { type: "Directory", data: new Uint8Array(0), mode: 0o755 }]])
  const unreadable = new Set((options.unreadable ?? []).map((p) => posix.resolve(p)))
  const mkdirs = (dir: string, mode: number) => {
    for (let d = dir, chain: Array<string> = [];; d = posix.dirname(d)) {
      if (nodes.has(d)) {
        for (const c of chain.reverse()) nodes.set(c, { type: "Directory", data: new Uint8Array(0), mode })
        return
      }
      chain.push(d)
    }
  }
  for (const [path, entry] of Object.entries(files)) {
    const p = posix.resolve(path)
    mkdirs(posix.dirname(p), 0o755)
    if (entry === denied) unreadable.add(p)
    const data = typeof entry === "string" ? new TextEncoder().encode(entry) : entry === denied ? new Uint8Array(0) : entry
    nodes.set(p, { type: "File", data, mode: 0o644 })
  }

  /** EACCES when a directory on the way is unreadable (it cannot be searched either). */
  const blocked = (p: string) => {
    for (let d = posix.dirname(p);; d = posix.dirname(d)) {
      if (unreadable.has(d)) return true
      if (d === "/") return false
    }
  }
  /** The node at a path, when the call runs (not when it is made). */
  const find = (method: string, path: string): Effect.Effect<Node & { readonly path: string }, PlatformError.PlatformError> =>
    Effect.suspend(() => {
      const p = posix.resolve(path)
      if (blocked(p)) return Effect.fail(systemError("PermissionDenied", method, path, `EACCES: permission denied, ${method} '${path}'`))
      // A file on the way is ENOTDIR, as the kernel says.
      for (let d = posix.dirname(p); d !== "/"; d = posix.dirname(d)) {
        if (nodes.get(d)?.type === "File") return Effect.fail(systemError("BadResource", method, path, `ENOTDIR: not a directory, ${method} '${path}'`))
      }
      const node = nodes.get(p)
      return node
        ? Effect.succeed({ ...node, path: p })
        : Effect.fail(systemError("NotFound", method, path, `ENOENT: no such file or directory, ${method} '${path}'`))
    })
  const refused = (method: string, path: string) => systemError("PermissionDenied", method, path, `EACCES: permission denied, ${method} '${path}'`)

  const readFile = (path: string) =>
    Effect.flatMap(find("open", path), (node) =>
      unreadable.has(node.path)
        ? Effect.fail(refused("open", path))
        : node.type === "Directory"
        ? Effect.fail(systemError("BadResource", "read", path, "EISDIR: illegal operation on a directory, read"))
        : Effect.succeed(node.data))

  const fileSystem = FileSystem.makeNoop({
    readFile,
    readFileString: (path) => Effect.map(readFile(path), (data) => new TextDecoder().decode(data)),
    readDirectory: (path) =>
      Effect.flatMap(find("scandir", path), (node) => {
        if (unreadable.has(node.path)) return Effect.fail(refused("scandir", path))
        if (node.type !== "Directory") return Effect.fail(systemError("BadResource", "scandir", path, `ENOTDIR: not a directory, scandir '${path}'`))
        return Effect.succeed([...nodes.keys()].filter((k) => k !== node.path && posix.dirname(k) === node.path).map((k) => posix.basename(k)).sort())
      }),
    stat: (path) =>
      Effect.map(find("stat", path), (node): FileSystem.File.Info => ({
        type: node.type,
        mtime: Option.none(),
        atime: Option.none(),
        birthtime: Option.none(),
        dev: 0,
        ino: Option.none(),
        mode: node.mode,
        nlink: Option.none(),
        uid: Option.none(),
        gid: Option.none(),
        rdev: Option.none(),
        size: FileSystem.Size(node.data.length),
        blksize: Option.none(),
        blocks: Option.none()
      })),
    exists: (path) => Effect.sync(() => nodes.has(posix.resolve(path))),
    access: (path) => Effect.asVoid(find("access", path)),
    makeDirectory: (path, options) =>
      Effect.suspend(() => {
        const p = posix.resolve(path)
        if (blocked(p) || unreadable.has(p)) return Effect.fail(refused("mkdir", path))
        const existing = nodes.get(p)
        if (existing !== undefined) {
          return existing.type === "Directory" && options?.recursive
            ? Effect.void
            : Effect.fail(systemError("AlreadyExists", "mkdir", path, `EEXIST: file already exists, mkdir '${path}'`))
        }
        if (!options?.recursive && !nodes.has(posix.dirname(p))) {
          return Effect.fail(systemError("NotFound", "mkdir", path, `ENOENT: no such file or directory, mkdir '${path}'`))
        }
        for (let d = posix.dirname(p); d !== "/"; d = posix.dirname(d)) {
          if (nodes.get(d)?.type === "File") return Effect.fail(systemError("BadResource", "mkdir", path, `ENOTDIR: not a directory, mkdir '${path}'`))
        }
        mkdirs(p, options?.mode ?? 0o777)
        return Effect.void
      }),
    writeFile: (path, data, options) =>
      Effect.suspend(() => {
        const p = posix.resolve(path)
        if (blocked(p) || unreadable.has(p)) return Effect.fail(refused("open", path))
        const parent = nodes.get(posix.dirname(p))
        if (parent === undefined) return Effect.fail(systemError("NotFound", "open", path, `ENOENT: no such file or directory, open '${path}'`))
        if (parent.type !== "Directory") return Effect.fail(systemError("BadResource", "open", path, `ENOTDIR: not a directory, open '${path}'`))
        const existing = nodes.get(p)
        if (existing?.type === "Directory") {
          return Effect.fail(systemError("BadResource", "open", path, `EISDIR: illegal operation on a directory, open '${path}'`))
        }
        const append = options?.flag?.startsWith("a") ?? false
        if (existing !== undefined && append) {
          const joined = new Uint8Array(existing.data.length + data.length)
          joined.set(existing.data)
          joined.set(data, existing.data.length)
          existing.data = joined
        } else if (existing !== undefined) {
          existing.data = data
        } else {
          nodes.set(p, { type: "File", data, mode: options?.mode ?? 0o666 })
        }
        return Effect.void
      }),
    writeFileString: (path, text, options) => fileSystem.writeFile(path, new TextEncoder().encode(text), options)
  })

  return {
    ...fileSystem,
    read: (path) => {
      const node = nodes.get(posix.resolve(path))
      return node?.type === "File" ? new TextDecoder().decode(node.data) : undefined
    },
    modeOf: (path) => nodes.get(posix.resolve(path))?.mode
  }
}

/** A file system made with `make`, and POSIX paths, as layers. */
export const layerOf = (fileSystem: MemoryFileSystem): Layer.Layer<FileSystem.FileSystem | Path.Path> =>
  Layer.merge(Layer.succeed(FileSystem.FileSystem, fileSystem), Path.layer)

/** The layers over `files`, for a test that does not look inside afterwards. */
export const layer = (files: MemoryFiles, options: { readonly unreadable?: ReadonlyArray<string> } = {}): Layer.Layer<FileSystem.FileSystem | Path.Path> =>
  layerOf(make(files, options))
