// The page side of the devtools (synclane/devtools): the global registry that installDevtoolsHook
// fills, its ring buffer of hook events and their JSON-safe summaries, request/take for
// chrome.devtools.inspectedWindow.eval, and the eval source the extension reads through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { packageDir, synclane, sleep } from './support/synclane.mjs';

const devtools = await import(`${packageDir}dist/devtools.js`);
const { installDevtoolsHook, getDevtoolsRegistry, summarize, createEvalSource, createPageSource, DEVTOOLS_EVENT_CAPACITY } = devtools;

let engines = 0;
/** An object with what the registry needs of a SyncEngine, and a log of what it was asked. */
function fakeEngine({ outbox = [], failInspect } = {}) {
  engines += 1;
  const calls = [];
  let closed = false;
  const engine = {
    workspaceId: 'ws',
    deviceId: `device-${engines}`,
    dbName: `db-${engines}`,
    isSyncLeader: engines % 2 === 0,
    hooks: new synclane.HookEmitter(),
    async inspect(options) {
      calls.push(['inspect', options]);
      if (closed) throw Object.assign(new Error('the engine was closed'), { code: 'closed' });
      if (failInspect) throw new synclane.SyncError('quota_exceeded', 'disk full');
      return {
        outbox: { entries: outbox.slice(0, options.outboxLimit), totals: { count: outbox.length, bytes: outbox.length * 10 } },
        tombstones: 2,
        conflicts: { entries: [], total: 0 },
        cursor: { phase: 'live', cursor: 7 },
        status: { state: 'idle', canSyncNow: true, pendingOps: outbox.length, failedOps: 0, online: true },
      };
    },
    async retryOp(opId) {
      calls.push(['retryOp', opId]);
    },
    async discardOp(opId) {
      calls.push(['discardOp', opId]);
      return {};
    },
    async close() {
      calls.push(['close']);
      closed = true;
    },
  };
  return { engine, calls };
}

const entry = (i, payload = { id: `r${i}`, text: 'x' }) => ({
  seq: i,
  opId: `op${i}`,
  tableName: 'notes',
  pk: `r${i}`,
  op: 'put',
  payload,
  stamp: { clock: 1, hlc: 'h', deviceId: 'd', opId: `op${i}` },
  state: 'pending',
  attempts: 0,
  nextAttemptAt: 0,
  byteSize: 10,
  createdAt: 0,
});

test('installDevtoolsHook registers an engine once, on a global registry, and closing removes it', async () => {
  const { engine, calls } = fakeEngine();
  const id = installDevtoolsHook(engine);
  assert.equal(typeof id, 'string');
  assert.equal(installDevtoolsHook(engine), id, 'a second call is harmless');
  const registry = globalThis.__SYNCLANE_DEVTOOLS__;
  assert.equal(registry, getDevtoolsRegistry());
  assert.equal(registry.version, 1);
  const listed = (await registry.engines()).filter((e) => e.id === id);
  assert.deepEqual(listed, [{ id, workspaceId: 'ws', deviceId: engine.deviceId, dbName: engine.dbName, isSyncLeader: engine.isSyncLeader }]);

  // One listener: each emit is recorded once.
  engine.hooks.emit('sync.gc:action:completed', { workspaceId: 'ws', purgedTombstones: 1, durationMs: 2 });
  const page = await registry.events(id, 0);
  assert.equal(page.events.length, 1);
  assert.equal(page.events[0].name, 'sync.gc:action:completed');

  await engine.close();
  assert.deepEqual(calls.at(-1), ['close'], 'the engine closed');
  assert.equal((await registry.engines()).some((e) => e.id === id), false, 'and left the registry');
  engine.hooks.emit('sync.gc:action:completed', { workspaceId: 'ws', purgedTombstones: 1, durationMs: 2 });
  await assert.rejects(registry.events(id, 0), { code: 'unknown_engine' });
  assert.equal(Object.prototype.hasOwnProperty.call(engine, 'close'), true, 'a plain object keeps its own close');
});

