// The sync loop's lifecycle in headless Chromium, through the npm package: once `stop()` or
// `close()` resolves, the engine calls its provider no more, runs no timer, holds no Web Lock
// and leaves no unhandled rejection, whatever the loop was doing (waiting for the lock, taking
// it over from a closing tab, syncing, between two syncs). Each race is run many times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usePackagePages, loadPackage } from './support/scenario.mjs';

const { opened } = usePackagePages();

/**
 * A page with the package loaded, the unhandled rejections it sees in `window.rejections`, and
 * `window.openCounted(dbName, { intervalMs, latencyMs })`: an engine over an in-page memory
 * server whose provider counts every call, and that counts the loop's job events.
 */
async function lifecyclePage(context) {
  const { url } = opened();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loadPackage(page, url);
  await page.evaluate(() => {
    window.rejections = [];
    window.addEventListener('unhandledrejection', (event) => {
      window.rejections.push(String(event.reason?.stack ?? event.reason));
    });
    window.openCounted = async (dbName, { intervalMs, latencyMs = 0 }) => {
      const { SyncEngine, MemorySyncProvider, MemorySyncServer } = window.synclane;
      const real = new MemorySyncProvider({ server: new MemorySyncServer(), faults: { latencyMs } });
      const counter = { calls: 0, jobEvents: 0, kinds: [] };
      const count = (kind) => {
        counter.calls += 1;
        counter.kinds.push(kind);
      };
      const provider = window.providerWith(real, {
        subscribe: (...args) => (count('subscribe'), real.subscribe(...args)),
        pull: (request) => (count('pull'), real.pull(request)),
        push: (batch) => (count('push'), real.push(batch)),
        updateCursor: (...args) => (count('updateCursor'), real.updateCursor(...args)),
      });
      const engine = await SyncEngine.open({
        workspaceId: 'lifecycle', dbName, tables: ['notes'], provider,
        sync: { intervalMs, manualCooldownMs: 0 },
      });
      // Every request of the loop that reaches the policy shows as one of these.
      for (const name of ['sync.job.started', 'sync.job.blocked']) engine.hooks.on(name, () => { counter.jobEvents += 1; });
      return { engine, counter };
    };
  });
  return { page, errors };
}

/**
 * One handover: a leader and a follower start on one database; the leader closes and, at
 * the same time, the follower ends (`end`: stop or close) at a moment `mode` picks. Then a
 * third page must be able to take the lock.
 */
async function handover(end, mode, delayMs) {
  const { browser } = opened();
  const context = await browser.newContext();
  try {
    const pages = await Promise.all([0, 1, 2].map(() => lifecyclePage(context)));
    const [leader, follower, third] = pages.map((p) => p.page);
    const dbName = `handover-${Math.random()}`;
    const startEngine = (page) =>
      page.evaluate(async (dbName) => {
        const { engine, counter } = await window.openCounted(dbName, { intervalMs: 100 });
        window.engine = engine;
        window.counter = counter;
        engine.start();
      }, dbName);
    await startEngine(leader);
    await leader.evaluate(() => window.until('the first page leads', () => window.engine.isSyncLeader));
    await startEngine(follower);
    // Long enough for the follower's lock request to queue and an interval or two to pass.
    await follower.evaluate(() => window.sleep(150));
    assert.equal(await follower.evaluate(() => window.engine.isSyncLeader), false, 'the second page follows');

    const closing = leader.evaluate(() => window.engine.close());
    const outcome = await follower.evaluate(async ({ end, mode, delayMs }) => {
      const engine = window.engine;
      if (mode === 'on-takeover') {
        // End the moment the lock reaches this page: the takeover is under way.
        await new Promise((resolve) => {
          const deadline = Date.now() + 5000;
          const channel = new MessageChannel();
          channel.port1.onmessage = () => (engine.isSyncLeader || Date.now() > deadline ? resolve() : channel.port2.postMessage(0));
          channel.port2.postMessage(0);
        });
      } else {
        await window.sleep(delayMs);
      }
      const tookOver = engine.isSyncLeader;
      await engine[end]();
      const calls = window.counter.calls;
      const jobEvents = window.counter.jobEvents;
      const leaderAfter = engine.isSyncLeader;
      await window.sleep(1000);
      return {
        tookOver,
        leaderAfter,
        lateCalls: window.counter.kinds.slice(calls),
        lateJobEvents: window.counter.jobEvents - jobEvents,
      };
    }, { end, mode, delayMs });
    await closing;

    // The lock is free: a third page becomes the leader.
    const thirdLeads = await third.evaluate(async (dbName) => {
      const { engine } = await window.openCounted(dbName, { intervalMs: 100 });
      engine.start();
      const started = Date.now();
      while (!engine.isSyncLeader && Date.now() - started < 5000) await window.sleep(20);
      const leads = engine.isSyncLeader;
      await engine.close();
      return leads;
    }, dbName);
    const rejections = [];
    for (const page of [leader, follower, third]) rejections.push(...(await page.evaluate(() => window.rejections)));
    const errors = pages.flatMap((p) => p.errors);
    return { ...outcome, thirdLeads, rejections, errors };
  } finally {
    await context.close();
  }
}

