/**
 * The one error type of synclane: a stable, machine-readable {@link SyncErrorCode} to branch on,
 * a message for people, and for rate limits the delay the provider asked for.
 *
 * The codes are the wire names of the Rust core (`ErrorCode::as_str`); the wasm module throws
 * errors carrying them, and {@link toSyncError} turns those into {@link SyncError} instances.
 *
 * @module
 */

/**
 * Every canonical error code. Part of the public contract: apps, providers and servers use
 * these exact strings.
 *
 * - `invalid_change`: a change or op is malformed (missing field, wrong type, empty key).
 * - `invalid_payload`: a put carries a payload that is not a JSON object.
 * - `unknown_table`: a change names a table the engine was not opened with.
 * - `clock_skew`: a stamp comes from a clock too far in the future to be trusted.
 * - `invalid_argument`: an argument given to a public function is out of its domain.
 * - `cursor_expired`: the cursor is older than the server's retention floor; rescan.
 * - `rate_limited`: the provider asks the client to slow down (see `retryAfterMs`).
 * - `unauthorized`: credentials are missing or no longer valid.
 * - `forbidden`: credentials do not grant access to this workspace.
 * - `rejected`: the server refused an op for good.
 * - `payload_too_large`: a request, batch or payload exceeds a size limit.
 * - `queue_full`: the outbox reached its byte capacity.
 * - `network`: the network failed or the provider is unreachable.
 * - `timeout`: the provider did not answer in time.
 * - `server_error`: the provider failed in a way that may succeed later.
 * - `quota_exceeded`: local storage is out of quota.
 * - `storage`: local storage failed for another reason.
 * - `no_provider`: no sync provider is configured.
 * - `closed`: the engine, database or provider was closed.
 * - `internal`: an invariant of synclane itself was broken (a bug).
 */
export type SyncErrorCode =
  | 'invalid_change'
  | 'invalid_payload'
  | 'unknown_table'
  | 'clock_skew'
  | 'invalid_argument'
  | 'cursor_expired'
  | 'rate_limited'
  | 'unauthorized'
  | 'forbidden'
  | 'rejected'
  | 'payload_too_large'
  | 'queue_full'
  | 'network'
  | 'timeout'
  | 'server_error'
  | 'quota_exceeded'
  | 'storage'
  | 'no_provider'
  | 'closed'
  | 'internal';

// One entry per code, so the compiler refuses a code that is added to the union but not
// classified (a Record type must name every key). `true` means transient, as in the core's
// `ErrorCode::is_transient`.
const TRANSIENT: Readonly<Record<SyncErrorCode, boolean>> = {
  invalid_change: false,
  invalid_payload: false,
  unknown_table: false,
  clock_skew: false,
  invalid_argument: false,
  cursor_expired: false,
  rate_limited: true,
  unauthorized: false,
  forbidden: false,
  rejected: false,
  payload_too_large: false,
  queue_full: false,
  network: true,
  timeout: true,
  server_error: true,
  quota_exceeded: false,
  storage: true,
  no_provider: false,
  closed: false,
  internal: false,
};

/** Every {@link SyncErrorCode}, in the order of the Rust core's `ErrorCode::ALL`. */
export const SYNC_ERROR_CODES: readonly SyncErrorCode[] = Object.freeze(
  Object.keys(TRANSIENT) as SyncErrorCode[],
);

/** Whether `value` is one of the canonical {@link SyncErrorCode}s. */
export function isSyncErrorCode(value: unknown): value is SyncErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(TRANSIENT, value);
}

/**
 * Whether retrying the same request later may succeed. Transient errors (`network`, `timeout`,
 * `server_error`, `rate_limited`, `storage`) back off and retry; every other code is permanent
 * and fails at once, because validation and auth errors must not be hammered.
 */
export function isTransient(code: SyncErrorCode): boolean {
  return TRANSIENT[code];
}

/** Options of the {@link SyncError} constructor. */
export interface SyncErrorOptions {
  /** For `rate_limited`: how long the provider asked the client to wait, in milliseconds. */
  retryAfterMs?: number | undefined;
  /** The underlying error (a wasm error, a `fetch` failure, ...), kept for debugging. */
  cause?: unknown;
}

/**
 * A short summary of what a {@link SyncError} wraps, as its JSON form carries it: the wrapped
 * error's `name` and `message` (and its `code`, when it has a string one). A cause that is not
 * an error is summarised as a string.
 */
export interface SyncErrorCauseJson {
  /** The cause's `name` (`'TypeError'`, `'TimeoutError'`, ...; `'Object'` for a plain object). */
  name: string;
  /** The cause's message, cut to 500 characters. */
  message: string;
  /** The cause's own `code`, when it carries a string one. */
  code?: string;
}

/**
 * The JSON form of a {@link SyncError} (`JSON.stringify(error)`, `error.toJSON()`): the one
 * plain-object shape in which synclane hands an error to the app. A provider answering a push
 * may use it as a `PushOpResult.error`, which reads only `code`, `message` and `retryAfterMs`.
 */
export interface SyncErrorJson {
  /** Always `'SyncError'`. */
  name: 'SyncError';
  /** The canonical code. */
  code: SyncErrorCode;
  /** A message for people. */
  message: string;
  /** Whether retrying later may succeed ({@link isTransient} of the code). */
  retryable: boolean;
  /** For `rate_limited`: the delay the provider asked for, in milliseconds. */
  retryAfterMs?: number;
  /** A short summary of the wrapped error, when there is one that says more than the error itself. */
  cause?: SyncErrorCauseJson | string;
}

/**
 * An error with a stable {@link SyncErrorCode}. Every error synclane's TypeScript layer throws
 * or reports is one, so apps can write `if (e instanceof SyncError && e.code === 'unauthorized')`.
 */
