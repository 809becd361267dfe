// What each of synclane's Convex functions costs, in the units Convex bills: function calls and
// documents read and written. The functions run on convex-test through ./convex/counted.ts,
// which counts what their `ctx.db` reads and writes. The head subscription re-runs when a
// document it read is written, and it reads the counter document alone, so the writes to that
// document (`synclane_workspaces`) are its re-runs. bench/convex-cost.mjs prints these figures.
import { expect, test } from 'vitest';
import { costLog, resetCosts, type CallCost } from './convex/counted.js';
import { api, backend, del, internal, NOW, put, setNow, stampOf } from './setup.js';

const ws = 'acme';
/** The constant part a call may read or write beyond its per-op documents. */
const K = 5;
const DAY = 24 * 60 * 60 * 1000;

type Figures = {
  calls: number;
  queries: number;
  mutations: number;
  dbQueries: number;
  read: number;
  written: number;
  readByTable: Record<string, number>;
  writtenByTable: Record<string, number>;
  /** Writes to the counter document: re-runs of a head subscription. */
  counterWrites: number;
  /** Whether the head query's result differs after the operation. */
  headChanged: boolean;
};

function sum(calls: CallCost[]): Figures {
  const add = (into: Record<string, number>, from: Record<string, number>) => {
    for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
  };
  const readByTable: Record<string, number> = {};
  const writtenByTable: Record<string, number> = {};
  calls.forEach((c) => (add(readByTable, c.readByTable), add(writtenByTable, c.writtenByTable)));
  return {
    calls: calls.length,
    queries: calls.filter((c) => c.kind === 'query').length,
    mutations: calls.filter((c) => c.kind === 'mutation').length,
    dbQueries: calls.reduce((n, c) => n + c.dbQueries, 0),
    read: calls.reduce((n, c) => n + c.documentsRead, 0),
    written: calls.reduce((n, c) => n + c.documentsWritten, 0),
    readByTable,
    writtenByTable,
    counterWrites: writtenByTable.synclane_workspaces ?? 0,
    headChanged: false,
  };
}

type Backend = ReturnType<typeof backend>;

/** Runs `call` and returns what it cost (the head is read around it, uncounted). */
async function measure(t: Backend, call: () => Promise<unknown>): Promise<Figures> {
  const before = await t.query(api.counted.head, { workspaceId: ws });
  resetCosts();
  await call();
  const figures = sum(costLog().calls);
  const after = await t.query(api.counted.head, { workspaceId: ws });
  figures.headChanged = JSON.stringify(before) !== JSON.stringify(after);
  return figures;
}

const puts = (from: number, n: number, clock: number, device: string, tag: string) =>
  Array.from({ length: n }, (_, i) =>
    put('notes', `n${from + i}`, { id: `n${from + i}`, text: `note ${from + i}`, done: false }, stampOf(clock, device, `${tag}-${from + i}`)),
  );

