// The background loop in headless Chromium: what starts a sync by itself, what it tells the
// app (jobs, requests, subscription status, queue full, GC), echo suppression, rate limits and
// subscription failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usePackagePages } from './support/scenario.mjs';

const { inPage, opened } = usePackagePages();

test('a started engine pushes its writes and applies others by itself; its own ops do not come back as changes', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const a = await window.openDevice('live-a', new MemorySyncProvider({ id: 'a', server }));
    const b = await window.openDevice('live-b', new MemorySyncProvider({ id: 'b', server }));
    const log = [];
    for (const name of ['sync.job.started', 'sync.job.completed', 'sync.push:action:after', 'sync.subscription:action:statusChange']) {
      a.hooks.on(name, (e) => log.push({ name, trigger: e.trigger, status: e.status, ops: e.batch?.ops.length }));
    }
    const requests = [];
    a.hooks.on('sync.request', (e) => requests.push(`${e.kind}:${e.outcome}`));
    const seenByA = [];
    a.watch('notes', (e) => seenByA.push(`${e.source}:${e.ids.join(',')}`));
    a.start();
    b.start();
    await window.until('the subscription', () => log.some((e) => e.status === 'connected'));
    await window.until('the startup sync', () => log.some((e) => e.name === 'sync.job.completed' && e.trigger === 'startup'));

    await a.put('notes', { id: 'mine', text: 'written on a' });
    await window.until('b has it', async () => (await b.get('notes', 'mine'))?.text === 'written on a');
    // A settles first (nothing pending, no sync running, no retry scheduled), so only the
    // server's change can start its next sync.
    await window.until('a is settled', async () => (await a.status()).state === 'idle' && (await a.outbox()).totals.count === 0);
    await window.sleep(50);
    await b.put('notes', { id: 'theirs', text: 'written on b' });
    await window.until('a has it', async () => (await a.get('notes', 'theirs'))?.text === 'written on b');
    await window.until('a is idle', async () => (await a.status()).state === 'idle' && (await a.outbox()).totals.count === 0);
    await window.sleep(100); // room for a late echo to show up, if one were emitted
    const status = await a.status();
    await a.stop();
    await b.stop();
    return { log, requests, seenByA, status };
  });
  const triggers = result.log.filter((e) => e.name === 'sync.job.started').map((e) => e.trigger);
  assert.ok(triggers.includes('startup'), `startup sync: ${triggers}`);
  assert.ok(triggers.includes('localWrite'), `a write starts a sync: ${triggers}`);
  assert.ok(triggers.includes('remote'), `a change on the server starts a sync: ${triggers}`);
  assert.ok(result.log.some((e) => e.name === 'sync.push:action:after' && e.ops === 1));
  assert.deepEqual(result.log.filter((e) => e.status).map((e) => e.status).slice(0, 2), ['connecting', 'connected']);
  assert.ok(result.requests.includes('push:ok') && result.requests.includes('pull:ok') && result.requests.includes('updateCursor:ok'));
  // A's own write shows once, as local; B's once, as remote; the echo of A's op is silent.
  assert.deepEqual(result.seenByA, ['local:mine', 'remote:theirs']);
  assert.equal(result.status.pendingOps, 0);
  assert.equal(result.status.failedOps, 0);
});

test('a rate limit blocks every trigger until it passes, then the loop resumes by itself', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const provider = new MemorySyncProvider({ server });
    const device = await window.openDevice('limited', provider);
    await device.syncNow();
    provider.setFaults({ rateLimit: { retryAfterMs: 600 } });
    const blocked = [];
    device.hooks.on('sync.job.blocked', (e) => blocked.push(e.reason));
    await device.put('notes', { id: 'n1', text: 'waits for the limit' });
    const first = await device.syncNow();
    const during = await device.syncNow();
    const status = await device.status();
    device.start();
    const startedAt = Date.now();
    await window.until('the op is pushed', async () => server.stats('e2e').records === 1);
    const waitedMs = Date.now() - startedAt;
    await device.stop();
    return { first: first.report?.error?.code, during, status, blocked, waitedMs, outbox: (await device.outbox()).totals.count };
  });
  assert.equal(result.first, 'rate_limited');
  assert.equal(result.during.action, 'block');
  assert.equal(result.during.reason, 'rate_limited');
  assert.ok(result.during.blockedUntilMs > 0);
  assert.equal(result.status.state, 'blocked');
  assert.ok(result.blocked.includes('rate_limited'));
  assert.equal(result.outbox, 0, 'the loop resumed by itself once the limit passed');
});

