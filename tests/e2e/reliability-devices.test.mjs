// Devices against the real reference server (release binary on a temporary SQLite file), each a
// browser context with its own storage: clocks ten minutes ahead and behind, and a soak of
// devices and tabs editing, going offline and online while the server restarts. At the end every
// device holds the server's data and no acknowledged write is missing.
//
// The soak runs for SYNCLANE_SOAK_MS (default 20 s); `scripts/soak.sh` runs it for longer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';
import { pullLatest, startSyncServer, tempDir, SERVER_BINARY } from '../../scripts/sync-server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SOAK_MS = Number(process.env.SYNCLANE_SOAK_MS ?? 20_000);
const MINUTE = 60_000;

let statics;
let browser;
let temp;

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/index.js`), 'run scripts/build.sh first');
  assert.ok(existsSync(SERVER_BINARY), 'run scripts/build.sh first (it builds the server)');
  temp = tempDir();
  statics = await startStaticServer(root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await statics?.close();
  temp?.remove();
});

/**
 * A tab of a device: a page in `context` with an engine on the server's workspace. Its hooks
 * are logged on `window.log`; `window.acked` collects the ops the server acknowledged.
 */
async function openTab(context, { name, url, token, workspaceId, dbName, loop = false }) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${statics.url}/tests/e2e/support/blank.html`);
  await page.evaluate(
    async ({ name, url, token, workspaceId, dbName, loop }) => {
      const synclane = await import('/dist/npm/dist/index.js');
      await synclane.initSynclane();
      const provider = new synclane.HttpSyncProvider({ url, token });
      const engine = await synclane.SyncEngine.open({
        workspaceId,
        dbName,
        tables: ['notes'],
        provider,
        sync: { manualCooldownMs: 0, intervalMs: 2_000 },
      });
      const log = { skew: [], errors: [], conflicts: 0 };
      window.acked = [];
      engine.hooks.on('sync.clock:action:skew', (e) => log.skew.push(e.aheadMs));
      engine.hooks.on('sync.error:action', (e) => log.errors.push(e.error.code));
      engine.hooks.on('sync.conflict:action:detected', () => { log.conflicts++; });
      engine.hooks.on('sync.push:action:after', (e) => e.batch.ops.forEach((op, i) => {
        if (e.result.results[i]?.status !== 'rejected') window.acked.push({ pk: op.pk, op: op.op, ...op.stamp });
      }));
      if (loop) engine.start();
      Object.assign(window, { synclane, engine, log, deviceName: name });
      window.view = async () => (await engine.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort();
    },
    { name, url, token, workspaceId, dbName: dbName ?? `${workspaceId}-${name}`, loop },
  );
  return { page, errors };
}

/** The server's live records as `id=text`, and each record's latest version (tombstones too). */
async function serverView(sync, token, workspaceId) {
  const { changes } = await pullLatest(sync.url, token, workspaceId);
  const latest = new Map([...changes].map(([pk, change]) => [pk, { op: change.op, ...change.stamp }]));
  const records = [...changes.values()].filter((c) => c.op === 'put').map((c) => `${c.pk}=${c.payload.text}`);
  return { records: records.sort(), latest };
}

/** Seconds of an HLC string's time (the high 32 bits of its NTP64 part). */
const hlcSeconds = (hlc) => Number(BigInt(`0x${hlc.slice(0, 16)}`) >> 32n);

