/**
 * @since 0.1.0
 */
export * from "./MessageNumber.js"
/**
 * @since 0.1.0
 */
export * from "./Reader.js"
/**
 * @since 0.1.0
 */
export * from "./WireError.js"
/**
 * @since 0.1.0
 */
export * from "./Writer.js"
/**
 * @since 0.1.0
 */
export * from "./PeerText.js"
