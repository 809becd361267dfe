// The sync loop end to end in headless Chromium, through the npm package: devices editing
// offline and converging, failures that retry or fail for good, a large bootstrap, rescans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usePackagePages } from './support/scenario.mjs';

const { inPage } = usePackagePages();

test('two devices edit offline, reconnect and converge with the same winners', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const pa = new MemorySyncProvider({ id: 'a', server });
    const pb = new MemorySyncProvider({ id: 'b', server });
    const a = await window.openDevice('a', pa);
    const b = await window.openDevice('b', pb);
    await a.batch([
      { table: 'notes', op: 'put', record: { id: 'shared', text: 'v0' } },
      { table: 'notes', op: 'put', record: { id: 'doomed', text: 'v0' } },
    ]);
    await a.syncNow();
    await b.syncNow();
    pa.setFaults({ offline: true });
    pb.setFaults({ offline: true });
    // Offline on both sides: the same record edited twice on A and once on B (A's clock is
    // higher), a delete on A against an edit on B, and new records on both.
    await a.put('notes', { id: 'shared', text: 'a1' });
    await a.put('notes', { id: 'shared', text: 'a2' });
    await b.put('notes', { id: 'shared', text: 'b1' });
    await a.delete('notes', 'doomed');
    await b.put('notes', { id: 'doomed', text: 'b edits it' });
    await b.put('notes', { id: 'doomed', text: 'b edits it again' });
    await a.put('notes', { id: 'from-a', text: 'new' });
    await b.put('notes', { id: 'from-b', text: 'new' });
    const offline = await a.syncNow();
    pa.setFaults({ offline: false });
    pb.setFaults({ offline: false });
    const conflicts = [];
    for (const device of [a, b]) device.hooks.on('sync.conflict:action:detected', (e) => conflicts.push(`${e.pk}:${e.winner}`));
    for (const device of [a, b, a, b]) await device.syncNow();
    const view = async (d) => (await d.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort();
    return { offlineError: offline.report?.error?.code, a: await view(a), b: await view(b), conflicts, outbox: [(await a.outbox()).totals.count, (await b.outbox()).totals.count] };
  });
  assert.equal(result.offlineError, 'network');
  // "shared": A reached clock 3 (v0, a1, a2), B clock 2: A wins. "doomed": B's second edit has
  // clock 3 against A's delete at clock 2: the edit wins and the record lives.
  const expected = ['doomed=b edits it again', 'from-a=new', 'from-b=new', 'shared=a2'];
  assert.deepEqual(result.a, expected);
  assert.deepEqual(result.b, expected);
  assert.deepEqual(result.outbox, [0, 0]);
  assert.ok(result.conflicts.length >= 2, `conflicts were reported: ${result.conflicts}`);
});

test('transient failures deliver each op exactly once; a permanent one waits for retry', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const applied = new Map();
    // Count at the server, which sees the pushes whose answers are lost too.
    const push = server.push.bind(server);
    server.push = (batch) => {
      const result = push(batch);
      for (const r of result.results) if (r.status === 'applied') applied.set(r.opId, (applied.get(r.opId) ?? 0) + 1);
      return result;
    };
    const provider = new MemorySyncProvider({ server });
    const device = await window.openDevice('flaky', provider, { outbox: { retry: { scheduleMs: [20, 40], maxAttempts: 5 } } });
    for (let i = 0; i < 5; i++) await device.put('notes', { id: `n${i}`, text: `t${i}` });
    // The first push is lost before the server, the second after it applied the ops.
    provider.setFaults({ failNext: [{ op: 'push', code: 'network' }, { op: 'push', code: 'timeout', when: 'after' }] });
    const first = await device.syncNow();
    await new Promise((r) => setTimeout(r, 60));
    await device.syncNow();
    await new Promise((r) => setTimeout(r, 60));
    await device.syncNow();
    const afterTransient = (await device.outbox()).totals.count;

    provider.setFaults({ rejectOps: (op) => (op.pk === 'bad' ? 'rejected' : undefined) });
    await device.put('notes', { id: 'bad', text: 'refused' });
    const errors = [];
    device.hooks.on('sync.error:action', (e) => errors.push(e.error.code));
    await device.syncNow();
    const outbox = await device.outbox();
    const failed = outbox.entries.filter((e) => e.state === 'failed').map((e) => ({ pk: e.pk, code: e.lastError?.code }));
    await device.syncNow();
    const stillFailed = (await device.outbox()).entries.length;
    provider.setFaults({});
    await device.retryOp(outbox.entries[0].opId);
    await device.syncNow();
    return {
      firstError: first.report?.error?.code ?? null,
      afterTransient,
      appliedCounts: [...applied.values()],
      failed,
      stillFailed,
      errors,
      finalOutbox: (await device.outbox()).totals.count,
      serverRecords: server.stats('e2e').records,
    };
  });
  assert.equal(result.afterTransient, 0, 'the outbox drained after the transient failures');
  assert.equal(result.appliedCounts.length, 6);
  assert.ok(result.appliedCounts.every((n) => n === 1), `each op applied once: ${result.appliedCounts}`);
  assert.deepEqual(result.failed, [{ pk: 'bad', code: 'rejected' }]);
  assert.equal(result.stillFailed, 1, 'a failed op stays until the app decides');
  assert.ok(result.errors.includes('rejected'));
  assert.equal(result.finalOutbox, 0, 'retry delivered it');
  assert.equal(result.serverRecords, 6);
});

