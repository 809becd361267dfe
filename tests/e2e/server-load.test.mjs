// A load run against the reference server (target/release/synclane-server), on SQLite and on
// PostgreSQL: many concurrent clients (HttpSyncProvider in Node) push batches of new records
// and pull from their cursors for a fixed time. Prints throughput and latency percentiles,
// then checks that nothing was lost or applied twice: every acknowledged op is on the server
// with its op id, the server version equals the number of applied ops, every applied op got a
// version of its own, and every client's pulls saw the log without gaps or repeats.
//
// Knobs: SYNCLANE_LOAD_SECONDS (default 5), SYNCLANE_LOAD_CLIENTS (16), SYNCLANE_LOAD_BATCH (20).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSyncServer, tempDir, SERVER_BINARY } from '../../scripts/sync-server.mjs';
import { startPostgres } from './support/postgres.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SECONDS = Number(process.env.SYNCLANE_LOAD_SECONDS ?? 5);
const CLIENTS = Number(process.env.SYNCLANE_LOAD_CLIENTS ?? 16);
const BATCH = Number(process.env.SYNCLANE_LOAD_BATCH ?? 20);
const PULL_LIMIT = 500;
const TOKEN = 'load-token';
const ADMIN = 'load-admin';
const SETTINGS = { adminToken: ADMIN, rateLimit: { perSecond: 100_000, burst: 100_000 } };

