/**
 * `bench:fanout`'s runner for ssh2 as shipped, in a process of its own: `Client.connect` with
 * the key's text (ssh2 parses it on each connect; it takes no parsed key), done at 'ready'.
 */
import { Client } from "ssh2"
import { args, CONNECTION_TIMEOUT_MS, main, readKeyText, run } from "./Runner.js"

await main(async () => {
  const a = args()
  const privateKey = readKeyText(a)
  await run((port) =>
    new Promise((resolve, reject) => {
      const client = new Client()
      const timer = setTimeout(() => {
        client.destroy()
        reject(new Error(`ssh2: not authenticated after ${CONNECTION_TIMEOUT_MS} ms`))
      }, CONNECTION_TIMEOUT_MS)
      const closed = new Promise<void>((r) => client.once("close", () => r()))
      const close = () =>
        new Promise<void>((resolve, reject) => {
          const bound = setTimeout(() => {
            client.destroy()
            reject(new Error(`ssh2: not closed after ${CONNECTION_TIMEOUT_MS} ms`))
          }, CONNECTION_TIMEOUT_MS)
          closed.then(() => (clearTimeout(bound), resolve()))
          client.end()
        })
      client.on("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
      client.once("close", () => {
        clearTimeout(timer)
        reject(new Error("ssh2: closed before 'ready'"))
      })
      client.once("ready", () => {
        clearTimeout(timer)
        resolve(close)
      })
      client.connect({
        host: "127.0.0.1",
        port,
        username: a.user,
        privateKey,
        hostVerifier: () => true,
        readyTimeout: CONNECTION_TIMEOUT_MS
      })
    })
  )
})
