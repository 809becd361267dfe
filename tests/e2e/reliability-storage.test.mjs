// Faults of local storage, in headless Chromium through the npm package: a page that dies
// mid-write, a transaction that aborts mid-batch, an exhausted quota, a database deleted or
// closed under the engine, and another tab's schema upgrade. Each test checks that records and
// outbox agree and that no pending write disappears without the app being told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usePackagePages, loadPackage } from './support/scenario.mjs';

const { opened } = usePackagePages();

/** A page of a fresh browser context (its own storage), with the package loaded. */
async function freshPage(context) {
  const { browser, url } = opened();
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loadPackage(page, url);
  return { ctx, page, errors, origin: new URL(url).origin };
}

/** Records, their stamps and the outbox of an engine, as plain data. */
const snapshotScript = async ({ dbName, tables = ['notes'] }) => {
  const engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName, tables });
  const records = [];
  for (const table of tables) {
    for (const r of await engine.getAll(table)) {
      const withMeta = await engine.get(table, r.id, { withMeta: true });
      records.push({ table, id: r.id, batch: r.batch, opId: withMeta._sync.opId, text: r.text });
    }
  }
  const outbox = await engine.outbox();
  await engine.close();
  return {
    records,
    outbox: outbox.entries.map((e) => ({ table: e.tableName, id: e.pk, opId: e.opId, state: e.state })),
    totals: outbox.totals,
  };
};

test('a page killed mid-write leaves every batch whole, each record with its own outbox entry', async () => {
  const { ctx, page } = await freshPage();
  const dbName = `crash-${Date.now()}`;
  await page.evaluate(async (name) => {
    window.engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: name, tables: ['notes'] });
    window.committed = -1;
    // Batches of 20 records written back to back, each one awaited: the crash lands while one
    // of them is in its transaction.
    void (async () => {
      for (let batch = 0; ; batch++) {
        const ops = Array.from({ length: 20 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `b${batch}-${i}`, batch, text: 'x'.repeat(4000) } }));
        await window.engine.batch(ops);
        window.committed = batch;
      }
    })();
  }, dbName);
  await page.waitForFunction(() => window.committed >= 25, null, { timeout: 30_000 });
  const committed = await page.evaluate(() => window.committed);
  // Kill the renderer outright: no unload handlers, no chance to finish the transaction.
  const cdp = await ctx.newCDPSession(page);
  const crashed = new Promise((resolve) => page.once('crash', resolve));
  cdp.send('Page.crash').catch(() => {});
  await crashed;

  const { page: after } = await freshPage(ctx);
  const state = await after.evaluate(snapshotScript, { dbName });
  await ctx.close();

  const perBatch = new Map();
  for (const r of state.records) perBatch.set(r.batch, (perBatch.get(r.batch) ?? 0) + 1);
  const batches = [...perBatch.keys()].sort((a, b) => a - b);
  assert.ok(batches.length >= committed + 1, `every batch acknowledged before the crash survived (${batches.length} > ${committed})`);
  assert.deepEqual(batches, batches.map((_, i) => i), 'the surviving batches are a prefix: none skipped');
  for (const [batch, count] of perBatch) assert.equal(count, 20, `batch ${batch} is whole`);
  // Both or neither: the outbox holds exactly one pending entry per record, with its op id.
  const byKey = (xs) => xs.map((x) => `${x.table}/${x.id}/${x.opId}`).sort();
  assert.deepEqual(byKey(state.outbox), byKey(state.records));
  assert.equal(state.totals.count, state.records.length, 'the outbox totals agree with its entries');
  assert.ok(state.outbox.every((e) => e.state === 'pending'));
  console.log(`page crash: ${committed + 1} batches acknowledged, ${batches.length} found whole after reopening, ${state.records.length} records = ${state.outbox.length} outbox entries`);
});

