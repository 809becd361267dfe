// HttpSyncProvider against a fake of the reference server (support/fake-http-server.mjs): the
// conformance kit, error mapping, token callbacks, and the event stream (parsing, reconnects).
import { test, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { synclane, loadWasm, sleep, waitFor } from './support/synclane.mjs';
import { startFakeSyncServer } from './support/fake-http-server.mjs';

const { HttpSyncProvider, SyncError, TestDevice, providerConformanceCases, runProviderConformance } = synclane;

before(loadWasm);

const TOKENS = { 'token-a': '*', 'token-b': '*', 'token-w1': ['w1'] };
let workspaces = 0;
const freshScope = () => ({ workspaceId: `http-${++workspaces}-${Math.random().toString(36).slice(2, 8)}` });

/** Runs `fn` with a fresh fake server and closes it (and the providers `fn` made) afterwards. */
async function withFake(options, fn) {
  const fake = await startFakeSyncServer({ tokens: TOKENS, ...options });
  const providers = [];
  const make = (extra = {}) => {
    const provider = new HttpSyncProvider({ url: fake.url, token: 'token-a', reconnect: { delaysMs: [20] }, ...extra });
    providers.push(provider);
    return provider;
  };
  try {
    return await fn({ fake, make });
  } finally {
    for (const provider of providers) provider.dispose();
    await fake.close();
  }
}

async function rejectsWith(promise, code, check = () => {}) {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof SyncError, `expected a SyncError, got ${e?.stack ?? e}`);
    assert.equal(e.code, code, e.message);
    check(e);
    return true;
  });
}

/** A conformance setup: two devices (two tokens) on a fresh fake whose tombstones expire at once. */
function conformanceFactory(delivery) {
  return async () => {
    const fake = await startFakeSyncServer({ tokens: TOKENS, serverOptions: { tombstoneRetentionMs: 0 } });
    const provider = new HttpSyncProvider({ id: 'device-a', url: fake.url, token: 'token-a', delivery });
    const other = new HttpSyncProvider({ id: 'device-b', url: fake.url, token: async () => 'token-b', delivery });
    const scope = freshScope();
    const expireCursors = async () => {
      // Straight on the fake's MemorySyncServer: a tombstone that every device has passed, purged.
      const device = new TestDevice('gc');
      fake.memory.push({ scope, deviceId: device.deviceId, ops: [device.put('conformance_items', 'doomed', 1)] });
      const deleted = fake.memory.push({ scope, deviceId: device.deviceId, ops: [device.delete('conformance_items', 'doomed', 2)] });
      fake.memory.updateCursor(scope.workspaceId, device.deviceId, deleted.serverVersion);
      assert.ok(fake.memory.collectGarbage() >= 1, 'the tombstone was purged');
      return fake.memory.stats(scope.workspaceId).floor - 1;
    };
    const cleanup = async () => {
      provider.dispose();
      other.dispose();
      await fake.close();
    };
    return { provider, other, scope, expireCursors, cleanup };
  };
}

describe("HttpSyncProvider with delivery: 'changes' passes every conformance case", () => {
  for (const conformanceCase of providerConformanceCases(conformanceFactory('changes'))) {
    test(conformanceCase.name, async () => {
      assert.deepEqual(await conformanceCase.run(), { status: 'passed' });
    });
  }
});

test("with the default delivery ('hints') only the subscription case fails, for delivering []", async () => {
  const report = await runProviderConformance(conformanceFactory(undefined), { deliveryTimeoutMs: 300, quietMs: 50 });
  assert.equal(report.passed.length, 10);
  assert.deepEqual(report.failed.map((f) => f.name), ['subscribe delivers changes pushed by another client, and unsubscribe stops it']);
  assert.match(report.failed[0].error.message, /was not delivered within 300 ms/);
});

// ----- Requests -----

