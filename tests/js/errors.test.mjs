// SyncError, its codes (checked against the Rust core's source) and toSyncError.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { synclane, loadWasm, root } from './support/synclane.mjs';

const { SyncError, SYNC_ERROR_CODES, isTransient, isSyncError, isSyncErrorCode, toSyncError } = synclane;

before(loadWasm);

// The wire names and the transient split, read from crates/synclane-core/src/error.rs, so the
// TypeScript list cannot drift from the core.
function coreCodes() {
  const source = readFileSync(`${root}crates/synclane-core/src/error.rs`, 'utf8');
  const names = new Map([...source.matchAll(/ErrorCode::(\w+) => "(\w+)"/g)].map((m) => [m[1], m[2]]));
  const transientBlock = source.match(/fn is_transient\(self\)[\s\S]*?matches!\(([\s\S]*?)\)/)[1];
  const transient = [...transientBlock.matchAll(/ErrorCode::(\w+)/g)].map((m) => names.get(m[1]));
  return { names: [...names.values()], transient };
}

test('the codes are exactly the core wire names, in the same order', () => {
  const { names } = coreCodes();
  assert.equal(names.length, 20);
  assert.deepEqual([...SYNC_ERROR_CODES], names);
  assert.ok(Object.isFrozen(SYNC_ERROR_CODES));
  assert.ok(isSyncErrorCode('cursor_expired'));
  assert.ok(!isSyncErrorCode('no_such_code'));
  assert.ok(!isSyncErrorCode('toString'), 'inherited object keys are not codes');
});

test('isTransient splits the codes as the core does', () => {
  const { transient } = coreCodes();
  assert.deepEqual(SYNC_ERROR_CODES.filter(isTransient).sort(), [...transient].sort());
  assert.ok(isTransient('network') && isTransient('rate_limited'));
  assert.ok(!isTransient('unauthorized') && !isTransient('invalid_payload'));
});

test('SyncError is an Error with a name, a code, a delay and a cause', () => {
  const cause = new Error('root');
  const error = new SyncError('rate_limited', 'slow down', { retryAfterMs: 1500, cause });
  assert.ok(error instanceof Error && error instanceof SyncError && isSyncError(error));
  assert.equal(error.name, 'SyncError');
  assert.equal(error.code, 'rate_limited');
  assert.equal(error.retryAfterMs, 1500);
  assert.equal(error.cause, cause);
  assert.equal(error.transient, true);
  assert.deepEqual(JSON.parse(JSON.stringify(error)), {
    name: 'SyncError',
    code: 'rate_limited',
    message: 'slow down',
    retryable: true,
    retryAfterMs: 1500,
    cause: { name: 'Error', message: 'root' },
  });
  const plain = new SyncError('closed');
  assert.equal(plain.message, 'closed');
  assert.equal('retryAfterMs' in plain, false);
  assert.equal(plain.transient, false);
  assert.ok(String(error.stack).includes('slow down'));
});

test('toSyncError keeps the code of what the wasm module throws', () => {
  const server = new synclane.MemorySyncServer();
  let thrown;
  try {
    server.pull({ scope: { workspaceId: 'w' }, cursor: 5, limit: 10 });
  } catch (e) {
    thrown = e;
  }
  assert.equal(thrown.name, 'SyncError');
  assert.equal(isSyncError(thrown), false, 'the raw wasm error is a plain Error');
  const error = toSyncError(thrown);
  assert.ok(error instanceof SyncError);
  assert.equal(error.code, 'cursor_expired');
  assert.equal(error.message, thrown.message);
  assert.equal(error.cause, thrown);
  assert.equal(error.stack, thrown.stack);
  assert.throws(() => new synclane.MemorySyncServer({ nope: 1 }), (e) => toSyncError(e).code === 'invalid_argument');
});