test('a transaction that aborts mid-batch (a unique index refuses a record) writes nothing of the batch', async () => {
  const { ctx, page, errors } = await freshPage();
  const result = await page.evaluate(async () => {
    const tables = [{ name: 'people', indexes: [{ name: 'byEmail', keyPath: 'email', unique: true }] }];
    const engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: `abort-${Math.random()}`, tables });
    await engine.put('people', { id: 'ann', email: 'ann@example.com' });
    const failures = [];
    engine.hooks.on('sync.capture:action:failed', (e) => failures.push(e.error.code));
    let error;
    try {
      // Bob's put is issued in the transaction before cat's fails in the browser's unique
      // index: the whole transaction must abort, ann's edit after it included.
      await engine.batch([
        { table: 'people', op: 'put', record: { id: 'bob', email: 'bob@example.com' } },
        { table: 'people', op: 'put', record: { id: 'cat', email: 'ann@example.com' } },
        { table: 'people', op: 'put', record: { id: 'ann', email: 'ann@new.example.com' } },
      ]);
    } catch (e) {
      error = { code: e.code, message: e.message };
    }
    const people = (await engine.getAll('people')).map((p) => `${p.id}:${p.email}`).sort();
    const outbox = (await engine.outbox()).entries.map((e) => e.pk);
    // The engine is still usable after the abort.
    await engine.put('people', { id: 'dan', email: 'dan@example.com' });
    const count = (await engine.outbox()).totals.count;
    await engine.close();
    return { error, failures, people, outbox, count };
  });
  await ctx.close();
  assert.deepEqual(errors, []);
  assert.equal(result.error?.code, 'storage');
  assert.match(result.error.message, /ConstraintError/);
  assert.deepEqual(result.failures, ['storage'], 'the app was told through the hook');
  assert.deepEqual(result.people, ['ann:ann@example.com'], 'neither bob nor the edit of ann landed');
  assert.deepEqual(result.outbox, ['ann']);
  assert.equal(result.count, 2);
});

test('an exhausted quota fails the write with quota_exceeded, keeps the outbox, and writes succeed once space is back', async () => {
  const { browser, url } = opened();
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  const origin = new URL(url).origin;
  const cdp = await ctx.newCDPSession(page);
  // Chromium applies a quota override to storage the origin opens afterwards: set it first.
  // 2 MB: room for the first notes, not for the 3 MB batch.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: 2 * 1024 * 1024 });
  await loadPackage(page, url);
  const big = await page.evaluate(async () => {
    window.engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: `quota-${Math.random()}`, tables: ['notes'] });
    window.failures = [];
    window.engine.hooks.on('sync.capture:action:failed', (e) => window.failures.push(e.error.code));
    for (let i = 0; i < 10; i++) await window.engine.put('notes', { id: `n${i}`, text: 'small' });
    // Random text, which does not compress.
    const random = (n) => {
      let s = '';
      while (s.length < n) s += Math.random().toString(36).slice(2);
      return s.slice(0, n);
    };
    window.bigOps = Array.from({ length: 8 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `big${i}`, text: random(400 * 1024) } }));
    let first = 'ok';
    try {
      await window.engine.batch(window.bigOps);
    } catch (e) {
      first = e.code;
    }
    return {
      first,
      ids: (await window.engine.getAll('notes')).map((n) => n.id).sort(),
      outbox: (await window.engine.outbox()).entries.map((e) => e.pk).sort(),
      failures: [...window.failures],
    };
  });
  // Space comes back (the override is lifted): the same batch now succeeds.
  await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  const retried = await page.evaluate(async () => {
    await window.engine.batch(window.bigOps);
    const outbox = await window.engine.outbox();
    return { records: (await window.engine.getAll('notes')).length, outbox: outbox.totals.count };
  });
  await ctx.close();
  assert.deepEqual(errors, []);
  assert.equal(big.first, 'quota_exceeded');
  assert.deepEqual(big.failures, ['quota_exceeded'], 'the app was told');
  const tenNotes = Array.from({ length: 10 }, (_, i) => `n${i}`).sort();
  assert.deepEqual(big.ids, tenNotes, 'nothing of the refused batch was written');
  assert.deepEqual(big.outbox, tenNotes, 'the outbox is intact');
  assert.deepEqual(retried, { records: 18, outbox: 18 });
});