test('push, pull and updateCursor are POSTs with the bearer token and JSON', async () => {
  await withFake({}, async ({ fake, make }) => {
    // A trailing slash on the base URL is fine.
    const provider = new HttpSyncProvider({ url: `${fake.url}/`, token: 'token-a' });
    try {
      assert.equal(provider.id, 'http');
      assert.equal(provider.mode, 'gateway');
      assert.equal(make({ id: 'custom' }).id, 'custom');
      const scope = freshScope();
      const device = new TestDevice('dev');
      const pushed = await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'a', 1, { title: 'hi' })] });
      assert.deepEqual(pushed.results.map((r) => r.status), ['applied']);
      const page = await provider.pull({ scope, cursor: 0, limit: 10 });
      assert.deepEqual(page.changes.map((c) => [c.pk, c.payload.title]), [['a', 'hi']]);
      assert.equal(page.retentionFloor, 0);
      assert.equal(await provider.updateCursor(scope, device.deviceId, page.nextCursor), undefined);
      assert.equal(fake.memory.stats(scope.workspaceId).devices, 1);
      assert.deepEqual(
        fake.requests.map((r) => [r.method, r.path, r.token, r.contentType, r.accept]),
        [
          ['POST', '/v1/push', 'token-a', 'application/json', 'application/json'],
          ['POST', '/v1/pull', 'token-a', 'application/json', 'application/json'],
          ['POST', '/v1/cursor', 'token-a', 'application/json', 'application/json'],
        ],
      );
    } finally {
      provider.dispose();
    }
  });
});

test('a base URL with a path prefix keeps it', async () => {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push([String(url), init.method]);
    return new Response(JSON.stringify({ changes: [], nextCursor: 0, hasMore: false, retentionFloor: 0 }), { status: 200 });
  };
  const provider = new HttpSyncProvider({ url: 'https://example.com/api/sync/', token: 't', fetch });
  await provider.pull({ scope: { workspaceId: 'w' }, cursor: 0, limit: 1 });
  assert.deepEqual(seen, [['https://example.com/api/sync/v1/pull', 'POST']]);
});

test('the constructor refuses malformed options with invalid_argument', () => {
  const bad = [
    {},
    { url: 'not a url', token: 't' },
    { url: 'ftp://example.com', token: 't' },
    { url: 'http://example.com?x=1', token: 't' },
    { url: 'http://example.com', token: 42 },
    { url: 'http://example.com', token: 't', timeoutMs: 0 },
    { url: 'http://example.com', token: 't', reconnect: { delaysMs: [] } },
    { url: 'http://example.com', token: 't', reconnect: { maxRetries: -1 } },
    { url: 'http://example.com', token: 't', delivery: 'all' },
  ];
  for (const options of bad) {
    assert.throws(() => new HttpSyncProvider(options), (e) => e instanceof SyncError && e.code === 'invalid_argument', JSON.stringify(options));
  }
  const saved = globalThis.fetch;
  globalThis.fetch = undefined;
  try {
    assert.throws(() => new HttpSyncProvider({ url: 'http://example.com', token: 't' }), /pass options.fetch/);
  } finally {
    globalThis.fetch = saved;
  }
});

// ----- Errors -----

test('the server\'s error codes come through: 401, 403, 410, 413, 400', async () => {
  await withFake({ maxBodyBytes: 2048 }, async ({ make }) => {
    const scope = freshScope();
    const device = new TestDevice('err');
    const pull = (provider, workspace = scope) => provider.pull({ scope: workspace, cursor: 0, limit: 10 });
    await rejectsWith(pull(make({ token: 'wrong-token' })), 'unauthorized', (e) => assert.ok(!e.message.includes('wrong-token')));
    await rejectsWith(pull(make({ token: '' })), 'unauthorized');
    const limited = make({ token: 'token-w1' });
    await pull(limited, { workspaceId: 'w1' });
    await rejectsWith(pull(limited, { workspaceId: 'w2' }), 'forbidden', (e) => assert.ok(!e.message.includes('token-w1')));
    const provider = make();
    // A cursor ahead of the server: the core answers cursor_expired ("rescan").
    await rejectsWith(provider.pull({ scope, cursor: 5, limit: 10 }), 'cursor_expired');
    await rejectsWith(
      provider.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'big', 1, { text: 'x'.repeat(4096) })] }),
      'payload_too_large',
    );
    await rejectsWith(provider.push({ scope, deviceId: device.deviceId, ops: [{ ...device.put('notes', 'a', 1), payload: [1] }] }), 'invalid_payload');
    await rejectsWith(provider.updateCursor(scope, device.deviceId, 99), 'cursor_expired');
  });
});

