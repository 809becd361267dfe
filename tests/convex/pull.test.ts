// pull, head and updateCursor: pages by server version, each record once at its latest, the
// epoch, cursors ahead of the head, and the head query reading the counter document alone.
import { describe, expect, test } from 'vitest';
import { api, backend, del, errorOf, put, stampOf } from './setup.js';
import type { ConvexPendingOp } from '../../js/src/convex/server/index.js';

const ws = 'acme';
type Backend = ReturnType<typeof backend>;

async function pushAll(t: Backend, ops: ConvexPendingOp[], functions = api.open): Promise<number> {
  const result = await t.mutation(functions.push, { workspaceId: ws, deviceId: 'laptop', ops });
  return result.serverVersion;
}

const note = (i: number, clock = 1, extra: Record<string, unknown> = {}) =>
  put('notes', `k${i}`, { id: `k${i}`, ...extra }, stampOf(clock, 'laptop', `k${i}-${clock}`));

describe('pull', () => {
  test('pages ascend by server version; nextCursor, hasMore and total tell what is left', async () => {
    const t = backend();
    await pushAll(t, [0, 1, 2, 3, 4].map((i) => note(i)));
    // k0 written again: it leaves version 1 and comes back at 6.
    await pushAll(t, [note(0, 2)]);
    const page1 = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 2 });
    expect(page1.changes.map((c) => [c.pk, c.serverVersion])).toEqual([['k1', 2], ['k2', 3]]);
    expect(page1).toMatchObject({ nextCursor: 3, hasMore: true, total: 5, retentionFloor: 0 });
    // Between the first and the last page, counting would read the rest: no total.
    const page2 = await t.query(api.open.pull, { workspaceId: ws, cursor: 3, limit: 2 });
    expect(page2.changes.map((c) => c.pk)).toEqual(['k3', 'k4']);
    expect(page2).toMatchObject({ nextCursor: 5, hasMore: true });
    expect(page2.total).toBeUndefined();
    const page3 = await t.query(api.open.pull, { workspaceId: ws, cursor: 5, limit: 2 });
    expect(page3.changes.map((c) => [c.pk, c.serverVersion, c.stamp.clock])).toEqual([['k0', 6, 2]]);
    expect(page3).toMatchObject({ nextCursor: 6, hasMore: false, total: 1 });
    const empty = await t.query(api.open.pull, { workspaceId: ws, cursor: 6, limit: 2 });
    expect(empty).toMatchObject({ changes: [], nextCursor: 6, hasMore: false, total: 0 });
  });

  test('a last page ends at the head, past versions compacted away', async () => {
    const t = backend();
    await pushAll(t, [note(0), note(1)]);
    await pushAll(t, [note(1, 2)]); // version 3; k1's version 2 is gone
    await pushAll(t, [note(1, 3)]); // version 4; version 3 is gone too
    const page = await t.query(api.open.pull, { workspaceId: ws, cursor: 1, limit: 10 });
    expect(page.changes.map((c) => c.serverVersion)).toEqual([4]);
    expect(page).toMatchObject({ nextCursor: 4, hasMore: false, total: 1 });
  });

  test('a table filter leaves records out but still moves the cursor past them', async () => {
    const t = backend();
    await pushAll(t, [put('tags', 't1', { id: 't1' }, stampOf(1, 'laptop', 't1')), note(1), put('tags', 't2', { id: 't2' }, stampOf(1, 'laptop', 't2'))]);
    const page = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 2, tables: ['notes'] });
    expect(page.changes.map((c) => c.pk)).toEqual(['k1']);
    expect(page).toMatchObject({ nextCursor: 2, hasMore: true });
  });

  test('the limit is capped', async () => {
    const t = backend();
    await pushAll(t, Array.from({ length: 8 }, (_, i) => note(i)));
    // The open mount caps pages at 50 changes.
    for (let i = 1; i < 8; i++) await pushAll(t, Array.from({ length: 8 }, (_, j) => note(8 * i + j)));
    const capped = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 1000 });
    expect(capped.changes).toHaveLength(50);
    expect(capped).toMatchObject({ nextCursor: 50, hasMore: true, total: 64 });
  });

  test('a page stops before the payload that would pass its byte budget, and holds one at least', async () => {
    // The smallPages mount's pages hold at most 1 KiB of payloads.
    const t = backend();
    const big = (i: number, size: number) => note(i, 1, { text: 'x'.repeat(size) });
    await pushAll(t, [big(0, 400), big(1, 400), big(2, 400), big(3, 3000), big(4, 10)], api.smallPages);
    const page = await t.query(api.smallPages.pull, { workspaceId: ws, cursor: 0, limit: 10 });
    expect(page.changes.map((c) => c.pk)).toEqual(['k0', 'k1']);
    expect(page).toMatchObject({ nextCursor: 2, hasMore: true, total: 5 });
    const next = await t.query(api.smallPages.pull, { workspaceId: ws, cursor: 2, limit: 10 });
    expect(next.changes.map((c) => c.pk)).toEqual(['k2']);
    // Bigger than the budget, it comes alone: every page moves the cursor.
    const alone = await t.query(api.smallPages.pull, { workspaceId: ws, cursor: 3, limit: 10 });
    expect(alone.changes.map((c) => c.pk)).toEqual(['k3']);
    const last = await t.query(api.smallPages.pull, { workspaceId: ws, cursor: 4, limit: 10 });
    expect(last).toMatchObject({ nextCursor: 5, hasMore: false, total: 1 });
  });

  test('the epoch is drawn with the workspace and names every page and the head after that', async () => {
    const t = backend();
    const before = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 10 });
    expect(before.epoch).toBeUndefined();
    expect(await t.query(api.open.head, { workspaceId: ws })).toEqual({ version: 0 });
    await pushAll(t, [note(0), note(1)]);
    const first = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 1 });
    expect(first.epoch).toMatch(/^[0-9a-f-]{32,36}$/);
    await pushAll(t, [note(2), del('notes', 'k0', stampOf(2, 'laptop', 'd0'))]);
    const second = await t.query(api.open.pull, { workspaceId: ws, cursor: first.nextCursor, limit: 1 });
    expect(second.epoch).toBe(first.epoch);
    expect(await t.query(api.open.head, { workspaceId: ws })).toEqual({ version: 4, epoch: first.epoch });
    // Another workspace, and the same one on a backend that lost its data, have other epochs.
    await t.mutation(api.open.push, { workspaceId: 'other', deviceId: 'laptop', ops: [note(0)] });
    const other = await t.query(api.open.head, { workspaceId: 'other' });
    const reset = backend();
    await pushAll(reset, [note(0)]);
    const again = await reset.query(api.open.head, { workspaceId: ws });
    expect(new Set([first.epoch, other.epoch, again.epoch]).size).toBe(3);
  });

  test('a cursor ahead of the head is cursor_expired: the server lost versions', async () => {
    const t = backend();
    expect(await errorOf(t.query(api.open.pull, { workspaceId: ws, cursor: 5, limit: 10 }))).toEqual({
      code: 'cursor_expired',
      message: "cursor 5 is ahead of the server (0); the server's data was reset",
    });
    await pushAll(t, [note(0)]);
    expect((await errorOf(t.query(api.open.pull, { workspaceId: ws, cursor: 2, limit: 10 }))).code).toBe('cursor_expired');
    expect((await t.query(api.open.pull, { workspaceId: ws, cursor: 1, limit: 10 })).changes).toEqual([]);
  });

  test('bad arguments are invalid_argument', async () => {
    const t = backend();
    for (const [args, message] of [
      [{ cursor: -1, limit: 10 }, 'cursor must be a whole number from 0 to 2^53 - 1, got -1'],
      [{ cursor: 0.5, limit: 10 }, 'cursor must be a whole number from 0 to 2^53 - 1, got 0.5'],
      [{ cursor: 0, limit: 0 }, 'limit must be at least 1'],
      [{ cursor: 0, limit: 10, retentionFloor: -2 }, 'retentionFloor must be a whole number from 0 to 2^53 - 1, got -2'],
    ] as const) {
      expect(await errorOf(t.query(api.open.pull, { workspaceId: ws, ...args }))).toEqual({ code: 'invalid_argument', message });
    }
    expect((await errorOf(t.query(api.open.pull, { workspaceId: '', cursor: 0, limit: 1 }))).code).toBe('invalid_argument');
  });
});

