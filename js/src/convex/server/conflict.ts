/**
 * The conflict rule, as `crates/synclane-core/src/conflict.rs` decides it. The Convex functions
 * run it on the server; every replica must order versions exactly as the Rust core does, which
 * the golden vectors (tests/vectors/conflict-rule.json, written by the core) check.
 *
 * @module
 */

import type { ConvexOpKind, ConvexStamp } from '../wire.js';

/** A version of a record as the rule sees it: its stamp and whether it is a tombstone. */
export type VersionRef = { stamp: ConvexStamp; op: ConvexOpKind };

/**
 * Orders two strings as Rust orders `str`: by their UTF-8 bytes, which is code point order.
 * JavaScript's `<` compares UTF-16 code units, which differs for characters above U+FFFF
 * against those from U+E000 to U+FFFF (a surrogate, 0xD800-0xDFFF, is below 0xE000).
 */
export function compareText(a: string, b: string): -1 | 0 | 1 {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Equal up to here, so both are at the start of a character or both in the second half
      // of a surrogate pair. Lifting surrogates above the rest of the BMP gives code point
      // order; the units below 0xD800 compare as they are.
      return rank(x) < rank(y) ? -1 : 1;
    }
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function rank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}

function compareNumbers(a: number, b: number): -1 | 0 | 1 {
  return a === b ? 0 : a < b ? -1 : 1;
}

/**
 * Orders two versions of the same record; the greater one wins. Higher `clock` wins; on equal
 * clocks the higher `hlc` string; then `deviceId`, then `opId`, then a delete above a put, so
 * the order is total for any input and every replica agrees (the core's `compare_versions`).
 */
export function compareVersions(a: VersionRef, b: VersionRef): -1 | 0 | 1 {
  return (
    compareNumbers(a.stamp.clock, b.stamp.clock) ||
    compareText(a.stamp.hlc, b.stamp.hlc) ||
    compareText(a.stamp.deviceId, b.stamp.deviceId) ||
    compareText(a.stamp.opId, b.stamp.opId) ||
    compareNumbers(a.op === 'delete' ? 1 : 0, b.op === 'delete' ? 1 : 0)
  );
}

/**
 * Whether `incoming` replaces `current` (the core's `incoming_wins`): it does when nothing is
 * stored or when it is greater. Identical versions do not replace each other, so applying the
 * same change twice changes nothing.
 */
export function incomingWins(incoming: VersionRef, current: VersionRef | undefined): boolean {
  return current === undefined || compareVersions(incoming, current) > 0;
}
