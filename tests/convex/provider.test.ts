// ConvexSyncProvider's own behaviour, over the real functions on convex-test's backend (through
// the TestHub clients) and over fake clients where a test needs to control what Convex answers:
// the mapping of errors to canonical codes, pushes cut to Convex's limits with results in the
// batch's order, oversized payloads refused alone, payload field names Convex would refuse,
// and the head subscription.
import { ConvexError } from 'convex/values';
import { describe, expect, test } from 'vitest';
import { SyncError } from '../../js/src/errors.js';
import { TestDevice } from '../../js/src/conformance/index.js';
import { ConvexSyncProvider, convexSyncError, type ConvexClientLike } from '../../js/src/convex/index.js';
import type { PendingOp } from '../../js/src/types/protocol.js';
import { TestHub } from './client.js';
import { api, backend } from './setup.js';

const WORKSPACE = 'ws-provider';
const scope = { workspaceId: WORKSPACE };

/** A backend where `alice` may write to WORKSPACE, and a hub of clients on it. */
async function hubWithMember() {
  const t = backend();
  await t.run((ctx) => ctx.db.insert('members', { user: 'alice', workspaceId: WORKSPACE, role: 'writer' }));
  return new TestHub(t);
}

function providerOn(hub: TestHub, options: Partial<ConstructorParameters<typeof ConvexSyncProvider>[0]> = {}) {
  return new ConvexSyncProvider({ client: hub.client('alice'), functions: api.synclane, ...options });
}

const mutations = (hub: TestHub) => hub.calls.filter((call) => call.kind === 'mutation');

