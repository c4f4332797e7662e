/**
 * The SSH message-number catalog (RFC 4250 §4.1, RFC 4252, RFC 4253, RFC 4254, RFC 4256,
 * RFC 8308), and the ranges RFC 4253 §7 and RFC 4250 assign to each layer.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 * @category constants
 */
export const MessageNumber = {
  // Transport layer generic (1-19)
  DISCONNECT: 1,
  IGNORE: 2,
  UNIMPLEMENTED: 3,
  DEBUG: 4,
  SERVICE_REQUEST: 5,
  SERVICE_ACCEPT: 6,
  EXT_INFO: 7,
  NEWCOMPRESS: 8,
  // Algorithm negotiation (20-29)
  KEXINIT: 20,
  NEWKEYS: 21,
  // Key-exchange-method specific (30-49). DH, ECDH and curve25519 share 30/31.
  KEXDH_INIT: 30,
  KEXDH_REPLY: 31,
  // User authentication generic (50-59)
  USERAUTH_REQUEST: 50,
  USERAUTH_FAILURE: 51,
  USERAUTH_SUCCESS: 52,
  USERAUTH_BANNER: 53,
  // User-authentication-method specific (60-79): 60 means PK_OK, PASSWD_CHANGEREQ or
  // INFO_REQUEST depending on the method in flight.
  USERAUTH_PK_OK: 60,
  USERAUTH_PASSWD_CHANGEREQ: 60,
  USERAUTH_INFO_REQUEST: 60,
  USERAUTH_INFO_RESPONSE: 61,
  // gssapi-with-mic (RFC 4462 §3): 60 and 61 once more, then 63-66.
  USERAUTH_GSSAPI_RESPONSE: 60,
  USERAUTH_GSSAPI_TOKEN: 61,
  USERAUTH_GSSAPI_EXCHANGE_COMPLETE: 63,
  USERAUTH_GSSAPI_ERROR: 64,
  USERAUTH_GSSAPI_ERRTOK: 65,
  USERAUTH_GSSAPI_MIC: 66,
  // Connection protocol (80-127)
  GLOBAL_REQUEST: 80,
  REQUEST_SUCCESS: 81,
  REQUEST_FAILURE: 82,
  CHANNEL_OPEN: 90,
  CHANNEL_OPEN_CONFIRMATION: 91,
  CHANNEL_OPEN_FAILURE: 92,
  CHANNEL_WINDOW_ADJUST: 93,
  CHANNEL_DATA: 94,
  CHANNEL_EXTENDED_DATA: 95,
  CHANNEL_EOF: 96,
  CHANNEL_CLOSE: 97,
  CHANNEL_REQUEST: 98,
  CHANNEL_SUCCESS: 99,
  CHANNEL_FAILURE: 100
} as const

/**
 * Messages the transport layer consumes itself (RFC 4253 §7: 1-49).
 *
 * @since 0.1.0
 * @category ranges
 */
export const isTransportMessage = (n: number): boolean => n >= 1 && n <= 49

/**
 * Messages allowed while a key exchange is in progress (RFC 4253 §7.1): the transport
 * generic ones except service requests, and the kex range.
 *
 * @since 0.1.0
 * @category ranges
 */
export const isKexMessage = (n: number): boolean => n >= 20 && n <= 49

/**
 * DISCONNECT reason codes (RFC 4250 §4.2.2).
 *
 * @since 0.1.0
 * @category constants
 */
export const DisconnectReason = {
  HOST_NOT_ALLOWED_TO_CONNECT: 1,
  PROTOCOL_ERROR: 2,
  KEY_EXCHANGE_FAILED: 3,
  RESERVED: 4,
  MAC_ERROR: 5,
  COMPRESSION_ERROR: 6,
  SERVICE_NOT_AVAILABLE: 7,
  PROTOCOL_VERSION_NOT_SUPPORTED: 8,
  HOST_KEY_NOT_VERIFIABLE: 9,
  CONNECTION_LOST: 10,
  BY_APPLICATION: 11,
  TOO_MANY_CONNECTIONS: 12,
  AUTH_CANCELLED_BY_USER: 13,
  NO_MORE_AUTH_METHODS_AVAILABLE: 14,
  ILLEGAL_USER_NAME: 15
} as const

const reasonNames = new Map<number, string>(Object.entries(DisconnectReason).map(([k, v]) => [v, k]))

/**
 * The RFC name of a DISCONNECT reason code, or "UNKNOWN(n)".
 *
 * @since 0.1.0
 * @category constants
 */
export const disconnectReasonName = (code: number): string => reasonNames.get(code) ?? `UNKNOWN(${code})`

const messageNames = new Map<number, string>()
for (const [k, v] of Object.entries(MessageNumber)) if (!messageNames.has(v)) messageNames.set(v, k)
messageNames.set(60, "USERAUTH_60")
messageNames.set(61, "USERAUTH_61")

/**
 * A readable name for a message number, for errors and logs.
 *
 * @since 0.1.0
 * @category constants
 */
export const messageName = (n: number): string => messageNames.get(n) ?? `MSG_${n}`
