/**
 * effect-ssh-auth: SSH authentication for TypeScript, built on Effect.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as AuthStrategy from "./AuthStrategy.js"
/** @since 0.1.0 */
export * as OpenSshStrategy from "./OpenSshStrategy.js"
/** @since 0.1.0 */
export * as AuthResult from "./AuthResult.js"
/** @since 0.1.0 */
export * as AuthHandler from "./handler/AuthHandler.js"
/** @since 0.1.0 */
export * as AuthError from "./handler/AuthError.js"
/** @since 0.1.0 */
export * as AuthSource from "./sources/AuthSource.js"
/** @since 0.1.0 */
export * as NoneAuth from "./sources/NoneAuth.js"
/** @since 0.1.0 */
export * as Password from "./sources/Password.js"
/** @since 0.1.0 */
export * as PrivateKeySource from "./sources/PrivateKey.js"
/** @since 0.1.0 */
export * as KeyboardInteractive from "./sources/KeyboardInteractive.js"
/** @since 0.1.0 */
export * as IdentityFile from "./sources/IdentityFile.js"
/** @since 0.1.0 */
export * as Prompter from "./sources/Prompter.js"
/** @since 0.1.0 */
export * as GssapiWithMic from "./sources/GssapiWithMic.js"
/** @since 0.1.0 */
export * as Gssapi from "./gssapi/Gssapi.js"
/** @since 0.1.0 */
export * as AgentKey from "./sources/AgentKey.js"
/** @since 0.1.0 */
export * as Agent from "./agent/Agent.js"
/** @since 0.1.0 */
export * as AgentProtocol from "./agent/AgentProtocol.js"
/** @since 0.1.0 */
export * as Transport from "./transport/Transport.js"
/** @since 0.1.0 */
export * as TcpTransport from "./transport/TcpTransport.js"
/** @since 0.1.0 */
export * as ScriptedTransport from "./transport/ScriptedTransport.js"
/** @since 0.1.0 */
export * as TransportError from "./transport/TransportError.js"
/** @since 0.1.0 */
export * as HostKeyPolicy from "./transport/HostKeyPolicy.js"
/** @since 0.1.0 */
export * as PublicKey from "./keys/PublicKey.js"
/** @since 0.1.0 */
export * as PublicKeyText from "./keys/PublicKeyText.js"
/** @since 0.1.0 */
export * as PrivateKey from "./keys/PrivateKey.js"
/** @since 0.1.0 */
export * as PrivateKeyError from "./keys/PrivateKeyError.js"
/** @since 0.1.0 */
export * as KeyFile from "./keys/KeyFile.js"
/** @since 0.1.0 */
export * as OpenSshKeyV1 from "./keys/OpenSshKeyV1.js"
/** @since 0.1.0 */
export * as Pem from "./keys/Pem.js"
/** @since 0.1.0 */
export * as Putty from "./keys/Putty.js"
/** @since 0.1.0 */
export * as SshSig from "./keys/SshSig.js"
/** @since 0.1.0 */
export * as Certificate from "./keys/Certificate.js"
/** @since 0.1.0 */
export * as SshConfig from "./config/SshConfig.js"
/** @since 0.1.0 */
export * as HostConfig from "./config/HostConfig.js"
/** @since 0.1.0 */
export * as ConfigResolver from "./config/ConfigResolver.js"
/** @since 0.1.0 */
export * as ConfigDump from "./config/ConfigDump.js"
/** @since 0.1.0 */
export * as ConfigDefaults from "./config/ConfigDefaults.js"
/** @since 0.1.0 */
export * as ConfigTokens from "./config/ConfigTokens.js"
/** @since 0.1.0 */
export * as AlgorithmList from "./config/AlgorithmList.js"
/** @since 0.1.0 */
export * as KnownHosts from "./config/KnownHosts.js"
/** @since 0.1.0 */
export * as HostKeyCheck from "./config/HostKeyCheck.js"
/** @since 0.1.0 */
export * as ConfigError from "./config/ConfigError.js"
/** @since 0.1.0 */
export * as Curves from "./crypto/Curves.js"
/** @since 0.1.0 */
export * as Wire from "./wire/index.js"
