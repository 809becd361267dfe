// push: last write wins between devices, retries are idempotent by op id, a bad batch is
// refused whole with nothing written, and payloads come back exactly as they were pushed.
import { describe, expect, test } from 'vitest';
import { synclaneFunctions } from '../../js/src/convex/server/index.js';
import { DEFAULT_LIMITS } from '../../js/src/convex/server/config.js';
import { validateBatch } from '../../js/src/convex/server/validate.js';
import { api, backend, del, dump, errorOf, NOW, put, stampOf } from './setup.js';

const ws = 'acme';

describe('push', () => {
  test('two devices write one record: the higher clock wins, whoever pushes last', async () => {
    const t = backend();
    const first = await t.mutation(api.open.push, {
      workspaceId: ws,
      deviceId: 'laptop',
      ops: [put('notes', 'n1', { id: 'n1', text: 'v2 from the laptop' }, stampOf(2, 'laptop', 'l2'))],
    });
    expect(first.results).toEqual([{ opId: 'l2', status: 'applied', serverVersion: 1 }]);
    // The phone wrote before it saw the laptop's version (clock 1), and pushes later: it loses
    // and gets the winner back at once.
    const late = await t.mutation(api.open.push, {
      workspaceId: ws,
      deviceId: 'phone',
      ops: [put('notes', 'n1', { id: 'n1', text: 'v1 from the phone' }, stampOf(1, 'phone', 'p1', 50))],
    });
    expect(late.serverVersion).toBe(1);
    expect(late.results[0]).toMatchObject({ opId: 'p1', status: 'superseded' });
    expect(late.results[0]?.current).toMatchObject({ pk: 'n1', serverVersion: 1, stamp: { opId: 'l2' } });
    expect(JSON.parse(late.results[0]?.current?.payload ?? 'null')).toEqual({ id: 'n1', text: 'v2 from the laptop' });
    // A write that saw it (clock 3) wins, and a delete after that.
    const next = await t.mutation(api.open.push, {
      workspaceId: ws,
      deviceId: 'phone',
      ops: [put('notes', 'n1', { id: 'n1', text: 'v3' }, stampOf(3, 'phone', 'p3')), del('notes', 'n1', stampOf(4, 'phone', 'p4'))],
    });
    expect(next.results.map((r) => [r.status, r.serverVersion])).toEqual([
      ['applied', 2],
      ['applied', 3],
    ]);
    const page = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 10 });
    expect(page.changes).toEqual([
      { tableName: 'notes', pk: 'n1', op: 'delete', serverVersion: 3, stamp: stampOf(4, 'phone', 'p4') },
    ]);
  });

  test('a retried batch is idempotent: duplicates, and nothing changes', async () => {
    const t = backend();
    const batch = {
      workspaceId: ws,
      deviceId: 'laptop',
      ops: [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'o1')), put('notes', 'b', { id: 'b' }, stampOf(1, 'laptop', 'o2'))],
    };
    const first = await t.mutation(api.open.push, batch);
    expect(first.serverVersion).toBe(2);
    const before = await dump(t);
    const again = await t.mutation(api.open.push, batch);
    expect(again).toEqual({
      results: [
        { opId: 'o1', status: 'duplicate', serverVersion: 1 },
        { opId: 'o2', status: 'duplicate', serverVersion: 2 },
      ],
      serverVersion: 2,
    });
    expect(await dump(t)).toEqual(before);
    expect(await t.query(api.open.head, { workspaceId: ws })).toEqual({ version: 2, epoch: before.synclane_workspaces[0]?.epoch });
  });

  test('an empty push to a new workspace stores nothing, not even its counter', async () => {
    const t = backend();
    expect(await t.mutation(api.open.push, { workspaceId: 'new', deviceId: 'laptop', ops: [] })).toEqual({ results: [], serverVersion: 0 });
    expect(Object.values(await dump(t)).flat()).toEqual([]);
  });

  test('a retry after the record moved on is a duplicate that reports the current version', async () => {
    const t = backend();
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'o1'))] });
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'phone', ops: [put('notes', 'a', { id: 'a', v: 2 }, stampOf(2, 'phone', 'o2'))] });
    const retry = await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'o1'))] });
    expect(retry.results[0]).toMatchObject({ status: 'duplicate', serverVersion: 1, current: { serverVersion: 2, stamp: { opId: 'o2' } } });
  });

  test('payloads round-trip exactly: field names with $, _, non-ASCII, nesting, long numbers', async () => {
    const t = backend();
    // Convex itself refuses such field names in documents and arguments; as JSON text they pass.
    const text = '{"id":"r1","$type":"note","_id":"not a Convex id","__proto__":{"x":1},"_creationTime":5,"ümlaut":"ü","emoji 😀":[1,{"$ref":"#"}],"big":12345678901234567890,"nested":{"_private":true,"$set":null}}';
    const result = await t.mutation(api.open.push, {
      workspaceId: ws,
      deviceId: 'laptop',
      ops: [{ tableName: 'notes', pk: 'r1', op: 'put', payload: text, stamp: stampOf(1, 'laptop', 'o1') }],
    });
    expect(result.results[0]?.status).toBe('applied');
    const page = await t.query(api.open.pull, { workspaceId: ws, cursor: 0, limit: 10 });
    // The same text, byte for byte: not even the integer too long for a double is rounded.
    expect(page.changes[0]?.payload).toBe(text);
    const record = JSON.parse(page.changes[0]?.payload ?? 'null') as Record<string, unknown>;
    expect(Object.keys(record)).toEqual(['id', '$type', '_id', '__proto__', '_creationTime', 'ümlaut', 'emoji 😀', 'big', 'nested']);
  });

  test('one bad op refuses the whole batch: nothing of it is written, and what was there stays', async () => {
    const t = backend();
    await t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [put('notes', 'a', { id: 'a' }, stampOf(1, 'laptop', 'o1'))] });
    const before = await dump(t);
    const good = put('notes', 'a', { id: 'a', v: 2 }, stampOf(2, 'laptop', 'o2'));
    const cases: Array<[unknown, string, string]> = [
      [{ ...put('notes', 'b', { id: 'b' }, stampOf(1, 'laptop', 'o3')), payload: '{"id":"b",' }, 'invalid_payload', 'change #1: payload is not valid JSON'],
      [{ ...put('notes', 'b', { id: 'b' }, stampOf(1, 'laptop', 'o3')), payload: { id: 'b' } }, 'invalid_change', 'change #1: payload must be the record as a JSON string'],
      [{ ...put('notes', 'b', { id: 'b' }, stampOf(1, 'laptop', 'o3')), stamp: { ...stampOf(1, 'laptop', 'o3'), clock: 2 ** 53 } }, 'invalid_change', 'change #1: stamp.clock must be a whole number from 0 to 2^53 - 1'],
      [put('notes', 'b', { id: 'c' }, stampOf(1, 'laptop', 'o3')), 'invalid_payload', 'change #1: payload id "c" differs from pk "b"'],
      [del('notes', 'b', stampOf(1, 'laptop', 'o2')), 'invalid_change', 'change #1: opId "o2" appears twice in the batch'],
    ];
    for (const [bad, code, message] of cases) {
      const error = await errorOf(t.mutation(api.open.push, { workspaceId: ws, deviceId: 'laptop', ops: [good, bad as typeof good] }));
      expect(error).toEqual({ code, message });
      expect(await dump(t)).toEqual(before);
    }
  });

  test('limits: a payload over Convex-safe size and a batch over its bytes are payload_too_large', () => {
    const stamp = stampOf(1, 'laptop', 'o1');
    const big = { tableName: 'notes', pk: 'a', op: 'put' as const, payload: JSON.stringify({ blob: 'x'.repeat(DEFAULT_LIMITS.maxPayloadBytes) }), stamp };
    expect(() => validateBatch(ws, 'laptop', [big], DEFAULT_LIMITS, NOW)).toThrow(expect.objectContaining({ data: expect.objectContaining({ code: 'payload_too_large' }) }));
    const ops = [1, 2, 3].map((i) => ({ ...put('notes', `k${i}`, { blob: 'x'.repeat(100) }, stampOf(1, 'laptop', `o${i}`)) }));
    expect(() => validateBatch(ws, 'laptop', ops, { ...DEFAULT_LIMITS, maxBatchBytes: 250 }, NOW)).toThrow(
      expect.objectContaining({ data: { code: 'payload_too_large', message: 'batch of 333 payload bytes exceeds the limit of 250' } }),
    );
  });

  test('the batch of the largest size Convex takes goes through in one mutation, under its limits', async () => {
    // Convex's per-transaction limits are enforced (see backend()): 1000 ops of 1 KB each.
    const t = backend();
    const ops = Array.from({ length: DEFAULT_LIMITS.maxBatchLen }, (_, i) =>
      put('notes', `k${i}`, { id: `k${i}`, text: 'x'.repeat(1000) }, stampOf(1, 'laptop', `o${i}`)),
    );
    const result = await t.mutation(api.synclaneDefaults.push, { workspaceId: ws, deviceId: 'laptop', ops });
    expect(result.serverVersion).toBe(1000);
    expect(new Set(result.results.map((r) => r.status))).toEqual(new Set(['applied']));
  });

  test('options Convex could not honour are refused when the functions are built', () => {
    expect(() => synclaneFunctions({ limits: { maxPayloadBytes: 2_000_000 } })).toThrow(/maxPayloadBytes is at most 1000000/);
    expect(() => synclaneFunctions({ retention: { tombstoneRetentionMs: 0 } })).toThrow(/positive whole number/);
    expect(() => synclaneFunctions({ limits: { maxBatchLen: 1.5 } })).toThrow(/maxBatchLen/);
  });
});