test('a bootstrap of 10,000 records reports progress; a rescan after expiry rebases and applies deletions', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer({ tombstoneRetentionMs: 0, deviceTtlMs: 0 });
    const pa = new MemorySyncProvider({ id: 'a', server });
    const a = await window.openDevice('writer', pa, { pullLimit: 1000 });
    const t0 = performance.now();
    for (let batch = 0; batch < 10; batch++) {
      await a.batch(Array.from({ length: 1000 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `r${batch * 1000 + i}`, text: 'x' } })));
    }
    const t1 = performance.now();
    await a.syncNow();
    const t2 = performance.now();

    const pb = new MemorySyncProvider({ id: 'b', server });
    const b = await window.openDevice('reader', pb, { pullLimit: 1000 });
    const progress = [];
    let completed;
    b.hooks.on('sync.bootstrap:action:progress', (e) => progress.push(e.pulled));
    b.hooks.on('sync.bootstrap:action:complete', (e) => (completed = e.totalPulled));
    const started = performance.now();
    await b.syncNow();
    const bootstrapMs = performance.now() - started;
    const bootstrapped = (await b.getAll('notes')).length;

    // B goes away; A deletes and edits; the server purges the tombstones B never pulled
    // (a device TTL of 0 means no device holds garbage collection back).
    pb.setFaults({ offline: true });
    await b.put('notes', { id: 'r5', text: 'edited on b while away' });
    await a.batch([
      { table: 'notes', op: 'delete', id: 'r1' },
      { table: 'notes', op: 'delete', id: 'r2' },
      { table: 'notes', op: 'put', record: { id: 'r3', text: 'edited on a' } },
    ]);
    await a.syncNow();
    const purged = server.collectGarbage();

    // The first rescan is interrupted after a page: nothing is lost.
    pb.setFaults({ offline: false, failNext: [{ op: 'pull', code: 'network' }] });
    const rescanEvents = [];
    b.hooks.on('sync.rescan:action:starting', () => rescanEvents.push('starting'));
    b.hooks.on('sync.rescan:action:completed', (e) => rescanEvents.push(`completed kept=${e.kept} deleted=${e.deleted}`));
    const interrupted = await b.syncNow();
    const afterInterrupt = (await b.getAll('notes')).length;
    await b.syncNow();
    await a.syncNow();
    const get = async (d, id) => (await d.get('notes', id))?.text ?? null;
    return {
      bootstrapped,
      progressPages: progress.length,
      firstProgress: progress[0],
      lastProgress: progress.at(-1),
      completed,
      bootstrapMs,
      phases: { write: t1 - t0, push: t2 - t1 },
      purged,
      interruptedError: interrupted.report?.error?.code ?? null,
      afterInterrupt,
      rescanEvents,
      b: { count: (await b.getAll('notes')).length, r1: await get(b, 'r1'), r3: await get(b, 'r3'), r5: await get(b, 'r5') },
      a: { count: (await a.getAll('notes')).length, r5: await get(a, 'r5') },
    };
  });
  assert.equal(result.bootstrapped, 10_000);
  // A bootstrap's first page is small (100), then pages of pullLimit (1,000): 100 + 9 x 1,000 + 900.
  assert.equal(result.firstProgress, 100);
  assert.equal(result.progressPages, 11);
  assert.equal(result.lastProgress, 10_000);
  assert.equal(result.completed, 10_000);
  assert.ok(result.purged >= 2, `tombstones purged: ${result.purged}`);
  assert.equal(result.interruptedError, 'network');
  assert.equal(result.afterInterrupt, 10_000, 'an interrupted rescan changes nothing');
  assert.ok(result.rescanEvents.some((e) => e.startsWith('completed kept=1 deleted=2')), JSON.stringify(result.rescanEvents));
  assert.deepEqual(result.b, { count: 9_998, r1: null, r3: 'edited on a', r5: 'edited on b while away' });
  assert.deepEqual(result.a, { count: 9_998, r5: 'edited on b while away' }, 'the rebased op reached the other device');
  console.log(`bootstrap of 10,000 records: ${Math.round(result.bootstrapMs)} ms`, result.phases);
});

