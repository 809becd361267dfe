// Two browsers (two Playwright contexts: two devices, each with its own IndexedDB) sync through
// the real reference server (target/release/synclane-server on SQLite) with HttpSyncProvider:
// changes travel on the live stream alone, both devices edit offline (Chromium's own offline
// mode: fetch really fails), come back, and converge with last-write-wins winners that match
// the server's; the stream reconnects after the server restarts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';
import { until } from './support/wait.mjs';
import { pullLatest, startSyncServer, tempDir, SERVER_BINARY } from '../../scripts/sync-server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const WORKSPACE = 'server-e2e';
const TOKEN = 'device-token-1';
const ADMIN = 'admin-token-1';

let statics;
let browser;
let temp;
let sync;
let dbPath;
const contexts = [];

const startServer = (listen) =>
  startSyncServer({ db: dbPath, tokens: [`${TOKEN}=${WORKSPACE}`], settings: { adminToken: ADMIN }, ...(listen && { listen }) });

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/index.js`), 'run scripts/build.sh first');
  assert.ok(existsSync(SERVER_BINARY), 'run scripts/build.sh first (it builds the server)');
  temp = tempDir();
  dbPath = join(temp.dir, 'sync.sqlite');
  sync = await startServer();
  statics = await startStaticServer(root);
  browser = await launchBrowser();
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await statics?.close();
  await sync?.stop();
  temp?.remove();
});

/** The server's view, through its admin and protocol endpoints. */
async function serverStats() {
  const response = await fetch(`${sync.url}/admin/stats?workspaceId=${WORKSPACE}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  assert.equal(response.status, 200, await response.clone().text());
  return response.json();
}

/** Every live record on the server, as `id=text`, or with its stamp. */
async function serverRecords({ stamps = false } = {}) {
  const { changes } = await pullLatest(sync.url, TOKEN, WORKSPACE);
  return [...changes.values()]
    .filter((change) => change.op === 'put')
    .map(({ pk, payload, stamp: { clock, hlc, opId } }) => (stamps ? JSON.stringify([pk, clock, hlc, opId]) : `${pk}=${payload.text}`))
    .sort();
}

/**
 * A device: a fresh browser context (its own storage) with a page that opened a `SyncEngine`
 * on an `HttpSyncProvider`, started its loop, and records what the loop and the stream do.
 */
async function openDevice(name) {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${statics.url}/tests/e2e/support/blank.html`);
  await page.evaluate(
    async ({ name, url, token, workspaceId }) => {
      const synclane = await import('/dist/npm/dist/index.js');
      await synclane.initSynclane();
      const log = { streams: [], jobs: [], blocked: [], errors: [], conflicts: [], pushed: [] };
      const provider = new synclane.HttpSyncProvider({
        url,
        token,
        onStreamStatus: (status, error) => log.streams.push({ status, code: error?.code, at: Date.now() }),
      });
      const engine = await synclane.SyncEngine.open({
        workspaceId,
        dbName: `server-e2e-${name}-${Math.random()}`,
        tables: ['notes'],
        provider,
        // No interval sync: what reaches a device comes from the stream, a local write,
        // connectivity, or an explicit request.
        sync: { manualCooldownMs: 0, intervalMs: 3_600_000 },
      });
      engine.hooks.on('sync.job.started', (e) => log.jobs.push({ trigger: e.trigger, at: Date.now() }));
      engine.hooks.on('sync.job.blocked', (e) => log.blocked.push({ trigger: e.trigger, reason: e.reason }));
      engine.hooks.on('sync.error:action', (e) => log.errors.push({ code: e.error.code, at: Date.now() }));
      engine.hooks.on('sync.conflict:action:detected', (e) => log.conflicts.push(`${e.pk}:${e.winner}`));
      engine.hooks.on('sync.push:action:after', (e) =>
        e.batch.ops.forEach((op, i) => log.pushed.push(`${op.pk}:${e.result.results[i]?.status}${e.result.results[i]?.current ? '+current' : ''}`)),
      );
      Object.assign(window, { synclane, provider, engine, log });
      window.view = async () => (await engine.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort();
      window.state = async () => ({
        view: await window.view(),
        outbox: (await engine.outbox()).totals.count,
        cursor: (await engine.cursor()).cursor,
        status: (await engine.status()).state,
      });
    },
    { name, url: sync.url, token: TOKEN, workspaceId: WORKSPACE },
  );
  const state = () => page.evaluate(() => window.state());
  const log = () => page.evaluate(() => window.log);
  return { name, context, page, errors, state, log };
}

let a;
let b;

test('changes reach the other device through the live stream alone', async () => {
  a = await openDevice('a');
  b = await openDevice('b');
  for (const device of [a, b]) {
    await device.page.evaluate(() => window.engine.start());
    await until(`${device.name}: the stream is connected and the startup sync done`, async () => {
      const log = await device.log();
      return log.streams.at(-1)?.status === 'connected' && log.jobs.some((j) => j.trigger === 'startup') && (await device.state()).status === 'idle';
    });
  }
  const jobsBefore = (await b.log()).jobs.length;
  const t0 = Date.now();
  await a.page.evaluate(() =>
    window.engine.batch(['shared', 'doomed', 'gone', 'tie', 'keep'].map((id) => ({ table: 'notes', op: 'put', record: { id, text: 'v0' } }))),
  );
  const waited = await until('B receives the records', async () => (await b.state()).view.length === 5, 5_000);
  const bLog = await b.log();
  const triggers = bLog.jobs.slice(jobsBefore).map((j) => j.trigger);
  assert.ok(triggers.length > 0 && triggers.every((t) => t === 'remote'), `B synced only because the stream told it: ${triggers}`);
  assert.deepEqual((await b.state()).view, ['doomed=v0', 'gone=v0', 'keep=v0', 'shared=v0', 'tie=v0']);
  await until('both outboxes are empty', async () => (await a.state()).outbox === 0 && (await b.state()).outbox === 0);
  const stats = await serverStats();
  assert.equal(stats.records, 5);
  assert.equal(stats.version, 5);
  console.log(`A's write reached B through the stream in ${waited} ms (${Date.now() - t0} ms including the write)`);
});

