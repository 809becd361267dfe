/**
 * Validation of a pushed batch, as the reference server does it: first the shape of every op
 * (the server's typed parse of the body), then, once the caller is authorized, the core's
 * `validate_push` (`crates/synclane-core/src/validate.rs`): the workspace id, the batch's
 * size, each op in order, op ids unique in the batch, the device id. The first problem
 * rejects the whole batch with a canonical code and the core's message, and nothing is
 * written. The golden vectors (tests/vectors/server-rules.json, "validation") check that this
 * gives the core's codes and messages.
 *
 * Pure: no Convex import, so it runs (and is tested) anywhere.
 *
 * @module
 */

import type { ConvexOpKind, ConvexPendingOp, ConvexStamp } from '../wire.js';
import type { SynclaneLimits } from './config.js';
import { clip, fail, quoted } from './errors.js';

/** How much of a bad value a message quotes (the core's `QUOTED_CHARS`). */
const QUOTED_CHARS = 64;

/** A validated op: its payload checked (a put's is a JSON object) and measured. */
export type ValidOp = {
  tableName: string;
  pk: string;
  op: ConvexOpKind;
  /** The JSON text as pushed, for a put; undefined for a delete. */
  payload: string | undefined;
  stamp: ConvexStamp;
};

/** The number of bytes `text` takes in UTF-8 (the unit of every size limit of the core). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Checks a workspace id (the core's `check_scope`). */
export function checkScope(workspaceId: string): void {
  const bytes = utf8Length(workspaceId);
  if (bytes === 0 || bytes > 256) fail('invalid_argument', 'workspaceId must be 1 to 256 bytes');
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The shape of every op: what the reference server's typed parse of the body checks (fields
 * present with the right types; clocks whole and not negative). Any problem is
 * `invalid_change`, naming the op. Returns the ops typed.
 */
export function checkShape(ops: readonly unknown[]): ConvexPendingOp[] {
  ops.forEach((op, index) => {
    const bad = (what: string): never => fail('invalid_change', `change #${index}: ${what}`);
    if (!isObject(op)) return bad('must be an object');
    for (const field of ['tableName', 'pk'] as const) {
      if (!(field in op)) bad(`${field} is missing`);
      if (typeof op[field] !== 'string') bad(`${field} must be a string`);
    }
    if (!('op' in op)) bad('op is missing');
    if (op.op !== 'put' && op.op !== 'delete') bad('op must be "put" or "delete"');
    // The payload is JSON text; null stands for no payload, as in the core.
    if (op.payload !== undefined && op.payload !== null && typeof op.payload !== 'string') {
      bad('payload must be the record as a JSON string');
    }
    if (!('stamp' in op)) bad('stamp is missing');
    const stamp = op.stamp;
    if (!isObject(stamp)) return bad('stamp must be an object');
    if (!('clock' in stamp)) bad('stamp.clock is missing');
    const clock = stamp.clock;
    // The core's clock is a u64; a JavaScript number holds whole numbers exactly up to 2^53 - 1,
    // and no client can send a larger one.
    if (typeof clock !== 'number' || !Number.isSafeInteger(clock) || clock < 0) {
      bad('stamp.clock must be a whole number from 0 to 2^53 - 1');
    }
    for (const field of ['hlc', 'deviceId', 'opId'] as const) {
      if (!(field in stamp)) bad(`stamp.${field} is missing`);
      if (typeof stamp[field] !== 'string') bad(`stamp.${field} must be a string`);
    }
    return undefined;
  });
  return ops as ConvexPendingOp[];
}

/** A table name as the core accepts it: a letter, then letters, digits, `_`, `-`, `.`; 64 at most. */
const TABLE_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** The HLC string form: 16 hex digits of NTP64 time, a dash, 16 of the clock id. */
const HLC = /^([0-9a-f]{16})-[0-9a-f]{16}$/;

/** The physical part of an HLC time (NTP64) in Unix ms, rounded as the core's `ntp64_to_ms`. */
export function ntp64ToMs(time: bigint): number {
  const secs = time >> 32n;
  const frac = time & 0xffffffffn;
  const fracMs = (frac * 1000n + (1n << 31n)) >> 32n;
  return Number(secs * 1000n + fracMs);
}

/**
 * Validates a batch whose shape was checked, as the core's `validate_push`: the workspace id,
 * then the batch's size, then each op, then the pushing device's id. `nowMs` is the server's
 * clock, for stamps from too far in the future.
 */
