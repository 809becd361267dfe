// The module-level provider registry.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { synclane } from './support/synclane.mjs';

const {
  registerSyncProvider, unregisterSyncProvider, setActiveSyncProvider, getActiveSyncProvider,
  listSyncProviders, onActiveSyncProviderChange, resetSyncProviders, SyncError,
} = synclane;

function fakeProvider(id, mode = 'direct') {
  return {
    id,
    mode,
    subscribe: async () => () => {},
    pull: async () => ({ changes: [], nextCursor: 0, hasMore: false, retentionFloor: 0 }),
    push: async () => ({ results: [], serverVersion: 0 }),
    updateCursor: async () => {},
  };
}

function expectCode(run, code) {
  assert.throws(run, (e) => e instanceof SyncError && e.code === code);
}

beforeEach(() => resetSyncProviders());

test('a single registered provider is the active one', () => {
  assert.equal(getActiveSyncProvider(), undefined);
  const a = fakeProvider('a');
  registerSyncProvider(a);
  assert.equal(getActiveSyncProvider(), a);
  assert.deepEqual(listSyncProviders(), [a]);
});

test('with several providers none is active until one is chosen', () => {
  const a = fakeProvider('a');
  const b = fakeProvider('b', 'gateway');
  registerSyncProvider(a);
  registerSyncProvider(b);
  assert.equal(getActiveSyncProvider(), undefined);
  setActiveSyncProvider('b');
  assert.equal(getActiveSyncProvider(), b);
  setActiveSyncProvider(undefined);
  assert.equal(getActiveSyncProvider(), undefined);
  const c = fakeProvider('c');
  registerSyncProvider(c, { activate: true });
  assert.equal(getActiveSyncProvider(), c);
  assert.deepEqual(listSyncProviders().map((p) => p.id), ['a', 'b', 'c']);
});

test('a duplicate id and an incomplete provider are refused with invalid_argument', () => {
  registerSyncProvider(fakeProvider('a'));
  expectCode(() => registerSyncProvider(fakeProvider('a')), 'invalid_argument');
  const { push, ...noPush } = fakeProvider('b');
  expectCode(() => registerSyncProvider(noPush), 'invalid_argument');
  expectCode(() => registerSyncProvider(fakeProvider('')), 'invalid_argument');
  expectCode(() => registerSyncProvider(fakeProvider('m', 'p2p')), 'invalid_argument');
  expectCode(() => registerSyncProvider({ ...fakeProvider('d'), dispose: 'no' }), 'invalid_argument');
  expectCode(() => registerSyncProvider(null), 'invalid_argument');
  assert.deepEqual(listSyncProviders().map((p) => p.id), ['a']);
});

test('choosing an unknown provider fails with no_provider', () => {
  registerSyncProvider(fakeProvider('a'));
  expectCode(() => setActiveSyncProvider('nope'), 'no_provider');
  assert.equal(getActiveSyncProvider().id, 'a');
});

test('unregistering the active provider clears the choice; the returned function unregisters', () => {
  const a = fakeProvider('a');
  const b = fakeProvider('b');
  registerSyncProvider(a);
  const unregisterB = registerSyncProvider(b, { activate: true });
  assert.equal(unregisterSyncProvider('b'), true);
  assert.equal(unregisterSyncProvider('b'), false);
  assert.equal(getActiveSyncProvider(), a, 'the only remaining provider is active again');
  // The function only removes its own registration, not a later one under the same id.
  const b2 = fakeProvider('b');
  registerSyncProvider(b2);
  unregisterB();
  assert.deepEqual(listSyncProviders(), [a, b2]);
});

test('change listeners hear every change of the active provider, once, until unsubscribed', () => {
  const events = [];
  const off = onActiveSyncProviderChange((active, previous) => events.push([active?.id, previous?.id]));
  const a = fakeProvider('a');
  registerSyncProvider(a); // none -> a
  registerSyncProvider(fakeProvider('b')); // a -> none (ambiguous)
  setActiveSyncProvider('b'); // none -> b
  setActiveSyncProvider('b'); // no change
  unregisterSyncProvider('a'); // still b: no event
  unregisterSyncProvider('b'); // b -> none
  off();
  registerSyncProvider(fakeProvider('c'));
  assert.deepEqual(events, [['a', undefined], [undefined, 'a'], ['b', undefined], [undefined, 'b']]);
});

test('a throwing change listener does not stop the others', (t) => {
  t.mock.method(console, 'error', () => {});
  let heard = false;
  onActiveSyncProviderChange(() => {
    throw new Error('boom');
  });
  onActiveSyncProviderChange(() => (heard = true));
  registerSyncProvider(fakeProvider('a'));
  assert.equal(heard, true);
});

test('reset forgets providers, the choice and the listeners', () => {
  let events = 0;
  onActiveSyncProviderChange(() => (events += 1));
  registerSyncProvider(fakeProvider('a'), { activate: true });
  resetSyncProviders();
  assert.deepEqual(listSyncProviders(), []);
  assert.equal(getActiveSyncProvider(), undefined);
  registerSyncProvider(fakeProvider('a'));
  assert.equal(events, 1, 'listeners registered before the reset are gone');
});

test('a MemorySyncProvider registers like any provider', async () => {
  const { loadWasm } = await import('./support/synclane.mjs');
  await loadWasm();
  const memory = new synclane.MemorySyncProvider();
  registerSyncProvider(memory);
  assert.equal(getActiveSyncProvider(), memory);
  assert.equal(memory.mode, 'direct');
});