test('an answer without the protocol body is mapped by its status', async () => {
  await withFake({}, async ({ fake, make }) => {
    const provider = make();
    const scope = freshScope();
    const pull = () => provider.pull({ scope, cursor: 0, limit: 10 });
    const cases = [
      [401, 'unauthorized'],
      [403, 'forbidden'],
      [410, 'cursor_expired'],
      [413, 'payload_too_large'],
      [400, 'invalid_argument'],
      [404, 'invalid_argument'],
      [408, 'timeout'],
      [500, 'server_error'],
      [502, 'server_error'],
      [503, 'server_error'],
    ];
    for (const [status, code] of cases) {
      fake.inject({ path: '/v1/pull', status, body: `<html><body>${status} from a proxy</body></html>`, headers: { 'content-type': 'text/html' } });
      await rejectsWith(pull(), code, (e) => {
        assert.match(e.message, new RegExp(`HTTP ${status}`));
        assert.equal(e.retryAfterMs, undefined);
      });
    }
    // A body with a code that is not canonical is not trusted either.
    fake.inject({ path: '/v1/pull', status: 500, body: { error: { code: 'db_down', message: 'nope' } } });
    await rejectsWith(pull(), 'server_error');
    // The protocol body wins over the status.
    fake.inject({ path: '/v1/pull', status: 500, body: { error: { code: 'server_error', message: 'the database failed' } } });
    await rejectsWith(pull(), 'server_error', (e) => assert.equal(e.message, 'the database failed'));
    // A 2xx that is not the protocol's answer (a captive portal, a proxy page) is a server error.
    fake.inject({ path: '/v1/pull', status: 200, body: '<html>welcome</html>' });
    await rejectsWith(pull(), 'server_error', (e) => assert.match(e.message, /not JSON/));
    fake.inject({ path: '/v1/push', status: 200, body: { ok: true } });
    await rejectsWith(provider.push({ scope, deviceId: 'd', ops: [] }), 'server_error', (e) => assert.match(e.message, /unexpected shape/));
    // The cursor's answer has no body to check.
    fake.inject({ path: '/v1/cursor', status: 200, body: 'fine' });
    await provider.updateCursor(scope, 'd', 0);
  });
});

test('429: retryAfterMs from the body, else from Retry-After (seconds or a date)', async () => {
  await withFake({}, async ({ fake, make }) => {
    const provider = make();
    const scope = freshScope();
    const pull = () => provider.pull({ scope, cursor: 0, limit: 10 });
    fake.rateLimit({ path: '/v1/pull', retryAfterSeconds: 2 });
    await rejectsWith(pull(), 'rate_limited', (e) => {
      assert.equal(e.retryAfterMs, 2000);
      assert.equal(e.message, 'slow down');
      assert.equal(e.transient, true);
    });
    fake.rateLimit({ path: '/v1/pull', retryAfterSeconds: 3, withBody: false });
    await rejectsWith(pull(), 'rate_limited', (e) => assert.equal(e.retryAfterMs, 3000));
    // The protocol body without retryAfterMs: the header fills it in.
    fake.inject({ path: '/v1/pull', status: 429, headers: { 'retry-after': '1' }, body: { error: { code: 'rate_limited', message: 'later' } } });
    await rejectsWith(pull(), 'rate_limited', (e) => assert.equal(e.retryAfterMs, 1000));
    fake.inject({ path: '/v1/pull', status: 429, headers: { 'retry-after': new Date(Date.now() + 60_000).toUTCString() } });
    await rejectsWith(pull(), 'rate_limited', (e) => assert.ok(e.retryAfterMs > 55_000 && e.retryAfterMs <= 60_000, `${e.retryAfterMs}`));
    fake.inject({ path: '/v1/pull', status: 429 });
    await rejectsWith(pull(), 'rate_limited', (e) => assert.equal(e.retryAfterMs, undefined));
    // The next request goes through.
    assert.deepEqual((await pull()).changes, []);
  });
});