test('devices 10 minutes ahead and behind converge; the local clock stops at the drift bound and the skew is reported', async () => {
  const workspaceId = 'skew';
  const token = 'skew-token';
  const sync = await startSyncServer({ db: join(temp.dir, 'skew.sqlite'), tokens: [`${token}=${workspaceId}`] });
  const devices = {};
  try {
    for (const [name, offset] of [['ahead', 10 * MINUTE], ['behind', -10 * MINUTE], ['exact', 0]]) {
      const context = await browser.newContext();
      // The page's clock, shifted, and flowing as usual from there.
      if (offset !== 0) await context.clock.install({ time: Date.now() + offset });
      devices[name] = { context, ...(await openTab(context, { name, url: sync.url, token, workspaceId })) };
    }
    const run = (name, fn, arg) => devices[name].page.evaluate(fn, arg);
    const put = (name, id, text) => run(name, async ({ id, text }) => (await window.engine.put('notes', { id, text })).hlc, { id, text });
    const syncAll = async () => {
      for (const name of ['ahead', 'behind', 'exact', 'ahead', 'behind', 'exact']) await run(name, () => window.engine.syncNow());
    };
    // Each device's clock, as its own first stamp shows it.
    const firstHlc = {};
    for (const name of Object.keys(devices)) firstHlc[name] = await put(name, `own-${name}`, `by ${name}`);
    // Concurrent edits of one record (each device's first): the highest HLC wins, the ahead one.
    for (const name of Object.keys(devices)) await put(name, 'shared', `concurrent by ${name}`);
    await syncAll();
    const afterConcurrent = {};
    for (const name of Object.keys(devices)) afterConcurrent[name] = await run(name, () => window.view());
    // A causally later edit by the device that is behind wins, as its per-record clock is higher.
    await put('behind', 'shared', 'later by behind');
    await syncAll();
    // The exact device's next stamp, after meeting stamps 10 minutes ahead.
    const exactNext = await put('exact', 'own-exact', 'again');
    const behindNext = await put('behind', 'own-behind', 'again');
    await syncAll();
    const views = {};
    const logs = {};
    for (const name of Object.keys(devices)) {
      views[name] = await run(name, () => window.view());
      logs[name] = await run(name, () => window.log);
    }
    const server = await serverView(sync, token, workspaceId);

    assert.ok(afterConcurrent.exact.includes('shared=concurrent by ahead'), `${afterConcurrent.exact}`);
    assert.deepEqual(afterConcurrent.behind, afterConcurrent.ahead);
    assert.deepEqual(afterConcurrent.exact, afterConcurrent.ahead);
    for (const name of Object.keys(devices)) assert.deepEqual(views[name], server.records, `${name} holds the server's data`);
    assert.ok(server.records.includes('shared=later by behind'), 'the later edit won despite its clock being behind');
    // Drift bound (5 minutes by default): the exact device's clock moved at most that far ahead of
    // its own time, though it met stamps 10 minutes ahead; the behind device's likewise.
    const exactJump = hlcSeconds(exactNext) - hlcSeconds(firstHlc.exact);
    assert.ok(exactJump <= 5 * 60 + 30, `the exact clock jumped ${exactJump} s`);
    assert.ok(exactJump >= 4 * 60, `the exact clock followed up to the bound (${exactJump} s)`);
    assert.ok(hlcSeconds(exactNext) < hlcSeconds(firstHlc.ahead) + 60 * 4, 'it did not adopt the ahead clock');
    const behindJump = hlcSeconds(behindNext) - hlcSeconds(firstHlc.behind);
    assert.ok(behindJump <= 5 * 60 + 30, `the behind clock jumped ${behindJump} s`);
    // Reported: the exact and behind devices saw stamps beyond their bound; the ahead one did not.
    // `aheadMs` is how far ahead of the receiving device's clock the stamps were.
    assert.ok(logs.exact.skew.length > 0 && Math.max(...logs.exact.skew) >= 9 * MINUTE, `exact: ${logs.exact.skew}`);
    assert.ok(logs.behind.skew.length > 0 && Math.max(...logs.behind.skew) >= 19 * MINUTE, `behind: ${logs.behind.skew}`);
    assert.deepEqual(logs.ahead.skew, []);
    for (const name of Object.keys(devices)) assert.deepEqual(devices[name].errors, []);
    console.log(`clock skew: exact clock moved ${exactJump} s, behind clock ${behindJump} s; the exact device reported stamps ${Math.round(Math.max(...logs.exact.skew) / 1000)} s ahead`);
  } finally {
    for (const d of Object.values(devices)) await d.context.close();
    await sync.stop();
  }
});