test('a catch-up asks for the next page while it stores the current one; a page that fails drops the next and loses nothing', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const writer = await window.openDevice('writer', new MemorySyncProvider({ id: 'w', server }));
    await writer.batch(Array.from({ length: 100 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `n${i}`, text: 'v1' } })));
    await writer.syncNow();
    // The reader's provider: the real one, logging when each pull starts; a fault can spoil
    // the answer to the pull from a given cursor.
    const real = new MemorySyncProvider({ id: 'r', server });
    const log = [];
    let spoilFrom;
    const provider = window.providerWith(real, {
      id: 'logging',
      pull: async (request) => {
        log.push(`pull ${request.cursor}`);
        const response = await real.pull(request);
        if (request.cursor !== spoilFrom) return response;
        spoilFrom = undefined;
        return { ...response, changes: response.changes.map((c, i) => (i === 3 ? { ...c, op: 'upsert' } : c)) };
      },
    });
    const reader = await window.openDevice('reader', provider, { pullLimit: 20 });
    reader.hooks.on('sync.pull:action:applied', (e) => log.push(`applied ${e.cursor}`));
    // Pages: 20 records (a bootstrap's first page is at most 100), then pages of 20. The page
    // from cursor 40 is spoilt: the sync stops there, with what came before stored.
    spoilFrom = 40;
    const failed = await reader.syncNow();
    const afterFailure = { count: (await reader.getAll('notes')).length, cursor: (await reader.cursor()).cursor };
    const failureLog = [...log];
    log.length = 0;
    const resumed = await reader.syncNow();
    return {
      failedCode: failed.report?.error?.code,
      afterFailure,
      failureLog,
      resumedError: resumed.report?.error?.code ?? null,
      resumeLog: log,
      count: (await reader.getAll('notes')).length,
      cursor: (await reader.cursor()).cursor,
    };
  });
  // The pull of each next page starts before the page before it is stored; the page after the
  // spoilt one was asked for, and is dropped.
  assert.deepEqual(result.failureLog, ['pull 0', 'pull 20', 'applied 20', 'pull 40', 'applied 40', 'pull 60']);
  assert.equal(result.failedCode, 'invalid_change');
  assert.deepEqual(result.afterFailure, { count: 40, cursor: 40 }, 'the spoilt page stored nothing');
  assert.equal(result.resumedError, null);
  assert.deepEqual(result.resumeLog.slice(0, 3), ['pull 40', 'pull 60', 'applied 60']);
  assert.equal(result.count, 100);
  assert.equal(result.cursor, 100);
});

