/**
 * Once per vitest run (registered in vitest.config.ts): the password user the root-only tests
 * log in as. Each run makes its own, with a random name and password, hands it to the test
 * workers through `provide` (read with `Sshd.ensureTestUser`), and deletes it when the run
 * ends. Users left by a run that died, and the fixed `sshauthtest` of older versions, are
 * deleted too. Without root this does nothing, and the tests that need the user skip or fail
 * as `skipUnlessRoot` decides.
 *
 * Runs in vitest's main process: it must not import "vitest" itself, only its types.
 */
import * as crypto from "node:crypto"
import type { TestProject } from "vitest/node"
import { isRoot } from "./Env.js"
import { marker, randomName, removeStale, sh } from "./RunUser.js"
import type { TestUser } from "./Sshd.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** This run's password user; absent when the run is not root. */
    readonly testUser?: TestUser
  }
}

const LEGACY_NAME = "sshauthtest"

/** 144 random bits as base64url: no ':' or newline, which chpasswd's "name:password" line forbids. */
const randomPassword = () => crypto.randomBytes(18).toString("base64url")

const removeUser = (name: string) => {
  const r = sh("userdel", ["-r", name])
  // userdel warns when the user had no mail spool; that is not a failure. Exit 6: already gone.
  if (r.code !== 0 && r.code !== 6) console.warn(`test user ${name}: userdel -r exited ${r.code}: ${r.stderr}`)
}

export default function setup(project: TestProject): (() => void) | undefined {
  if (!isRoot) return undefined
  // The legacy fixed user, and per-run users whose run is no longer alive.
  removeStale(removeUser, [LEGACY_NAME])
  const user: TestUser = { name: randomName(), password: randomPassword() }
  const add = sh("useradd", ["-m", "-s", "/bin/sh", "-c", marker(process.pid), user.name])
  if (add.code !== 0) throw new Error(`global setup: useradd ${user.name} exited ${add.code}: ${add.stderr}`)
  const chpasswd = sh("chpasswd", [], `${user.name}:${user.password}\n`)
  if (chpasswd.code !== 0) {
    removeUser(user.name)
    throw new Error(`global setup: chpasswd for ${user.name} exited ${chpasswd.code}: ${chpasswd.stderr}`)
  }
  project.provide("testUser", user)
  return () => {
    removeUser(user.name)
    removeStale(removeUser, [LEGACY_NAME])
  }
}