let HttpSyncProvider;
let hlcAt;

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/index.js`), 'run scripts/build.sh first');
  assert.ok(existsSync(SERVER_BINARY), 'run scripts/build.sh first (it builds the server)');
  assert.ok(SECONDS > 0 && CLIENTS > 0 && BATCH > 0 && BATCH <= 1000, 'bad SYNCLANE_LOAD_* settings');
  // The provider and the stamp helper are plain TypeScript: no wasm needed.
  ({ HttpSyncProvider } = await import(`${root}dist/npm/dist/index.js`));
  ({ hlcAt } = await import(`${root}dist/npm/dist/conformance.js`));
});

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One client: its own device id, HLC clock id and cursor; pushes new records, pulls the log. */
function makeClient(index, url, workspaceId) {
  const provider = new HttpSyncProvider({ url, token: TOKEN, timeoutMs: 30_000 });
  const deviceId = `load-${index}-${Math.random().toString(36).slice(2, 8)}`;
  const clockId = BigInt(index + 1) * 0x1_0000_0001n;
  const scope = { workspaceId };
  let ops = 0;
  let logical = 0;
  let lastMs = 0;
  const client = {
    index,
    deviceId,
    cursor: 0,
    /** opId -> pk of every op the server acknowledged (applied or duplicate). */
    acknowledged: new Map(),
    /** Server versions the pushes got for applied ops. */
    appliedVersions: [],
    statuses: { applied: 0, duplicate: 0, superseded: 0, rejected: 0 },
    pushMs: [],
    pullMs: [],
    pushes: 0,
    pulls: 0,
    errors: [],
    /** Log integrity as this client's pulls saw it. */
    pulled: 0,
    gaps: [],
  };

  /** A fresh HLC: the wall clock, with a logical counter when the clock has not moved. */
  function hlc() {
    const now = Date.now();
    if (now > lastMs) {
      lastMs = now;
      logical = 0;
    } else {
      logical += 1;
    }
    return hlcAt(lastMs, clockId, logical);
  }

  function newBatch() {
    return Array.from({ length: BATCH }, () => {
      ops += 1;
      const pk = `${deviceId}-r${ops}`;
      return {
        tableName: 'notes',
        pk,
        op: 'put',
        payload: { id: pk, text: `record ${ops} of client ${index}`, n: ops },
        stamp: { clock: 1, hlc: hlc(), deviceId, opId: `${deviceId}-op${ops}` },
      };
    });
  }

  async function push(batch) {
    // A failed push may or may not have been applied: it is retried as is (same op ids)
    // until the server answers, which the protocol makes safe.
    for (let attempt = 1; ; attempt++) {
      const started = performance.now();
      try {
        const result = await provider.push({ scope, deviceId, ops: batch });
        client.pushMs.push(performance.now() - started);
        client.pushes += 1;
        assert.equal(result.results.length, batch.length, 'one result per op');
        result.results.forEach((r, i) => {
          assert.equal(r.opId, batch[i].stamp.opId, 'results come in order');
          client.statuses[r.status] += 1;
          if (r.status === 'applied') client.appliedVersions.push(r.serverVersion);
          if (r.status === 'applied' || r.status === 'duplicate') client.acknowledged.set(r.opId, batch[i].pk);
        });
        return;
      } catch (error) {
        client.errors.push(`push: ${error.code ?? error}`);
        if (attempt >= 5) throw error;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  }

  async function pull() {
    const started = performance.now();
    let page;
    try {
      page = await provider.pull({ scope, cursor: client.cursor, limit: PULL_LIMIT, deviceId });
    } catch (error) {
      client.errors.push(`pull: ${error.code ?? error}`);
      return;
    }
    client.pullMs.push(performance.now() - started);
    client.pulls += 1;
    // Every record is new and never rewritten, so the log holds every version: a page must
    // continue exactly where the cursor was.
    let expected = client.cursor + 1;
    for (const change of page.changes) {
      if (change.serverVersion !== expected) client.gaps.push(`expected ${expected}, got ${change.serverVersion}`);
      expected = change.serverVersion + 1;
    }
    client.pulled += page.changes.length;
    if (page.changes.length > 0 && page.nextCursor < page.changes.at(-1).serverVersion) {
      client.gaps.push(`nextCursor ${page.nextCursor} is behind the page`);
    }
    if (!page.hasMore && page.nextCursor !== expected - 1) {
      client.gaps.push(`the last page ends at ${expected - 1} but nextCursor is ${page.nextCursor}`);
    }
    client.cursor = page.nextCursor;
  }

  client.run = async (deadline) => {
    while (Date.now() < deadline) {
      await push(newBatch());
      await pull();
    }
    // Report the cursor once, as a device would (keeps the device table honest too).
    await provider.updateCursor(scope, deviceId, client.cursor);
  };
  client.dispose = () => provider.dispose();
  return client;
}

async function adminStats(url, workspaceId) {
  const response = await fetch(`${url}/admin/stats?workspaceId=${encodeURIComponent(workspaceId)}`, {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

/** Every change from cursor 0, by pk. */
async function pullEverything(url, workspaceId) {
  const provider = new HttpSyncProvider({ url, token: TOKEN, timeoutMs: 30_000 });
  try {
    const byPk = new Map();
    let cursor = 0;
    let pages = 0;
    for (;;) {
      const page = await provider.pull({ scope: { workspaceId }, cursor, limit: 1000 });
      pages += 1;
      for (const change of page.changes) {
        assert.ok(!byPk.has(change.pk), `${change.pk} appears once in the log`);
        byPk.set(change.pk, change);
      }
      cursor = page.nextCursor;
      if (!page.hasMore) return { byPk, cursor, pages };
    }
  } finally {
    provider.dispose();
  }
}

const fmt = (n) => (Number.isFinite(n) ? n.toFixed(1) : '-');

async function loadRun(label, db) {
  const server = await startSyncServer({ db, tokens: [`${TOKEN}=*`], settings: SETTINGS });
  const workspaceId = `load-${label}-${Date.now()}`;
  const clients = Array.from({ length: CLIENTS }, (_, i) => makeClient(i, server.url, workspaceId));
  // One listener on the live stream, to see it keep up under load.
  const listener = new HttpSyncProvider({ url: server.url, token: TOKEN });
  let hints = 0;
  try {
    const unsubscribe = await listener.subscribe({ workspaceId }, [], () => (hints += 1));
    const started = performance.now();
    const deadline = Date.now() + SECONDS * 1000;
    await Promise.all(clients.map((c) => c.run(deadline)));
    const elapsed = (performance.now() - started) / 1000;
    unsubscribe();

    const pushMs = clients.flatMap((c) => c.pushMs).sort((x, y) => x - y);
    const pullMs = clients.flatMap((c) => c.pullMs).sort((x, y) => x - y);
    const acknowledged = new Map(clients.flatMap((c) => [...c.acknowledged]));
    const statuses = { applied: 0, duplicate: 0, superseded: 0, rejected: 0 };
    for (const c of clients) for (const k of Object.keys(statuses)) statuses[k] += c.statuses[k];
    const pushes = clients.reduce((n, c) => n + c.pushes, 0);
    const pulls = clients.reduce((n, c) => n + c.pulls, 0);
    const errors = clients.flatMap((c) => c.errors);
    const rows = [
      ['database', label],
      ['clients x ops per push', `${CLIENTS} x ${BATCH}`],
      ['run time', `${elapsed.toFixed(2)} s`],
      ['ops pushed (acknowledged)', `${acknowledged.size}`],
      ['ops/s', `${(acknowledged.size / elapsed).toFixed(0)}`],
      ['pushes/s', `${(pushes / elapsed).toFixed(1)}`],
      ['pulls/s', `${(pulls / elapsed).toFixed(1)}`],
      ['push latency p50/p95/p99', `${fmt(percentile(pushMs, 50))} / ${fmt(percentile(pushMs, 95))} / ${fmt(percentile(pushMs, 99))} ms`],
      ['pull latency p50/p95/p99', `${fmt(percentile(pullMs, 50))} / ${fmt(percentile(pullMs, 95))} / ${fmt(percentile(pullMs, 99))} ms`],
      ['changes pulled (all clients)', `${clients.reduce((n, c) => n + c.pulled, 0)}`],
      ['stream hints received', `${hints}`],
      ['request errors', `${errors.length}`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    console.log(`load run on ${label}:\n${rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n')}`);

    // Verification.
    assert.deepEqual(errors, [], 'no request failed under load');
    assert.ok(acknowledged.size > 0, 'something was pushed');
    assert.equal(statuses.superseded, 0, 'new records are never superseded');
    assert.equal(statuses.rejected, 0, 'nothing was rejected');
    const stats = await adminStats(server.url, workspaceId);
    assert.equal(stats.version, statuses.applied, `the server version is the number of applied ops: ${JSON.stringify(stats)} vs ${JSON.stringify(statuses)}`);
    assert.equal(stats.version, acknowledged.size, 'every acknowledged op was applied exactly once');
    const versions = clients.flatMap((c) => c.appliedVersions).sort((x, y) => x - y);
    assert.ok(versions.every((v, i) => v === i + 1), 'every applied op got a server version of its own, 1..version');
    assert.equal(stats.records, acknowledged.size, 'one record per acknowledged op');
    assert.equal(stats.ops, acknowledged.size, 'one remembered op id per acknowledged op');
    assert.equal(stats.devices, CLIENTS, 'every client reported its cursor');

    const everything = await pullEverything(server.url, workspaceId);
    assert.equal(everything.cursor, stats.version, 'a full pull ends at the head');
    assert.equal(everything.byPk.size, acknowledged.size, 'the log holds exactly the acknowledged records');
    const missing = [];
    for (const [opId, pk] of acknowledged) {
      const change = everything.byPk.get(pk);
      if (!change || change.stamp.opId !== opId || change.op !== 'put' || change.payload?.id !== pk) missing.push(`${pk} (${opId})`);
    }
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged ops are missing or wrong on the server`);
    for (const c of clients) {
      assert.deepEqual(c.gaps.slice(0, 5), [], `client ${c.index}: its pulls saw the log without gaps (${c.gaps.length} problems)`);
      assert.ok(c.cursor <= stats.version);
    }
    assert.ok(hints > 0, 'the live stream announced changes while under load');
    assert.match(server.logs(), /"push"/, 'the server logged the pushes');
  } finally {
    listener.dispose();
    for (const c of clients) c.dispose();
    const exit = await server.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, `the server shut down cleanly:\n${server.logs().slice(-2000)}`);
  }
}

test(`load on SQLite: ${CLIENTS} clients for ${SECONDS} s, nothing lost or applied twice`, { timeout: 120_000 }, async () => {
  const temp = tempDir();
  try {
    await loadRun('sqlite', join(temp.dir, 'load.sqlite'));
  } finally {
    temp.remove();
  }
});

test(`load on PostgreSQL: ${CLIENTS} clients for ${SECONDS} s, nothing lost or applied twice`, { timeout: 120_000 }, async () => {
  const postgres = await startPostgres();
  try {
    await loadRun('postgres', postgres.url);
  } finally {
    await postgres.stop();
  }
});