test('a database deleted under the engine hands its pending writes to the app and closes the engine', async () => {
  const { ctx, page, errors } = await freshPage();
  const result = await page.evaluate(async () => {
    const dbName = `deleted-${Math.random()}`;
    const engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName, tables: ['notes'] });
    await engine.put('notes', { id: 'a', text: 'one' });
    await engine.put('notes', { id: 'b', text: 'two' });
    await engine.delete('notes', 'a');
    const lost = new Promise((resolve) => engine.hooks.on('sync.storage:action:lost', resolve));
    // What another tab, a logout handler or the user does: delete the database.
    const deleted = await new Promise((resolve, reject) => {
      const req = indexedDB.deleteDatabase(dbName);
      req.onsuccess = () => resolve('deleted');
      req.onerror = () => reject(req.error);
    });
    const event = await lost;
    let afterError;
    try {
      await engine.put('notes', { id: 'c', text: 'three' });
    } catch (e) {
      afterError = e.code;
    }
    // The app keeps the writes: it opens the workspace again and writes them back.
    const reopened = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName, tables: ['notes'] });
    await reopened.batch(event.pendingOps.map((op) => (op.op === 'put'
      ? { table: op.tableName, op: 'put', record: op.payload }
      : { table: op.tableName, op: 'delete', id: op.pk })));
    const notes = (await reopened.getAll('notes')).map((n) => `${n.id}=${n.text}`);
    const outbox = (await reopened.outbox()).totals.count;
    await reopened.close();
    return {
      deleted,
      reason: event.reason,
      pendingOps: event.pendingOps.map((op) => `${op.op}:${op.pk}:${op.payload?.text ?? ''}`).sort(),
      afterError,
      notes,
      outbox,
    };
  });
  await ctx.close();
  assert.deepEqual(errors, []);
  assert.equal(result.deleted, 'deleted', 'the deletion was not blocked');
  assert.equal(result.reason, 'deleted');
  // "a" was put then deleted: one outbox entry (the delete); "b" is a put.
  assert.deepEqual(result.pendingOps, ['delete:a:', 'put:b:two']);
  assert.equal(result.afterError, 'closed');
  assert.deepEqual(result.notes, ['b=two']);
  assert.equal(result.outbox, 2);
});

test('a connection the browser closes (site data cleared) is reported with the pending count and reopened', async () => {
  const { ctx, page, errors, origin } = await freshPage();
  const cdp = await ctx.newCDPSession(page);
  await page.evaluate(async () => {
    window.engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: `cleared-${Math.random()}`, tables: ['notes'] });
    for (let i = 0; i < 5; i++) await window.engine.put('notes', { id: `n${i}`, text: 'pending' });
    window.lost = new Promise((resolve) => window.engine.hooks.on('sync.storage:action:lost', resolve));
  });
  await cdp.send('Storage.clearDataForOrigin', { origin, storageTypes: 'indexeddb' });
  const result = await page.evaluate(async () => {
    const event = await window.lost;
    // The engine carries on: the next write reopens a working database.
    await window.engine.put('notes', { id: 'after', text: 'written after' });
    return {
      reason: event.reason,
      pendingBefore: event.pendingBefore,
      pendingAfter: event.pendingAfter,
      notes: (await window.engine.getAll('notes')).map((n) => n.id),
      outbox: (await window.engine.outbox()).totals.count,
    };
  });
  await ctx.close();
  assert.deepEqual(errors, []);
  assert.equal(result.reason, 'closed');
  assert.equal(result.pendingBefore, 5, 'the app learns how many pending writes it had');
  assert.equal(result.pendingAfter, 0, 'and that they went with the cleared data');
  assert.deepEqual(result.notes, ['after']);
  assert.equal(result.outbox, 1);
});

