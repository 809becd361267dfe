// The golden vectors (tests/vectors/*.json, written by crates/synclane-core/tests/
// golden_vectors.rs from the Rust core's own results) replayed against the TypeScript port:
// the conflict rule, and push, validation, pull and purge through the mounted Convex
// functions, which must give the core's answers and leave the core's state.
import { describe, expect, test } from 'vitest';
import conflictVectors from '../vectors/conflict-rule.json';
import serverVectors from '../vectors/server-rules.json';
import { compareVersions, incomingWins, type ConvexPendingOp, type ConvexStamp } from '../../js/src/convex/server/index.js';
import { checkShape, validateBatch } from '../../js/src/convex/server/validate.js';
import { checkPull } from '../../js/src/convex/server/rules.js';
import { resolveSettings } from '../../js/src/convex/server/config.js';
import { api, backend, dump, errorOf, internal, NOW } from './setup.js';

type Version = { op: 'put' | 'delete'; stamp: ConvexStamp };
const WS = serverVectors.workspaceId;
const { config } = serverVectors;
const limits = resolveSettings(
  {
    maxBatchLen: config.maxBatchLen,
    maxPayloadBytes: config.maxPayloadBytes,
    maxKeyBytes: config.maxKeyBytes,
    maxIdBytes: config.maxIdBytes,
    rejectFutureMs: config.rejectFutureMs,
    maxPullLimit: config.maxPullLimit,
  },
  undefined,
).limits;

/** What a thrown ConvexError or a refusal of the pure functions says. */
function thrown(run: () => unknown): { code: string; message: string } | null {
  try {
    run();
    return null;
  } catch (error) {
    return (error as { data: { code: string; message: string } }).data;
  }
}

/** A vector's op as `push` takes it: the payload as its JSON text. */
function wireOp(op: unknown): unknown {
  if (typeof op !== 'object' || op === null || !('payload' in op)) return op;
  return { ...op, payload: JSON.stringify((op as { payload: unknown }).payload) };
}

/** A payload read back from its JSON text, so results compare with the vectors' objects. */
function parsed<T extends { payload?: unknown }>(value: T): T {
  return typeof value.payload === 'string' ? { ...value, payload: JSON.parse(value.payload) } : value;
}

describe('the conflict rule gives the core results', () => {
  test.each(conflictVectors.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const incoming = c.incoming as Version;
    const current = (c.current ?? undefined) as Version | undefined;
    if (current !== undefined) expect(compareVersions(incoming, current)).toBe(c.order);
    expect(incomingWins(incoming, current)).toBe(c.incomingWins);
  });
});

/** A workspace's state as the push vectors state it. */
type StateJson = {
  version: number;
  floor: number;
  records: Array<{
    tableName: string;
    pk: string;
    op: 'put' | 'delete';
    payload?: unknown;
    serverVersion: number;
    storedAtMs: number;
    stamp: ConvexStamp;
  }>;
  purged: Array<{ tableName: string; pk: string; stamp: ConvexStamp }>;
  seenOps: Array<{ opId: string; appliedAt: number | null }>;
};

/** Stores a vector's state as the functions keep it. */
async function seed(t: ReturnType<typeof backend>, state: StateJson): Promise<void> {
  await t.run(async (ctx) => {
    const fresh = state.version === 0 && state.records.length === 0 && state.purged.length === 0 && state.seenOps.length === 0;
    if (!fresh) {
      await ctx.db.insert('synclane_workspaces', {
        workspaceId: WS,
        version: state.version,
        floor: state.floor,
        records: state.records.length,
        epoch: 'vector-epoch',
      });
    }
    for (const r of state.records) {
      await ctx.db.insert('synclane_records', {
        workspaceId: WS,
        tableName: r.tableName,
        pk: r.pk,
        op: r.op,
        ...(r.payload !== undefined && { payload: JSON.stringify(r.payload) }),
        serverVersion: r.serverVersion,
        storedAt: r.storedAtMs,
        stamp: r.stamp,
      });
    }
    for (const p of state.purged) await ctx.db.insert('synclane_purged', { workspaceId: WS, ...p });
    for (const o of state.seenOps) await ctx.db.insert('synclane_ops', { workspaceId: WS, opId: o.opId, appliedAt: o.appliedAt });
  });
}

/** The functions' state of the workspace, in the vectors' form. */
async function stateOf(t: ReturnType<typeof backend>): Promise<StateJson> {
  const docs = await dump(t);
  const sortKey = (x: { tableName?: unknown; pk?: unknown; opId?: unknown }) => JSON.stringify([x.tableName, x.pk, x.opId]);
  const byKey = <T extends Record<string, unknown>>(rows: T[]) => [...rows].sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
  const workspace = docs.synclane_workspaces[0] as { version: number; floor: number; records: number } | undefined;
  expect(docs.synclane_workspaces.length).toBeLessThanOrEqual(1);
  expect(workspace?.records ?? 0).toBe(docs.synclane_records.length);
  return {
    version: workspace?.version ?? 0,
    floor: workspace?.floor ?? 0,
    records: byKey(docs.synclane_records).map(({ workspaceId, storedAt, ...r }) => {
      expect(workspaceId).toBe(WS);
      return parsed({ ...r, storedAtMs: storedAt } as StateJson['records'][number]);
    }),
    purged: byKey(docs.synclane_purged).map(({ workspaceId, ...p }) => p as StateJson['purged'][number]),
    seenOps: byKey(docs.synclane_ops).map(({ workspaceId, ...o }) => o as StateJson['seenOps'][number]),
  };
}

