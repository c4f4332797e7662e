// `node --import ./test/support/WithoutKoffi.mjs …`: a process in which the optional package
// koffi is not installed, as on a machine whose install left optional dependencies out.
import { register } from "node:module"

register(
  "data:text/javascript," +
    encodeURIComponent(`
export async function resolve(specifier, context, next) {
  if (specifier === "koffi" || specifier.startsWith("koffi/")) {
    const error = new Error("Cannot find package 'koffi' (hidden by WithoutKoffi.mjs)")
    error.code = "ERR_MODULE_NOT_FOUND"
    throw error
  }
  return next(specifier, context)
}`)
)