/** Every figure of the cost table, measured on a fresh backend. */
async function measureAll(): Promise<Record<string, Figures>> {
  const t = backend();
  const out: Record<string, Figures> = {};
  const pushOps = (ops: ReturnType<typeof puts>, deviceId = 'laptop') => t.mutation(api.counted.push, { workspaceId: ws, deviceId, ops });
  out.pushFirst = await measure(t, () => pushOps(puts(0, 100, 1, 'laptop', 'a')));
  await t.mutation(api.counted.updateCursor, { workspaceId: ws, deviceId: 'laptop', version: 100 });
  out.pushNew = await measure(t, () => pushOps(puts(100, 100, 1, 'laptop', 'b')));
  out.pushUpdates = await measure(t, () => pushOps(puts(0, 100, 2, 'laptop', 'c')));
  out.pushDuplicates = await measure(t, () => pushOps(puts(0, 100, 2, 'laptop', 'c')));
  out.pushSuperseded = await measure(t, () => pushOps(puts(0, 100, 1, 'phone', 'd'), 'phone'));
  for (let from = 200; from < 600; from += 100) await pushOps(puts(from, 100, 1, 'laptop', 'e'));
  out.pull500 = await measure(t, () => t.query(api.counted.pull, { workspaceId: ws, cursor: 0, limit: 500 }));
  out.head = await measure(t, () => t.query(api.counted.head, { workspaceId: ws }));
  out.updateCursor = await measure(t, () => t.mutation(api.counted.updateCursor, { workspaceId: ws, deviceId: 'laptop', version: 300 }));
  // 100 tombstones, pulled by the one device, past the retention.
  const deletes = Array.from({ length: 100 }, (_, i) => del('notes', `n${i}`, stampOf(3, 'laptop', `x-${i}`)));
  const { serverVersion } = await t.mutation(api.counted.push, { workspaceId: ws, deviceId: 'laptop', ops: deletes });
  await t.mutation(api.counted.updateCursor, { workspaceId: ws, deviceId: 'laptop', version: serverVersion });
  setNow(NOW + 8 * DAY);
  await t.mutation(api.counted.updateCursor, { workspaceId: ws, deviceId: 'laptop', version: serverVersion });
  out.collectGarbage100 = await measure(t, async () => {
    const result = await t.mutation(internal.counted.collectGarbage, { workspaceId: ws });
    expect(result).toEqual({ purged: 100, complete: true });
  });
  return out;
}

test('the Convex cost per operation: function calls, documents read and written, head re-runs', async () => {
  const f = await measureAll();
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  if (env?.SYNCLANE_CONVEX_COST === '1') console.log(`SYNCLANE_CONVEX_COST ${JSON.stringify(f)}`);
  for (const name of ['pushFirst', 'pushNew', 'pushUpdates', 'pushDuplicates', 'pushSuperseded'] as const) {
    const push = f[name]!;
    expect(push, name).toMatchObject({ calls: 1, mutations: 1 });
    // Each op stores at most its record and its op id; the rest is the counter and the device.
    expect(push.writtenByTable.synclane_records ?? 0, name).toBeLessThanOrEqual(100);
    expect(push.writtenByTable.synclane_ops ?? 0, name).toBeLessThanOrEqual(100);
    expect(push.written, name).toBeLessThanOrEqual(2 * 100 + K);
    expect(push.read, name).toBeLessThanOrEqual(2 * 100 + K);
  }
  // Only a push that stores something writes the counter document, once.
  expect(f.pushFirst!).toMatchObject({ counterWrites: 1, headChanged: true });
  expect(f.pushNew!).toMatchObject({ counterWrites: 1, headChanged: true });
  expect(f.pushUpdates!).toMatchObject({ counterWrites: 1, headChanged: true });
  expect(f.pushDuplicates!).toMatchObject({ counterWrites: 0, written: 0, headChanged: false });
  expect(f.pushSuperseded!).toMatchObject({ counterWrites: 0, headChanged: false });
  expect(f.pushSuperseded!.writtenByTable.synclane_records ?? 0).toBe(0);
  expect(f.pull500!).toMatchObject({ calls: 1, queries: 1, written: 0, counterWrites: 0, headChanged: false });
  expect(f.pull500!.readByTable.synclane_records).toBeGreaterThanOrEqual(500);
  expect(f.pull500!.read).toBeLessThanOrEqual(500 + K);
  expect(f.head!).toMatchObject({ calls: 1, queries: 1, read: 1, written: 0 });
  expect(f.updateCursor!).toMatchObject({ calls: 1, mutations: 1, counterWrites: 0, headChanged: false });
  expect(f.updateCursor!.read + f.updateCursor!.written).toBeLessThanOrEqual(K);
  const gc = f.collectGarbage100!;
  expect(gc).toMatchObject({ calls: 1, mutations: 1, counterWrites: 1 });
  expect(gc.read).toBeLessThanOrEqual(100 + K);
  expect(gc.written).toBeLessThanOrEqual(2 * 100 + K);
});
