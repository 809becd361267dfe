/**
 * Reduces any value (a hook payload, a record) to a small JSON-safe summary for the devtools:
 * no functions, no cycles, errors as {@link errorSummary} gives them (a `SyncError` in the
 * shape of its `toJSON()`), long strings and big arrays cut with
 * a count, a bounded depth and a bounded number of nodes. It never throws.
 *
 * @module
 */

/** Limits of {@link summarize}. */
export interface SummaryLimits {
  /** Nesting below this depth becomes a marker (default 5). */
  maxDepth?: number;
  /** Arrays keep their first `maxItems` items and say how many there were (default 10). */
  maxItems?: number;
  /** Objects keep their first `maxKeys` keys (default 30). */
  maxKeys?: number;
  /** Strings keep their first `maxString` characters (default 160). */
  maxString?: number;
  /** At most this many values are copied in all; the rest become `"…"` (default 250). */
  maxNodes?: number;
}

/** An array cut by {@link summarize}: its first items and how many it had. */
export interface TruncatedArray {
  $truncated: 'array';
  count: number;
  items: unknown[];
}

const DEFAULTS: Required<SummaryLimits> = { maxDepth: 5, maxItems: 10, maxKeys: 30, maxString: 160, maxNodes: 250 };

/** A JSON-safe summary of `value` within `limits`. */
export function summarize(value: unknown, limits: SummaryLimits = {}): unknown {
  const l = { ...DEFAULTS, ...limits };
  const state = { nodes: 0 };
  const seen = new Set<object>();

  const visit = (v: unknown, depth: number): unknown => {
    if (++state.nodes > l.maxNodes) return '…';
    switch (typeof v) {
      case 'string':
        return v.length > l.maxString ? `${v.slice(0, l.maxString)}…(+${v.length - l.maxString} chars)` : v;
      case 'number':
        return Number.isFinite(v) ? v : String(v);
      case 'boolean':
        return v;
      case 'bigint':
        return `${v.toString()}n`;
      case 'undefined':
      case 'function':
      case 'symbol':
        return undefined;
      default:
        break;
    }
    if (v === null) return null;
    const obj = v as object;
    if (isErrorLike(obj)) return errorSummary(obj);
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
    if (ArrayBuffer.isView(obj)) return { $type: obj.constructor.name, byteLength: obj.byteLength };
    if (obj instanceof ArrayBuffer) return { $type: 'ArrayBuffer', byteLength: obj.byteLength };
    if (typeof Blob !== 'undefined' && obj instanceof Blob) return { $type: 'Blob', size: obj.size, type: obj.type };
    if (typeof Node !== 'undefined' && obj instanceof Node) return { $type: 'Node', nodeName: obj.nodeName };
    if (seen.has(obj)) return '[circular]';
    if (depth >= l.maxDepth) return Array.isArray(obj) ? `[… ${obj.length} items]` : '{…}';
    seen.add(obj);
    try {
      if (Array.isArray(obj) || obj instanceof Set) {
        const all = Array.isArray(obj) ? obj : [...obj];
        const items = all.slice(0, l.maxItems).map((item) => {
          const s = visit(item, depth + 1);
          return s === undefined ? null : s;
        });
        return all.length > l.maxItems ? ({ $truncated: 'array', count: all.length, items } satisfies TruncatedArray) : items;
      }
      const entries: Array<[string, unknown]> = obj instanceof Map ? [...obj].map(([k, val]) => [String(k), val]) : Object.entries(obj);
      const out: Record<string, unknown> = {};
      let kept = 0;
      for (const [key, val] of entries) {
        if (kept >= l.maxKeys) {
          out['$moreKeys'] = entries.length - kept;
          break;
        }
        const s = visit(val, depth + 1);
        if (s === undefined) continue;
        out[key] = s;
        kept += 1;
      }
      return out;
    } catch {
      return '[unreadable]';
    } finally {
      seen.delete(obj);
    }
  };

  try {
    return visit(value, 0) ?? null;
  } catch {
    return '[unreadable]';
  }
}

/** An error as {@link errorSummary} reduces it. */
export interface ErrorSummary {
  /** `'SyncError'` for a `SyncError`; absent for other errors. */
  name?: string;
  /** The error's code (for other errors its `code`, else its name, else `'error'`). */
  code: string;
  /** The message, cut to 500 characters. */
  message: string;
  /** For a `SyncError`: whether retrying later may succeed. */
  retryable?: boolean;
  /** The delay a rate limit asked for, in milliseconds. */
  retryAfterMs?: number;
  /** For a `SyncError`: the short summary of its cause that its `toJSON()` gives. */
  cause?: { name: string; message: string; code?: string } | string;
}

const clipMessage = (message: string): string => (message.length > 500 ? `${message.slice(0, 500)}…` : message);

/**
 * An error as a small JSON-safe object. A `SyncError` keeps the shape of its own `toJSON()`
 * (`{ name, code, message, retryable, retryAfterMs?, cause? }`), the one in which synclane
 * hands errors to apps, so the devtools show what the app sees; anything else becomes
 * `{ code, message }` (plus `retryAfterMs` when it has one).
 */
export function errorSummary(error: unknown): ErrorSummary {
  if (typeof error === 'object' && error !== null) {
    const json = syncErrorJson(error);
    if (json) return json;
    const e = error as { code?: unknown; name?: unknown; message?: unknown; retryAfterMs?: unknown };
    const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error';
    const message = typeof e.message === 'string' ? e.message : String(error);
    return { code, message: clipMessage(message), ...(typeof e.retryAfterMs === 'number' && { retryAfterMs: e.retryAfterMs }) };
  }
  return { code: 'error', message: String(error) };
}

// Recognised by its name and its toJSON rather than by `instanceof`: the devtools modules do
// not import the rest of the package (they ship alone in the extension), and an engine may
// come from another copy of synclane. Only the documented fields are copied, so a summary
// stays small and JSON-safe whatever toJSON returned.
function syncErrorJson(error: object): ErrorSummary | undefined {
  try {
    const e = error as { name?: unknown; toJSON?: unknown };
    if (e.name !== 'SyncError' || typeof e.toJSON !== 'function') return undefined;
    const j = (e.toJSON as () => unknown).call(error) as Record<string, unknown> | null;
    if (typeof j !== 'object' || j === null || typeof j.code !== 'string' || typeof j.message !== 'string') return undefined;
    const summary: ErrorSummary = { name: 'SyncError', code: j.code, message: clipMessage(j.message) };
    if (typeof j.retryable === 'boolean') summary.retryable = j.retryable;
    if (typeof j.retryAfterMs === 'number') summary.retryAfterMs = j.retryAfterMs;
    const cause = j.cause as { name?: unknown; message?: unknown; code?: unknown } | string | undefined;
    if (typeof cause === 'string') summary.cause = clipMessage(cause);
    else if (typeof cause === 'object' && cause !== null && typeof cause.name === 'string' && typeof cause.message === 'string') {
      summary.cause = { name: cause.name, message: clipMessage(cause.message), ...(typeof cause.code === 'string' && { code: cause.code }) };
    }
    return summary;
  } catch {
    return undefined;
  }
}

function isErrorLike(value: object): boolean {
  if (value instanceof Error) return true;
  // DOMExceptions (and errors of other realms) are not always `instanceof Error`.
  return Object.prototype.toString.call(value) === '[object Error]' || (typeof DOMException !== 'undefined' && value instanceof DOMException);
}