test('a refused connection is network, a slow answer is timeout', async () => {
  // A port that was free a moment ago: nothing listens there.
  const port = await new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port: free } = server.address();
      server.close(() => resolve(free));
    });
  });
  const refused = new HttpSyncProvider({ url: `http://127.0.0.1:${port}`, token: 'secret-token' });
  await rejectsWith(refused.pull({ scope: { workspaceId: 'w' }, cursor: 0, limit: 1 }), 'network', (e) => {
    assert.match(e.message, /could not reach http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(!e.message.includes('secret-token'));
    assert.equal(e.transient, true);
  });
  await rejectsWith(refused.subscribe({ workspaceId: 'w' }, [], () => {}), 'network');

  await withFake({}, async ({ fake, make }) => {
    const provider = make({ timeoutMs: 100 });
    const scope = freshScope();
    fake.inject({ path: '/v1/pull', delayMs: 1000 });
    const started = Date.now();
    await rejectsWith(provider.pull({ scope, cursor: 0, limit: 1 }), 'timeout', (e) => assert.match(e.message, /within 100 ms/));
    assert.ok(Date.now() - started < 900, 'the deadline cut the wait');
    // A token callback that hangs is inside the deadline too.
    const stuck = make({ timeoutMs: 100, token: () => new Promise(() => {}) });
    await rejectsWith(stuck.push({ scope, deviceId: 'd', ops: [] }), 'timeout');
    // A fetch that ignores the abort signal still times out.
    const deaf = make({ timeoutMs: 100, fetch: () => new Promise(() => {}) });
    await rejectsWith(deaf.updateCursor(scope, 'd', 0), 'timeout');
  });
});

test('the token never shows in an error, whatever echoes it', async () => {
  await withFake({}, async ({ fake, make }) => {
    const scope = freshScope();
    const pull = (provider) => provider.pull({ scope, cursor: 0, limit: 1 });
    fake.inject({ path: '/v1/pull', status: 401, body: { error: { code: 'unauthorized', message: 'token token-a expired' } } });
    await rejectsWith(pull(make()), 'unauthorized', (e) => assert.equal(e.message, 'token [token] expired'));
    // A token that is not a valid header value: fetch's own error would quote it.
    await rejectsWith(pull(make({ token: 'bad\ntoken-value' })), 'unauthorized', (e) => {
      assert.ok(!e.message.includes('token-value'));
      assert.equal(e.cause, undefined);
    });
    await rejectsWith(pull(make({ token: () => 42 })), 'unauthorized', (e) => assert.match(e.message, /did not return a string/));
    await rejectsWith(pull(make({ token: () => { throw new Error('session expired'); } })), 'unauthorized', (e) =>
      assert.match(e.message, /token callback failed: session expired/));
    // A SyncError from the callback is kept (e.g. the refresh endpoint was unreachable).
    await rejectsWith(pull(make({ token: async () => { throw new SyncError('network', 'offline'); } })), 'network');
  });
});

test('the token callback runs before every request, so a refreshed token is used at once', async () => {
  await withFake({}, async ({ fake, make }) => {
    fake.tokens.set('token-1', '*');
    let current = 'token-1';
    let calls = 0;
    const provider = make({
      token: async () => {
        calls += 1;
        await sleep(1);
        return current;
      },
    });
    const scope = freshScope();
    await provider.pull({ scope, cursor: 0, limit: 1 });
    await provider.updateCursor(scope, 'dev', 0);
    // The server rotates the token: the old one is refused until the app refreshes.
    fake.tokens.delete('token-1');
    fake.tokens.set('token-2', '*');
    await rejectsWith(provider.pull({ scope, cursor: 0, limit: 1 }), 'unauthorized');
    current = 'token-2';
    await provider.pull({ scope, cursor: 0, limit: 1 });
    const unsubscribe = await provider.subscribe(scope, [], () => {});
    unsubscribe();
    assert.equal(calls, 5);
    assert.deepEqual(fake.requests.map((r) => r.token), ['token-1', 'token-1', 'token-1', 'token-2', 'token-2']);
  });
});

test('dispose aborts requests under way with closed, and later calls fail with closed', async () => {
  await withFake({}, async ({ fake, make }) => {
    const provider = make();
    const scope = freshScope();
    fake.inject({ path: '/v1/pull', delayMs: 2000 });
    const pending = provider.pull({ scope, cursor: 0, limit: 1 });
    await sleep(50);
    provider.dispose();
    await rejectsWith(pending, 'closed');
    await rejectsWith(provider.push({ scope, deviceId: 'd', ops: [] }), 'closed');
    await rejectsWith(provider.subscribe(scope, [], () => {}), 'closed');
  });
});

