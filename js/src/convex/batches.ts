/**
 * How `ConvexSyncProvider` cuts a push into mutations Convex accepts: each call stays under
 * Convex's argument size and the functions' op and payload limits, and an op whose payload no
 * Convex document could hold is answered `rejected` here instead of failing its neighbours.
 *
 * @module
 */

import type { ConvexPendingOp } from './wire.js';

/** The limits a push is cut to; the defaults are those of `synclane/convex/server`. */
export interface ConvexPushLimits {
  /** The most ops in one mutation (the functions' `maxBatchLen`, default 1000). */
  maxBatchLen: number;
  /** The most payload bytes (JSON text, UTF-8) in one mutation (`maxBatchBytes`, default 8 MiB). */
  maxBatchBytes: number;
  /** The largest payload, as JSON text in UTF-8 bytes (`maxPayloadBytes`, default 1,000,000). */
  maxPayloadBytes: number;
  /** The largest arguments of one mutation, as JSON text in UTF-8 bytes (Convex's 8 MiB). */
  maxArgsBytes: number;
}

const MIB = 1024 * 1024;

/** The default limits: Convex's and the server functions' defaults. */
export const DEFAULT_PUSH_LIMITS: Readonly<ConvexPushLimits> = Object.freeze({
  maxBatchLen: 1000,
  maxBatchBytes: 8 * MIB,
  maxPayloadBytes: 1_000_000,
  maxArgsBytes: 8 * MIB,
});

/** A push cut up: the mutations' ops (with each op's index in the batch) and the ops refused here. */
export interface PushPlan {
  /** The ops of each mutation, in the batch's order. */
  chunks: { index: number; op: ConvexPendingOp }[][];
  /** The indexes of ops whose payload is over `maxPayloadBytes`, with its size. */
  oversized: { index: number; bytes: number }[];
}

const encoder = new TextEncoder();

/** The UTF-8 length of a string. */
export function utf8Bytes(text: string): number {
  return encoder.encode(text).length;
}

/**
 * Cuts `ops` into mutations of at most `limits.maxBatchLen` ops, `limits.maxBatchBytes` of
 * payloads and `limits.maxArgsBytes` of arguments (`envelopeBytes` being the JSON size of the
 * arguments without ops). Consecutive ops stay in order; an op too large for any call alone
 * goes in a call of its own, so the server answers it.
 */
export function planPush(ops: readonly ConvexPendingOp[], envelopeBytes: number, limits: ConvexPushLimits): PushPlan {
  const plan: PushPlan = { chunks: [], oversized: [] };
  let chunk: { index: number; op: ConvexPendingOp }[] = [];
  let argsBytes = envelopeBytes;
  let payloadBytes = 0;
  ops.forEach((op, index) => {
    const payload = op.payload === undefined ? 0 : utf8Bytes(op.payload);
    if (payload > limits.maxPayloadBytes) {
      plan.oversized.push({ index, bytes: payload });
      return;
    }
    // One byte more for the comma between ops.
    const bytes = utf8Bytes(JSON.stringify(op)) + 1;
    const full =
      chunk.length >= limits.maxBatchLen ||
      argsBytes + bytes > limits.maxArgsBytes ||
      payloadBytes + payload > limits.maxBatchBytes;
    if (chunk.length > 0 && full) {
      plan.chunks.push(chunk);
      chunk = [];
      argsBytes = envelopeBytes;
      payloadBytes = 0;
    }
    chunk.push({ index, op });
    argsBytes += bytes;
    payloadBytes += payload;
  });
  if (chunk.length > 0) plan.chunks.push(chunk);
  return plan;
}
