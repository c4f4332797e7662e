/**
 * The file system's errors as ssh's users read them, shared by the ssh_config and
 * known_hosts readers: a missing file is no error for either, anything else is.
 *
 * @since 0.1.0
 */
import type { PlatformError } from "@effect/platform/Error"

/** @internal */
export const isMissing = (error: PlatformError): boolean => error._tag === "SystemError" && error.reason === "NotFound"

/**
 * What went wrong, in a few words ("permission denied"), without the path.
 *
 * @internal
 */
export const describe = (error: PlatformError): string => {
  if (error._tag === "BadArgument") return error.description ?? "bad argument"
  switch (error.reason) {
    case "PermissionDenied":
      return "permission denied"
    case "NotFound":
      return "no such file or directory"
    case "BadResource":
      return /EISDIR/.test(error.description ?? "")
        ? "it is a directory"
        : /ENOTDIR/.test(error.description ?? "")
        ? "not a directory"
        : error.description ?? "bad resource"
    default:
      return error.description ?? error.reason
  }
}