test("another tab's schema upgrade closes this tab's connection, which reopens with its outbox", async () => {
  const { browser } = opened();
  const ctx = await browser.newContext();
  const { page: tabA, errors: errorsA } = await freshPage(ctx);
  const { page: tabB, errors: errorsB } = await freshPage(ctx);
  const dbName = `upgrade-${Date.now()}`;
  const before = await tabA.evaluate(async (name) => {
    window.engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: name, tables: ['notes'] });
    for (let i = 0; i < 4; i++) await window.engine.put('notes', { id: `n${i}`, text: 'before' });
    return (await window.engine.outbox()).entries.map((e) => e.opId);
  }, dbName);
  // Tab B (a newer version of the app) upgrades the database while tab A holds it open.
  const upgrade = await tabB.evaluate(async (name) => {
    const current = (await indexedDB.databases()).find((d) => d.name === name).version;
    return new Promise((resolve, reject) => {
      let blocked = false;
      const req = indexedDB.open(name, current + 1);
      req.onblocked = () => { blocked = true; };
      req.onupgradeneeded = () => req.result.createObjectStore('added_by_tab_b');
      req.onsuccess = () => {
        const stores = [...req.result.objectStoreNames];
        req.result.close();
        resolve({ blocked, version: current + 1, stores });
      };
      req.onerror = () => reject(req.error);
    });
  }, dbName);
  const after = await tabA.evaluate(async () => {
    await window.engine.put('notes', { id: 'n4', text: 'after the upgrade' });
    const outbox = await window.engine.outbox();
    return { opIds: outbox.entries.map((e) => e.opId), count: outbox.totals.count, notes: (await window.engine.getAll('notes')).length };
  });
  await ctx.close();
  assert.deepEqual([...errorsA, ...errorsB], []);
  assert.equal(upgrade.blocked, false, 'tab A closed its connection at once');
  assert.ok(upgrade.stores.includes('added_by_tab_b') && upgrade.stores.includes('notes'));
  assert.deepEqual(after.opIds.slice(0, 4), before, 'the outbox survived, in order');
  assert.equal(after.count, 5);
  assert.equal(after.notes, 5);
});

test('a batch over an emptied table still sees tombstones and pending ops: clocks rise, tombstones clear, ops coalesce', async () => {
  // Batches skip the reads of stores that are empty; here the table is empty while the
  // tombstone store and the outbox are not, so those reads must still happen.
  const { ctx, page, errors } = await freshPage();
  const result = await page.evaluate(async () => {
    const engine = await window.synclane.SyncEngine.open({ workspaceId: 'e2e', dbName: `probe-${Math.random()}`, tables: ['notes'] });
    await engine.put('notes', { id: 'a', text: 'v1' });
    await engine.delete('notes', 'a');
    const captured = await engine.batch([
      { table: 'notes', op: 'put', record: { id: 'a', text: 'back' } },
      { table: 'notes', op: 'put', record: { id: 'b', text: 'new' } },
    ]);
    const outbox = (await engine.outbox()).entries.map((e) => `${e.pk}:${e.op}:${e.stamp.clock}`).sort();
    const inspection = await engine.inspect({ outboxLimit: 0 });
    const a = await engine.get('notes', 'a', { withMeta: true });
    await engine.close();
    return {
      clocks: captured.map((c) => `${c.pk}:${c.clock}:${c.replacedOpId ? 'replaced' : 'new'}`),
      outbox,
      tombstones: inspection.tombstones,
      a: `${a.text}:${a._sync.clock}`,
    };
  });
  await ctx.close();
  assert.deepEqual(errors, []);
  assert.deepEqual(result.clocks, ['a:3:replaced', 'b:1:new'], 'a continues from its tombstone (clock 2); its pending delete is replaced');
  assert.deepEqual(result.outbox, ['a:put:3', 'b:put:1']);
  assert.equal(result.a, 'back:3');
  assert.equal(result.tombstones, 0, 'the put cleared the tombstone');
});
