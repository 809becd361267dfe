// A server that lost its data: the in-memory server of a page that reloads (the database keeps
// the records and the cursor, the server starts empty), a provider without epochs whose server
// was replaced, and the reference server whose SQLite file was deleted. Each device must keep
// everything its user wrote, give the server back what it lost, report the reset once, and go
// on syncing with no error loop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';
import { loadPackage } from './support/scenario.mjs';
import { pullLatest, startSyncServer, tempDir, SERVER_BINARY } from '../../scripts/sync-server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
let statics;
let browser;

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/index.js`), 'run scripts/build.sh first');
  statics = await startStaticServer(root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await statics?.close();
});

/**
 * In the page: opens the devices named in `names` on their fixed databases against `provider`,
 * and records, per device, the hooks a reset touches.
 */
function openDevices() {
  window.openNamed = async (names, makeProvider, sync = {}) => {
    const devices = {};
    for (const name of names) {
      const engine = await window.synclane.SyncEngine.open({
        workspaceId: 'reset',
        dbName: `${window.dbPrefix}-${name}`,
        tables: ['notes'],
        provider: makeProvider(name),
        sync: { manualCooldownMs: 0, ...sync },
      });
      const log = { resets: [], errors: [], rescans: 0 };
      engine.hooks.on('sync.reset:action:completed', (e) => log.resets.push(e));
      engine.hooks.on('sync.error:action', (e) => log.errors.push(`${e.error.code}: ${e.error.message}`));
      engine.hooks.on('sync.rescan:action:completed', () => log.rescans++);
      devices[name] = { engine, log };
    }
    return devices;
  };
  window.view = async (engine) => (await engine.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort();
}

async function freshPage() {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loadPackage(page, statics.url);
  return { page, errors };
}

test('a page reload empties the in-memory server: both devices keep their data, republish it, report the reset once and sync on', async () => {
  const { page, errors } = await freshPage();
  const prefix = `reset-${Math.random()}`;
  const setup = async (prefix) => {
    window.dbPrefix = prefix;
  };
  await page.evaluate(setup, prefix);
  await page.evaluate(openDevices);
  const before = await page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const { a, b } = await window.openNamed(['a', 'b'], (name) => new MemorySyncProvider({ id: name, server }));
    await a.engine.put('notes', { id: 'a1', text: 'from a' });
    await a.engine.put('notes', { id: 'a2', text: 'deleted later' });
    await b.engine.put('notes', { id: 'b1', text: 'from b' });
    for (const device of [a, b, a, b]) await device.engine.syncNow();
    await a.engine.delete('notes', 'a2');
    await a.engine.syncNow();
    await b.engine.syncNow();
    const state = { a: await window.view(a.engine), b: await window.view(b.engine), cursorB: (await b.engine.cursor()).cursor };
    await a.engine.close();
    await b.engine.close();
    return state;
  });
  assert.deepEqual(before.a, ['a1=from a', 'b1=from b']);
  assert.deepEqual(before.b, before.a);

  // The reload: IndexedDB keeps both databases, the new page's server starts empty.
  await page.reload();
  await loadPackage(page, statics.url);
  await page.evaluate(setup, prefix);
  await page.evaluate(openDevices);
  const after = await page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    window.server = server;
    const devices = await window.openNamed(['a', 'b'], (name) => new MemorySyncProvider({ id: name, server }), { intervalMs: 100 });
    const { a, b } = devices;
    // A write made before the first sync with the new server.
    await b.engine.put('notes', { id: 'b2', text: 'written after the reload' });
    a.engine.start();
    b.engine.start();
    const settled = async () => {
      for (const { engine } of [a, b]) {
        const status = await engine.status();
        if (status.state !== 'idle' || status.pendingOps !== 0) return false;
      }
      return server.stats('reset').records === 3;
    };
    await window.until('both devices are synced with the new server', settled);
    await window.until('a sees b2', async () => (await window.view(a.engine)).includes('b2=written after the reload'));
    // Room for an error loop to show itself: the loop ticks every 100 ms.
    await window.sleep(1500);
    // Stopped, so that no interval sync runs while the statuses are read.
    await a.engine.stop();
    await b.engine.stop();
    const out = {
      a: await window.view(a.engine),
      b: await window.view(b.engine),
      logs: { a: a.log, b: b.log },
      stats: server.stats('reset'),
      deletedA2: await a.engine.get('notes', 'a2'),
      statuses: [await a.engine.status(), await b.engine.status()].map((s) => ({ state: s.state, pending: s.pendingOps, error: s.lastSyncError })),
      report: await a.engine.syncNow({ trigger: 'manual' }),
    };
    await a.engine.close();
    await b.engine.close();
    return { ...out, report: JSON.parse(JSON.stringify(out.report)) };
  });
  const expected = ['a1=from a', 'b1=from b', 'b2=written after the reload'];
  assert.deepEqual(after.a, expected, 'nothing a holds was deleted');
  assert.deepEqual(after.b, expected);
  assert.equal(after.deletedA2, undefined, 'the delete stays a delete');
  assert.equal(after.stats.records, 3, 'the server got its records back');
  assert.equal(after.stats.tombstones, 1, 'and the tombstone of a2, so no stale device can bring it back');
  for (const name of ['a', 'b']) {
    const log = after.logs[name];
    assert.deepEqual(log.errors, [], `${name}: no sync errors`);
    assert.equal(log.resets.length, 1, `${name}: the reset is reported once: ${JSON.stringify(log.resets)}`);
    const [reset] = log.resets;
    assert.equal(reset.previousCursor, before.cursorB, `${name}: ${JSON.stringify(reset)}`);
    assert.ok(reset.republishedRecords <= 2 && reset.republishedTombstones <= 1, `${name}: ${JSON.stringify(reset)}`);
  }
  // The first device to reconcile found the server empty and gave it all three versions (a1,
  // b1, a2's tombstone); the other found them there already, or did the same (pushes dedup by
  // op id). b's new write was kept as a pending op, not republished.
  const resets = [after.logs.a.resets[0], after.logs.b.resets[0]];
  assert.ok(resets.some((r) => r.republishedRecords === 2 && r.republishedTombstones === 1), JSON.stringify(resets));
  assert.equal(after.logs.b.resets[0].keptPending, 1);
  assert.equal(after.logs.a.resets[0].keptPending, 0);
  assert.deepEqual(after.statuses, [{ state: 'idle', pending: 0, error: undefined }, { state: 'idle', pending: 0, error: undefined }]);
  assert.equal(after.report.report.error, undefined);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a replaced server without epochs is still recognised by its lower head, and a device gives it back its data', async () => {
  const { page, errors } = await freshPage();
  await page.evaluate((prefix) => (window.dbPrefix = prefix), `no-epoch-${Math.random()}`);
  await page.evaluate(openDevices);
  const result = await page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    // A provider that never names an epoch: only the versions can tell a reset.
    const withoutEpoch = (server) => {
      const real = new MemorySyncProvider({ server });
      return window.providerWith(real, {
        pull: async (request) => {
          const { epoch, ...page } = await real.pull(request);
          return page;
        },
      });
    };
    const old = new MemorySyncServer();
    let { d } = await window.openNamed(['d'], () => withoutEpoch(old));
    for (let i = 0; i < 5; i++) await d.engine.put('notes', { id: `n${i}`, text: `note ${i}` });
    await d.engine.syncNow();
    const cursorBefore = (await d.engine.cursor()).cursor;
    await d.engine.close();

    const fresh = new MemorySyncServer();
    ({ d } = await window.openNamed(['d'], () => withoutEpoch(fresh)));
    const first = await d.engine.syncNow();
    const second = await d.engine.syncNow();
    const out = {
      cursorBefore,
      first: JSON.parse(JSON.stringify(first.report)),
      second: JSON.parse(JSON.stringify(second.report)),
      view: await window.view(d.engine),
      server: fresh.stats('reset'),
      cursor: (await d.engine.cursor()).cursor,
      log: d.log,
    };
    await d.engine.close();
    return out;
  });
  assert.equal(result.cursorBefore, 5);
  assert.equal(result.first.error, undefined, JSON.stringify(result.first));
  assert.equal(result.first.pushed, 5, 'the five records went back to the server');
  assert.deepEqual(result.view, [0, 1, 2, 3, 4].map((i) => `n${i}=note ${i}`));
  assert.equal(result.server.records, 5);
  assert.equal(result.cursor, 5, 'the cursor counts in the new server: its head after the republish');
  assert.equal(result.log.resets.length, 1);
  assert.deepEqual([result.log.resets[0].previousCursor, result.log.resets[0].cursor, result.log.resets[0].republishedRecords], [5, 0, 5]);
  assert.deepEqual(result.log.errors, []);
  assert.equal(result.second.error, undefined);
  assert.equal(result.second.pushed, 0, 'nothing is pushed twice');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the reference server with its SQLite file deleted: a device that kept its data rebuilds it and a new device gets everything', { skip: !existsSync(SERVER_BINARY) && 'run scripts/build.sh first' }, async () => {
  const temp = tempDir();
  const db = join(temp.dir, 'sync.sqlite');
  const TOKEN = 'reset-token';
  let server = await startSyncServer({ db, tokens: [`${TOKEN}=reset`] });
  const { page, errors } = await freshPage();
  try {
    await page.evaluate((prefix) => (window.dbPrefix = prefix), `sqlite-${Math.random()}`);
    await page.evaluate(openDevices);
    const before = await page.evaluate(async ({ url }) => {
      const make = (name) => new window.synclane.HttpSyncProvider({ url, token: 'reset-token', id: name });
      const { a } = await window.openNamed(['a'], make);
      await a.engine.put('notes', { id: 'kept', text: 'written before the reset' });
      await a.engine.put('notes', { id: 'gone', text: 'deleted before the reset' });
      await a.engine.syncNow();
      await a.engine.delete('notes', 'gone');
      await a.engine.syncNow();
      const cursor = (await a.engine.cursor()).cursor;
      await a.engine.close();
      return { cursor };
    }, { url: server.url });
    assert.equal(before.cursor, 3);

    // The database is deleted and the server starts on a new, empty one (a new epoch).
    await server.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true });
    server = await startSyncServer({ db, tokens: [`${TOKEN}=reset`], listen: server.address });
    const after = await page.evaluate(async ({ url }) => {
      const make = (name) => new window.synclane.HttpSyncProvider({ url, token: 'reset-token', id: name });
      const { a, fresh } = await window.openNamed(['a', 'fresh'], make);
      await fresh.engine.put('notes', { id: 'new', text: 'written on the new server first' });
      await fresh.engine.syncNow();
      const report = await a.engine.syncNow();
      await fresh.engine.syncNow();
      const out = {
        report: JSON.parse(JSON.stringify(report.report)),
        a: await window.view(a.engine),
        fresh: await window.view(fresh.engine),
        freshGone: await fresh.engine.get('notes', 'gone'),
        logA: a.log,
      };
      await a.engine.close();
      await fresh.engine.close();
      return out;
    }, { url: server.url });
    assert.equal(after.report.error, undefined, JSON.stringify(after.report));
    const all = ['kept=written before the reset', 'new=written on the new server first'];
    assert.deepEqual(after.a, all);
    assert.deepEqual(after.fresh, all);
    assert.equal(after.freshGone, undefined);
    // The new server's head (1, the fresh device's write) is below a's cursor (3), and its epoch
    // is new: a reconciles once and republishes its record and its tombstone.
    assert.equal(after.logA.resets.length, 1);
    assert.deepEqual(
      [after.logA.resets[0].previousCursor, after.logA.resets[0].republishedRecords, after.logA.resets[0].republishedTombstones],
      [3, 1, 1],
    );
    assert.deepEqual(after.logA.errors, []);
    const { changes } = await pullLatest(server.url, TOKEN, 'reset');
    assert.deepEqual([...changes.values()].map((c) => `${c.pk}:${c.op}`).sort(), ['gone:delete', 'kept:put', 'new:put']);
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await server.stop();
    temp.remove();
  }
});