test('both devices edit offline, come back online and converge with the same winners as the server', async () => {
  assert.ok(a && b, 'the first test opened the devices');
  const versionBefore = (await serverStats()).version;
  await a.context.setOffline(true);
  await b.context.setOffline(true);

  // Offline for real: the policy blocks with 'offline', and the provider's own fetch fails.
  // (Chromium's offline mode fails new requests but leaves an open stream alone, so the
  // streams stay up here; the restart test below makes them drop and reconnect.)
  for (const device of [a, b]) {
    const offline = await device.page.evaluate(async (workspaceId) => {
      const decision = await window.engine.syncNow();
      let code;
      try {
        await window.provider.pull({ scope: { workspaceId }, cursor: 0, limit: 1 });
      } catch (e) {
        code = `${e.name}:${e.code}`;
      }
      return { onLine: navigator.onLine, decision: `${decision.action}:${decision.reason}`, code };
    }, WORKSPACE);
    assert.deepEqual(offline, { onLine: false, decision: 'block:offline', code: 'SyncError:network' }, device.name);
  }

  // Offline on both sides (clocks: v0 gave every record clock 1; each local write is one more):
  // - shared: A writes twice (clock 3), B once (clock 2): A's a2 wins.
  // - doomed: A deletes (clock 2), B writes twice (clock 3): B's edit wins, the record lives.
  // - gone:   A writes once (clock 2), B writes then deletes (clock 3): the delete wins.
  // - tie:    A writes (clock 2), B writes 50 ms later (clock 2): equal clocks, B's later hlc wins.
  // - keep:   untouched; from-a and from-b are new.
  await a.page.evaluate(async () => {
    const e = window.engine;
    await e.put('notes', { id: 'shared', text: 'a1' });
    await e.put('notes', { id: 'shared', text: 'a2' });
    await e.delete('notes', 'doomed');
    await e.put('notes', { id: 'gone', text: 'a edits gone' });
    await e.put('notes', { id: 'tie', text: 'a tie' });
    await e.put('notes', { id: 'from-a', text: 'new' });
  });
  await new Promise((r) => setTimeout(r, 50));
  await b.page.evaluate(async () => {
    const e = window.engine;
    await e.put('notes', { id: 'shared', text: 'b1' });
    await e.put('notes', { id: 'doomed', text: 'b edits it' });
    await e.put('notes', { id: 'doomed', text: 'b edits it again' });
    await e.put('notes', { id: 'gone', text: 'b edits gone' });
    await e.delete('notes', 'gone');
    await e.put('notes', { id: 'tie', text: 'b tie' });
    await e.put('notes', { id: 'from-b', text: 'new' });
  });
  await new Promise((r) => setTimeout(r, 300));
  for (const device of [a, b]) {
    const state = await device.state();
    assert.equal(state.outbox, 5, `${device.name}: the offline writes wait in the outbox (coalesced per record)`);
    const log = await device.log();
    assert.ok(log.blocked.some((x) => x.trigger === 'localWrite' && x.reason === 'offline'), `${device.name}: local writes were blocked as offline`);
  }
  assert.equal((await serverStats()).version, versionBefore, 'nothing reached the server while offline');

  const conflictsBefore = [(await a.log()).conflicts.length, (await b.log()).conflicts.length];
  await a.context.setOffline(false);
  await b.context.setOffline(false);
  // A is online a moment before B: A's push can reach B's stream (which stayed open) while B
  // is still offline, and B's pull then fails with a network error that it retries once
  // online. Errors count from the moment both are back.
  const bothOnline = Date.now();

  const expected = ['doomed=b edits it again', 'from-a=new', 'from-b=new', 'keep=v0', 'shared=a2', 'tie=b tie'];
  // No syncNow: the 'online' events and the stream's hints must be enough.
  const waited = await until(
    'both devices converge on their own',
    async () => {
      const [sa, sb] = [await a.state(), await b.state()];
      const { version } = await serverStats();
      return (
        sa.outbox === 0 && sb.outbox === 0 &&
        JSON.stringify(sa.view) === JSON.stringify(expected) && JSON.stringify(sb.view) === JSON.stringify(expected) &&
        sa.cursor === version && sb.cursor === version
      );
    },
    20_000,
    async () => JSON.stringify({ a: await a.state(), b: await b.state(), server: await serverStats(), logA: await a.log(), logB: await b.log() }, null, 1),
  );
  const [sa, sb] = [await a.state(), await b.state()];
  assert.deepEqual(sa.view, expected);
  assert.deepEqual(sb.view, expected);
  assert.deepEqual([sa.outbox, sb.outbox], [0, 0], 'the outboxes are empty');
  assert.deepEqual(await serverRecords(), expected, 'the server holds the same records');
  const stats = await serverStats();
  assert.equal(stats.records, expected.length, `the server's record count: ${JSON.stringify(stats)}`);
  assert.equal(stats.tombstones, 1, 'gone is a tombstone on the server');
  assert.equal(sa.cursor, stats.version);
  assert.equal(sb.cursor, stats.version);
  // Which device reports which conflict depends on the timing (see the last test); the count is
  // informative only.
  const conflicts = [(await a.log()).conflicts.slice(conflictsBefore[0]), (await b.log()).conflicts.slice(conflictsBefore[1])];
  const errors = [...(await a.log()).errors, ...(await b.log()).errors]
    .filter((error) => error.at >= bothOnline)
    .map((error) => error.code);
  assert.deepEqual(errors, [], 'no sync error once back online');
  // The winners' stamps are the same on both devices and on the server, with the clocks the
  // reasoning above expects.
  const meta = (page) =>
    page.evaluate(async () =>
      (await window.engine.getAll('notes', { withMeta: true })).map((n) => JSON.stringify([n.id, n._sync.clock, n._sync.hlc, n._sync.opId])).sort(),
    );
  const onServer = await serverRecords({ stamps: true });
  assert.deepEqual(await meta(a.page), onServer);
  assert.deepEqual(await meta(b.page), onServer);
  const clocks = Object.fromEntries(onServer.map((m) => JSON.parse(m)).map(([id, clock]) => [id, clock]));
  assert.deepEqual(clocks, { doomed: 3, 'from-a': 1, 'from-b': 1, keep: 1, shared: 3, tie: 2 });
  console.log(`converged ${waited} ms after coming back online; conflicts reported: A ${JSON.stringify(conflicts[0])}, B ${JSON.stringify(conflicts[1])}`);
});

