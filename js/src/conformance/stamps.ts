/**
 * Valid stamps and unique ids for the conformance kit, in plain TypeScript so the kit runs
 * against any backend without loading the wasm module.
 *
 * @module
 */

import type { ChangeStamp, OpKind, PendingOp, SyncPayload } from '../types/protocol.js';

/**
 * The hybrid logical clock string of a physical time: 16 lowercase hex digits of NTP64 time
 * (seconds since the Unix epoch in the high 32 bits, the fraction in the low 32), a dash, and
 * 16 hex digits of a nonzero clock id. `logical` is added to the fraction, as the HLC's
 * counter is.
 */
export function hlcAt(ms: number, clockId: bigint, logical = 0): string {
  if (clockId <= 0n) throw new RangeError('the clock id must be nonzero');
  const whole = Math.floor(ms);
  const seconds = BigInt(Math.floor(whole / 1000));
  const fraction = (BigInt(whole % 1000) << 32n) / 1000n + BigInt(logical);
  const time = (seconds << 32n) | fraction;
  return `${hex16(time)}-${hex16(clockId)}`;
}

function hex16(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

/** A short random id, unique enough to keep the kit's records apart in a shared workspace. */
export function randomId(): string {
  const random = Math.floor(Math.random() * 2 ** 48).toString(36);
  return `${Date.now().toString(36)}${random}`;
}

/**
 * A device for the kit: makes ops with valid stamps and fresh op ids. Times are a minute in
 * the past plus an offset, so stamps are never refused as coming from the future and a test
 * decides which of two stamps has the higher `hlc`.
 */
export class TestDevice {
  /** The device id the ops carry. */
  readonly deviceId: string;
  #clockId: bigint;
  #base: number;
  #ops = 0;

  /** @param name - a readable part of the device id. */
  constructor(name: string) {
    this.deviceId = `${name}-${randomId()}`;
    this.#clockId = BigInt(1 + Math.floor(Math.random() * 2 ** 48));
    this.#base = Date.now() - 60_000;
  }

  /** A stamp with `clock`, at `offsetMs` after this device's base time. */
  stamp(clock: number, offsetMs = 0): ChangeStamp {
    this.#ops += 1;
    return {
      clock,
      hlc: hlcAt(this.#base + offsetMs, this.#clockId),
      deviceId: this.deviceId,
      opId: `${this.deviceId}-op${this.#ops}`,
    };
  }

  /** A put of `{ id: pk, ...fields }`. */
  put(tableName: string, pk: string, clock: number, fields: SyncPayload = {}, offsetMs = 0): PendingOp {
    return { tableName, pk, op: 'put', payload: { id: pk, ...fields }, stamp: this.stamp(clock, offsetMs) };
  }

  /** A delete. */
  delete(tableName: string, pk: string, clock: number, offsetMs = 0): PendingOp {
    const op: OpKind = 'delete';
    return { tableName, pk, op, stamp: this.stamp(clock, offsetMs) };
  }
}
