/**
 * The in-memory file system the config and known_hosts tests run on answers as Node's does,
 * for the calls those modules make: the same values, and failures with the same reasons.
 * (Permission denied cannot be compared here: the suite runs as root, which reads anything.)
 */
import * as FileSystem from "@effect/platform/FileSystem"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as MemoryFileSystem from "../support/MemoryFileSystem.js"
import * as NodeFiles from "../support/NodeFiles.js"

/** What a call gave: its value, or the failure's tag and reason. */
const outcome = <A>(effect: Effect.Effect<A, { readonly _tag: string; readonly reason?: string }>) =>
  Effect.match(effect, { onFailure: (e) => ({ failed: `${e._tag}/${e.reason}` }), onSuccess: (value) => ({ value }) })

/** The same calls, rooted at `root`, on whichever FileSystem is provided. */
const script = (root: string) =>
  Effect.gen(function*() {
    const files = yield* FileSystem.FileSystem
    const at = (p: string) => path.join(root, p)
    return {
      readFile: yield* outcome(files.readFileString(at("dir/file"))),
      readMissing: yield* outcome(files.readFileString(at("dir/missing"))),
      readDirectory: yield* outcome(files.readFileString(at("dir"))),
      list: yield* outcome(Effect.map(files.readDirectory(at("dir")), (names) => [...names].sort())),
      listMissing: yield* outcome(files.readDirectory(at("nothing"))),
      listFile: yield* outcome(files.readDirectory(at("dir/file"))),
      statFile: yield* outcome(Effect.map(files.stat(at("dir/file")), (i) => [i.type, Number(i.size)])),
      statDirectory: yield* outcome(Effect.map(files.stat(at("dir")), (i) => i.type)),
      statMissing: yield* outcome(files.stat(at("dir/missing"))),
      statUnderFile: yield* outcome(files.stat(at("dir/file/x"))),
      mkdirAgain: yield* outcome(files.makeDirectory(at("dir"), { recursive: true })),
      mkdirDeep: yield* outcome(
        Effect.zipRight(files.makeDirectory(at("a/b"), { recursive: true, mode: 0o700 }), Effect.map(files.stat(at("a/b")), (i) => [i.type, i.mode & 0o777]))
      ),
      mkdirUnderFile: yield* outcome(files.makeDirectory(at("dir/file/x"), { recursive: true })),
      append: yield* outcome(
        Effect.gen(function*() {
          yield* files.writeFileString(at("a/b/kh"), "one\n", { flag: "a", mode: 0o600 })
          yield* files.writeFileString(at("a/b/kh"), "two\n", { flag: "a", mode: 0o644 })
          return [yield* files.readFileString(at("a/b/kh")), (yield* files.stat(at("a/b/kh"))).mode & 0o777]
        })
      ),
      writeUnderMissing: yield* outcome(files.writeFileString(at("nothing/kh"), "x", { flag: "a" })),
      writeUnderFile: yield* outcome(files.writeFileString(at("dir/file/kh"), "x", { flag: "a" }))
    }
  })

describe("the in-memory FileSystem", () => {
  it.scoped("answers the calls config and known_hosts make as Node's FileSystem does", () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), "memory-fs-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true })))
      fs.mkdirSync(path.join(root, "dir", "sub"), { recursive: true })
      fs.writeFileSync(path.join(root, "dir", "file"), "text\n")
      // Node's mkdir and open apply the umask, the in-memory ones do not: 022 leaves 0700 and 0600 alone.
      const mask = process.umask(0o022)
      yield* Effect.addFinalizer(() => Effect.sync(() => process.umask(mask)))
      const onDisk = yield* Effect.provide(script(root), NodeFiles.layer)
      const inMemory = yield* Effect.provide(
        script(root),
        MemoryFileSystem.layer({ [path.join(root, "dir", "file")]: "text\n", [path.join(root, "dir", "sub", ".keep")]: "" })
      )
      // dir/sub comes from the file inside it, in memory; the listing does not go below it.
      expect(onDisk.list).toEqual({ value: ["file", "sub"] })
      expect(inMemory).toEqual(onDisk)
    }))
})