test('the ring buffer keeps the last events with increasing seq and says how many were dropped', async () => {
  const { engine } = fakeEngine();
  const id = installDevtoolsHook(engine);
  const total = DEVTOOLS_EVENT_CAPACITY + 500;
  for (let i = 1; i <= total; i++) engine.hooks.emit('sync.request', { workspaceId: 'ws', providerId: 'p', kind: 'pull', outcome: 'ok', durationMs: i });
  const all = await getDevtoolsRegistry().events(id, 0);
  assert.equal(all.seq, total);
  assert.equal(all.events.length, DEVTOOLS_EVENT_CAPACITY);
  assert.equal(all.dropped, 500);
  assert.equal(all.events[0].seq, 501);
  assert.ok(all.events.every((e, i) => i === 0 || e.seq === all.events[i - 1].seq + 1), 'seq increases by one');
  assert.equal(all.events.at(-1).payload.durationMs, total);
  const tail = await getDevtoolsRegistry().events(id, total - 3);
  assert.deepEqual(tail.events.map((e) => e.seq), [total - 2, total - 1, total]);
  assert.equal(tail.dropped, 0);
  const none = await getDevtoolsRegistry().events(id, total);
  assert.deepEqual([none.events.length, none.seq, none.dropped], [0, total, 0]);
  await engine.close();
});

test('event payloads become small JSON-safe summaries: errors as SyncError.toJSON() gives them, no functions, big arrays cut', async () => {
  const { engine } = fakeEngine();
  const id = installDevtoolsHook(engine);
  const ops = Array.from({ length: 1000 }, (_, i) => ({ tableName: 'notes', pk: `r${i}`, op: 'put', payload: { id: `r${i}`, text: 'y'.repeat(1000) } }));
  engine.hooks.emit('sync.op:action:captured', { workspaceId: 'ws', ops });
  const error = new synclane.SyncError('rejected', 'nope', { retryAfterMs: 5 });
  engine.hooks.emit('sync.error:action', { workspaceId: 'ws', phase: 'push', error, transient: false, willRetry: false, duringBootstrap: false, callback: () => 1 });
  const { events } = await getDevtoolsRegistry().events(id, 0);
  const [captured, failed] = events.map((e) => e.payload);
  assert.equal(captured.ops.$truncated, 'array');
  assert.equal(captured.ops.count, 1000);
  assert.equal(captured.ops.items.length, 5);
  assert.match(captured.ops.items[0].payload.text, /^y{100}…\(\+900 chars\)$/);
  // The shape the app gets from error.toJSON(), so the panel shows what the app sees.
  assert.deepEqual(failed.error, error.toJSON());
  assert.deepEqual(failed.error, { name: 'SyncError', code: 'rejected', message: 'nope', retryable: false, retryAfterMs: 5 });
  // Errors that are not SyncErrors keep a code (their own, or their name) and a message.
  assert.deepEqual(devtools.errorSummary(new RangeError('out')), { code: 'RangeError', message: 'out' });
  const wrapped = devtools.errorSummary(new synclane.SyncError('network', 'down', { cause: new TypeError('Failed to fetch') }));
  assert.deepEqual(wrapped.cause, { name: 'TypeError', message: 'Failed to fetch' });
  assert.equal('callback' in failed, false, 'functions are dropped');
  for (const e of events) assert.deepEqual(JSON.parse(JSON.stringify(e)), e, 'JSON-safe');
  assert.ok(JSON.stringify(events).length < 10_000, `bounded: ${JSON.stringify(events).length} chars`);
  // However big and deep the payload, a recorded event stays small.
  const huge = { rows: Array.from({ length: 100 }, () => Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`field${k}`, 'z'.repeat(5000)]))) };
  engine.hooks.emit('sync.pull:action:received', { workspaceId: 'ws', source: 'pull', changes: [huge, huge, huge], cursor: 0 });
  const last = (await getDevtoolsRegistry().events(id, 2)).events[0];
  assert.ok(JSON.stringify(last).length < 12_000, `one event: ${JSON.stringify(last).length} chars`);
  await engine.close();
});