// ----- The stream -----

/** Collects a provider's stream statuses as `status` or `status:code`. */
function statusLog() {
  const log = [];
  const onStreamStatus = (status, error, workspaceId) => {
    assert.equal(typeof workspaceId, 'string');
    log.push(error ? `${status}:${error.code}` : status);
  };
  return { log, onStreamStatus };
}

test('subscribe resolves on ready; change events call onChanges([]); unsubscribe stops it', async () => {
  await withFake({}, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    const provider = make({ onStreamStatus });
    const other = make({ token: 'token-b' });
    const scope = freshScope();
    const device = new TestDevice('s');
    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'before', 1)] });
    const calls = [];
    const unsubscribe = await provider.subscribe(scope, ['notes'], (changes) => calls.push(changes));
    assert.deepEqual(log, ['connecting', 'connected']);
    assert.equal(fake.streamCount(scope.workspaceId), 1);
    const stream = fake.requests.find((r) => r.path === '/v1/stream');
    assert.deepEqual([stream.method, stream.token, stream.accept, stream.workspaceId], ['GET', 'token-a', 'text/event-stream', scope.workspaceId]);
    assert.deepEqual(calls, [], 'the first ready is not a change');

    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'x', 1)] });
    await waitFor(() => calls.length === 1, 2000, 'the change hint');
    assert.deepEqual(calls, [[]]);
    // A push that applies nothing (a duplicate) sends no event; one to another table does (per workspace).
    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('other_table', 'y', 1)] });
    await waitFor(() => calls.length === 2, 2000, 'the second hint');

    unsubscribe();
    unsubscribe();
    assert.deepEqual(log, ['connecting', 'connected', 'disconnected']);
    await waitFor(() => fake.streamCount() === 0, 2000, 'the stream to close');
    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'z', 1)] });
    await sleep(100);
    assert.equal(calls.length, 2, 'nothing after unsubscribe');
    assert.equal(fake.requests.filter((r) => r.path === '/v1/stream').length, 1, 'no reconnection after unsubscribe');
  });
});

test('the first connection failing rejects subscribe with the mapped error', async () => {
  await withFake({}, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    await rejectsWith(make({ token: 'nope', onStreamStatus }).subscribe(freshScope(), [], () => {}), 'unauthorized');
    assert.deepEqual(log, ['connecting', 'disconnected:unauthorized']);
    await rejectsWith(make({ token: 'token-w1' }).subscribe({ workspaceId: 'w2' }, [], () => {}), 'forbidden');
    fake.inject({ path: '/v1/stream', status: 503 });
    await rejectsWith(make().subscribe(freshScope(), [], () => {}), 'server_error');
    // A 200 that is not an event stream (a proxy page) is not mistaken for one.
    fake.inject({ path: '/v1/stream', status: 200, body: '<html></html>', headers: { 'content-type': 'text/html' } });
    await rejectsWith(make().subscribe(freshScope(), [], () => {}), 'server_error', (e) => assert.match(e.message, /text\/html/));
    // No ready within the deadline.
    fake.inject({ path: '/v1/stream', delayMs: 2000 });
    await rejectsWith(make({ timeoutMs: 100 }).subscribe(freshScope(), [], () => {}), 'timeout');
    await rejectsWith(make().subscribe({}, [], () => {}), 'invalid_argument');
    await rejectsWith(make().subscribe(freshScope(), 'notes', () => {}), 'invalid_argument');
    await rejectsWith(make().subscribe(freshScope(), [], null), 'invalid_argument');
    // Nothing was left open, and no failed subscription retries by itself.
    await sleep(100);
    assert.equal(fake.streamCount(), 0);
    assert.equal(fake.requests.filter((r) => r.path === '/v1/stream').length, 5);
  });
});

