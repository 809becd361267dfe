// MemorySyncProvider: the provider contract over the wasm reference server, and its fault knobs.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { synclane, loadWasm, packageDir, sleep, waitFor } from './support/synclane.mjs';

const { MemorySyncProvider, MemorySyncServer, SyncError, TestDevice } = synclane;

before(loadWasm);

let workspaces = 0;
const freshScope = () => ({ workspaceId: `w${++workspaces}` });

function setup(options = {}) {
  const provider = new MemorySyncProvider(options);
  const scope = freshScope();
  const device = new TestDevice('dev');
  const push = (ops, via = provider) => via.push({ scope, deviceId: device.deviceId, ops });
  const pull = (cursor = 0, extra = {}) => provider.pull({ scope, cursor, limit: 100, ...extra });
  return { provider, scope, device, push, pull };
}

async function rejectsWith(promise, code, check = () => {}) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof SyncError, `expected a SyncError, got ${e}`);
    assert.equal(e.code, code);
    check(e);
    return true;
  });
}

test('push and pull go through the reference server', async () => {
  const { provider, device, push, pull } = setup();
  assert.equal(provider.id, 'memory');
  assert.equal(provider.mode, 'direct');
  assert.ok(provider.server instanceof MemorySyncServer);
  const result = await push([device.put('notes', 'a', 1, { title: 'hi' }), device.delete('notes', 'b', 1)]);
  assert.deepEqual(result.results.map((r) => r.status), ['applied', 'applied']);
  const page = await pull();
  assert.deepEqual(page.changes.map((c) => [c.pk, c.op, c.payload?.title]), [['a', 'put', 'hi'], ['b', 'delete', undefined]]);
  assert.equal(page.nextCursor, 2);
  assert.equal(page.retentionFloor, 0);
});

test('errors from the server are SyncError instances with the core code', async () => {
  const { device, push, pull, provider, scope } = setup();
  await rejectsWith(push([{ ...device.put('notes', 'a', 1), payload: [1, 2] }]), 'invalid_payload');
  await rejectsWith(pull(0, { limit: 0 }), 'invalid_argument');
  // A cursor ahead of the server's head means the server lost data: the engine rescans.
  await rejectsWith(provider.updateCursor(scope, 'dev', 99), 'cursor_expired');
  await rejectsWith(provider.updateCursor(scope, 42, 0), 'invalid_argument');
  await rejectsWith(provider.subscribe({}, [], () => {}), 'invalid_argument');
});

test('without a server and before the wasm loads, the constructor says what to do', () => {
  // This process has loaded the wasm module; a fresh Node process has not.
  const script = `
    const { MemorySyncProvider, isMemoryServerReady } = await import(${JSON.stringify(`${packageDir}dist/memory.js`)});
    try { new MemorySyncProvider(); console.log('constructed'); }
    catch (e) { console.log(JSON.stringify({ ready: isMemoryServerReady(), code: e.code, message: e.message })); }
  `;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const outcome = JSON.parse(output);
  assert.equal(outcome.ready, false);
  assert.equal(outcome.code, 'internal');
  assert.match(outcome.message, /initMemoryServer/);
});

test('latencyMs delays every call', async () => {
  const { provider, pull } = setup({ faults: { latencyMs: 40 } });
  const started = performance.now();
  await pull();
  assert.ok(performance.now() - started >= 35, 'the call waited');
  provider.setFaults({ latencyMs: 0 });
  assert.equal(provider.faults.latencyMs, 0);
});

test('a transient failure fails the next calls, then the call succeeds', async () => {
  const { provider, device, push, pull } = setup();
  provider.faults = { failNext: [{ op: 'push', code: 'network', times: 2 }] };
  const op = device.put('notes', 'a', 1);
  await rejectsWith(push([op]), 'network', (e) => assert.equal(e.transient, true));
  await pull(); // other calls are not affected
  assert.equal(provider.faults.failNext[0].times, 1, 'the knob shows what is left');
  await rejectsWith(push([op]), 'network');
  const result = await push([op]);
  assert.equal(result.results[0].status, 'applied');
  assert.equal(provider.faults.failNext.length, 0);
});