export class SyncError extends Error {
  /** Always `'SyncError'`, like the errors the wasm module throws. */
  override readonly name = 'SyncError';
  /** The canonical, machine-readable code. */
  readonly code: SyncErrorCode;
  /** For `rate_limited`: the delay the provider asked for, in milliseconds. */
  // `declare`: no own property at all when there is no delay, rather than one set to undefined.
  declare readonly retryAfterMs?: number;
  /**
   * @param code - the canonical code.
   * @param message - a message for people; defaults to the code.
   * @param options - `retryAfterMs` for rate limits, `cause` for a wrapped error.
   */
  constructor(code: SyncErrorCode, message?: string, options: SyncErrorOptions = {}) {
    super(message ?? code, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }

  /** Whether retrying later may succeed (see {@link isTransient}). */
  get transient(): boolean {
    return isTransient(this.code);
  }

  /**
   * The plain-object form, `{ name, code, message, retryable, retryAfterMs?, cause? }`, which
   * `JSON.stringify` uses. `Error` objects lose their `code` wherever only `name`, `message` and
   * `stack` are copied (`structuredClone`, `postMessage`, Playwright's `evaluate`): hand
   * `error.toJSON()` across such boundaries instead. The cause is a short summary
   * ({@link SyncErrorCauseJson}, or a string), left out when it only repeats this error's code
   * and message (as the raw wasm error or provider JSON that {@link toSyncError} wrapped does).
   * Never throws.
   */
  toJSON(): SyncErrorJson {
    const json: SyncErrorJson = {
      name: 'SyncError',
      code: this.code,
      message: this.message,
      retryable: isTransient(this.code),
    };
    if (this.retryAfterMs !== undefined) json.retryAfterMs = this.retryAfterMs;
    const cause = causeSummary(this.cause, this);
    if (cause !== undefined) json.cause = cause;
    return json;
  }
}

/**
 * Whether `value` is a {@link SyncError} instance. Errors from elsewhere (the wasm module, a
 * provider's JSON) are not; pass them through {@link toSyncError} first.
 */
export function isSyncError(value: unknown): value is SyncError {
  return value instanceof SyncError;
}

/**
 * Turns anything thrown into a {@link SyncError}, keeping the code when there is one:
 *
 * - a `SyncError` instance is returned as it is;
 * - an object with a canonical `code` (the wasm module's errors, named `'SyncError'`; a
 *   provider's `{ code, message, retryAfterMs? }`) keeps its code, message and delay;
 * - a `TypeError` becomes `network`, because that is how `fetch` reports an unreachable server;
 * - a `TimeoutError` `DOMException` (`AbortSignal.timeout`) becomes `timeout`, and a
 *   `QuotaExceededError` becomes `quota_exceeded`;
 * - anything else becomes `fallback` (default `internal`).
 *
 * The original is kept as `cause`.
 */
export function toSyncError(value: unknown, fallback: SyncErrorCode = 'internal'): SyncError {
  if (value instanceof SyncError) return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as { code?: unknown; message?: unknown; retryAfterMs?: unknown; stack?: unknown };
    if (isSyncErrorCode(record.code)) {
      const retryAfterMs =
        typeof record.retryAfterMs === 'number' && Number.isFinite(record.retryAfterMs)
          ? record.retryAfterMs
          : undefined;
      const message = typeof record.message === 'string' ? record.message : record.code;
      const error = new SyncError(record.code, message, { retryAfterMs, cause: value });
      // Keep the original stack: it points at the code that failed, not at this conversion.
      if (typeof record.stack === 'string') error.stack = record.stack;
      return error;
    }
    const name = (value as { name?: unknown }).name;
    if (value instanceof TypeError) return new SyncError('network', value.message, { cause: value });
    if (name === 'TimeoutError') return new SyncError('timeout', messageOf(value), { cause: value });
    if (name === 'QuotaExceededError') {
      return new SyncError('quota_exceeded', messageOf(value), { cause: value });
    }
  }
  return new SyncError(fallback, messageOf(value), { cause: value });
}

/** Cause summaries are meant to be short: longer texts are cut to this many characters. */
const MAX_CAUSE_TEXT = 500;

function clip(text: string): string {
  return text.length > MAX_CAUSE_TEXT ? `${text.slice(0, MAX_CAUSE_TEXT)}…` : text;
}

function causeSummary(cause: unknown, error: SyncError): SyncErrorCauseJson | string | undefined {
  if (cause === undefined) return undefined;
  if (typeof cause === 'object' && cause !== null) {
    try {
      const c = cause as { name?: unknown; message?: unknown; code?: unknown };
      const { name, message, code } = c;
      if (cause instanceof Error || typeof message === 'string') {
        if (code === error.code && message === error.message) return undefined;
        const summary: SyncErrorCauseJson = {
          name: typeof name === 'string' ? clip(name) : cause instanceof Error ? 'Error' : 'Object',
          message: typeof message === 'string' ? clip(message) : '',
        };
        if (typeof code === 'string') summary.code = clip(code);
        return summary;
      }
      // A plain object says more as JSON than as "[object Object]".
      const text = JSON.stringify(cause);
      if (typeof text === 'string') return clip(text);
    } catch {
      // A getter that throws, a cycle, a BigInt: summarise the cause as a string below.
    }
  }
  return clip(messageOf(cause));
}

function messageOf(value: unknown): string {
  try {
    if (value instanceof Error) return value.message;
    if (typeof value === 'object' && value !== null) {
      const message = (value as { message?: unknown }).message;
      if (typeof message === 'string') return message;
    }
    return String(value);
  } catch {
    // An object whose getters or toString throw (or a null-prototype object) still deserves
    // an error.
    return 'unknown error';
  }
}