test('a dropped stream reconnects with backoff and calls onChanges on the new ready', async () => {
  await withFake({}, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    const provider = make({ onStreamStatus, reconnect: { delaysMs: [30, 60] } });
    const other = make({ token: 'token-b' });
    const scope = freshScope();
    const device = new TestDevice('r');
    const calls = [];
    await provider.subscribe(scope, [], (changes) => calls.push(changes));
    fake.dropStreams();
    await waitFor(() => log.length === 5, 2000, 'the reconnection');
    assert.deepEqual(log, ['connecting', 'connected', 'disconnected:network', 'connecting', 'connected']);
    assert.deepEqual(calls, [[]], 'the ready of a reconnection is a hint: changes may have been missed');
    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'a', 1)] });
    await waitFor(() => calls.length === 2, 2000, 'a change on the new stream');

    // The server refuses for a while (token revoked): the attempts back off, then succeed.
    fake.tokens.delete('token-a');
    const before = fake.requests.length;
    fake.dropStreams();
    await waitFor(() => fake.requests.length - before >= 3, 2000, 'failed attempts');
    fake.tokens.set('token-a', '*');
    await waitFor(() => log.at(-1) === 'connected', 2000, 'the reconnection after the refusals');
    assert.deepEqual(log.slice(5, 9), ['disconnected:network', 'connecting', 'disconnected:unauthorized', 'connecting']);
    assert.equal(fake.streamCount(scope.workspaceId), 1);
    assert.equal(calls.length, 3);
  });
});

test('reconnection gives up after maxRetries failed attempts in a row', async () => {
  await withFake({}, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    const provider = make({ onStreamStatus, reconnect: { delaysMs: [10], maxRetries: 2 } });
    await provider.subscribe(freshScope(), [], () => {});
    fake.tokens.delete('token-a');
    fake.dropStreams();
    await waitFor(() => log.length === 7, 2000, 'two failed attempts');
    await sleep(100);
    assert.deepEqual(log, [
      'connecting', 'connected',
      'disconnected:network',
      'connecting', 'disconnected:unauthorized',
      'connecting', 'disconnected:unauthorized',
    ]);
    assert.equal(fake.requests.filter((r) => r.path === '/v1/stream').length, 3);

    // maxRetries 0: a drop ends the subscription.
    fake.tokens.set('token-a', '*');
    const once = statusLog();
    await make({ onStreamStatus: once.onStreamStatus, reconnect: { maxRetries: 0 } }).subscribe(freshScope(), [], () => {});
    fake.dropStreams();
    await waitFor(() => once.log.length === 3, 2000, 'the drop');
    await sleep(50);
    assert.deepEqual(once.log, ['connecting', 'connected', 'disconnected:network']);
  });
});

test('a rate-limited reconnection waits for retryAfterMs', async () => {
  await withFake({}, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    await make({ onStreamStatus, reconnect: { delaysMs: [10] } }).subscribe(freshScope(), [], () => {});
    fake.inject({ path: '/v1/stream', status: 429, body: { error: { code: 'rate_limited', message: 'wait', retryAfterMs: 300 } } });
    const dropped = Date.now();
    fake.dropStreams();
    await waitFor(() => log.at(-1) === 'connected' && log.length > 2, 3000, 'the reconnection');
    assert.ok(Date.now() - dropped >= 300, `reconnected after ${Date.now() - dropped} ms`);
    assert.deepEqual(log.slice(2), ['disconnected:network', 'connecting', 'disconnected:rate_limited', 'connecting', 'connected']);
  });
});

test('a silent stream is presumed dead and reconnects; keep-alive comments keep it', async () => {
  await withFake({ keepAliveMs: 60_000 }, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    await make({ onStreamStatus, streamIdleTimeoutMs: 150 }).subscribe(freshScope(), [], () => {});
    await waitFor(() => log.length >= 5, 2000, 'the watchdog');
    assert.deepEqual(log.slice(0, 5), ['connecting', 'connected', 'disconnected:timeout', 'connecting', 'connected']);
  });
  await withFake({ keepAliveMs: 30 }, async ({ make }) => {
    const { log, onStreamStatus } = statusLog();
    await make({ onStreamStatus, streamIdleTimeoutMs: 300 }).subscribe(freshScope(), [], () => {});
    await sleep(700);
    assert.deepEqual(log, ['connecting', 'connected']);
  });
});

