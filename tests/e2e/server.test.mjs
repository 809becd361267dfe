// The reference server (target/release/synclane-server) through HttpSyncProvider and raw HTTP:
// the provider conformance kit on SQLite and on two instances sharing PostgreSQL, auth and
// limits, bad input that changes nothing, SIGKILL in the middle of pushes, graceful shutdown.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { synclane } from '../js/support/synclane.mjs';
import { pullLatest, startSyncServer, tempDir } from '../../scripts/sync-server.mjs';
import { startPostgres } from './support/postgres.mjs';

const { HttpSyncProvider, SyncError, TestDevice, providerConformanceCases } = synclane;
const ADMIN = 'admin-secret';
const SETTINGS = { adminToken: ADMIN, tombstoneRetentionMs: 0, rateLimit: { perSecond: 100000, burst: 100000 } };
let workspaces = 0;
const freshScope = () => ({ workspaceId: `srv-${++workspaces}-${Math.random().toString(36).slice(2, 8)}` });

async function admin(server, path, method = 'GET') {
  const response = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(response.status, 200, `${path}: ${await response.clone().text()}`);
  return response.json();
}

const stats = (server, workspaceId) => admin(server, `/admin/stats?workspaceId=${encodeURIComponent(workspaceId)}`);

/** A conformance factory: `provider` on one instance, `other` on another (or the same). */
function conformanceFactory(serverA, serverB = serverA) {
  return async () => {
    const provider = new HttpSyncProvider({ id: 'device-a', url: serverA.url, token: 'test-token', delivery: 'changes' });
    const other = new HttpSyncProvider({ id: 'device-b', url: serverB.url, token: async () => 'test-token', delivery: 'changes' });
    const scope = freshScope();
    const expireCursors = async () => {
      // A tombstone every device of the workspace has passed, purged by the server's GC.
      const device = new TestDevice('gc');
      await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('conformance_items', 'doomed', 1)] });
      const deleted = await provider.push({ scope, deviceId: device.deviceId, ops: [device.delete('conformance_items', 'doomed', 2)] });
      await provider.updateCursor(scope, device.deviceId, deleted.serverVersion);
      const { purged } = await admin(serverA, '/admin/gc', 'POST');
      assert.ok(purged >= 1, 'the tombstone was purged');
      return (await stats(serverA, scope.workspaceId)).floor - 1;
    };
    const cleanup = async () => {
      provider.dispose();
      other.dispose();
    };
    return { provider, other, scope, expireCursors, cleanup };
  };
}

describe('on SQLite', () => {
  let dir;
  let server;
  before(async () => {
    dir = tempDir();
    server = await startSyncServer({ db: join(dir.dir, 'sync.db'), settings: SETTINGS });
  });
  after(async () => {
    await server?.stop();
    dir?.remove();
  });

  describe('HttpSyncProvider passes every conformance case', () => {
    for (const conformanceCase of providerConformanceCases(() => conformanceFactory(server)())) {
      test(conformanceCase.name, async () => {
        assert.deepEqual(await conformanceCase.run(), { status: 'passed' });
      });
    }
  });
});

