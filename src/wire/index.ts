/**
 * @since 0.1.0
 */
export * from "./MessageNumber.js"
export * from "./Reader.js"
export * from "./WireError.js"
export * from "./Writer.js"
export * from "./PeerText.js"
