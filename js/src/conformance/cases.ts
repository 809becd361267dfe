/**
 * The conformance cases: each checks one rule of the provider contract against a fresh setup.
 *
 * Every case writes records with fresh keys and pulls from the versions its own pushes got, so
 * a factory may hand every case the same workspace.
 *
 * @module
 */

import type { PendingOp, PushResult, SyncChange, SyncPayload, SyncProvider, SyncScope } from '../types/protocol.js';
import { byPk, call, expect, expectFailure, pullAll, show, single, sleep } from './checks.js';
import { randomId, TestDevice } from './stamps.js';

/** What a case works with. */
export interface CaseContext {
  /** The provider under test. */
  provider: SyncProvider;
  /** The provider used as a second client (the same as `provider` when the factory gave none). */
  other: SyncProvider;
  /** The workspace the case writes to. */
  scope: SyncScope;
  /** Two table names the backend accepts. */
  tables: readonly [string, string];
  /** The factory's hook that makes the backend expire cursors, if it has one. */
  expireCursors: (() => Promise<number | void>) | undefined;
  /** How long to wait for a subscription delivery. */
  deliveryTimeoutMs: number;
  /** How long to wait before concluding that nothing more is delivered. */
  quietMs: number;
}

/** A case's body: resolves when the provider passes, returns a reason when it is skipped. */
export type CaseBody = (ctx: CaseContext) => Promise<void | { skipped: string }>;

async function push(ctx: CaseContext, device: TestDevice, ops: PendingOp[], via = ctx.provider): Promise<PushResult> {
  const result = await call(`push of ${ops.length} op(s)`, () =>
    via.push({ scope: ctx.scope, deviceId: device.deviceId, ops }),
  );
  expect(
    Array.isArray(result?.results) && typeof result.serverVersion === 'number',
    `push must answer { results: [], serverVersion: number }, got ${show(result)}`,
  );
  expect(
    result.results.length === ops.length,
    `push of ${ops.length} ops returned ${result.results.length} results: there must be one per op`,
  );
  result.results.forEach((r, i) => {
    expect(
      r.opId === ops[i]?.stamp.opId,
      `push result #${i} is for op ${show(r.opId)}, expected ${ops[i]?.stamp.opId}: results follow the batch's order`,
    );
  });
  return result;
}

function statusOf(result: PushResult, index: number): string | undefined {
  return result.results[index]?.status;
}

function versionOf(result: PushResult, index: number): number {
  const version = result.results[index]?.serverVersion;
  expect(
    typeof version === 'number',
    `push result #${index} (${statusOf(result, index)}) has no serverVersion: applied ops report the version they were stored at`,
  );
  return version;
}