/** The thrown value of `call`. */
async function failure(call: Promise<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('errors map to canonical codes, the original kept as cause', () => {
  test('a ConvexError with { code, message } keeps its code and message', () => {
    const original = new ConvexError({ code: 'forbidden', message: 'not a member' });
    const error = convexSyncError('pull', original);
    expect(error).toBeInstanceOf(SyncError);
    expect([error.code, error.message, error.cause]).toEqual(['forbidden', 'not a member', original]);
  });

  test('a ConvexError without a canonical code is server_error', () => {
    const original = new ConvexError({ code: 'no_such_code', message: 'x' });
    const error = convexSyncError('push', original);
    expect([error.code, error.cause]).toEqual(['server_error', original]);
  });

  test('network failures are network, anything else server_error', () => {
    for (const original of [new TypeError('Failed to fetch'), new Error('Connection lost while action was in flight')]) {
      const error = convexSyncError('push', original);
      expect([error.code, error.cause]).toEqual(['network', original]);
    }
    const other = new Error('Uncaught Error: something broke in the function');
    expect([convexSyncError('push', other).code, convexSyncError('push', other).cause]).toEqual(['server_error', other]);
    expect(convexSyncError('pull', new Error('ConvexClient has already been closed.')).code).toBe('closed');
  });

  test('the functions’ own refusals arrive with their codes through the provider', async () => {
    const hub = await hubWithMember();
    const stranger = new ConvexSyncProvider({ client: hub.client('mallory'), functions: api.synclane });
    const error = await failure(stranger.pull({ scope, cursor: 0, limit: 10 }));
    expect(error).toBeInstanceOf(SyncError);
    expect((error as SyncError).code).toBe('forbidden');
    expect(((error as SyncError).cause as { name?: string }).name).toBe('ConvexError');
    const expired = await failure(providerOn(hub).pull({ scope, cursor: 99, limit: 10 }));
    expect((expired as SyncError).code).toBe('cursor_expired');
  });

  test('a client that cannot reach the deployment gives network, on every call', async () => {
    const hub = await hubWithMember();
    const client = hub.client('alice');
    const cause = new TypeError('fetch failed');
    client.failWith = cause;
    const provider = new ConvexSyncProvider({ client, functions: api.synclane });
    const device = new TestDevice('net');
    for (const call of [
      provider.pull({ scope, cursor: 0, limit: 10 }),
      provider.push({ scope, deviceId: device.deviceId, ops: [device.put('items', 'a', 1)] }),
      provider.updateCursor(scope, device.deviceId, 0),
    ]) {
      const error = (await failure(call)) as SyncError;
      expect([error.code, error.cause]).toEqual(['network', cause]);
    }
  });
});

describe('push is cut to Convex’s limits, results in the batch’s order', () => {
  test('by op count: 7 ops at 3 per call make 3 mutations', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub, { limits: { maxBatchLen: 3 } });
    const device = new TestDevice('count');
    const ops = Array.from({ length: 7 }, (_, i) => device.put('items', `r${i}`, 1, { n: i }));
    const result = await provider.push({ scope, deviceId: device.deviceId, ops });
    expect(mutations(hub).map((call) => (call.args['ops'] as unknown[]).length)).toEqual([3, 3, 1]);
    expect(result.results.map((r) => r.opId)).toEqual(ops.map((op) => op.stamp.opId));
    expect(result.results.map((r) => r.status)).toEqual(Array(7).fill('applied'));
    expect(result.results.map((r) => r.serverVersion)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(result.serverVersion).toBe(7);
  });

  test('by op count under the default limit: 1001 ops make a call of 1000 and one of 1', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub);
    const device = new TestDevice('default-count');
    const ops = Array.from({ length: 1001 }, (_, i) => device.put('items', `d${i}`, 1));
    const result = await provider.push({ scope, deviceId: device.deviceId, ops });
    expect(mutations(hub).map((call) => (call.args['ops'] as unknown[]).length)).toEqual([1000, 1]);
    expect(result.results.map((r) => r.opId)).toEqual(ops.map((op) => op.stamp.opId));
    expect(result.serverVersion).toBe(1001);
  });

  test('by bytes: ten 900 kB payloads (9 MB) go in two calls under the default 8 MiB of arguments', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub);
    const device = new TestDevice('bytes');
    const ops = Array.from({ length: 10 }, (_, i) => device.put('blobs', `b${i}`, 1, { text: 'x'.repeat(900_000) }));
    const result = await provider.push({ scope, deviceId: device.deviceId, ops });
    const calls = mutations(hub);
    expect(calls).toHaveLength(2);
    for (const call of calls) expect(new TextEncoder().encode(JSON.stringify(call.args)).length).toBeLessThanOrEqual(8 * 1024 * 1024);
    expect(result.results.map((r) => r.opId)).toEqual(ops.map((op) => op.stamp.opId));
    expect(result.results.every((r) => r.status === 'applied')).toBe(true);
  });

  test('by bytes of arguments, counted as JSON: a lower limit cuts sooner', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub, { limits: { maxArgsBytes: 2000 } });
    const device = new TestDevice('args');
    // Quotes are escaped in the JSON of the arguments: each payload counts about twice.
    const ops = Array.from({ length: 6 }, (_, i) => device.put('items', `q${i}`, 1, { q: '"'.repeat(200) }));
    const result = await provider.push({ scope, deviceId: device.deviceId, ops });
    const calls = mutations(hub);
    expect(calls.length).toBeGreaterThan(1);
    for (const call of calls) expect(JSON.stringify(call.args).length).toBeLessThanOrEqual(2000);
    expect(result.results.map((r) => r.opId)).toEqual(ops.map((op) => op.stamp.opId));
  });

  test('an op whose payload is over 1,000,000 bytes is rejected alone, the rest applied', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub);
    const device = new TestDevice('big');
    const ops: PendingOp[] = [
      device.put('items', 'small-1', 1, { n: 1 }),
      device.put('items', 'huge', 1, { text: 'é'.repeat(500_000) }), // 1,000,000 bytes of text alone
      device.put('items', 'small-2', 1, { n: 2 }),
    ];
    const result = await provider.push({ scope, deviceId: device.deviceId, ops });
    expect(result.results.map((r) => [r.opId, r.status])).toEqual([
      [ops[0]!.stamp.opId, 'applied'],
      [ops[1]!.stamp.opId, 'rejected'],
      [ops[2]!.stamp.opId, 'applied'],
    ]);
    expect(result.results[1]!.error?.code).toBe('payload_too_large');
    expect(mutations(hub)).toHaveLength(1);
    const page = await provider.pull({ scope, cursor: 0, limit: 10 });
    expect(page.changes.map((c) => c.pk)).toEqual(['small-1', 'small-2']);
    expect(result.serverVersion).toBe(2);
  });

  test('a batch of oversized ops alone sends no mutation and reports the head', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub);
    const device = new TestDevice('only-big');
    const result = await provider.push({
      scope, deviceId: device.deviceId, ops: [device.put('items', 'huge', 1, { text: 'x'.repeat(1_000_001) })],
    });
    expect(result).toMatchObject({ serverVersion: 0, results: [{ status: 'rejected', error: { code: 'payload_too_large' } }] });
    expect(mutations(hub)).toHaveLength(0);
  });
});

