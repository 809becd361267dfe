/**
 * Reduces any value (a hook payload, a record) to a small JSON-safe summary for the devtools:
 * no functions, no cycles, errors as `{ code, message }`, long strings and big arrays cut with
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

/** An error as `{ code, message }` (plus `retryAfterMs` when it has one). */
export function errorSummary(error: unknown): { code: string; message: string; retryAfterMs?: number } {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown; name?: unknown; message?: unknown; retryAfterMs?: unknown };
    const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error';
    const message = typeof e.message === 'string' ? e.message : String(error);
    return { code, message: message.length > 500 ? `${message.slice(0, 500)}…` : message, ...(typeof e.retryAfterMs === 'number' && { retryAfterMs: e.retryAfterMs }) };
  }
  return { code: 'error', message: String(error) };
}

function isErrorLike(value: object): boolean {
  if (value instanceof Error) return true;
  // DOMExceptions (and errors of other realms) are not always `instanceof Error`.
  return Object.prototype.toString.call(value) === '[object Error]' || (typeof DOMException !== 'undefined' && value instanceof DOMException);
}