/** The cases, by name. */
export const CASES: ReadonlyArray<readonly [string, CaseBody]> = [
  [
    'push returns one result per op, in order, with statuses',
    async (ctx) => {
      const device = new TestDevice('order');
      const [t0, t1] = ctx.tables;
      const id = randomId();
      const ops = [
        device.put(t0, `${id}-a`, 1, { title: 'a' }),
        device.put(t1, `${id}-b`, 1, { title: 'b' }),
        device.put(t0, `${id}-c`, 1, { title: 'c' }),
        device.delete(t0, `${id}-d`, 1),
      ];
      const result = await push(ctx, device, ops);
      let previous = 0;
      result.results.forEach((r, i) => {
        expect(r.status === 'applied', `op #${i} of a fresh batch came back ${show(r.status)}, expected "applied"`);
        const version = versionOf(result, i);
        expect(version > previous, `applied ops got versions ${show(result.results.map((x) => x.serverVersion))}: they must rise in batch order`);
        previous = version;
      });
      expect(
        result.serverVersion >= previous,
        `the push's serverVersion ${result.serverVersion} is below its last op's version ${previous}`,
      );
    },
  ],
  [
    'push is idempotent by opId',
    async (ctx) => {
      const device = new TestDevice('idem');
      const [t0] = ctx.tables;
      const id = randomId();
      const ops = [device.put(t0, `${id}-a`, 1, { n: 1 }), device.put(t0, `${id}-b`, 1, { n: 2 })];
      const first = await push(ctx, device, ops);
      first.results.forEach((r, i) => expect(r.status === 'applied', `op #${i} of a fresh batch came back ${show(r.status)}`));
      const again = await push(ctx, device, ops);
      again.results.forEach((r, i) => {
        expect(r.status === 'duplicate', `op #${i} pushed a second time came back ${show(r.status)}, expected "duplicate"`);
        if (r.serverVersion !== undefined) {
          expect(
            r.serverVersion === first.results[i]?.serverVersion,
            `a duplicate reports serverVersion ${r.serverVersion}, but the op was stored at ${first.results[i]?.serverVersion}`,
          );
        }
      });
      expect(
        again.serverVersion === first.serverVersion,
        `pushing the same batch again moved the server from version ${first.serverVersion} to ${again.serverVersion}`,
      );
      // A retry that carries one old op and one new op: only the new one is applied.
      const mixed = [ops[0] as PendingOp, device.put(t0, `${id}-c`, 1, { n: 3 })];
      const third = await push(ctx, device, mixed);
      expect(statusOf(third, 0) === 'duplicate', `an op retried alongside a new one came back ${show(statusOf(third, 0))}, expected "duplicate"`);
      expect(statusOf(third, 1) === 'applied', `a new op pushed alongside a retried one came back ${show(statusOf(third, 1))}, expected "applied"`);
      const pulled = await pullAll(ctx.provider, ctx.scope, versionOf(first, 0) - 1, 100);
      const groups = byPk(pulled.changes, [`${id}-a`, `${id}-b`, `${id}-c`]);
      ops.forEach((op) => {
        const change = single(groups, op.pk, 'after pushing a batch twice');
        expect(
          change.stamp.opId === op.stamp.opId,
          `record ${op.pk} holds op ${change.stamp.opId}, expected ${op.stamp.opId}`,
        );
      });
      single(groups, `${id}-c`, 'after a mixed retry');
    },
  ],
  [
    'pull is ascending, paginated and complete',
    async (ctx) => {
      const device = new TestDevice('page');
      const [t0, t1] = ctx.tables;
      const id = randomId();
      const pks = Array.from({ length: 7 }, (_, i) => `${id}-${i}`);
      const ops = pks.map((pk, i) => device.put(i % 2 === 0 ? t0 : t1, pk, 1, { i }));
      // Two batches, so the records span more than one push.
      const first = await push(ctx, device, ops.slice(0, 4));
      await push(ctx, device, ops.slice(4));
      const limit = 2;
      const pulled = await pullAll(ctx.provider, ctx.scope, versionOf(first, 0) - 1, limit);
      const groups = byPk(pulled.changes, pks);
      ops.forEach((op) => {
        const change = single(groups, op.pk, `paging with limit ${limit}`);
        expect(change.tableName === op.tableName, `record ${op.pk} came back in table ${change.tableName}, expected ${op.tableName}`);
        expect(change.op === 'put', `record ${op.pk} came back as ${show(change.op)}, expected "put"`);
        expect(
          (change.payload as SyncPayload | undefined)?.['i'] === (op.payload as SyncPayload)['i'],
          `record ${op.pk} came back with payload ${show(change.payload)}, expected ${show(op.payload)}`,
        );
      });
      expect(pulled.pages >= 4, `7 records with limit ${limit} came in ${pulled.pages} page(s): the limit must page them`);
      const tail = await call(`pull at the final cursor ${pulled.cursor}`, () =>
        ctx.provider.pull({ scope: ctx.scope, cursor: pulled.cursor, limit }),
      );
      expect(
        tail.changes.length === 0 && !tail.hasMore,
        `a pull at the final cursor ${pulled.cursor} must be empty, got ${tail.changes.length} change(s), hasMore ${tail.hasMore}`,
      );
      expect(tail.nextCursor >= pulled.cursor, `a pull at the final cursor moved it back to ${tail.nextCursor}`);
    },
  ],
  [
    'pull with a table filter returns only those tables and still advances the cursor',
    async (ctx) => {
      const device = new TestDevice('filter');
      const [t0, t1] = ctx.tables;
      const id = randomId();
      const result = await push(ctx, device, [device.put(t0, `${id}-x`, 1), device.put(t1, `${id}-y`, 1)]);
      const pulled = await pullAll(ctx.provider, ctx.scope, versionOf(result, 0) - 1, 50, [t1]);
      const others = pulled.changes.filter((c) => c.tableName !== t1);
      expect(others.length === 0, `a pull filtered on ${t1} returned changes of ${show([...new Set(others.map((c) => c.tableName))])}`);
      single(byPk(pulled.changes, [`${id}-y`]), `${id}-y`, `a pull filtered on ${t1}`);
      expect(
        pulled.cursor >= versionOf(result, 1),
        `a filtered pull ended at cursor ${pulled.cursor}, below the version ${versionOf(result, 1)} it passed over`,
      );
    },
  ],
  [
    'conflicts: the higher clock wins whatever the arrival order',
    async (ctx) => {
      const a = new TestDevice('clock-a');
      const b = new TestDevice('clock-b');
      const [t0] = ctx.tables;
      const pk = `${randomId()}-x`;
      const winner = b.put(t0, pk, 2, { by: 'b' }, 0);
      const stored = await push(ctx, b, [winner]);
      expect(statusOf(stored, 0) === 'applied', `the first version came back ${show(statusOf(stored, 0))}`);
      // Arrives later, with a later hlc, but a lower clock: it must lose.
      const late = await push(ctx, a, [a.put(t0, pk, 1, { by: 'a' }, 10_000)], ctx.other);
      expect(
        statusOf(late, 0) === 'superseded',
        `a clock-1 write arriving after a clock-2 write came back ${show(statusOf(late, 0))}, expected "superseded"`,
      );
      const current = late.results[0]?.current;
      if (current !== undefined) {
        expect(
          current.stamp.opId === winner.stamp.opId,
          `a superseded result's current is op ${current.stamp.opId}, expected the winner ${winner.stamp.opId}`,
        );
      }
      const change = single(byPk((await pullAll(ctx.provider, ctx.scope, versionOf(stored, 0) - 1, 50)).changes, [pk]), pk, 'after the conflict');
      expect(
        change.stamp.opId === winner.stamp.opId && change.stamp.clock === 2,
        `the server kept ${show(change.stamp)}, expected the clock-2 version ${winner.stamp.opId}`,
      );
    },
  ],
  [
    'conflicts: on equal clocks the higher hlc wins',
    async (ctx) => {
      const early = new TestDevice('hlc-early');
      const late = new TestDevice('hlc-late');
      const [t0] = ctx.tables;
      const id = randomId();
      const y = `${id}-y`;
      const z = `${id}-z`;
      // y: the later stamp arrives first; the earlier one must lose.
      const lateY = late.put(t0, y, 1, { by: 'late' }, 10_000);
      const firstY = await push(ctx, late, [lateY]);
      const secondY = await push(ctx, early, [early.put(t0, y, 1, { by: 'early' }, 0)], ctx.other);
      expect(
        statusOf(secondY, 0) === 'superseded',
        `an equal-clock write with a lower hlc came back ${show(statusOf(secondY, 0))}, expected "superseded"`,
      );
      // z: the earlier stamp arrives first; the later one must replace it.
      await push(ctx, early, [early.put(t0, z, 1, { by: 'early' }, 0)], ctx.other);
      const lateZ = late.put(t0, z, 1, { by: 'late' }, 10_000);
      const secondZ = await push(ctx, late, [lateZ]);
      expect(
        statusOf(secondZ, 0) === 'applied',
        `an equal-clock write with a higher hlc came back ${show(statusOf(secondZ, 0))}, expected "applied"`,
      );
      const groups = byPk((await pullAll(ctx.provider, ctx.scope, versionOf(firstY, 0) - 1, 50)).changes, [y, z]);
      for (const [pk, winner] of [[y, lateY], [z, lateZ]] as const) {
        const change = single(groups, pk, 'after equal-clock conflicts');
        expect(change.stamp.opId === winner.stamp.opId, `record ${pk} holds ${change.stamp.hlc}, expected the higher hlc ${winner.stamp.hlc}`);
      }
    },
  ],
  [
    'tombstones: a delete replaces the record, older puts lose to it, a higher clock re-creates',
    async (ctx) => {
      const device = new TestDevice('tomb');
      const [t0] = ctx.tables;
      const pk = `${randomId()}-t`;
      const created = await push(ctx, device, [device.put(t0, pk, 1, { title: 'first' })]);
      const from = versionOf(created, 0) - 1;
      const deleted = await push(ctx, device, [device.delete(t0, pk, 2)]);
      expect(statusOf(deleted, 0) === 'applied', `a delete with a higher clock came back ${show(statusOf(deleted, 0))}`);
      let change = single(byPk((await pullAll(ctx.provider, ctx.scope, from, 50)).changes, [pk]), pk, 'after a delete');
      expect(change.op === 'delete', `a deleted record is pulled as ${show(change.op)}, expected "delete"`);
      expect(change.payload === undefined || change.payload === null, `a delete is pulled with payload ${show(change.payload)}`);
      expect(change.serverVersion === versionOf(deleted, 0), `the tombstone is at version ${change.serverVersion}, expected ${versionOf(deleted, 0)}`);
      const stale = await push(ctx, device, [device.put(t0, pk, 1, { title: 'stale' }, 5_000)]);
      expect(
        statusOf(stale, 0) === 'superseded',
        `a put with a lower clock than the delete came back ${show(statusOf(stale, 0))}, expected "superseded"`,
      );
      const revived = await push(ctx, device, [device.put(t0, pk, 3, { title: 'again' })]);
      expect(statusOf(revived, 0) === 'applied', `a put with a higher clock than the delete came back ${show(statusOf(revived, 0))}`);
      change = single(byPk((await pullAll(ctx.provider, ctx.scope, from, 50)).changes, [pk]), pk, 'after re-creating');
      expect(
        change.op === 'put' && (change.payload as SyncPayload | undefined)?.['title'] === 'again',
        `a re-created record is pulled as ${show(change)}, expected the clock-3 put`,
      );
    },
  ],
  [
    'an expired cursor is refused with cursor_expired, a snapshot from 0 is served',
    async (ctx) => {
      if (!ctx.expireCursors) return { skipped: 'skipped: the factory has no expireCursors hook' };
      const returned = await call('the expireCursors hook', ctx.expireCursors);
      const cursor = typeof returned === 'number' ? returned : 0;
      await expectFailure(`a pull from the expired cursor ${cursor}`, 'cursor_expired', () =>
        ctx.provider.pull({ scope: ctx.scope, cursor, limit: 10 }),
      );
      const snapshot = await call('a snapshot pull from cursor 0 after expiry', () =>
        ctx.provider.pull({ scope: ctx.scope, cursor: 0, limit: 10, snapshot: true }),
      );
      expect(Array.isArray(snapshot.changes), `a snapshot pull answered ${show(snapshot)}`);
      return undefined;
    },
  ],
  [
    'subscribe delivers changes pushed by another client, and unsubscribe stops it',
    async (ctx) => {
      const device = new TestDevice('sub');
      const [t0] = ctx.tables;
      const id = randomId();
      const received: SyncChange[] = [];
      const unsubscribe = await call('subscribe', () =>
        ctx.provider.subscribe(ctx.scope, [t0], (changes) => {
          received.push(...changes);
        }),
      );
      expect(typeof unsubscribe === 'function', `subscribe must resolve to an unsubscribe function, got ${show(unsubscribe)}`);
      const pushed = await push(ctx, device, [device.put(t0, `${id}-live`, 1, { live: true })], ctx.other);
      const deadline = Date.now() + ctx.deliveryTimeoutMs;
      while (!received.some((c) => c.pk === `${id}-live`) && Date.now() < deadline) await sleep(10);
      const change = received.find((c) => c.pk === `${id}-live`);
      expect(change, `a change pushed by another client was not delivered within ${ctx.deliveryTimeoutMs} ms`);
      expect(
        change.tableName === t0 && change.op === 'put' && change.serverVersion === versionOf(pushed, 0),
        `the delivered change ${show(change)} does not match the push (table ${t0}, put, version ${versionOf(pushed, 0)})`,
      );
      expect(
        change.stamp?.opId === pushed.results[0]?.opId,
        `the delivered change carries op ${show(change.stamp?.opId)}, expected ${pushed.results[0]?.opId}`,
      );
      unsubscribe();
      unsubscribe(); // Teardown races call it twice; that must be harmless.
      await push(ctx, device, [device.put(t0, `${id}-after`, 1)], ctx.other);
      await sleep(ctx.quietMs);
      expect(
        !received.some((c) => c.pk === `${id}-after`),
        'a change pushed after unsubscribe was still delivered',
      );
    },
  ],
  [
    'a malformed push is rejected whole with invalid_payload and nothing is stored',
    async (ctx) => {
      const device = new TestDevice('bad');
      const [t0] = ctx.tables;
      const id = randomId();
      const marker = await push(ctx, device, [device.put(t0, `${id}-marker`, 1)]);
      const good = device.put(t0, `${id}-good`, 1);
      const bad: PendingOp = { ...device.put(t0, `${id}-bad`, 1), payload: 'not an object' as unknown as SyncPayload };
      await expectFailure('a push whose second op has a string payload', 'invalid_payload', () =>
        ctx.provider.push({ scope: ctx.scope, deviceId: device.deviceId, ops: [good, bad] }),
      );
      const after = await pullAll(ctx.provider, ctx.scope, versionOf(marker, 0), 50);
      const stored = after.changes.filter((c) => c.pk === good.pk || c.pk === bad.pk);
      expect(stored.length === 0, `a rejected batch stored ${show(stored.map((c) => c.pk))}: nothing of it may be stored`);
    },
  ],
  [
    'updateCursor accepts a version the device has pulled',
    async (ctx) => {
      const device = new TestDevice('cursor');
      const [t0] = ctx.tables;
      const pushed = await push(ctx, device, [device.put(t0, `${randomId()}-c`, 1)]);
      const version = versionOf(pushed, 0);
      await call(`updateCursor to version ${version}`, () => ctx.provider.updateCursor(ctx.scope, device.deviceId, version));
      await call(`updateCursor to the head ${pushed.serverVersion}`, () =>
        ctx.provider.updateCursor(ctx.scope, device.deviceId, pushed.serverVersion),
      );
    },
  ],
];