test('summarize handles cycles, depth, special values and never throws', () => {
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  const hostile = {
    get boom() {
      throw new Error('getter');
    },
  };
  const out = summarize({
    cyclic,
    deep: { l1: { l2: { l3: { l4: { l5: { l6: 1 } } } } } },
    big: 10n,
    nan: NaN,
    date: new Date(0),
    bytes: new Uint8Array(4),
    map: new Map([['k', 'v']]),
    set: new Set([1, 2]),
    undef: undefined,
    sym: Symbol('s'),
  });
  assert.deepEqual(out.cyclic, { a: 1, self: '[circular]' });
  assert.equal(out.deep.l1.l2.l3.l4, '{…}');
  assert.equal(out.big, '10n');
  assert.equal(out.nan, 'NaN');
  assert.equal(out.date, '1970-01-01T00:00:00.000Z');
  assert.deepEqual(out.bytes, { $type: 'Uint8Array', byteLength: 4 });
  assert.deepEqual(out.map, { k: 'v' });
  assert.deepEqual(out.set, [1, 2]);
  assert.equal('undef' in out || 'sym' in out, false);
  assert.equal(summarize(hostile), '[unreadable]');
  const wide = summarize(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])));
  assert.equal(wide.$moreKeys, 70);
  const many = summarize(Array.from({ length: 100 }, () => ({ a: [1, 2, 3], b: 'x' })), { maxItems: 100, maxNodes: 50 });
  assert.ok(JSON.stringify(many).includes('…'), 'the node budget cuts the rest');
});

test('inspect through the registry summarizes payloads and drops a closed engine', async () => {
  const { engine, calls } = fakeEngine({ outbox: [entry(1, { id: 'r1', blob: 'z'.repeat(10_000), fn: () => 1 }), entry(2)] });
  const id = installDevtoolsHook(engine);
  const registry = getDevtoolsRegistry();
  const view = await registry.inspect(id, { outboxLimit: 1, conflictLimit: 5 });
  assert.deepEqual(calls.at(-1), ['inspect', { outboxLimit: 1, conflictLimit: 5 }]);
  assert.equal(view.outbox.entries.length, 1);
  assert.equal(view.outbox.totals.count, 2);
  assert.ok(view.outbox.entries[0].payload.blob.length < 200);
  assert.equal('fn' in view.outbox.entries[0].payload, false);
  await registry.inspect(id, { outboxLimit: 1e9, conflictLimit: -1 });
  assert.deepEqual(calls.at(-1), ['inspect', { outboxLimit: 1000, conflictLimit: 0 }], 'limits are clamped');

  // An engine closed behind the registry's back (say, frozen so close could not be wrapped) goes
  // away on its first failed inspect.
  const other = fakeEngine();
  const frozen = Object.freeze(other.engine);
  const frozenId = installDevtoolsHook(frozen);
  await frozen.close();
  await assert.rejects(registry.inspect(frozenId, { outboxLimit: 1, conflictLimit: 1 }), { code: 'closed' });
  assert.equal((await registry.engines()).some((e) => e.id === frozenId), false);
  await engine.close();
});

test('request/take run a method asynchronously and hold its JSON-safe result until taken', async () => {
  const { engine, calls } = fakeEngine({ outbox: [entry(1)] });
  const id = installDevtoolsHook(engine);
  const registry = getDevtoolsRegistry();
  assert.equal(registry.request('req-1', 'inspect', [id, { outboxLimit: 10, conflictLimit: 10 }]), true);
  assert.deepEqual(registry.take('req-1'), { state: 'pending' });
  await sleep(0);
  const done = registry.take('req-1');
  assert.equal(done.state, 'done');
  assert.equal(done.ok, true);
  assert.equal(done.value.outbox.entries[0].opId, 'op1');
  assert.deepEqual(registry.take('req-1'), { state: 'unknown' }, 'taken once');

  registry.request('req-2', 'retryOp', [id, 'op1']);
  registry.request('req-3', 'inspect', ['nope', {}]);
  registry.request('req-4', 'constructor', []);
  await sleep(0);
  assert.deepEqual(registry.take('req-2'), { state: 'done', ok: true, value: null });
  assert.deepEqual(calls.at(-1), ['retryOp', 'op1']);
  const unknown = registry.take('req-3');
  assert.equal(unknown.ok, false);
  assert.equal(unknown.error.code, 'unknown_engine');
  assert.equal(registry.take('req-4').error.code, 'unknown_method');
  assert.deepEqual(registry.call('engines', []).find((e) => e.id === id)?.dbName, engine.dbName);
  assert.throws(() => registry.call('inspect', []), { code: 'unknown_method' });

  // Failures of the engine come back as the SyncError's JSON form.
  const failing = fakeEngine({ failInspect: true });
  const failingId = installDevtoolsHook(failing.engine);
  registry.request('req-5', 'inspect', [failingId, {}]);
  await sleep(0);
  assert.deepEqual(registry.take('req-5'), {
    state: 'done',
    ok: false,
    error: { name: 'SyncError', code: 'quota_exceeded', message: 'disk full', retryable: false },
  });
  await engine.close();
  await failing.engine.close();
});