/** Sorts a state's lists as the Rust side lists them (by key), for comparing. */
function normalized(state: StateJson): StateJson {
  const key = (x: { tableName?: string; pk?: string; opId?: string }) => JSON.stringify([x.tableName, x.pk, x.opId]);
  const sort = <T extends object>(rows: T[]) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  return { ...state, records: sort(state.records), purged: sort(state.purged), seenOps: sort(state.seenOps) };
}

describe('push gives the core results and leaves the core state', () => {
  test.each(serverVectors.push.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const t = backend();
    await seed(t, c.before as StateJson);
    const result = await t.mutation(api.open.push, {
      workspaceId: WS,
      deviceId: 'pusher',
      ops: c.ops.map(wireOp) as ConvexPendingOp[],
    });
    expect(result.serverVersion).toBe(c.serverVersion);
    const results = result.results.map((r) => (r.current ? { ...r, current: parsed(r.current) } : r));
    expect(results).toEqual(c.results);
    expect(normalized(await stateOf(t))).toEqual(normalized(c.after as StateJson));
  });
});

describe('a pushed batch is validated as the core validates it', () => {
  const cases = serverVectors.validation.map((c) => [c.name, c] as const);

  test.each(cases)('%s (the rules)', (_name, c) => {
    const { batch } = c;
    const got = thrown(() =>
      validateBatch(batch.scope.workspaceId, batch.deviceId, checkShape(batch.ops.map(wireOp)), limits, NOW),
    );
    if (c.error === null) return expect(got).toBeNull();
    expect(got?.code).toBe(c.error.code);
    // The reference server's parse errors are serde's words; every other message is the core's.
    if (!c.error.message.startsWith('bad request body:')) expect(got?.message).toBe(c.error.message);
  });

  test.each(cases)('%s (push: refused whole, nothing written)', async (_name, c) => {
    const t = backend();
    const call = t.mutation(api.open.push, {
      workspaceId: c.batch.scope.workspaceId,
      deviceId: c.batch.deviceId,
      ops: c.batch.ops.map(wireOp) as ConvexPendingOp[],
    });
    if (c.error === null) {
      const result = await call;
      expect(result.results.map((r) => r.status)).toEqual(c.batch.ops.map(() => 'applied'));
      return;
    }
    expect((await errorOf(call)).code).toBe(c.error.code);
    const docs = await dump(t);
    expect(Object.values(docs).flat()).toEqual([]);
  });
});

describe('pulls are answered as the core answers them', () => {
  const cases = serverVectors.pull.map((c) => [c.name, c] as const);
  type Request = { cursor: number; limit: number; snapshot?: boolean; retentionFloor?: number };

  test.each(cases)('%s (the rules)', (_name, c) => {
    let limit: number | undefined;
    const error = thrown(() => {
      limit = checkPull(WS, c.request as Request, c.head, c.floor, limits.maxPullLimit);
    });
    expect(error === null ? { limit } : { error }).toEqual(c.expected);
  });

  test.each(cases)('%s (pull)', async (_name, c) => {
    const t = backend();
    if (c.head > 0 || c.floor > 0) {
      await t.run((ctx) =>
        ctx.db.insert('synclane_workspaces', { workspaceId: WS, version: c.head, floor: c.floor, records: 0, epoch: 'e' }),
      );
    }
    const call = t.query(api.open.pull, { workspaceId: WS, ...(c.request as Request) });
    if ('error' in c.expected) {
      expect(await errorOf(call)).toEqual(c.expected.error);
    } else {
      const page = await call;
      expect(page).toMatchObject({ changes: [], hasMore: false, nextCursor: c.head, retentionFloor: c.floor });
    }
  });
});

describe('tombstones are purged as the core purges them', () => {
  test.each(serverVectors.purge.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const t = backend();
    const stamp = (pk: string): ConvexStamp => ({ clock: 1, hlc: '0000000000000000-0000000000000001', deviceId: 'A', opId: pk });
    await t.run(async (ctx) => {
      await ctx.db.insert('synclane_workspaces', { workspaceId: WS, version: c.head, floor: c.floor, records: c.records.length, epoch: 'e' });
      for (const [i, d] of c.devices.entries()) {
        await ctx.db.insert('synclane_devices', { workspaceId: WS, deviceId: `d${i}`, version: d.version, seenAt: d.seenAtMs });
      }
      for (const r of c.records) {
        await ctx.db.insert('synclane_records', {
          workspaceId: WS,
          tableName: 'notes',
          pk: r.pk,
          op: r.op as 'put' | 'delete',
          ...(r.op === 'put' && { payload: '{}' }),
          serverVersion: r.serverVersion,
          storedAt: r.storedAtMs,
          stamp: stamp(r.pk),
        });
      }
    });
    const result = await t.mutation(internal.open.collectGarbage, {});
    expect(result).toEqual({ purged: c.purged.length, complete: true });
    const docs = await dump(t);
    expect(docs.synclane_records.map((r) => r.pk).sort()).toEqual(
      c.records.map((r) => r.pk).filter((pk) => !c.purged.includes(pk)).sort(),
    );
    expect(docs.synclane_purged).toEqual(c.purged.map((pk) => ({ workspaceId: WS, tableName: 'notes', pk, stamp: stamp(pk) })));
    expect(docs.synclane_workspaces[0]).toMatchObject({ floor: c.floorAfter, records: c.records.length - c.purged.length });
  });
});
