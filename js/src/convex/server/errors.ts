/**
 * How the Convex functions fail: a `ConvexError` whose `data` is `{ code, message }` with one
 * of synclane's canonical codes, where the HTTP server answers a status and a JSON body. The
 * client sees `error.data.code` and maps it to a `SyncError` as it would the HTTP answer.
 *
 * Throwing also aborts the mutation: Convex writes nothing of a function that throws, which
 * is what makes a rejected batch leave no trace.
 *
 * @module
 */

import { ConvexError } from 'convex/values';
import type { SyncErrorCode } from '../../errors.js';
import type { ConvexSyncErrorData } from '../wire.js';

/** Throws the `ConvexError` of a canonical error. */
export function fail(code: SyncErrorCode, message: string): never {
  const data: ConvexSyncErrorData = { code, message };
  throw new ConvexError(data);
}

/**
 * A name or value in an error message, in double quotes, escaped as the core's `Quoted` does
 * (as Rust's `{:?}` prints a string), so messages match the reference server's.
 */
export function quoted(text: string): string {
  let out = '"';
  for (const c of text) {
    const cp = c.codePointAt(0) ?? 0;
    if (c === '"') out += '\\"';
    else if (c === '\\') out += '\\\\';
    else if (c === '\n') out += '\\n';
    else if (c === '\r') out += '\\r';
    else if (c === '\t') out += '\\t';
    // Rust's `char::is_control`: the C0 and C1 control characters.
    else if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) out += `\\u{${cp.toString(16)}}`;
    else out += c;
  }
  return out + '"';
}

/** At most the first `max` characters (code points) of `text`, as the core's `clip`. */
export function clip(text: string, max: number): string {
  let count = 0;
  let end = 0;
  for (const c of text) {
    if (count === max) return text.slice(0, end);
    count++;
    end += c.length;
  }
  return text;
}