test('payload field names starting with $ or _ (and non-ASCII ones) round-trip through push and pull', async () => {
  const hub = await hubWithMember();
  const provider = providerOn(hub);
  const device = new TestDevice('names');
  const record = { id: 'odd', $set: 1, _id: 'mine', _creationTime: 'no', nested: { $ref: [1, { _x: null }] }, 'ünï': 'ok' };
  const pushed = await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('items', 'odd', 2, record)] });
  expect(pushed.results[0]!.status).toBe('applied');
  const page = await provider.pull({ scope, cursor: 0, limit: 10 });
  expect(page.changes[0]!.payload).toEqual(record);
  expect(typeof page.epoch).toBe('string');
  // The loser of a conflict (a lower clock) gets the winner back with its payload parsed too.
  const stale = await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('items', 'odd', 1, { id: 'odd' })] });
  expect(stale.results[0]!.status).toBe('superseded');
  expect(stale.results[0]!.current?.payload).toEqual(record);
});

describe('subscriptions', () => {
  test('dispose ends every subscription the provider opened', async () => {
    const hub = await hubWithMember();
    const provider = providerOn(hub);
    const pusher = providerOn(hub);
    const device = new TestDevice('dispose');
    const hints: string[] = [];
    await provider.subscribe(scope, ['items'], () => hints.push('a'));
    await provider.subscribe(scope, ['items'], () => hints.push('b'));
    await pusher.push({ scope, deviceId: device.deviceId, ops: [device.put('items', 'one', 1)] });
    expect(hints.sort()).toEqual(['a', 'b']);
    expect(hub.watchCount).toBe(2);
    provider.dispose();
    expect(hub.watchCount).toBe(0);
    await pusher.push({ scope, deviceId: device.deviceId, ops: [device.put('items', 'two', 1)] });
    expect(hints).toHaveLength(2);
    expect(((await failure(provider.pull({ scope, cursor: 0, limit: 1 }))) as SyncError).code).toBe('closed');
  });

  test('the head subscription calls back, with an empty hint, only when the version rises', async () => {
    let emit: (result: unknown) => void = () => undefined;
    let stopped = 0;
    const client: ConvexClientLike = {
      query: () => Promise.reject(new Error('unused')),
      mutation: () => Promise.reject(new Error('unused')),
      onUpdate: (_query, args, callback) => {
        expect(args).toEqual({ workspaceId: WORKSPACE });
        emit = callback;
        queueMicrotask(() => callback({ version: 5, epoch: 'e1' }));
        return () => {
          stopped += 1;
        };
      },
    };
    const provider = new ConvexSyncProvider({ client, functions: api.synclane });
    const hints: unknown[][] = [];
    const unsubscribe = await provider.subscribe(scope, ['items'], (changes) => hints.push(changes));
    expect(hints).toEqual([]); // The first head is the baseline.
    emit({ version: 5, epoch: 'e1' });
    emit({ version: 4, epoch: 'e1' });
    expect(hints).toEqual([]);
    emit({ version: 6, epoch: 'e1' });
    emit({ version: 6, epoch: 'e1' });
    emit({ version: 9, epoch: 'e1' });
    expect(hints).toEqual([[], []]);
    // Another epoch is a reset: a hint whatever the version.
    emit({ version: 1, epoch: 'e2' });
    expect(hints).toHaveLength(3);
    unsubscribe();
    unsubscribe();
    expect(stopped).toBe(1);
    emit({ version: 20, epoch: 'e2' });
    expect(hints).toHaveLength(3);
  });

  test('dispose while a subscription waits for its first head fails it with closed at once', async () => {
    let stopped = 0;
    const client: ConvexClientLike = {
      query: () => Promise.reject(new Error('unused')),
      mutation: () => Promise.reject(new Error('unused')),
      onUpdate: () => () => {
        stopped += 1;
      },
    };
    const provider = new ConvexSyncProvider({ client, functions: api.synclane });
    const pending = failure(provider.subscribe(scope, ['items'], () => undefined));
    provider.dispose();
    const error = (await pending) as SyncError;
    expect(error.code).toBe('closed');
    expect(stopped).toBe(1);
  });

  test('a head that never comes fails subscribe with timeout and ends the watch', async () => {
    let stopped = 0;
    const client: ConvexClientLike = {
      query: () => Promise.reject(new Error('unused')),
      mutation: () => Promise.reject(new Error('unused')),
      onUpdate: () => () => {
        stopped += 1;
      },
    };
    const provider = new ConvexSyncProvider({ client, functions: api.synclane, subscribeTimeoutMs: 20 });
    const error = (await failure(provider.subscribe(scope, ['items'], () => undefined))) as SyncError;
    expect(error.code).toBe('timeout');
    expect(stopped).toBe(1);
  });

  test('a head query that fails before its first result fails subscribe with the mapped code', async () => {
    const hub = await hubWithMember();
    const stranger = new ConvexSyncProvider({ client: hub.client('mallory'), functions: api.synclane });
    const error = (await failure(stranger.subscribe(scope, ['items'], () => undefined))) as SyncError;
    expect(error.code).toBe('forbidden');
    expect(hub.watchCount).toBe(0);
  });
});
