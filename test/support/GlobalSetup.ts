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
import { spawnSync } from "node:child_process"
import * as crypto from "node:crypto"
import type { TestProject } from "vitest/node"
import { isRoot } from "./Env.js"
import type { TestUser } from "./Sshd.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** This run's password user; absent when the run is not root. */
    readonly testUser?: TestUser
  }
}

/** The GECOS field that marks a user as ours, with the pid of the run that made it. */
const marker = (pid: number) => `effect-ssh-auth test user, run pid ${pid}`
const markerPattern = /^effect-ssh-auth test user, run pid (\d+)$/
const namePattern = /^sshauth[a-z0-9]{6}$/
const LEGACY_NAME = "sshauthtest"

/** `sshauth` and 6 random lowercase letters and digits: a valid Linux user name of 13 characters. */
const randomName = () => {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
  return "sshauth" + Array.from(crypto.randomBytes(6), (b) => alphabet[b % alphabet.length]).join("")
}

/** 144 random bits as base64url: no ':' or newline, which chpasswd's "name:password" line forbids. */
const randomPassword = () => crypto.randomBytes(18).toString("base64url")

const sh = (file: string, args: ReadonlyArray<string>, input?: string) => {
  const r = spawnSync(file, [...args], { encoding: "utf8", timeout: 30_000, ...(input !== undefined ? { input } : {}) })
  return { code: r.status ?? -1, stderr: (r.stderr ?? "").trim() || (r.error?.message ?? "") }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const removeUser = (name: string) => {
  const r = sh("userdel", ["-r", name])
  // userdel warns when the user had no mail spool; that is not a failure. Exit 6: already gone.
  if (r.code !== 0 && r.code !== 6) console.warn(`test user ${name}: userdel -r exited ${r.code}: ${r.stderr}`)
}

/** The legacy fixed user, and per-run users whose run is no longer alive. */
const removeStale = () => {
  const passwd = spawnSync("getent", ["passwd"], { encoding: "utf8" }).stdout ?? ""
  for (const line of passwd.split("\n")) {
    const [name, , , , gecos] = line.split(":")
    if (name === LEGACY_NAME) removeUser(name)
    const pid = markerPattern.exec(gecos ?? "")?.[1]
    if (pid !== undefined && namePattern.test(name) && !alive(Number(pid))) removeUser(name)
  }
}

export default function setup(project: TestProject): (() => void) | undefined {
  if (!isRoot) return undefined
  removeStale()
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
    removeStale()
  }
}