test('a failure after the server applied the push loses only the answer: the retry is a duplicate', async () => {
  const { provider, device, push, pull } = setup();
  provider.setFaults({ failNext: [{ op: 'push', code: 'timeout', when: 'after' }] });
  const op = device.put('notes', 'a', 1);
  await rejectsWith(push([op]), 'timeout');
  assert.equal((await pull()).changes.length, 1, 'the server stored it');
  assert.equal((await push([op])).results[0].status, 'duplicate');
});

test('permanent failures: a call-level code, and per-op rejection that never reaches the server', async () => {
  const { provider, device, push, pull } = setup();
  provider.setFaults({ failNext: [{ op: '*', code: 'unauthorized', message: 'token expired' }] });
  await rejectsWith(pull(), 'unauthorized', (e) => {
    assert.equal(e.transient, false);
    assert.equal(e.message, 'token expired');
  });
  provider.setFaults({ rejectOps: (op) => (op.payload?.secret ? 'forbidden' : undefined) });
  const ops = [device.put('notes', 'a', 1), device.put('notes', 'b', 1, { secret: true }), device.put('notes', 'c', 1)];
  const result = await push(ops);
  assert.deepEqual(result.results.map((r) => [r.opId, r.status]), ops.map((op, i) => [op.stamp.opId, i === 1 ? 'rejected' : 'applied']));
  assert.equal(result.results[1].error.code, 'forbidden');
  assert.equal(typeof result.results[1].error.message, 'string');
  assert.equal(result.serverVersion, 2);
  assert.deepEqual((await pull()).changes.map((c) => c.pk), ['a', 'c']);
  // A batch whose every op is rejected reaches nothing and reports the current head.
  const all = await push([device.put('notes', 'd', 1, { secret: true })]);
  assert.deepEqual(all, { results: [{ opId: all.results[0].opId, status: 'rejected', error: all.results[0].error }], serverVersion: 2 });
  provider.setFaults({});
  assert.equal((await push([device.put('notes', 'd', 1, { secret: true })])).results[0].status, 'applied');
});

test('rateLimit answers the next calls with rate_limited and retryAfterMs', async () => {
  const { provider, pull } = setup({ faults: { rateLimit: { retryAfterMs: 1500, calls: 2 } } });
  for (let i = 0; i < 2; i += 1) {
    await rejectsWith(pull(), 'rate_limited', (e) => assert.equal(e.retryAfterMs, 1500));
  }
  await pull();
  assert.equal(provider.faults.rateLimit, undefined);
  provider.setFaults({ failNext: [{ op: 'push', code: 'rate_limited', retryAfterMs: 20 }] });
  await rejectsWith(provider.push({ scope: freshScope(), deviceId: 'd', ops: [] }), 'rate_limited', (e) =>
    assert.equal(e.retryAfterMs, 20),
  );
});

test('expireCursorBelow refuses old cursors except snapshot sequences, and reports the floor', async () => {
  const { provider, device, push, pull } = setup();
  await push([1, 2, 3, 4, 5].map((i) => device.put('notes', `n${i}`, 1)));
  provider.setFaults({ expireCursorBelow: 3 });
  await rejectsWith(pull(2), 'cursor_expired');
  await rejectsWith(pull(0), 'cursor_expired', (e) => assert.match(e.message, /rescan/));
  const first = await pull(0, { snapshot: true, limit: 2 });
  assert.equal(first.retentionFloor, 3);
  // Later pages of the same sequence carry the floor they began under and are served.
  const second = await pull(first.nextCursor, { snapshot: true, limit: 2, retentionFloor: first.retentionFloor });
  assert.deepEqual(second.changes.map((c) => c.pk), ['n3', 'n4']);
  assert.equal((await pull(3)).changes.length, 2, 'cursors at or above the floor are served');
  provider.setFaults({});
  assert.equal((await pull(0)).retentionFloor, 0);
});

test('real cursor expiry after the server purges tombstones', async () => {
  const { provider, device, push, pull, scope } = setup({ serverOptions: { tombstoneRetentionMs: 0 } });
  await push([device.put('notes', 'a', 1), device.put('notes', 'b', 1)]);
  const result = await push([device.delete('notes', 'a', 2)]);
  await provider.updateCursor(scope, device.deviceId, result.serverVersion);
  assert.equal(provider.collectGarbage(), 1);
  assert.deepEqual(provider.stats(scope.workspaceId), { version: 3, records: 1, tombstones: 0, floor: 3, devices: 1 });
  await rejectsWith(pull(1), 'cursor_expired');
  assert.equal((await pull(0, { snapshot: true })).changes.length, 1);
});