test('a failing subscription reconnects with backoff, reports its status and gives up after the maximum', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const provider = new MemorySyncProvider({ server: new MemorySyncServer(), faults: { failNext: [{ op: 'subscribe', code: 'network', times: 3 }] } });
    const device = await window.openDevice('subscription', provider, { sync: { subscriptionMaxRetries: 3 } });
    const statuses = [];
    let gaveUp;
    device.hooks.on('sync.subscription:action:statusChange', (e) => statuses.push(e.status));
    device.hooks.on('sync.subscription:action:maxRetriesExceeded', (e) => (gaveUp = { attempts: e.attempts, code: e.error.code, at: Date.now() }));
    const started = Date.now();
    device.start();
    await window.until('giving up', () => gaveUp !== undefined);
    await device.stop();
    return { statuses, gaveUp: { attempts: gaveUp.attempts, code: gaveUp.code }, elapsedMs: gaveUp.at - started };
  });
  assert.deepEqual(result.statuses, ['connecting', 'disconnected', 'connecting', 'disconnected', 'connecting', 'disconnected']);
  assert.deepEqual(result.gaveUp, { attempts: 3, code: 'network' });
  assert.ok(result.elapsedMs >= 1_250, `backoff of 250 ms then 1 s between attempts: ${result.elapsedMs} ms`);
});

test('the outbox reports when it is full; idle GC purges covered tombstones and reports the cursor', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const device = await window.openDevice('gc', new MemorySyncProvider({ server }), {
      outbox: { capacityBytes: 400 },
      sync: { tombstoneRetentionMs: 0 },
    });
    const full = [];
    device.hooks.on('sync.queue:action:full', (e) => full.push(e.pendingBytes > e.capacityBytes));
    await device.batch(Array.from({ length: 5 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `n${i}`, text: 'x'.repeat(40) } })));
    await device.delete('notes', 'n0');
    await device.syncNow();
    let gc;
    device.hooks.on('sync.gc:action:completed', (e) => (gc = e));
    const cursors = [];
    device.hooks.on('sync.request', (e) => e.kind === 'updateCursor' && cursors.push(e.outcome));
    device.start();
    await window.until('idle GC', () => gc !== undefined);
    await device.stop();
    return { full, purged: gc.purgedTombstones, cursors, serverDevices: server.stats('e2e').devices };
  });
  assert.ok(result.full.length > 0 && result.full.every(Boolean), 'queue-full events past the capacity');
  assert.equal(result.purged, 1, 'the tombstone of n0 was purged');
  assert.ok(result.cursors.includes('ok'), 'the device cursor was reported');
  assert.equal(result.serverDevices, 1);
});

test('going offline blocks syncs; coming back online and becoming visible start them', async () => {
  const { browser, url } = opened();
  const page = await browser.newPage();
  try {
    await page.goto(`${url}/tests/e2e/support/blank.html`);
    await page.addScriptTag({ type: 'module', content: `
      import * as engineEntry from '/dist/npm/dist/index.js';
      import * as memory from '/dist/npm/dist/memory.js';
      const synclane = { ...engineEntry, ...memory };
      await Promise.all([synclane.initSynclane(), synclane.initMemoryServer()]);
      const server = new synclane.MemorySyncServer();
      window.engine = await synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: 'online-' + Math.random(), tables: ['notes'],
        provider: new synclane.MemorySyncProvider({ server }), sync: { manualCooldownMs: 0 } });
      window.triggers = [];
      window.engine.hooks.on('sync.job.completed', (e) => window.triggers.push(e.trigger));
      window.engine.start();
      window.ready = true;` });
    await page.waitForFunction(() => window.ready === true && window.triggers.includes('startup'));
    await page.context().setOffline(true);
    const offline = await page.evaluate(() => window.engine.syncNow());
    assert.deepEqual({ action: offline.action, reason: offline.reason }, { action: 'block', reason: 'offline' });
    await page.context().setOffline(false);
    await page.waitForFunction(() => window.triggers.includes('online'));
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await page.waitForFunction(() => window.triggers.includes('visibility'));
  } finally {
    await page.close();
  }
});

test('conflicts and errors during a bootstrap say so, so apps can keep them quiet', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const a = await window.openDevice('boot-a', new MemorySyncProvider({ id: 'a', server }));
    for (let i = 1; i <= 3; i++) await a.put('notes', { id: 'x', text: `a${i}` });
    await a.syncNow();
    const pb = new MemorySyncProvider({ id: 'b', server, faults: { failNext: [{ op: 'pull', code: 'network' }] } });
    const b = await window.openDevice('boot-b', pb);
    await b.put('notes', { id: 'x', text: 'b1' }); // clock 1 against the server's 3
    const errors = [];
    const conflicts = [];
    b.hooks.on('sync.error:action', (e) => errors.push({ phase: e.phase, duringBootstrap: e.duringBootstrap, code: e.error.code }));
    b.hooks.on('sync.conflict:action:detected', (e) => conflicts.push({ pk: e.pk, winner: e.winner, duringBootstrap: e.duringBootstrap }));
    await b.syncNow();
    await b.syncNow();
    await a.put('notes', { id: 'x', text: 'a4' });
    await b.put('notes', { id: 'x', text: 'b2' });
    await a.syncNow();
    await b.syncNow();
    return { errors, conflicts, text: (await b.get('notes', 'x')).text };
  });
  assert.deepEqual(result.errors, [{ phase: 'bootstrap', duringBootstrap: true, code: 'network' }]);
  assert.deepEqual(result.conflicts[0], { pk: 'x', winner: 'remote', duringBootstrap: true });
  assert.equal(result.conflicts.at(-1).duringBootstrap, false, 'a conflict after the bootstrap is not marked');
});