test('the eval source reads another realm\'s registry the way the DevTools extension does', async () => {
  const { engine, calls } = fakeEngine({ outbox: [entry(1), entry(2)] });
  const id = installDevtoolsHook(engine);
  engine.hooks.emit('sync.job.started', { jobId: 'j', workspaceId: 'ws', kind: 'sync', trigger: 'manual' });
  let evaluations = 0;
  // Like inspectedWindow.eval: evaluates a string, hands back JSON, never awaits a promise.
  const evaluate = async (expression) => {
    evaluations += 1;
    const value = (0, eval)(expression);
    assert.equal(typeof value?.then, 'undefined', 'expressions never return promises');
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  };
  const source = createEvalSource(evaluate);
  assert.ok((await source.engines()).some((e) => e.id === id));
  const events = await source.events(id, 0);
  assert.deepEqual(events.events.map((e) => e.name), ['sync.job.started']);
  const view = await source.inspect(id, { outboxLimit: 1, conflictLimit: 1 });
  assert.deepEqual([view.outbox.entries.length, view.outbox.totals.count, view.cursor.cursor], [1, 2, 7]);
  await source.retryOp(id, 'op2');
  await source.discardOp(id, 'op1');
  assert.deepEqual(calls.slice(-2), [['retryOp', 'op2'], ['discardOp', 'op1']]);
  await assert.rejects(source.inspect('missing', { outboxLimit: 1, conflictLimit: 1 }), { code: 'unknown_engine' });
  await assert.rejects(source.events('missing', 0), { code: 'unknown_engine' });
  assert.ok(evaluations >= 8);

  // A page without synclane: no engines, and a clear error for the rest.
  const blank = vm.createContext({});
  const elsewhere = createEvalSource(async (expression) => vm.runInContext(expression, blank));
  assert.deepEqual(await elsewhere.engines(), []);
  await assert.rejects(elsewhere.inspect(id, { outboxLimit: 1, conflictLimit: 1 }), { code: 'no_registry' });
  await engine.close();
});

test('createPageSource limits the panel to one engine; the global registry can be turned off', async () => {
  const a = fakeEngine();
  const b = fakeEngine();
  installDevtoolsHook(b.engine);
  const source = createPageSource(a.engine);
  const listed = await source.engines();
  assert.deepEqual(listed.map((e) => e.dbName), [a.engine.dbName]);

  const saved = Object.getOwnPropertyDescriptor(globalThis, '__SYNCLANE_DEVTOOLS__');
  try {
    globalThis.__SYNCLANE_DEVTOOLS__ = false;
    const c = fakeEngine();
    assert.equal(installDevtoolsHook(c.engine), undefined, 'off: nothing registered');
    assert.equal(getDevtoolsRegistry(true), undefined);
    // An explicit source still works, over a private registry.
    const own = createPageSource(c.engine);
    assert.deepEqual((await own.engines()).map((e) => e.dbName), [c.engine.dbName]);
  } finally {
    Object.defineProperty(globalThis, '__SYNCLANE_DEVTOOLS__', saved);
  }
  await a.engine.close();
  await b.engine.close();
});