describe('head', () => {
  test('reads the counter document alone, however many records the workspace holds', async () => {
    // A backend that lets a function read one document: head passes, a pull does not.
    const t = backend({ transactionLimits: { documentsRead: 1 } });
    await t.run(async (ctx) => {
      await ctx.db.insert('synclane_workspaces', { workspaceId: ws, version: 20, floor: 0, records: 20, epoch: 'e' });
      for (let i = 1; i <= 20; i++) {
        await ctx.db.insert('synclane_records', {
          workspaceId: ws,
          tableName: 'notes',
          pk: `k${i}`,
          op: 'put',
          payload: '{}',
          serverVersion: i,
          storedAt: 0,
          stamp: stampOf(1, 'laptop', `o${i}`),
        });
      }
    });
    expect(await t.query(api.open.head, { workspaceId: ws })).toEqual({ version: 20, epoch: 'e' });
    await expect(t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 10 })).rejects.toThrow(/too many documents/);
  });

  test('changes exactly when the version does: not for duplicates nor for losers', async () => {
    const t = backend();
    await pushAll(t, [note(0, 2)]);
    const head = await t.query(api.open.head, { workspaceId: ws });
    await pushAll(t, [note(0, 2)]); // a duplicate
    await pushAll(t, [note(0, 1)]); // superseded
    expect(await t.query(api.open.head, { workspaceId: ws })).toEqual(head);
    await pushAll(t, [note(0, 3)]);
    expect(await t.query(api.open.head, { workspaceId: ws })).toEqual({ ...head, version: head.version + 1 });
  });
});

describe('updateCursor', () => {
  test('keeps the highest cursor a device reported, and refuses one ahead of the head', async () => {
    const t = backend();
    await pushAll(t, [note(0), note(1), note(2)]);
    const report = (version: number, deviceId = 'phone') => t.mutation(api.open.updateCursor, { workspaceId: ws, deviceId, version });
    expect(await report(2)).toBeNull();
    await report(1);
    const devices = await t.run((ctx) => ctx.db.query('synclane_devices').collect());
    expect(devices.map((d) => [d.deviceId, d.version])).toEqual([['phone', 2]]);
    expect(await errorOf(report(4))).toEqual({ code: 'cursor_expired', message: "cursor 4 is ahead of the server (3); the server's data was reset" });
    expect(await errorOf(report(1, ''))).toEqual({ code: 'invalid_argument', message: 'deviceId must not be empty' });
    expect((await errorOf(report(-1))).code).toBe('invalid_argument');
  });
});