export function validateBatch(
  workspaceId: string,
  deviceId: string,
  ops: readonly ConvexPendingOp[],
  limits: SynclaneLimits,
  nowMs: number,
): ValidOp[] {
  checkScope(workspaceId);
  if (ops.length > limits.maxBatchLen) {
    fail('payload_too_large', `batch of ${ops.length} changes exceeds the limit of ${limits.maxBatchLen}`);
  }
  // The reference server refuses a body over its size before reading it; a batch's payloads
  // are most of its body.
  let batchBytes = 0;
  for (const op of ops) if (op.op === 'put' && typeof op.payload === 'string') batchBytes += utf8Length(op.payload);
  if (batchBytes > limits.maxBatchBytes) {
    fail('payload_too_large', `batch of ${batchBytes} payload bytes exceeds the limit of ${limits.maxBatchBytes}`);
  }
  const seen = new Set<string>();
  const valid = ops.map((op, index) => {
    const checked = validateOp(op, index, limits, nowMs);
    if (seen.has(checked.stamp.opId)) {
      fail('invalid_change', `change #${index}: opId ${quoted(checked.stamp.opId)} appears twice in the batch`);
    }
    seen.add(checked.stamp.opId);
    return checked;
  });
  if (deviceId.length === 0) fail('invalid_change', 'deviceId must not be empty');
  return valid;
}

/** One op, as the core's `validate_common` checks it, in the same order. */
function validateOp(op: ConvexPendingOp, index: number, limits: SynclaneLimits, nowMs: number): ValidOp {
  const at = (code: Parameters<typeof fail>[0], message: string): never => fail(code, `change #${index}: ${message}`);
  const { tableName, pk, stamp } = op;
  if (!TABLE_NAME.test(tableName)) {
    at('invalid_change', `tableName ${quoted(clip(tableName, QUOTED_CHARS))} is not a valid table name`);
  }
  const pkBytes = utf8Length(pk);
  if (pkBytes === 0 || pkBytes > limits.maxKeyBytes) at('invalid_change', `pk must be 1 to ${limits.maxKeyBytes} bytes`);
  let payload: string | undefined;
  if (op.op === 'put') {
    payload = typeof op.payload === 'string' ? op.payload : undefined;
    const record = payload === undefined ? null : parseJson(payload, at);
    if (record === null) at('invalid_payload', 'a put needs a payload');
    if (typeof record !== 'object' || Array.isArray(record)) at('invalid_payload', 'payload must be an object');
    const size = utf8Length(payload as string);
    if (size > limits.maxPayloadBytes) {
      at('payload_too_large', `payload of ${size} bytes exceeds the limit of ${limits.maxPayloadBytes}`);
    }
    const id = (record as Record<string, unknown>).id;
    if (typeof id === 'string') {
      if (id !== pk) {
        at('invalid_payload', `payload id ${quoted(clip(id, QUOTED_CHARS))} differs from pk ${quoted(clip(pk, QUOTED_CHARS))}`);
      }
    } else if (id !== undefined && id !== null) at('invalid_payload', 'payload id must be a string');
  }
  if (stamp.clock < 1) at('invalid_change', 'stamp.clock must be at least 1');
  const hlc = HLC.exec(stamp.hlc);
  if (!hlc) at('invalid_change', `hlc ${quoted(clip(stamp.hlc, 48))} is not a 33-character lowercase hex stamp`);
  const aheadMs = Math.max(0, ntp64ToMs(BigInt(`0x${(hlc as RegExpExecArray)[1]}`)) - nowMs);
  if (aheadMs > limits.rejectFutureMs) {
    at('clock_skew', `stamp is ${aheadMs} ms in the future, beyond the allowed ${limits.rejectFutureMs} ms`);
  }
  for (const field of ['deviceId', 'opId'] as const) {
    const bytes = utf8Length(stamp[field]);
    if (bytes === 0 || bytes > limits.maxIdBytes) at('invalid_change', `stamp.${field} must be 1 to ${limits.maxIdBytes} bytes`);
  }
  return {
    tableName,
    pk,
    op: op.op,
    payload,
    stamp: { clock: stamp.clock, hlc: stamp.hlc, deviceId: stamp.deviceId, opId: stamp.opId },
  };
}

function parseJson(text: string, at: (code: 'invalid_payload', message: string) => never): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return at('invalid_payload', 'payload is not valid JSON');
  }
}