test('after convergence, a change on A reaches B through the stream alone', async () => {
  assert.ok(a && b, 'the first test opened the devices');
  const jobsBefore = (await b.log()).jobs.length;
  await a.page.evaluate(() => window.engine.put('notes', { id: 'late', text: 'after the offline period' }));
  const waited = await until('B sees the late record', async () => (await b.state()).view.includes('late=after the offline period'), 5_000);
  const triggers = (await b.log()).jobs.slice(jobsBefore).map((j) => j.trigger);
  assert.ok(triggers.length > 0 && triggers.every((t) => t === 'remote'), `B synced only because the stream told it: ${triggers}`);
  console.log(`the late change reached B in ${waited} ms`);
});

test('the streams reconnect after the server restarts, and changes flow again', async () => {
  assert.ok(a && b, 'the first test opened the devices');
  const address = sync.address;
  const dropsBefore = [(await a.log()).streams.length, (await b.log()).streams.length];
  await sync.stop(); // graceful: open streams end
  sync = await startServer(address); // same address, same database
  for (const device of [a, b]) {
    await until(`${device.name}: the stream dropped and reconnected`, async () => {
      const streams = (await device.log()).streams.slice(device === a ? dropsBefore[0] : dropsBefore[1]);
      return streams.some((s) => s.status === 'disconnected') && streams.at(-1)?.status === 'connected';
    }, 15_000, async () => JSON.stringify((await device.log()).streams));
  }
  const jobsBefore = (await b.log()).jobs.length;
  await a.page.evaluate(() => window.engine.put('notes', { id: 'after-restart', text: 'still flowing' }));
  await until('B sees the record written after the restart', async () => (await b.state()).view.includes('after-restart=still flowing'), 5_000);
  const triggers = (await b.log()).jobs.slice(jobsBefore).map((j) => j.trigger);
  assert.ok(triggers.every((t) => t === 'remote'), `B synced only because the stream told it: ${triggers}`);
  await until('both outboxes are empty', async () => (await a.state()).outbox === 0 && (await b.state()).outbox === 0);
  assert.deepEqual((await a.state()).view, (await b.state()).view);
  assert.deepEqual(await serverRecords(), (await a.state()).view);
  assert.deepEqual([...a.errors, ...b.errors], [], 'no uncaught page errors');
});