test('dispose ends every stream', async () => {
  await withFake({}, async ({ fake, make }) => {
    const { log, onStreamStatus } = statusLog();
    const provider = make({ onStreamStatus });
    await provider.subscribe(freshScope(), [], () => {});
    await provider.subscribe(freshScope(), [], () => {});
    assert.equal(fake.streamCount(), 2);
    provider.dispose();
    await waitFor(() => fake.streamCount() === 0, 2000, 'the streams to close');
    assert.deepEqual(log.filter((s) => s.startsWith('disconnected')), ['disconnected', 'disconnected']);
    // A subscription still connecting is rejected with closed.
    fake.inject({ path: '/v1/stream', delayMs: 500 });
    const late = make();
    const pending = late.subscribe(freshScope(), [], () => {});
    await sleep(30);
    late.dispose();
    await rejectsWith(pending, 'closed');
  });
});

test("delivery: 'changes' pulls the subscribed tables' changes, including those missed while disconnected", async () => {
  await withFake({}, async ({ fake, make }) => {
    const provider = make({ delivery: 'changes', reconnect: { delaysMs: [200] } });
    const other = make({ token: 'token-b' });
    const scope = freshScope();
    const device = new TestDevice('c');
    const push = (ops) => other.push({ scope, deviceId: device.deviceId, ops });
    await push([device.put('notes', 'old', 1)]);
    const received = [];
    await provider.subscribe(scope, ['notes'], (changes) => received.push(...changes.map((c) => `${c.tableName}/${c.pk}@${c.serverVersion}`)));
    await push([device.put('notes', 'a', 1), device.put('tags', 't', 1)]);
    await waitFor(() => received.length === 1, 2000, 'the change');
    assert.deepEqual(received, ['notes/a@2']);
    fake.dropStreams();
    await sleep(20);
    await push([device.put('notes', 'missed', 1)]); // pushed while the stream is down
    await waitFor(() => received.length === 2, 3000, 'the catch-up after reconnecting');
    assert.deepEqual(received, ['notes/a@2', 'notes/missed@4']);
    // The reference server sends version 0 when its notices lagged: the head is unknown, so pull.
    fake.memory.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'lagged', 1)] });
    fake.broadcast(scope.workspaceId, 'change', { version: 0 });
    await waitFor(() => received.length === 3, 2000, 'the lagged change');
    assert.equal(received[2], 'notes/lagged@5');
    assert.equal(fake.requests.filter((r) => r.path === '/v1/pull').every((r) => r.token === 'token-a'), true);
  });
});

test('onChanges and onStreamStatus that throw are reported and do not break the stream', async () => {
  await withFake({}, async ({ make }) => {
    const reported = [];
    const provider = make({
      onSubscriberError: (e) => reported.push(e.message),
      onStreamStatus: (status) => {
        if (status === 'connected') throw new Error('status listener failed');
      },
    });
    const other = make({ token: 'token-b' });
    const scope = freshScope();
    const device = new TestDevice('t');
    let calls = 0;
    await provider.subscribe(scope, [], () => {
      calls += 1;
      throw new Error('listener failed');
    });
    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'a', 1)] });
    await other.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', 'b', 1)] });
    await waitFor(() => calls === 2, 2000, 'both hints');
    assert.deepEqual(reported, ['status listener failed', 'listener failed', 'listener failed']);
  });
});

// ----- Server-sent events, byte by byte -----