test('a push the server applied whose answer never arrived (the page died waiting) is retried idempotently: applied once, removed only after an acknowledgement', async () => {
  const workspaceId = 'lost-answer';
  const token = 'lost-token';
  const adminToken = 'lost-admin';
  const sync = await startSyncServer({ db: join(temp.dir, 'lost.sqlite'), tokens: [`${token}=${workspaceId}`], settings: { adminToken } });
  const stats = async () => (await fetch(`${sync.url}/admin/stats?workspaceId=${workspaceId}`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
  const context = await browser.newContext();
  try {
    const dbName = `lost-${Date.now()}`;
    const first = await openTab(context, { name: 'd', url: sync.url, token, workspaceId, dbName });
    await first.page.evaluate(async () => {
      for (let i = 0; i < 5; i++) await window.engine.put('notes', { id: `n${i}`, text: `t${i}` });
    });
    // The push reaches the server and is applied; its answer is held back, and the page dies.
    let reachedServer;
    const applied = new Promise((resolve) => { reachedServer = resolve; });
    await first.page.route('**/v1/push', async (route) => {
      const response = await route.fetch();
      reachedServer(response.status());
      // Never fulfilled: the page is killed while waiting.
    });
    void first.page.evaluate(() => window.engine.syncNow()).catch(() => {});
    assert.equal(await applied, 200);
    const serverAfterPush = await stats();
    const cdp = await context.newCDPSession(first.page);
    const crashed = new Promise((resolve) => first.page.once('crash', resolve));
    cdp.send('Page.crash').catch(() => {});
    await crashed;

    // Reopened: the ops are still in the outbox, in flight as the page left them; the first sync
    // (no other tab runs the loop) puts them back to pending and pushes them again.
    const second = await openTab(context, { name: 'd', url: sync.url, token, workspaceId, dbName });
    const reopened = await second.page.evaluate(async () => (await window.engine.outbox()).entries.map((e) => `${e.pk}:${e.state}`));
    const pushed = [];
    await second.page.evaluate(() => {
      window.results = [];
      window.engine.hooks.on('sync.push:action:after', (e) => window.results.push(...e.result.results.map((r) => r.status)));
    });
    const report = await second.page.evaluate(async () => (await window.engine.syncNow()).report);
    pushed.push(...(await second.page.evaluate(() => window.results)));
    const outboxAfter = await second.page.evaluate(async () => (await window.engine.outbox()).totals.count);
    const serverAfterRetry = await stats();
    const server = await serverView(sync, token, workspaceId);

    assert.equal(serverAfterPush.records, 5, 'the first push was applied');
    assert.deepEqual(reopened.sort(), ['n0:inFlight', 'n1:inFlight', 'n2:inFlight', 'n3:inFlight', 'n4:inFlight'], 'unacknowledged ops stayed in the outbox');
    assert.equal(report.error, undefined);
    assert.deepEqual(pushed, ['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate'], 'the server recognised the retry');
    assert.equal(outboxAfter, 0, 'acknowledged, so removed');
    assert.deepEqual(serverAfterRetry, serverAfterPush, 'applied once: the retry changed nothing on the server');
    assert.deepEqual(server.records, ['n0=t0', 'n1=t1', 'n2=t2', 'n3=t3', 'n4=t4']);
    assert.deepEqual(second.errors, []);
  } finally {
    await context.close();
    await sync.stop();
  }
});

test(`soak (${SOAK_MS / 1000} s): devices and tabs edit, go offline and online, the server restarts; all converge and no acknowledged write is lost`, async () => {
  const workspaceId = 'soak';
  const token = 'soak-token';
  const db = join(temp.dir, 'soak.sqlite');
  let sync = await startSyncServer({ db, tokens: [`${token}=${workspaceId}`] });
  const listen = new URL(sync.url).host;
  // Three devices; the first has two tabs on one database (one runs the loop, the other hands
  // its writes over).
  const tabs = [];
  const contexts = [];
  for (const name of ['d1', 'd2', 'd3']) {
    const context = await browser.newContext();
    contexts.push(context);
    tabs.push({ name, context, ...(await openTab(context, { name, url: sync.url, token, workspaceId, loop: true })) });
  }
  tabs.push({ name: 'd1-tab2', context: contexts[0], ...(await openTab(contexts[0], { name: 'd1', url: sync.url, token, workspaceId, loop: true })) });
  const figures = { writes: 0, deletes: 0, offline: 0, restarts: 0 };
  let seed = 42;
  const rand = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 16) % n;
  };
  try {
    const end = Date.now() + SOAK_MS;
    let nextRestart = Date.now() + SOAK_MS / 3;
    while (Date.now() < end) {
      const tab = tabs[rand(tabs.length)];
      const action = rand(20);
      if (action < 14) {
        const id = `r${rand(40)}`;
        await tab.page.evaluate(({ id, text }) => window.engine.put('notes', { id, text }), { id, text: `${tab.name} ${figures.writes}` });
        figures.writes++;
      } else if (action < 16) {
        await tab.page.evaluate((id) => window.engine.delete('notes', id), `r${rand(40)}`);
        figures.deletes++;
      } else if (action < 18) {
        // A device drops off the network for a moment (its tabs with it) and keeps writing.
        await tab.context.setOffline(true);
        figures.offline++;
        setTimeout(() => tab.context.setOffline(false).catch(() => {}), 300 + rand(1500));
      } else {
        await tab.page.evaluate(() => window.engine.syncNow());
      }
      if (Date.now() > nextRestart) {
        // The server is killed outright and comes back on the same address and database.
        await sync.kill();
        await new Promise((r) => setTimeout(r, 200 + rand(500)));
        sync = await startSyncServer({ db, tokens: [`${token}=${workspaceId}`], listen });
        figures.restarts++;
        nextRestart += SOAK_MS / 3;
      }
      await new Promise((r) => setTimeout(r, rand(30)));
    }
    for (const context of contexts) await context.setOffline(false);
    // Quiesce: sync until every outbox is empty and every device holds the server's data.
    const started = Date.now();
    let server;
    let views;
    for (;;) {
      for (const tab of tabs) await tab.page.evaluate(() => window.engine.syncNow());
      server = await serverView(sync, token, workspaceId);
      views = [];
      let pending = 0;
      for (const tab of tabs) {
        views.push(await tab.page.evaluate(() => window.view()));
        pending += await tab.page.evaluate(async () => (await window.engine.outbox()).totals.count);
      }
      if (pending === 0 && views.every((v) => JSON.stringify(v) === JSON.stringify(server.records))) break;
      assert.ok(Date.now() - started < 60_000, `no convergence after 60 s: ${pending} pending`);
      await new Promise((r) => setTimeout(r, 500));
    }
    // No acknowledged write is missing: for every op the server acknowledged, the server's final
    // version of that record is that op or one that beats it under the conflict rule (clock,
    // then HLC, then device, then op id, then a delete above a put). A lost write would leave
    // an older version there, or nothing.
    const beats = (a, b) => a.clock - b.clock
      || a.hlc.localeCompare(b.hlc)
      || a.deviceId.localeCompare(b.deviceId)
      || a.opId.localeCompare(b.opId)
      || (a.op === b.op ? 0 : a.op === 'delete' ? 1 : -1);
    const acked = [];
    for (const tab of tabs) acked.push(...(await tab.page.evaluate(() => window.acked)));
    const lost = acked.filter((op) => {
      const final = server.latest.get(op.pk);
      return !final || beats(final, op) < 0;
    });
    const finalAcked = [...server.latest.values()].filter((v) => acked.some((op) => op.opId === v.opId)).length;
    assert.deepEqual(tabs.flatMap((t) => t.errors), []);
    assert.ok(acked.length > 0, `${acked.length} ops acknowledged`);
    assert.deepEqual(lost, [], 'no acknowledged write is missing');
    assert.equal(finalAcked, server.latest.size, "each record's final version is an op acknowledged to its writer");
    console.log(`soak: ${SOAK_MS / 1000} s, ${figures.writes} writes, ${figures.deletes} deletes, ${figures.offline} offline spells, ${figures.restarts} server kills; ${new Set(acked.map((op) => op.opId)).size} ops acknowledged, none missing; ${server.records.length} live records identical on ${tabs.length} tabs; converged in ${Date.now() - started} ms`);
  } finally {
    for (const context of contexts) await context.close();
    await sync.stop();
  }
});
