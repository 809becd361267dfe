// What the tests share: a fresh in-memory Convex backend with the test app's schema and
// functions, the test app's function references, valid stamps and the error a call threw.
import { convexTest } from 'convex-test';
import { vi } from 'vitest';
import schema from './convex/schema.js';
import vectors from '../vectors/server-rules.json';
import type { ConvexPendingOp, ConvexStamp, ConvexSyncErrorData } from '../../js/src/convex/server/index.js';

export { api, internal } from './convex/_generated/api.js';

/** Every module of the test app; the `_generated` folder among them marks the app's root. */
export const modules = import.meta.glob('./convex/**/*.ts');

/** The time the golden vectors were computed at. */
export const NOW = vectors.nowMs;

/**
 * A fresh backend, with Convex's limits on what one function may read and write enforced
 * (`transactionLimits`, or given ones), and the clock stopped at `now`.
 */
export function backend(options: { now?: number; transactionLimits?: Record<string, number> } = {}) {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(options.now ?? NOW);
  return convexTest({ schema, modules, transactionLimits: options.transactionLimits ?? true });
}

/** Moves the backend's clock to `ms`. */
export function setNow(ms: number): void {
  vi.setSystemTime(ms);
}

/** An HLC string of Unix time `ms` (NTP64: seconds above, the fraction below) from clock `id`. */
export function hlcAt(ms: number, id = 1): string {
  const secs = Math.floor(ms / 1000);
  const frac = Math.round(((ms % 1000) * 2 ** 32) / 1000);
  const time = (BigInt(secs) << 32n) + BigInt(frac);
  return `${time.toString(16).padStart(16, '0')}-${id.toString(16).padStart(16, '0')}`;
}

/** A stamp: `clock`, an HLC `tick` ms after NOW, a device and an op id. */
export function stampOf(clock: number, deviceId: string, opId: string, tick = 0): ConvexStamp {
  return { clock, hlc: hlcAt(NOW + tick, deviceId.length), deviceId, opId };
}

/** A put of `record` (its JSON text is what travels). */
export function put(tableName: string, pk: string, record: Record<string, unknown>, stamp: ConvexStamp): ConvexPendingOp {
  return { tableName, pk, op: 'put', payload: JSON.stringify(record), stamp };
}

/** A delete. */
export function del(tableName: string, pk: string, stamp: ConvexStamp): ConvexPendingOp {
  return { tableName, pk, op: 'delete', stamp };
}

/** The `{ code, message }` of the ConvexError `call` threw; fails when it did not throw one. */
export async function errorOf(call: Promise<unknown>): Promise<ConvexSyncErrorData> {
  try {
    await call;
  } catch (error) {
    const data = (error as { data?: unknown }).data;
    if (typeof data === 'object' && data !== null && 'code' in data) return data as ConvexSyncErrorData;
    throw error;
  }
  throw new Error('expected the call to throw a ConvexError');
}

/** Every document of synclane's tables, without system fields, by table. */
export const SYNCLANE_TABLES = ['synclane_workspaces', 'synclane_records', 'synclane_purged', 'synclane_devices', 'synclane_ops'] as const;

type Backend = ReturnType<typeof backend>;

/** The documents of synclane's tables (system fields left out), for checking what was written. */
export async function dump(t: Backend): Promise<Record<(typeof SYNCLANE_TABLES)[number], Record<string, unknown>[]>> {
  return t.run(async (ctx) => {
    const out = {} as Record<(typeof SYNCLANE_TABLES)[number], Record<string, unknown>[]>;
    for (const table of SYNCLANE_TABLES) {
      const docs = await ctx.db.query(table).collect();
      out[table] = docs.map(({ _id, _creationTime, ...rest }) => rest);
    }
    return out;
  });
}
