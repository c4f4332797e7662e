/**
 * A file system in memory, for tests of code that reads through @effect/platform's
 * `FileSystem`: files by absolute path, with text or bytes, and files that exist but may
 * not be read (EACCES), so a permission error can be tested without root or chmod. Reads,
 * `exists`, `access`, `stat` and `readDirectory` are served; every other operation fails
 * as @effect/platform's no-op file system does.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { SystemError, type SystemErrorReason } from "@effect/platform/Error"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/** A file's content, or a file this process may not read. */
export type Entry = string | Uint8Array | typeof denied

/** Marks a file that exists but may not be read or listed: EACCES. */
export const denied: unique symbol = Symbol.for("test/MemoryFileSystem/denied")

export interface MemoryFiles {
  readonly [path: string]: Entry
}

const failure = (reason: SystemErrorReason, method: string, path: string) =>
  new SystemError({
    reason,
    module: "FileSystem",
    method,
    pathOrDescriptor: path,
    description: reason === "NotFound" ? "no such file or directory" : "permission denied"
  })

/** The parent directories of every file, for `stat` and `readDirectory`. */
const directoriesOf = (paths: ReadonlyArray<string>): ReadonlySet<string> => {
  const dirs = new Set<string>(["/"])
  for (const p of paths) {
    const parts = p.split("/")
    for (let i = 1; i < parts.length - 1; i++) dirs.add(parts.slice(0, i + 1).join("/"))
  }
  return dirs
}

const info = (type: FileSystem.File.Type, size: number): FileSystem.File.Info => ({
  type,
  mtime: Option.none(),
  atime: Option.none(),
  birthtime: Option.none(),
  dev: 0,
  ino: Option.none(),
  mode: type === "Directory" ? 0o755 : 0o600,
  nlink: Option.none(),
  uid: Option.none(),
  gid: Option.none(),
  rdev: Option.none(),
  size: FileSystem.Size(size),
  blksize: Option.none(),
  blocks: Option.none()
})

/** The `FileSystem` service over `files`. */
export const make = (files: MemoryFiles): FileSystem.FileSystem => {
  const dirs = directoriesOf(Object.keys(files))
  const bytes = (method: string, path: string): Effect.Effect<Uint8Array, SystemError> => {
    const entry = Object.hasOwn(files, path) ? files[path] : undefined
    if (entry === undefined) return Effect.fail(failure("NotFound", method, path))
    if (entry === denied) return Effect.fail(failure("PermissionDenied", method, path))
    return Effect.succeed(typeof entry === "string" ? new TextEncoder().encode(entry) : entry)
  }
  const present = (path: string) => Object.hasOwn(files, path) || dirs.has(path)
  return FileSystem.makeNoop({
    readFile: (path) => bytes("readFile", path),
    readFileString: (path) => Effect.map(bytes("readFileString", path), (b) => new TextDecoder().decode(b)),
    exists: (path) => Effect.succeed(present(path)),
    access: (path) => present(path) ? Effect.void : Effect.fail(failure("NotFound", "access", path)),
    stat: (path) => {
      if (dirs.has(path)) return Effect.succeed(info("Directory", 0))
      const entry = Object.hasOwn(files, path) ? files[path] : undefined
      if (entry === undefined) return Effect.fail(failure("NotFound", "stat", path))
      return Effect.succeed(info("File", entry === denied ? 0 : typeof entry === "string" ? Buffer.byteLength(entry) : entry.length))
    },
    readDirectory: (path) => {
      if (!dirs.has(path)) return Effect.fail(failure("NotFound", "readDirectory", path))
      const prefix = path.endsWith("/") ? path : `${path}/`
      const names = new Set([...Object.keys(files), ...dirs].filter((p) => p.startsWith(prefix) && p !== prefix).map((p) => p.slice(prefix.length).split("/")[0]))
      return Effect.succeed([...names].sort())
    }
  })
}

/** A layer of the in-memory file system over `files`. */
export const layer = (files: MemoryFiles): Layer.Layer<FileSystem.FileSystem> => Layer.succeed(FileSystem.FileSystem, make(files))