/** Runs `rounds` handovers ending the follower with `end`, cycling through the moments to end it. */
async function handovers(end, rounds) {
  const failures = [];
  let tookOver = 0;
  for (let round = 0; round < rounds; round++) {
    // Most rounds end the follower during its takeover; the others while it may still wait for
    // the lock, or just after it took it.
    const mode = round % 3 === 2 ? 'delay' : 'on-takeover';
    const delayMs = mode === 'delay' ? Math.floor(Math.random() * 30) : 0;
    const r = await handover(end, mode, delayMs);
    if (r.tookOver) tookOver += 1;
    const problems = [];
    if (r.lateCalls.length > 0) problems.push(`${r.lateCalls.length} provider calls after ${end}() resolved (${[...new Set(r.lateCalls)]})`);
    if (r.lateJobEvents > 0) problems.push(`${r.lateJobEvents} sync requests after ${end}() resolved`);
    if (r.leaderAfter) problems.push(`still the leader after ${end}()`);
    if (!r.thirdLeads) problems.push('a third page could not take the lock');
    if (r.rejections.length > 0) problems.push(`${r.rejections.length} unhandled rejections: ${r.rejections[0]}`);
    if (r.errors.length > 0) problems.push(`page errors: ${r.errors[0]}`);
    if (problems.length > 0) failures.push(`round ${round} (${mode}${mode === 'delay' ? ` ${delayMs} ms` : ''}): ${problems.join('; ')}`);
  }
  return { failures, tookOver };
}

test('a follower stopped while it takes over the lock makes no provider call after stop() and frees the lock', async () => {
  const rounds = 12;
  const { failures, tookOver } = await handovers('stop', rounds);
  assert.deepEqual(failures, [], `${failures.length} of ${rounds} rounds went wrong:\n${failures.join('\n')}`);
  assert.ok(tookOver >= rounds / 2, `the race was hit: the follower was taking over in ${tookOver} of ${rounds} rounds`);
});

test('a follower closed while it takes over the lock makes no provider call and leaves no unhandled rejection', async () => {
  const rounds = 12;
  const { failures, tookOver } = await handovers('close', rounds);
  assert.deepEqual(failures, [], `${failures.length} of ${rounds} rounds went wrong:\n${failures.join('\n')}`);
  assert.ok(tookOver >= rounds / 2, `the race was hit: the follower was taking over in ${tookOver} of ${rounds} rounds`);
});

