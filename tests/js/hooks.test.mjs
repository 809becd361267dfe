// The typed hook emitter: registration, once, unsubscribe, onAny, and listeners that fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { synclane, sleep } from './support/synclane.mjs';

const { HookEmitter, SYNC_HOOK_NAMES } = synclane;

function emitter() {
  const failures = [];
  const hooks = new HookEmitter({ onListenerError: (error, name) => failures.push({ error, name }) });
  return { hooks, failures };
}

test('on delivers every emit in registration order, and its return value unsubscribes', () => {
  const { hooks } = emitter();
  const seen = [];
  const offA = hooks.on('sync.gc:action:completed', (p) => seen.push(['a', p.purgedTombstones]));
  hooks.on('sync.gc:action:completed', (p) => seen.push(['b', p.purgedTombstones]));
  hooks.emit('sync.gc:action:completed', { workspaceId: 'w', purgedTombstones: 1, durationMs: 0 });
  assert.equal(hooks.listenerCount('sync.gc:action:completed'), 2);
  offA();
  offA(); // a second call is harmless
  hooks.emit('sync.gc:action:completed', { workspaceId: 'w', purgedTombstones: 2, durationMs: 0 });
  assert.deepEqual(seen, [['a', 1], ['b', 1], ['b', 2]]);
  assert.equal(hooks.listenerCount('sync.gc:action:completed'), 1);
});

test('once fires a single time, even when the emit is re-entrant', () => {
  const { hooks } = emitter();
  let calls = 0;
  hooks.once('sync.request', () => {
    calls += 1;
    hooks.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'pull', outcome: 'ok', durationMs: 1 });
  });
  hooks.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'pull', outcome: 'ok', durationMs: 1 });
  hooks.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'pull', outcome: 'ok', durationMs: 1 });
  assert.equal(calls, 1);
  assert.equal(hooks.listenerCount('sync.request'), 0);
  // The unsubscribe of a once-listener that has not fired removes it.
  const off = hooks.once('sync.request', () => (calls += 100));
  off();
  hooks.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'pull', outcome: 'ok', durationMs: 1 });
  assert.equal(calls, 1);
});

test('off removes a listener registered with on or once', () => {
  const { hooks } = emitter();
  let calls = 0;
  const listener = () => (calls += 1);
  hooks.on('sync.job.started', listener);
  hooks.once('sync.job.started', listener);
  hooks.off('sync.job.started', listener);
  hooks.emit('sync.job.started', { jobId: 'j', workspaceId: 'w', kind: 'sync', trigger: 'manual' });
  assert.equal(calls, 0);
  assert.equal(hooks.listenerCount('sync.job.started'), 0);
});

test('a listener added or removed during an emit takes effect from the next emit', () => {
  const { hooks } = emitter();
  const seen = [];
  let offB;
  hooks.on('sync.job.progress', () => {
    seen.push('a');
    offB();
    hooks.on('sync.job.progress', () => seen.push('c'));
  });
  offB = hooks.on('sync.job.progress', () => seen.push('b'));
  hooks.emit('sync.job.progress', { jobId: 'j', workspaceId: 'w', kind: 'pull', done: 1 });
  assert.deepEqual(seen, ['a', 'b']);
});

test('onAny receives the name and payload of every hook until unsubscribed', () => {
  const { hooks } = emitter();
  const seen = [];
  const off = hooks.onAny((name, payload) => seen.push([name, payload.workspaceId]));
  hooks.emit('sync.bootstrap:action:start', { workspaceId: 'w1', providerId: 'p' });
  hooks.emit('sync.queue:action:full', { workspaceId: 'w2', pendingOps: 1, pendingBytes: 2, capacityBytes: 2 });
  off();
  hooks.emit('sync.bootstrap:action:start', { workspaceId: 'w3', providerId: 'p' });
  assert.deepEqual(seen, [['sync.bootstrap:action:start', 'w1'], ['sync.queue:action:full', 'w2']]);
});

test('a throwing listener and a rejecting async listener are reported and do not stop the others', async () => {
  const { hooks, failures } = emitter();
  const seen = [];
  hooks.on('sync.error:action', () => {
    throw new Error('boom');
  });
  hooks.on('sync.error:action', async () => {
    await sleep(1);
    throw new Error('async boom');
  });
  hooks.on('sync.error:action', () => seen.push('third'));
  hooks.onAny(() => {
    throw new Error('any boom');
  });
  hooks.onAny((name) => seen.push(`any ${name}`));
  assert.doesNotThrow(() =>
    hooks.emit('sync.error:action', {
      workspaceId: 'w', phase: 'push', error: new synclane.SyncError('network'), transient: true, willRetry: true,
    }),
  );
  assert.deepEqual(seen, ['third', 'any sync.error:action']);
  await sleep(20);
  assert.deepEqual(failures.map((f) => [f.name, f.error.message]).sort(), [
    ['sync.error:action', 'any boom'],
    ['sync.error:action', 'async boom'],
    ['sync.error:action', 'boom'],
  ]);
});

test('an onListenerError that throws is contained too, and the default reports to console.error', (t) => {
  const hooks = new HookEmitter({
    onListenerError: () => {
      throw new Error('handler broke');
    },
  });
  hooks.on('sync.request', () => {
    throw new Error('listener broke');
  });
  assert.doesNotThrow(() =>
    hooks.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'push', outcome: 'ok', durationMs: 0 }),
  );
  const logged = t.mock.method(console, 'error', () => {});
  const plain = new HookEmitter();
  plain.on('sync.request', () => {
    throw new Error('reported');
  });
  plain.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'push', outcome: 'ok', durationMs: 0 });
  assert.equal(logged.mock.callCount(), 1);
  assert.match(String(logged.mock.calls[0].arguments[0]), /sync\.request/);
});

test('clear removes every listener', () => {
  const { hooks } = emitter();
  let calls = 0;
  hooks.on('sync.request', () => (calls += 1));
  hooks.onAny(() => (calls += 1));
  hooks.clear();
  hooks.emit('sync.request', { workspaceId: 'w', providerId: 'p', kind: 'push', outcome: 'ok', durationMs: 0 });
  assert.equal(calls, 0);
});

test('SYNC_HOOK_NAMES lists the documented hooks', () => {
  for (const name of [
    'sync.op:action:captured', 'sync.capture:action:failed', 'sync.push:action:before', 'sync.push:action:after',
    'sync.error:action', 'sync.pull:action:received', 'sync.pull:action:applied', 'sync.pull:action:error',
    'sync.conflict:action:detected', 'sync.bootstrap:action:start', 'sync.bootstrap:action:progress',
    'sync.bootstrap:action:complete', 'sync.rescan:action:starting', 'sync.rescan:action:progress',
    'sync.rescan:action:completed', 'sync.reset:action:completed', 'sync.subscription:action:statusChange',
    'sync.subscription:action:maxRetriesExceeded', 'sync.queue:action:full', 'sync.gc:action:completed',
    'sync.request', 'sync.job.started', 'sync.job.progress', 'sync.job.blocked', 'sync.job.completed',
    'sync.job.failed', 'sync.storage:action:lost', 'sync.clock:action:skew',
  ]) {
    assert.ok(SYNC_HOOK_NAMES.includes(name), name);
  }
  assert.equal(SYNC_HOOK_NAMES.length, 28);
  assert.ok(Object.isFrozen(SYNC_HOOK_NAMES));
});