test('toSyncError converts provider JSON errors, fetch failures and everything else', () => {
  const same = new SyncError('forbidden');
  assert.equal(toSyncError(same), same);
  const json = toSyncError({ code: 'rate_limited', message: 'wait', retryAfterMs: 250 });
  assert.deepEqual([json.code, json.message, json.retryAfterMs], ['rate_limited', 'wait', 250]);
  assert.equal(toSyncError(new TypeError('Failed to fetch')).code, 'network');
  const timeout = Object.assign(new Error('signal timed out'), { name: 'TimeoutError' });
  assert.equal(toSyncError(timeout).code, 'timeout');
  const quota = Object.assign(new Error('full'), { name: 'QuotaExceededError' });
  assert.equal(toSyncError(quota).code, 'quota_exceeded');
  const other = toSyncError(new RangeError('bad'));
  assert.deepEqual([other.code, other.message], ['internal', 'bad']);
  assert.equal(toSyncError({ code: 'ECONNRESET', message: 'x' }).code, 'internal', 'unknown codes are not kept');
  assert.equal(toSyncError('text').message, 'text');
  assert.equal(toSyncError(undefined, 'server_error').code, 'server_error');
  assert.equal(toSyncError(Object.create(null)).code, 'internal');
});

// The one plain-object shape of an error: what JSON.stringify writes, and what to hand across
// boundaries that copy only an Error's name, message and stack (structuredClone, postMessage,
// Playwright's evaluate), which lose the code.
test('a SyncError serializes as { name, code, message, retryable, retryAfterMs?, cause? }', () => {
  const json = (error) => JSON.parse(JSON.stringify(error));
  assert.deepEqual(json(new SyncError('closed')), { name: 'SyncError', code: 'closed', message: 'closed', retryable: false });
  assert.deepEqual(new SyncError('closed').toJSON(), json(new SyncError('closed')), 'toJSON is what JSON.stringify writes');
  // Inside a report, as syncNow() answers it.
  const report = { trigger: 'manual', pushed: 0, error: toSyncError(new TypeError('Failed to fetch')) };
  assert.deepEqual(json(report).error, {
    name: 'SyncError',
    code: 'network',
    message: 'Failed to fetch',
    retryable: true,
    cause: { name: 'TypeError', message: 'Failed to fetch' },
  });
  // structuredClone keeps only name and message of an Error; the JSON form keeps everything.
  const limited = new SyncError('rate_limited', 'wait', { retryAfterMs: 250 });
  assert.equal(structuredClone(limited).code, undefined);
  assert.deepEqual(structuredClone(limited.toJSON()), json(limited));
});

test('the cause is a short summary, and is left out when it only repeats the error', () => {
  const causeOf = (cause) => new SyncError('internal', 'failed', { cause }).toJSON().cause;
  // The raw wasm error and a provider's JSON error say nothing toSyncError did not keep.
  const server = new synclane.MemorySyncServer();
  let raw;
  try {
    server.pull({ scope: { workspaceId: 'w' }, cursor: 0, limit: 0 });
  } catch (e) {
    raw = e;
  }
  const fromWasm = toSyncError(raw);
  assert.equal(fromWasm.cause, raw);
  assert.equal('cause' in fromWasm.toJSON(), false);
  assert.equal('cause' in toSyncError({ code: 'forbidden', message: 'no' }).toJSON(), false);
  // A cause with a code of its own keeps it.
  assert.deepEqual(causeOf(raw), { name: 'SyncError', message: raw.message, code: raw.code });
  assert.deepEqual(causeOf(new SyncError('network', 'down')), { name: 'SyncError', message: 'down', code: 'network' });
  // Not errors: a string as it is, an object without a message as JSON, a number as text.
  assert.equal(causeOf('socket hang up'), 'socket hang up');
  assert.equal(causeOf({ status: 502 }), '{"status":502}');
  assert.equal(causeOf(42), '42');
  assert.equal(causeOf(null), 'null');
  assert.deepEqual(causeOf({ message: 'plain' }), { name: 'Object', message: 'plain' });
  // Short: long texts are cut, and nothing the cause does can make toJSON throw.
  assert.equal(causeOf(new Error('x'.repeat(2000))).message, `${'x'.repeat(500)}…`);
  const hostile = new Proxy({}, { get: () => { throw new Error('trap'); } });
  assert.equal(typeof causeOf(hostile), 'string');
  const cyclic = {};
  cyclic.self = cyclic;
  assert.equal(causeOf(cyclic), '[object Object]');
  assert.doesNotThrow(() => JSON.stringify(new SyncError('internal', 'x', { cause: hostile })));
});
