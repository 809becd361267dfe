// Two pages of one origin share a workspace: one of them pushes (Web Locks), the other takes
// over when it closes, no op is pushed twice, and watchers in either page see every change.
// The backend runs in this Node process (the wasm MemorySyncServer) and counts pushes per opId;
// the pages reach it through a function Playwright exposes to them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
let server;
let browser;
let wasm;

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/index.js`), 'run scripts/build.sh first');
  wasm = await import(`${root}dist/npm/dist/wasm/synclane_memory.js`);
  wasm.initSync({ module: readFileSync(`${root}dist/npm/dist/wasm/synclane_memory_bg.wasm`) });
  server = await startStaticServer(root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** The backend: a reference server that counts every op it is sent, by opId. */
function startBackend() {
  const sync = new wasm.MemorySyncServer();
  const pushes = new Map();
  const pages = new Set();
  const notifyAll = () => {
    for (const page of pages) void page.evaluate(() => window.onBackendChange?.()).catch(() => undefined);
  };
  const handle = async (call, arg) => {
    switch (call) {
      case 'push': {
        for (const op of arg.ops) pushes.set(op.stamp.opId, (pushes.get(op.stamp.opId) ?? 0) + 1);
        const result = sync.push(arg);
        if (result.results.some((r) => r.status === 'applied')) setTimeout(notifyAll, 0);
        return result;
      }
      case 'pull':
        return sync.pull(arg);
      case 'updateCursor':
        return sync.updateCursor(arg.workspaceId, arg.deviceId, arg.version);
      default:
        throw new Error(`unknown call ${call}`);
    }
  };
  return { sync, pushes, pages, handle };
}

/** A page that opened the workspace `dbName`, started the loop, and records what it sees. */
async function openPage(context, backend, dbName) {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  backend.pages.add(page);
  page.on('close', () => backend.pages.delete(page));
  await page.goto(`${server.url}/tests/e2e/support/blank.html`);
  await page.addScriptTag({ type: 'module', content: `
    import { SyncEngine, initSynclane } from '/dist/npm/dist/index.js';
    await initSynclane();
    // A provider whose every call goes to the backend in the test process.
    const listeners = new Set();
    window.onBackendChange = () => { for (const l of listeners) l([]); };
    const provider = {
      id: 'node-backend',
      mode: 'direct',
      async subscribe(scope, tables, onChanges) {
        listeners.add(onChanges);
        return () => listeners.delete(onChanges);
      },
      pull: (request) => window.backend('pull', request),
      push: (batch) => window.backend('push', batch),
      updateCursor: (scope, deviceId, version) => window.backend('updateCursor', { workspaceId: scope.workspaceId, deviceId, version }),
    };
    const engine = await SyncEngine.open({
      workspaceId: 'tabs', dbName: ${JSON.stringify(dbName)}, tables: ['notes'], provider,
      sync: { manualCooldownMs: 0, intervalMs: 3_600_000 },
    });
    window.seen = [];
    engine.watch('notes', (event) => window.seen.push(...event.ids));
    engine.start();
    window.engine = engine;
    window.ready = true;` });
  await page.waitForFunction(() => window.ready === true);
  return { page, errors };
}

const isLeader = (page) => page.evaluate(() => window.engine.isSyncLeader);
const pendingCount = (page) => page.evaluate(async () => (await window.engine.outbox()).totals.count);
const write = (page, ids) =>
  page.evaluate((ids) => window.engine.batch(ids.map((id) => ({ table: 'notes', op: 'put', record: { id, text: `text of ${id}` } }))), ids);

async function until(what, check, timeoutMs = 15_000) {
  const started = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('one page pushes, the other takes over when it closes, and no op is pushed twice', async () => {
  const backend = startBackend();
  const context = await browser.newContext();
  await context.exposeFunction('backend', backend.handle);
  const dbName = `tabs-${Date.now()}`;
  const first = await openPage(context, backend, dbName);
  const second = await openPage(context, backend, dbName);

  await until('a leader', async () => (await isLeader(first.page)) || (await isLeader(second.page)));
  const leaders = [await isLeader(first.page), await isLeader(second.page)];
  assert.equal(leaders.filter(Boolean).length, 1, `exactly one page runs the loop: ${leaders}`);
  const [leader, follower] = leaders[0] ? [first, second] : [second, first];

  // Writes in the follower are pushed by the leader; a sync asked for in the follower is
  // handed to the leader rather than run twice.
  await write(follower.page, ['f1', 'f2', 'f3']);
  const handedOver = await follower.page.evaluate(() => window.engine.syncNow());
  assert.equal(handedOver.reason, 'other_tab');
  await write(leader.page, ['l1', 'l2']);
  await until('five ops pushed', () => backend.pushes.size === 5);
  await until('the outbox drained', async () => (await pendingCount(leader.page)) === 0);

  // Another device (its own storage) writes: the leader pulls it, the follower's watchers see it.
  const otherContext = await browser.newContext();
  await otherContext.exposeFunction('backend', backend.handle);
  const other = await openPage(otherContext, backend, `other-${Date.now()}`);
  await write(other.page, ['remote1']);
  await until('the follower sees the remote write', () => follower.page.evaluate(() => window.seen.includes('remote1')));
  assert.equal(await follower.page.evaluate(async () => (await window.engine.get('notes', 'remote1'))?.text), 'text of remote1');

  // The leader closes; the follower takes over and pushes what was written meanwhile.
  await leader.page.close();
  await write(follower.page, ['after-close']);
  await until('the follower leads', () => isLeader(follower.page));
  await write(follower.page, ['f4']);
  await until('the new leader pushed', async () => (await pendingCount(follower.page)) === 0 && backend.pushes.size === 8);

  const counts = [...backend.pushes.entries()].filter(([, n]) => n !== 1);
  assert.deepEqual(counts, [], 'every op was pushed exactly once');
  const names = (await follower.page.evaluate(async () => (await window.engine.getAll('notes')).map((n) => n.id))).sort();
  assert.deepEqual(names, ['after-close', 'f1', 'f2', 'f3', 'f4', 'l1', 'l2', 'remote1']);
  await until('the other device has everything', async () => (await other.page.evaluate(async () => (await window.engine.getAll('notes')).length)) === 8);
  assert.equal(backend.sync.stats('tabs').records, 8);
  assert.deepEqual([...first.errors, ...second.errors, ...other.errors], []);
  await context.close();
  await otherContext.close();
});

test('a run of awaited writes reaches the other tabs in a few messages, every change included', async () => {
  const context = await browser.newContext();
  const dbName = `burst-${Date.now()}`;
  const open = async () => {
    const page = await context.newPage();
    await page.goto(`${server.url}/tests/e2e/support/blank.html`);
    await page.evaluate(async (dbName) => {
      const { SyncEngine, initSynclane } = await import('/dist/npm/dist/index.js');
      await initSynclane();
      window.engine = await SyncEngine.open({ workspaceId: 'burst', dbName, tables: ['notes'] });
      window.seen = [];
      window.engine.watch('notes', (event) => { if (event.source === 'other-tab') window.seen.push(...event.ids); });
      // What crosses between the tabs, as any listener of the engine's channel sees it.
      window.messages = 0;
      new BroadcastChannel(`synclane:${dbName}`).onmessage = () => { window.messages += 1; };
    }, dbName);
    return page;
  };
  const watcher = await open();
  const writer = await open();
  const writes = 60;
  await writer.evaluate(async (writes) => {
    for (let i = 0; i < writes; i++) await window.engine.put('notes', { id: `n${i}`, text: 'one by one' });
  }, writes);
  await until('the other tab saw every write', async () => (await watcher.evaluate(() => new Set(window.seen).size)) === writes);
  const messages = await watcher.evaluate(() => window.messages);
  assert.ok(messages >= 1 && messages <= writes / 3, `${writes} writes took ${messages} messages`);
  await context.close();
});