describe('on PostgreSQL, two server instances sharing one database', () => {
  let pg;
  let first;
  let second;
  before(async () => {
    pg = await startPostgres();
    first = await startSyncServer({ db: pg.url, settings: SETTINGS });
    second = await startSyncServer({ db: pg.url, settings: SETTINGS });
  });
  after(async () => {
    await first?.stop();
    await second?.stop();
    await pg?.stop();
  });

  // `provider` talks to the first instance and `other` to the second: the subscription case
  // shows a stream on one instance hearing pushes made through the other.
  describe('HttpSyncProvider passes every conformance case', () => {
    for (const conformanceCase of providerConformanceCases(() => conformanceFactory(first, second)())) {
      test(conformanceCase.name, async () => {
        assert.deepEqual(await conformanceCase.run(), { status: 'passed' });
      });
    }
  });

  test('the server version is one counter across instances', async () => {
    const scope = freshScope();
    const device = new TestDevice('both');
    const a = new HttpSyncProvider({ url: first.url, token: 'test-token' });
    const b = new HttpSyncProvider({ url: second.url, token: 'test-token' });
    const pushes = [];
    for (let i = 0; i < 20; i++) {
      const via = i % 2 === 0 ? a : b;
      pushes.push(via.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', `n${i}`, 1)] }));
    }
    const versions = (await Promise.all(pushes)).map((r) => r.results[0].serverVersion).sort((x, y) => x - y);
    assert.deepEqual(versions, Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

describe('auth, limits and bad input (SQLite)', () => {
  let dir;
  let server;
  before(async () => {
    dir = tempDir();
    server = await startSyncServer({
      db: join(dir.dir, 'auth.db'),
      tokens: ['alpha-token=alpha', 'beta-token=beta'],
      settings: { adminToken: ADMIN, maxBodyBytes: 64 * 1024, maxBatchOps: 50 },
    });
  });
  after(async () => {
    await server?.stop();
    dir?.remove();
  });

  const call = (path, token, body, method = 'POST') =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  test('no token, a wrong token and a token for another workspace are refused, and nothing leaks', async () => {
    const device = new TestDevice('alpha');
    const secret = { id: 'plan', text: 'the secret plan' };
    const alpha = new HttpSyncProvider({ url: server.url, token: 'alpha-token' });
    await alpha.push({ scope: { workspaceId: 'alpha' }, deviceId: device.deviceId, ops: [device.put('notes', 'plan', 1, secret)] });

    const pull = (workspaceId) => ({ scope: { workspaceId }, cursor: 0, limit: 10 });
    const push = (workspaceId) => ({ scope: { workspaceId }, deviceId: 'intruder', ops: [new TestDevice('x').put('notes', 'plan', 99, { text: 'overwritten' })] });
    const answers = [];
    for (const [path, body] of [['/v1/pull', pull('alpha')], ['/v1/push', push('alpha')], ['/v1/cursor', { scope: { workspaceId: 'alpha' }, deviceId: 'x', version: 1 }]]) {
      for (const [token, status, code] of [[undefined, 401, 'unauthorized'], ['not-a-token', 401, 'unauthorized'], ['beta-token', 403, 'forbidden']]) {
        const response = await call(path, token, body);
        const text = await response.text();
        assert.equal(response.status, status, `${path} with ${token}: ${text}`);
        assert.equal(JSON.parse(text).error.code, code);
        assert.ok(!text.includes('secret') && !text.includes('plan'), `nothing of the workspace in ${text}`);
        answers.push(`${path}:${token}:${text}`);
      }
    }
    const stream = await fetch(`${server.url}/v1/stream?workspaceId=alpha`, { headers: { authorization: 'Bearer beta-token' } });
    assert.equal(stream.status, 403);
    // A workspace that exists and one that does not get the same answer.
    const missing = await (await call('/v1/pull', 'beta-token', pull('nobody-here'))).text();
    assert.equal(missing, answers.find((a) => a.startsWith('/v1/pull:beta-token')).split(':').slice(2).join(':'));
    // The provider turns them into canonical errors, and the data is untouched.
    const beta = new HttpSyncProvider({ url: server.url, token: 'beta-token' });
    await assert.rejects(beta.pull(pull('alpha')), (e) => e instanceof SyncError && e.code === 'forbidden');
    const page = await alpha.pull(pull('alpha'));
    assert.deepEqual(page.changes.map((c) => c.payload), [secret]);
  });

  test('bodies and batches over the limits get 413; a bad batch is rejected whole and stores nothing', async () => {
    const device = new TestDevice('limits');
    const scope = { workspaceId: 'alpha' };
    const before = await stats(server, 'alpha');
    const big = await call('/v1/push', 'alpha-token', { scope, deviceId: device.deviceId, ops: [device.put('notes', 'big', 1, { text: 'x'.repeat(100 * 1024) })] });
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error.code, 'payload_too_large');
    const many = Array.from({ length: 51 }, (_, i) => device.put('notes', `m${i}`, 1));
    const tooMany = await call('/v1/push', 'alpha-token', { scope, deviceId: device.deviceId, ops: many });
    assert.equal(tooMany.status, 413);

    // One bad op among good ones (a payload that is not an object): 400, nothing stored.
    const bad = { ...device.put('notes', 'bad', 1), payload: 'not an object' };
    const rejected = await call('/v1/push', 'alpha-token', { scope, deviceId: device.deviceId, ops: [device.put('notes', 'good', 1), bad] });
    assert.equal(rejected.status, 400);
    assert.equal((await rejected.json()).error.code, 'invalid_payload');
    const malformed = await call('/v1/push', 'alpha-token', '{"scope": {"workspaceId": "alpha"}, "ops": [');
    assert.equal(malformed.status, 400);
    assert.deepEqual(await stats(server, 'alpha'), before, 'nothing was stored');

    // Keys and payloads are data, never SQL.
    const sneaky = `x'); DROP TABLE sl_records; --`;
    const provider = new HttpSyncProvider({ url: server.url, token: 'alpha-token' });
    const stored = await provider.push({ scope, deviceId: device.deviceId, ops: [device.put('notes', sneaky, 1, { text: sneaky })] });
    assert.equal(stored.results[0].status, 'applied');
    const page = await provider.pull({ scope, cursor: before.version, limit: 10 });
    assert.deepEqual(page.changes.map((c) => [c.pk, c.payload.text]), [[sneaky, sneaky]]);
  });

  test('a token over its rate gets 429 with Retry-After, which the provider reports as rate_limited', async () => {
    const limitedServer = await startSyncServer({
      db: join(dir.dir, 'rate.db'),
      tokens: ['beta-token=beta'],
      settings: { rateLimit: { perSecond: 2, burst: 5 } },
    });
    const body = { scope: { workspaceId: 'beta' }, cursor: 0, limit: 1 };
    const statuses = [];
    let limited;
    const pull = () =>
      fetch(`${limitedServer.url}/v1/pull`, { method: 'POST', headers: { authorization: 'Bearer beta-token' }, body: JSON.stringify(body) });
    for (let i = 0; i < 12 && !limited; i++) {
      const response = await pull();
      statuses.push(response.status);
      if (response.status === 429) limited = response;
    }
    assert.ok(limited, `rate limited after the burst: ${statuses}`);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal((await limited.json()).error.code, 'rate_limited');
    const provider = new HttpSyncProvider({ url: limitedServer.url, token: 'beta-token' });
    await assert.rejects(provider.pull(body), (e) => e.code === 'rate_limited' && e.retryAfterMs > 0);
    await limitedServer.stop();
  });
});

/**
 * Pushers that each push `batches` batches of `size` new records, retrying a batch (same ops)
 * until it is answered. Returns the acknowledged op ids.
 */
async function pushThrough(url, scope, { pushers, batches, size }, acknowledged = new Set()) {
  const provider = new HttpSyncProvider({ url, token: 'test-token', timeoutMs: 5_000 });
  let failures = 0;
  await Promise.all(
    Array.from({ length: pushers }, async (_, p) => {
      const device = new TestDevice(`pusher-${p}`);
      for (let b = 0; b < batches; b++) {
        const ops = Array.from({ length: size }, (_, i) => device.put('notes', `p${p}-b${b}-i${i}`, 1, { p, b, i }));
        for (;;) {
          try {
            const result = await provider.push({ scope, deviceId: device.deviceId, ops });
            for (const r of result.results) {
              assert.ok(r.status === 'applied' || r.status === 'duplicate', JSON.stringify(r));
              acknowledged.add(r.opId);
            }
            break;
          } catch (error) {
            assert.ok(['network', 'timeout', 'server_error'].includes(error.code), `transient: ${error.code} ${error.message}`);
            failures++;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    }),
  );
  return { acknowledged, failures };
}

/** Every live record of a workspace, by pulling from 0. */
async function pullAll(url, scope) {
  const { changes, head } = await pullLatest(url, 'test-token', scope.workspaceId);
  return { records: changes, head };
}

for (const backend of ['sqlite', 'postgres']) {
  test(`killed with SIGKILL in the middle of pushes and restarted (${backend}): nothing acknowledged is lost, nothing applied twice`, async () => {
    const dir = tempDir();
    const pg = backend === 'postgres' ? await startPostgres() : undefined;
    const db = pg ? pg.url : join(dir.dir, 'crash.db');
    let server = await startSyncServer({ db, settings: SETTINGS });
    const address = server.address;
    const scope = freshScope();
    try {
      const progress = new Set();
      const pushing = pushThrough(server.url, scope, { pushers: 6, batches: 40, size: 10 }, progress);
      // Killed once a fifth of the ops are in, with pushes on the wire.
      while (progress.size < 480) await new Promise((r) => setTimeout(r, 5));
      const killed = await server.kill();
      assert.equal(killed.signal, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 300)); // clients meet a dead server
      server = await startSyncServer({ db, settings: SETTINGS, listen: address });
      const { acknowledged, failures } = await pushing;
      assert.ok(failures > 0, 'the clients met the crash');
      assert.equal(acknowledged.size, 6 * 40 * 10, 'the clients carried on and finished');
      const { records, head } = await pullAll(server.url, scope);
      const missing = [...acknowledged].filter((opId) => ![...records.values()].some((c) => c.stamp.opId === opId));
      assert.deepEqual(missing, [], 'every acknowledged op is stored');
      // Each op writes its own record: a version counter equal to the record count means no op
      // took two versions.
      assert.equal(records.size, 6 * 40 * 10);
      assert.equal(head, records.size, 'no op was applied twice');
      assert.equal((await stats(server, scope.workspaceId)).ops, 6 * 40 * 10);
    } finally {
      await server.stop();
      await pg?.stop();
      dir.remove();
    }
  });
}

test('SIGTERM lets in-flight pushes finish before the server exits', async () => {
  const dir = tempDir();
  const db = join(dir.dir, 'graceful.db');
  const server = await startSyncServer({ db, settings: SETTINGS });
  const scope = freshScope();
  try {
    const provider = new HttpSyncProvider({ url: server.url, token: 'test-token', timeoutMs: 5_000 });
    const device = new TestDevice('graceful');
    const pushes = Array.from({ length: 20 }, (_, b) =>
      provider.push({ scope, deviceId: device.deviceId, ops: Array.from({ length: 200 }, (_, i) => device.put('notes', `g${b}-${i}`, 1, { text: 'x'.repeat(200) })) }),
    );
    const outcomes = Promise.allSettled(pushes);
    // SIGTERM as soon as one push is answered: the others are queued at the server behind it.
    await Promise.any(pushes);
    const exit = await server.stop();
    const settled = await outcomes;
    assert.equal(exit.code, 0, server.logs());
    const answered = settled.filter((s) => s.status === 'fulfilled');
    const refused = settled.filter((s) => s.status === 'rejected');
    assert.ok(answered.length > 1, `pushes in flight at SIGTERM were answered (${answered.length})`);
    // A request the server had not started is refused (the client sees the connection close).
    for (const r of refused) assert.ok(['network', 'timeout'].includes(r.reason.code), r.reason.message);
    const restarted = await startSyncServer({ db, settings: SETTINGS });
    try {
      const { records } = await pullAll(restarted.url, scope);
      assert.equal(records.size, answered.length * 200, 'every answered push is stored, and only those');
    } finally {
      await restarted.stop();
    }
  } finally {
    dir.remove();
  }
});
