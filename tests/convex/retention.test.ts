// Retention: collectGarbage purges old tombstones every active device has pulled, raises the
// retention floor, and keeps the purged stamps, so a late stale write still loses; cursors
// below the floor expire, snapshots and sequences that began under the floor do not.
import { describe, expect, test } from 'vitest';
import vectors from '../vectors/server-rules.json';
import { api, backend, del, dump, errorOf, internal, NOW, put, setNow, stampOf } from './setup.js';

const ws = 'acme';
const DAY = 86_400_000;
// The open mount's retention (the vectors'): tombstones are kept a day, devices count for ten.
const { tombstoneRetentionMs, deviceTtlMs } = vectors.config;

describe('collectGarbage', () => {
  test('purges, raises the floor, keeps the purged stamp: a stale write still loses', async () => {
    expect([tombstoneRetentionMs, deviceTtlMs]).toEqual([DAY, 10 * DAY]);
    const t = backend();
    const push = (deviceId: string, ops: ReturnType<typeof put>[]) =>
      t.mutation(api.open.push, { workspaceId: ws, deviceId, ops });
    await push('laptop', [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'a1')), put('notes', 'b', { id: 'b' }, stampOf(1, 'laptop', 'b1'))]);
    await push('laptop', [del('notes', 'a', stampOf(2, 'laptop', 'a2'))]); // version 3
    const report = (deviceId: string, version: number) => t.mutation(api.open.updateCursor, { workspaceId: ws, deviceId, version });
    await report('laptop', 3);
    await report('phone', 1);
    // Old enough, but the phone has not pulled the delete.
    setNow(NOW + 2 * DAY);
    await report('laptop', 3);
    expect(await t.mutation(internal.open.collectGarbage, {})).toEqual({ purged: 0, complete: true });
    await report('phone', 3);
    expect(await t.mutation(internal.open.collectGarbage, {})).toEqual({ purged: 1, complete: true });
    const docs = await dump(t);
    expect(docs.synclane_records.map((r) => r.pk)).toEqual(['b']);
    expect(docs.synclane_purged).toEqual([{ workspaceId: ws, tableName: 'notes', pk: 'a', stamp: stampOf(2, 'laptop', 'a2') }]);
    expect(docs.synclane_workspaces[0]).toMatchObject({ version: 3, floor: 3, records: 1 });

    // A write made before the delete, by a device away all this time, arrives now: it loses to
    // the purged stamp, reported at the floor, and the record stays deleted.
    const late = await push('tablet', [put('notes', 'a', { id: 'a', text: 'old' }, stampOf(1, 'tablet', 'late', 5))]);
    expect(late.results).toEqual([
      { opId: 'late', status: 'superseded', current: { tableName: 'notes', pk: 'a', op: 'delete', serverVersion: 3, stamp: stampOf(2, 'laptop', 'a2') } },
    ]);
    expect((await dump(t)).synclane_records.map((r) => r.pk)).toEqual(['b']);
    // A write that saw the delete re-creates the record, and its purged stamp goes.
    const again = await push('tablet', [put('notes', 'a', { id: 'a', text: 'new' }, stampOf(3, 'tablet', 'again'))]);
    expect(again.results).toEqual([{ opId: 'again', status: 'applied', serverVersion: 4 }]);
    const after = await dump(t);
    expect(after.synclane_purged).toEqual([]);
    expect(after.synclane_workspaces[0]).toMatchObject({ version: 4, floor: 3, records: 2 });
  });

  test('below the floor a pull expires; a snapshot and the pages of its sequence do not', async () => {
    const t = backend();
    await t.mutation(api.open.push, {
      workspaceId: ws,
      deviceId: 'laptop',
      ops: [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'a1')), put('notes', 'b', { id: 'b' }, stampOf(1, 'laptop', 'b1'))],
    });
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [del('notes', 'a', stampOf(2, 'laptop', 'a2'))] });
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [put('notes', 'c', { id: 'c' }, stampOf(1, 'laptop', 'c1'))] });
    setNow(NOW + 2 * DAY);
    expect((await t.mutation(internal.open.collectGarbage, {})).purged).toBe(1); // no device: up to the head
    const pull = (args: { cursor: number; limit: number; snapshot?: boolean; retentionFloor?: number }) =>
      t.query(api.open.pull, { workspaceId: ws, ...args });
    expect(await errorOf(pull({ cursor: 2, limit: 10 }))).toEqual({
      code: 'cursor_expired',
      message: 'cursor 2 is below the retention floor 3; rescan from 0',
    });
    expect((await errorOf(pull({ cursor: 0, limit: 10 }))).code).toBe('cursor_expired');
    // A device that holds nothing may start from 0, and page on under the floor it began with.
    const first = await pull({ cursor: 0, limit: 1, snapshot: true });
    expect(first).toMatchObject({ retentionFloor: 3, hasMore: true, total: 2 });
    expect(first.changes.map((c) => c.pk)).toEqual(['b']);
    const next = await pull({ cursor: first.nextCursor, limit: 1, snapshot: true, retentionFloor: first.retentionFloor });
    expect(next.changes.map((c) => c.pk)).toEqual(['c']);
    expect(next).toMatchObject({ hasMore: false, nextCursor: 4 });
    expect(await pull({ cursor: 3, limit: 10 })).toMatchObject({ nextCursor: 4 });
    // The floor rises under the sequence: its later pages expire.
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [del('notes', 'b', stampOf(2, 'laptop', 'b2'))] });
    setNow(NOW + 4 * DAY);
    expect((await t.mutation(internal.open.collectGarbage, {})).purged).toBe(1);
    expect((await errorOf(pull({ cursor: first.nextCursor, limit: 1, snapshot: true, retentionFloor: 3 }))).code).toBe('cursor_expired');
  });

  test('young tombstones stay; a device not seen for the TTL holds nothing back', async () => {
    const t = backend();
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'a1'))] });
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [del('notes', 'a', stampOf(2, 'laptop', 'a2'))] });
    await t.mutation(api.open.updateCursor, { workspaceId: ws, deviceId: 'gone', version: 0 });
    // Convex gives each transaction a time after the last commit's, so read the times stored.
    const docs = await dump(t);
    const storedAt = docs.synclane_records[0]?.storedAt as number;
    const seenAt = docs.synclane_devices[0]?.seenAt as number;
    setNow(NOW + DAY - 1);
    await t.mutation(api.open.updateCursor, { workspaceId: ws, deviceId: 'here', version: 2 });
    setNow(storedAt + DAY - 1);
    expect((await t.mutation(internal.open.collectGarbage, {})).purged).toBe(0); // too young
    setNow(seenAt + 10 * DAY - 1);
    expect((await t.mutation(internal.open.collectGarbage, {})).purged).toBe(0); // 'gone' still counts
    setNow(seenAt + 10 * DAY);
    expect((await t.mutation(internal.open.collectGarbage, {})).purged).toBe(1);
  });

  test('a run purges at most maxPurges; the next one goes on; workspaces stay apart', async () => {
    const t = backend();
    for (const workspaceId of ['w1', 'w2']) {
      const keys = ['a', 'b', 'c'];
      await t.mutation(api.open.push, { workspaceId, deviceId: 'd', ops: keys.map((k) => put('notes', k, { id: k }, stampOf(1, 'd', `${workspaceId}${k}1`))) });
      await t.mutation(api.open.push, { workspaceId, deviceId: 'd', ops: keys.map((k) => del('notes', k, stampOf(2, 'd', `${workspaceId}${k}2`))) });
    }
    setNow(NOW + 2 * DAY);
    expect(await t.mutation(internal.open.collectGarbage, { workspaceId: 'w2', maxPurges: 2 })).toEqual({ purged: 2, complete: false });
    let docs = await dump(t);
    expect(docs.synclane_purged.map((p) => p.workspaceId)).toEqual(['w2', 'w2']);
    expect(await t.mutation(internal.open.collectGarbage, { maxPurges: 3 })).toEqual({ purged: 3, complete: false });
    expect(await t.mutation(internal.open.collectGarbage, {})).toEqual({ purged: 1, complete: true });
    docs = await dump(t);
    expect(docs.synclane_records).toEqual([]);
    expect(docs.synclane_workspaces.map((w) => [w.workspaceId, w.floor, w.records])).toEqual([
      ['w1', 6, 0],
      ['w2', 6, 0],
    ]);
    expect((await errorOf(t.mutation(internal.open.collectGarbage, { maxPurges: 0 }))).code).toBe('invalid_argument');
  });
});