// A device whose pending op loses at the server (the push answers `superseded` with `current`,
// because another device pushed a higher version between this device's pull and its push)
// overwrites its local edit with the winner. That is a conflict its app must hear about, as it
// does when the same winner arrives by a pull while the op is pending.
test('a device whose edit is superseded at push time reports the conflict', async () => {
  assert.ok(a && b, 'the first test opened the devices');
  await a.page.evaluate(() => window.engine.put('notes', { id: 'contested', text: 'v0' }));
  await until('B has the contested record', async () => (await b.state()).view.includes('contested=v0'), 5_000);
  await until('both outboxes are empty', async () => (await a.state()).outbox === 0 && (await b.state()).outbox === 0);
  const conflictsBefore = [(await a.log()).conflicts.length, (await b.log()).conflicts.length];
  const pushedBefore = (await b.log()).pushed.length;

  // B's next push is held in the network until A has pushed a higher version.
  let held;
  const arrived = new Promise((resolve) => {
    held = resolve;
  });
  let release;
  const released = new Promise((resolve) => {
    release = resolve;
  });
  const pattern = `${sync.url}/v1/push`;
  await b.context.route(pattern, async (route) => {
    if (route.request().method() === 'POST') {
      held();
      await released;
    }
    await route.continue();
  });
  try {
    await b.page.evaluate(() => window.engine.put('notes', { id: 'contested', text: 'b (clock 2)' }));
    await arrived; // B pulled, found nothing new, and is pushing
    await a.page.evaluate(async () => {
      await window.engine.put('notes', { id: 'contested', text: 'a (clock 2)' });
      await window.engine.put('notes', { id: 'contested', text: 'a (clock 3)' });
    });
    await until('A pushed', async () => (await a.state()).outbox === 0);
    release();
    await until('B settled its push', async () => (await b.state()).outbox === 0);
  } finally {
    release();
    await b.context.unroute(pattern);
  }
  await until('both hold the winner', async () =>
    (await a.state()).view.includes('contested=a (clock 3)') && (await b.state()).view.includes('contested=a (clock 3)'), 5_000);
  assert.deepEqual((await b.log()).pushed.slice(pushedBefore), ['contested:superseded+current'], 'the server superseded B\'s op and sent the winner');
  const reported = [(await a.log()).conflicts.slice(conflictsBefore[0]), (await b.log()).conflicts.slice(conflictsBefore[1])];
  assert.ok(reported[1].includes('contested:remote'), `B lost its edit and reports it: A ${JSON.stringify(reported[0])}, B ${JSON.stringify(reported[1])}`);
});