test('plan() tells what the next sync would push and what a rescan would change, and changes nothing', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer({ tombstoneRetentionMs: 0, deviceTtlMs: 0 });
    const a = await window.openDevice('plan-a', new MemorySyncProvider({ id: 'a', server }), { pullLimit: 2 });
    const pb = new MemorySyncProvider({ id: 'b', server });
    const b = await window.openDevice('plan-b', pb, { pullLimit: 2, outbox: { maxBatchOps: 2 } });
    await a.batch(['r1', 'r2', 'r3', 'r4', 'r5'].map((id) => ({ table: 'notes', op: 'put', record: { id, text: 'v1' } })));
    await a.syncNow();
    await b.syncNow();
    await a.batch([
      { table: 'notes', op: 'delete', id: 'r1' },
      { table: 'notes', op: 'put', record: { id: 'r2', text: 'v2 from a' } },
      { table: 'notes', op: 'put', record: { id: 'r6', text: 'new on a' } },
    ]);
    await a.syncNow();
    server.collectGarbage(); // r1's tombstone is purged: B's cursor expires
    await b.batch(['r3', 'r7', 'r8'].map((id) => ({ table: 'notes', op: 'put', record: { id, text: 'from b' } })));

    const before = { notes: (await b.getAll('notes')).length, outbox: (await b.outbox()).totals.count, cursor: await b.cursor() };
    let pushes = 0;
    b.hooks.on('sync.request', (e) => { if (e.kind === 'push') pushes++; });
    const plan = await b.plan({ rescan: true });
    const after = { notes: (await b.getAll('notes')).length, outbox: (await b.outbox()).totals.count, cursor: await b.cursor() };
    const pushesDuringPlan = pushes;
    let completed;
    b.hooks.on('sync.rescan:action:completed', (e) => (completed = e));
    await b.syncNow();
    const keys = (list) => list.map((m) => `${m.key.pk}${m.deleted ? ':tombstone' : ''}`).sort();
    return {
      batches: plan.push.batches.map((batch) => batch.map((e) => e.pk)),
      ops: plan.push.ops,
      pushesDuringPlan,
      rescan: { creations: keys(plan.rescan.creations), updates: keys(plan.rescan.updates), deletions: keys(plan.rescan.deletions), kept: plan.rescan.keptForRebase.map((k) => k.pk).sort(), summary: plan.rescan.summary, pulled: plan.rescan.pulled },
      before,
      after,
      completed: { created: completed.created, updated: completed.updated, deleted: completed.deleted, kept: completed.kept },
      final: (await b.getAll('notes')).map((n) => n.id).sort(),
    };
  });
  assert.deepEqual(result.batches, [['r3', 'r7'], ['r8']]);
  assert.equal(result.ops, 3);
  assert.equal(result.pushesDuringPlan, 0);
  assert.deepEqual(result.rescan.creations, ['r6']);
  assert.deepEqual(result.rescan.updates, ['r2']);
  assert.deepEqual(result.rescan.deletions, ['r1'], 'r1 is gone from the server: deleted with no tombstone');
  assert.deepEqual(result.rescan.kept, ['r3', 'r7', 'r8']);
  assert.deepEqual(result.before, result.after, 'the dry run changed nothing');
  assert.deepEqual(result.completed, { created: 1, updated: 1, deleted: 1, kept: 3 }, 'the rescan did what the plan said');
  assert.deepEqual(result.final, ['r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8']);
});

test('a catch-up that keeps failing does not rerun at once for the ops it never pushed: a permanent failure waits, a transient one retries each second', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer, SyncError } = window.synclane;
    const counts = {};
    const failing = (code) => {
      const real = new MemorySyncProvider({ server: new MemorySyncServer() });
      counts[code] = 0;
      return window.providerWith(real, {
        pull: async () => {
          counts[code]++;
          throw new SyncError(code, `pull refused (${code})`);
        },
      });
    };
    const out = {};
    for (const code of ['forbidden', 'network']) {
      const device = await window.openDevice(`failing-${code}`, failing(code), { sync: { intervalMs: 3_600_000 } });
      const errors = [];
      device.hooks.on('sync.error:action', (e) => errors.push(e.error.code));
      // A write waits in the outbox, due at once: it is never tried while the pull fails.
      await device.put('notes', { id: 'waiting', text: 'never pushed' });
      device.start();
      await window.until('the first failure', () => counts[code] > 0);
      await window.sleep(1500);
      await device.stop();
      out[code] = { pulls: counts[code], errors, pending: (await device.outbox()).totals.count };
      await device.close();
    }
    return out;
  });
  // Before: each failed job woke the loop again for the due op, a few milliseconds later.
  assert.ok(result.forbidden.pulls <= 3, `forbidden: ${JSON.stringify(result.forbidden)}`);
  assert.deepEqual(result.forbidden.errors, ['forbidden'], 'reported once');
  assert.ok(result.network.pulls >= 2 && result.network.pulls <= 4, `network: ${JSON.stringify(result.network)}`);
  assert.equal(result.forbidden.pending, 1);
  assert.equal(result.network.pending, 1);
});