test('offline: every call fails with network, subscriptions hear nothing and nothing is replayed', async () => {
  const laptop = setup({ id: 'laptop' });
  const phone = new MemorySyncProvider({ id: 'phone', server: laptop.provider.server });
  const heard = [];
  await phone.subscribe(laptop.scope, ['notes'], (changes) => heard.push(...changes.map((c) => c.pk)));
  phone.setFaults({ offline: true });
  await rejectsWith(phone.pull({ scope: laptop.scope, cursor: 0, limit: 10 }), 'network');
  await rejectsWith(phone.push({ scope: laptop.scope, deviceId: 'p', ops: [] }), 'network');
  await rejectsWith(phone.updateCursor(laptop.scope, 'p', 0), 'network');
  await rejectsWith(phone.subscribe(laptop.scope, ['notes'], () => {}), 'network');
  await laptop.push([laptop.device.put('notes', 'missed', 1)]);
  await sleep(20);
  phone.setFaults({ offline: false });
  await laptop.push([laptop.device.put('notes', 'live', 1)]);
  await waitFor(() => heard.length > 0, 1000, 'a delivery');
  assert.deepEqual(heard, ['live'], 'the change pushed while offline is not replayed');
  // Catching up is the engine's job: a pull returns both.
  const page = await phone.pull({ scope: laptop.scope, cursor: 0, limit: 10 });
  assert.deepEqual(page.changes.map((c) => c.pk), ['missed', 'live']);
});

test('subscriptions: shared server, workspace and table filters, order, asynchrony, copies', async () => {
  const a = setup({ id: 'a' });
  const b = new MemorySyncProvider({ id: 'b', server: a.provider.server });
  const elsewhere = new MemorySyncProvider({ id: 'elsewhere' });
  const got = { notes: [], all: [], own: [], elsewhere: [] };
  await b.subscribe(a.scope, ['notes'], (changes) => got.notes.push(...changes));
  await b.subscribe(a.scope, [], (changes) => got.all.push(...changes));
  await a.provider.subscribe(a.scope, ['notes'], (changes) => got.own.push(...changes));
  await elsewhere.subscribe(a.scope, ['notes'], (changes) => got.elsewhere.push(...changes));
  await b.subscribe({ workspaceId: 'other-workspace' }, ['notes'], () => assert.fail('wrong workspace'));
  const ops = [a.device.put('notes', 'n1', 1, { v: 1 }), a.device.put('tags', 't1', 1)];
  const result = await a.push(ops);
  await a.push([a.device.put('notes', 'n2', 1), a.device.put('notes', 'n1', 2)]);
  await a.push([a.device.put('notes', 'n1', 1, { stale: true })]); // superseded: not delivered
  await waitFor(() => got.notes.length >= 3 && got.all.length >= 4, 1000, 'deliveries');
  await sleep(20);
  assert.deepEqual(got.notes.map((c) => c.pk), ['n1', 'n2', 'n1']);
  assert.deepEqual(got.all.map((c) => c.tableName), ['notes', 'tags', 'notes', 'notes']);
  assert.equal(got.own.length, got.notes.length, 'the pusher hears its own pushes (echo)');
  assert.equal(got.elsewhere.length, 0, 'another server is another backend');
  const first = got.notes[0];
  assert.deepEqual(first, {
    tableName: 'notes', pk: 'n1', op: 'put', payload: { id: 'n1', v: 1 },
    serverVersion: result.results[0].serverVersion, stamp: ops[0].stamp,
  });
  assert.notEqual(first.payload, ops[0].payload, 'subscribers get copies');
  assert.notEqual(got.own[0].payload, first.payload, 'each subscriber its own copy');
});

