/**
 * ssh_config for a destination, in one call: resolved as `ssh` resolves it
 * (`ConfigResolver`), then decoded into the typed `HostConfig`. The pieces are their own
 * modules: `ConfigResolver` (the raw keyword map), `HostConfig` (the typed record),
 * `ConfigDump` (`ssh -G`'s format), `ConfigDefaults` (OpenSSH's defaults) and
 * `ConfigTokens` (`~`, `${VAR}`, `%` tokens).
 *
 * Files are read through `@effect/platform`'s `FileSystem` and `Path`: provide them, for
 * example with `NodeContext.layer` from `@effect/platform-node`.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Effect from "effect/Effect"
import type { ConfigError } from "./ConfigError.js"
import * as ConfigResolver from "./ConfigResolver.js"
import * as ConfigTokens from "./ConfigTokens.js"
import * as HostConfig from "./HostConfig.js"

/**
 * @since 0.1.0
 * @category models
 */
export type LocalContext = ConfigTokens.LocalContext

/**
 * @since 0.1.0
 * @category constructors
 */
export const localContext: () => LocalContext = ConfigTokens.localContext

/**
 * @since 0.1.0
 * @category models
 */
export type ResolveOptions = ConfigResolver.ResolveOptions

/**
 * @since 0.1.0
 * @category models
 */
export type RawConfig = ConfigResolver.RawConfig

/**
 * Resolves and decodes the configuration for a destination.
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolve = (options: ConfigResolver.ResolveOptions): Effect.Effect<HostConfig.HostConfig, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(ConfigResolver.resolve(options), HostConfig.decode)

/**
 * Both forms: the raw map (for `ConfigDump.dump`) and the decoded record.
 *
 * @since 0.1.0
 * @category resolution
 */
export const resolveWithRaw = (
  options: ConfigResolver.ResolveOptions
): Effect.Effect<{ readonly raw: ConfigResolver.RawConfig; readonly config: HostConfig.HostConfig }, ConfigError, FileSystem.FileSystem | Path.Path> =>
  Effect.flatMap(ConfigResolver.resolve(options), (raw) => Effect.map(HostConfig.decode(raw), (config) => ({ raw, config })))