/** A fetch whose every stream answer is a feed the test writes to, chunk by chunk. */
function scriptedFetch() {
  const feeds = [];
  const encoder = new TextEncoder();
  const fetch = async (url, init) => {
    assert.match(String(url), /\/v1\/stream\?workspaceId=a%20b%2Fc$/);
    let controller;
    const stream = new ReadableStream({ start: (c) => { controller = c; } });
    const feed = {
      signal: init.signal,
      write: (chunk) => controller.enqueue(typeof chunk === 'string' ? encoder.encode(chunk) : chunk),
      end: () => controller.close(),
    };
    feeds.push(feed);
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
  };
  return { fetch, feeds };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

test('the stream parser: events split anywhere, CRLF / LF / CR, comments, multi-line data, UTF-8 split mid-character', async () => {
  const { fetch, feeds } = scriptedFetch();
  const { log, onStreamStatus } = statusLog();
  const provider = new HttpSyncProvider({ url: 'http://sync.test', token: 't', fetch, onStreamStatus, reconnect: { delaysMs: [5] } });
  try {
    let calls = 0;
    let resolved = false;
    const subscribed = provider.subscribe({ workspaceId: 'a b/c' }, [], () => { calls += 1; }).then((u) => {
      resolved = true;
      return u;
    });
    await waitFor(() => feeds.length === 1, 1000, 'the connection');
    const feed = feeds[0];
    feed.write(': hello\r');
    feed.write('\n\r\nevent: rea');
    feed.write('dy\r\ndata: {"ver');
    feed.write('sion":3}\r');
    await tick();
    assert.equal(resolved, false, 'no blank line yet: the event is not complete');
    feed.write('\n\r\n'); // the LF of CRLF, then a blank line
    const unsubscribe = await subscribed;
    assert.equal(calls, 0);

    feed.write('event: change\ndata: {"version":4}\n');
    await tick();
    assert.equal(calls, 0);
    feed.write('\n');
    await waitFor(() => calls === 1, 1000, 'LF event');
    // A CRLF split between chunks is one line end, not an end and a blank line (which would
    // dispatch the data below as an untyped 'message').
    feed.write('event: change\r');
    feed.write('\ndata: {"version":5}\r\n\r\n');
    await waitFor(() => calls === 2, 1000, 'CRLF split event');
    feed.write('event:change\rdata:{"version":5}\r\r');
    await waitFor(() => calls === 3, 1000, 'CR event');
    // A comment and a two-line data field whose é is split between two chunks.
    const bytes = new TextEncoder().encode(': ünïcödé keep-alive\n\nevent: change\ndata: {"version":\ndata: 6, "note": "é"}\n\n');
    const cut = bytes.indexOf(0xc3, 40) + 1; // inside the second é
    feed.write(bytes.slice(0, 5)); // inside ü
    feed.write(bytes.slice(5, cut));
    await tick();
    assert.equal(calls, 3);
    feed.write(bytes.slice(cut));
    await waitFor(() => calls === 4, 1000, 'multi-line event');
    // Ignored: an unknown event, an event without data, and id/retry fields are harmless.
    feed.write('event: other\ndata: x\n\nevent: change\n\nid: 7\nretry: 10\nevent: change\ndata: not json\n\n');
    await waitFor(() => calls === 5, 1000, 'the event with id and retry');
    await tick();
    assert.equal(calls, 5);
    assert.deepEqual(log, ['connecting', 'connected']);

    // The server ends the stream: reconnect, and the new ready is a hint.
    feed.end();
    await waitFor(() => feeds.length === 2, 1000, 'the reconnection');
    feeds[1].write('event: ready\r\ndata: {"version":9}\r\n\r\n');
    await waitFor(() => calls === 6, 1000, 'the hint of the new ready');
    assert.deepEqual(log, ['connecting', 'connected', 'disconnected:network', 'connecting', 'connected']);
    unsubscribe();
    assert.equal(feeds[1].signal.aborted, true, 'unsubscribe aborts the fetch');
    await tick();
    assert.equal(feeds.length, 2);
  } finally {
    provider.dispose();
  }
});

test('a stream that ends before ready rejects subscribe; one whose line never ends is dropped', async () => {
  const { fetch, feeds } = scriptedFetch();
  const provider = new HttpSyncProvider({ url: 'http://sync.test', token: 't', fetch, reconnect: { delaysMs: [5] } });
  try {
    const first = provider.subscribe({ workspaceId: 'a b/c' }, [], () => {});
    await waitFor(() => feeds.length === 1, 1000, 'the connection');
    feeds[0].write(': nothing yet\n\n');
    feeds[0].end();
    await rejectsWith(first, 'network', (e) => assert.match(e.message, /before it was ready/));

    const { log, onStreamStatus } = statusLog();
    const watched = new HttpSyncProvider({ url: 'http://sync.test', token: 't', fetch, onStreamStatus, reconnect: { delaysMs: [5], maxRetries: 0 } });
    const live = watched.subscribe({ workspaceId: 'a b/c' }, [], () => {});
    await waitFor(() => feeds.length === 2, 1000, 'the connection');
    feeds[1].write('event: ready\ndata: {"version":1}\n\n');
    await live;
    feeds[1].write(`data: ${'x'.repeat((1 << 20) + 10)}`);
    await waitFor(() => log.length === 3, 1000, 'the drop');
    assert.deepEqual(log, ['connecting', 'connected', 'disconnected:server_error']);
    watched.dispose();
  } finally {
    provider.dispose();
  }
});