test('subscription deliveries keep push order under latency; unsubscribe and dispose stop them', async () => {
  const a = setup();
  const b = new MemorySyncProvider({ id: 'b', server: a.provider.server, faults: { latencyMs: 15 } });
  const heard = [];
  const stop = await b.subscribe(a.scope, ['notes'], (changes) => heard.push(...changes.map((c) => c.pk)));
  for (let i = 0; i < 5; i += 1) await a.push([a.device.put('notes', `n${i}`, 1)]);
  await waitFor(() => heard.length === 5, 1000, 'five deliveries');
  assert.deepEqual(heard, ['n0', 'n1', 'n2', 'n3', 'n4']);
  // A delivery already queued is dropped by unsubscribe.
  await a.push([a.device.put('notes', 'late', 1)]);
  stop();
  await sleep(40);
  assert.equal(heard.includes('late'), false);
  const heardAgain = [];
  await b.subscribe(a.scope, ['notes'], (changes) => heardAgain.push(...changes));
  b.dispose();
  await a.push([a.device.put('notes', 'after-dispose', 1)]);
  await sleep(40);
  assert.equal(heardAgain.length, 0);
  await rejectsWith(b.pull({ scope: a.scope, cursor: 0, limit: 1 }), 'closed');
});

test('a subscriber that throws is reported and does not stop the others', async () => {
  const reported = [];
  const a = setup({ onSubscriberError: (e) => reported.push(e.message) });
  const heard = [];
  await a.provider.subscribe(a.scope, [], () => {
    throw new Error('subscriber bug');
  });
  await a.provider.subscribe(a.scope, [], (changes) => heard.push(...changes));
  await a.push([a.device.put('notes', 'x', 1)]);
  await waitFor(() => heard.length === 1 && reported.length === 1, 1000, 'delivery and report');
  assert.deepEqual(reported, ['subscriber bug']);
});

test('the faults getter returns a copy, and setting faults copies the input', () => {
  const knobs = { failNext: [{ op: 'pull', code: 'network', times: 3 }], latencyMs: 5 };
  const provider = new MemorySyncProvider({ faults: knobs });
  provider.faults.failNext[0].times = 99;
  knobs.failNext[0].times = 42;
  assert.equal(provider.faults.failNext[0].times, 3);
  provider.updateFaults({ offline: true });
  assert.equal(provider.faults.latencyMs, 5, 'updateFaults keeps the other knobs');
  provider.faults = { offline: true };
  assert.deepEqual(provider.faults, { offline: true }, 'assigning replaces them all');
});

test('setFaults replaces the whole fault set: setFaults({}) brings an offline provider back', async () => {
  const { provider, pull } = setup({ faults: { offline: true, latencyMs: 5, failNext: [{ op: 'push', code: 'network' }] } });
  await rejectsWith(pull(), 'network');
  provider.setFaults({});
  assert.deepEqual(provider.faults, {}, 'no knob is left on');
  assert.equal((await pull()).changes.length, 0, 'online again');
  provider.setFaults({ offline: true });
  provider.setFaults({ latencyMs: 1 });
  assert.deepEqual(provider.faults, { latencyMs: 1 }, 'the earlier offline is gone');
  await pull();
  // updateFaults merges: the knobs given change, the others stay; undefined turns one off.
  provider.updateFaults({ offline: true });
  assert.deepEqual(provider.faults, { latencyMs: 1, offline: true });
  await rejectsWith(pull(), 'network');
  provider.updateFaults({ offline: undefined });
  assert.equal(provider.faults.offline, undefined);
  assert.equal(provider.faults.latencyMs, 1);
  await pull();
});

test('a subscriber may call the provider from its callback: delivery is never re-entrant', async () => {
  const a = setup();
  const order = [];
  await a.provider.subscribe(a.scope, ['notes'], (changes) => {
    order.push(`deliver ${changes[0].pk}`);
    if (changes[0].pk === 'first') {
      a.push([a.device.put('notes', 'second', 1)]).then(() => order.push('pushed second'));
    }
  });
  const pushing = a.push([a.device.put('notes', 'first', 1)]);
  order.push('push called');
  await pushing;
  await waitFor(() => order.includes('deliver second'), 1000, 'the nested delivery');
  assert.equal(order[0], 'push called', 'nothing is delivered inside the push call');
  assert.ok(order.indexOf('deliver first') < order.indexOf('deliver second'));
});
