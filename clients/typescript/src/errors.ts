/**
 * Error codes of protocol/PROTOCOL.md §9 (sent by the server in ERR frames), plus two client-side
 * codes (1000 and up, never sent by a server).
 */
export const ErrorCode = {
  MalformedFrame: 1,
  UnknownFrame: 2,
  FrameTooLarge: 3,
  PayloadTooLarge: 4,
  InvalidChannel: 5,
  NotConnected: 6,
  UnsupportedVersion: 7,
  /** Publish outcome unknown: it may or may not have been stored. Retry with an idempotency key. */
  Timeout: 8,
  Unavailable: 9,
  Internal: 10,
  UnknownSubscription: 11,
  InvalidArgument: 12,
  ShuttingDown: 13,
  TooManyInflight: 14,
  AuthFailed: 15,
  PermissionDenied: 16,
  LimitExceeded: 17,
  NotFound: 18,
  Moved: 19,
  /** Client side: the connection broke before the request was answered (a publish's outcome is unknown). */
  ConnectionLost: 1000,
  /** Client side: the client was closed. */
  Closed: 1001,
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const codeNames: Record<number, string> = {
  1: "malformed_frame",
  2: "unknown_frame",
  3: "frame_too_large",
  4: "payload_too_large",
  5: "invalid_channel",
  6: "not_connected",
  7: "unsupported_version",
  8: "timeout",
  9: "unavailable",
  10: "internal",
  11: "unknown_subscription",
  12: "invalid_argument",
  13: "shutting_down",
  14: "too_many_inflight",
  15: "auth_failed",
  16: "permission_denied",
  17: "limit_exceeded",
  18: "not_found",
  19: "moved",
  1000: "connection_lost",
  1001: "closed",
};

/** The protocol name of a code ("invalid_channel"), or "error_N" for a code this client does not know. */
export function errorCodeName(code: number): string {
  return codeNames[code] ?? `error_${code}`;
}

/**
 * Every error the client rejects with. `code` is a number of {@link ErrorCode} (a server may send codes
 * this client does not know: handle them as generic errors), `codeName` its protocol name.
 */
export class SampanError extends Error {
  override readonly name = "SampanError";
  readonly code: number;
  readonly codeName: string;
  /** The server closed the connection after this error (ERR `fatal`). */
  readonly fatal: boolean;

  constructor(code: number, message: string, options?: { fatal?: boolean; cause?: unknown }) {
    super(`sampan: ${errorCodeName(code)}: ${message}`, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.codeName = errorCodeName(code);
    this.fatal = options?.fatal ?? false;
  }
}