test('closing an engine at any moment of a fast loop leaves no unhandled rejection and no provider call', async () => {
  const { browser } = opened();
  const context = await browser.newContext();
  try {
    const { page, errors } = await lifecyclePage(context);
    const result = await page.evaluate(async () => {
      const cycles = [];
      const afterClose = [];
      for (let i = 0; i < 40; i++) {
        // Some providers answer a little later, so a close also lands while a call is pending.
        const { engine, counter } = await window.openCounted(`close-${i}-${Math.random()}`, { intervalMs: 5, latencyMs: i % 3 === 0 ? 2 : 0 });
        engine.start();
        await engine.put('notes', { id: `n${i}`, text: `cycle ${i}` });
        // An app's own sync, still under way when the engine closes: it settles either way.
        const manual = i % 4 === 1 ? engine.syncNow().then(() => 'resolved', (e) => e.code) : undefined;
        const delayMs = Math.floor(Math.random() * 81);
        await window.sleep(delayMs);
        await engine.close();
        cycles.push({ counter, calls: counter.calls, jobEvents: counter.jobEvents, delayMs });
        if (manual) await manual;
        if (i % 5 === 0) afterClose.push(await engine.syncNow().then(() => 'resolved', (e) => e.code));
      }
      await window.sleep(300);
      const late = cycles
        .map((c, i) => ({ cycle: i, delayMs: c.delayMs, calls: c.counter.kinds.slice(c.calls), jobEvents: c.counter.jobEvents - c.jobEvents }))
        .filter((c) => c.calls.length > 0 || c.jobEvents > 0);
      return { late, afterClose, synced: cycles.filter((c) => c.calls > 0).length, rejections: window.rejections };
    });
    assert.deepEqual(
      { unhandledRejections: result.rejections.length, closesFollowedByCalls: result.late.length },
      { unhandledRejections: 0, closesFollowedByCalls: 0 },
      `40 closes: ${result.rejections.length} unhandled rejections (${result.rejections[0]?.split('\n')[0]}), ` +
        `${result.late.length} engines called their provider or asked for a sync after close(): ${JSON.stringify(result.late.slice(0, 3))}`,
    );
    assert.ok(result.afterClose.length > 0 && result.afterClose.every((code) => code === 'closed'), `syncNow() after close() rejects with closed: ${result.afterClose}`);
    assert.ok(result.synced >= 20, `most engines synced before they closed (${result.synced} of 40)`);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test('an engine started again right after stop() leads, syncs, and stops for good', async () => {
  const { browser } = opened();
  const context = await browser.newContext();
  try {
    const { page, errors } = await lifecyclePage(context);
    const result = await page.evaluate(async () => {
      const { engine, counter } = await window.openCounted(`restart-${Math.random()}`, { intervalMs: 20 });
      engine.start();
      await window.until('the lead', () => engine.isSyncLeader);
      // A stop that is not awaited, then a start: the stale takeover and timers must not run
      // beside the new ones, and the new start must still get the lock.
      void engine.stop();
      engine.start();
      void engine.stop();
      engine.start();
      await window.until('the lead again', () => engine.isSyncLeader);
      await engine.put('notes', { id: 'after-restart', text: 'pushed by the restarted loop' });
      await window.until('the write is pushed', async () => (await engine.outbox()).totals.count === 0);
      const subscribes = counter.kinds.filter((k) => k === 'subscribe').length;
      await engine.stop();
      const calls = counter.calls;
      const jobEvents = counter.jobEvents;
      await window.sleep(300);
      // The lock is free again.
      const lockFree = await navigator.locks.request(`synclane:sync:${engine.dbName}`, { ifAvailable: true }, (lock) => lock !== null);
      await engine.close();
      return { subscribes, lateCalls: counter.calls - calls, lateJobEvents: counter.jobEvents - jobEvents, lockFree, rejections: window.rejections };
    });
    assert.equal(result.lateCalls, 0, 'no provider call after stop()');
    assert.equal(result.lateJobEvents, 0, 'no sync request after stop()');
    assert.equal(result.lockFree, true, 'stop() released the lock');
    assert.ok(result.subscribes <= 2, `the stale starts did not subscribe (${result.subscribes} subscriptions)`);
    assert.deepEqual(result.rejections, []);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
