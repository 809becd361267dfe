// The devtools panel in headless Chromium: <synclane-devtools> over a live engine (pending,
// failed, retried and discarded ops, the conflict log, the event stream and its filters, the
// engine picker, style isolation), its cost with 10,000 pending ops, and the Chrome DevTools
// extension: a valid Manifest V3 package whose panel (the same module) shows another page's
// engine through a stubbed chrome.devtools.inspectedWindow.eval.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, launchBrowser } from './support/browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const PANEL = 'synclane-devtools';
let server;
let browser;

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/devtools.js`), 'build the package first (scripts/build.sh, or tsc -p js)');
  // The extension as the build packages it.
  execFileSync(process.execPath, [`${root}scripts/package-extension.mjs`], { stdio: ['ignore', 'ignore', 'inherit'] });
  server = await startStaticServer(root, { mounts: { '/ext/': `${root}dist/devtools-extension` } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/** A page with the package (`synclane`), its devtools (`devtools`) and helpers loaded. */
async function openPage({ viewport = { width: 1280, height: 900 } } = {}) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/tests/e2e/support/blank.html`);
  await page.addScriptTag({
    type: 'module',
    content: `
      import * as engineEntry from '/dist/npm/dist/index.js';
      import * as memory from '/dist/npm/dist/memory.js';
      import * as devtools from '/dist/npm/dist/devtools.js';
      const synclane = { ...engineEntry, ...memory };
      await Promise.all([synclane.initSynclane(), synclane.initMemoryServer()]);
      Object.assign(window, { synclane, devtools });
      window.openDevice = async (name, provider, extra = {}) => {
        const engine = await synclane.SyncEngine.open({
          workspaceId: 'e2e', dbName: 'devtools-' + name + '-' + Math.random().toString(36).slice(2), tables: ['notes'], provider,
          ...extra, sync: { manualCooldownMs: 0, ...extra.sync },
        });
        devtools.installDevtoolsHook(engine); // what SyncEngine's constructor does once it calls the hook itself
        return engine;
      };
      window.mountPanel = (engine, options) => {
        devtools.defineDevtoolsElement();
        const el = document.createElement('${PANEL}');
        if (options) el.options = options;
        if (engine) el.engine = engine;
        document.body.append(el);
        return el;
      };
      window.ready = true;`,
  });
  await page.waitForFunction(() => window.ready === true);
  return {
    page,
    errors,
    async close() {
      await page.close();
      assert.deepEqual(errors, [], 'no page errors');
    },
  };
}

/** Polls `read` until `check(value)` holds; returns the value. */
async function until(what, read, check, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let value;
  for (;;) {
    value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rowStates = (page) =>
  page.locator(`${PANEL} tr[data-op-id]`).evaluateAll((rows) => rows.map((r) => `${r.dataset.pk}:${r.dataset.state}`));

test('outbox rows: pending, failed with the last error, Retry delivers, Discard drops', async () => {
  const { page, close } = await openPage();
  await page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    window.server = new MemorySyncServer();
    window.provider = new MemorySyncProvider({ id: 'device', server: window.server });
    window.engine = await window.openDevice('outbox', window.provider);
    window.panel = window.mountPanel(window.engine);
    for (let i = 0; i < 3; i++) await window.engine.put('notes', { id: `n${i}`, text: `t${i}` });
  });
  // The panel polls by itself: the writes appear as pending rows.
  assert.deepEqual(await until('3 pending rows', () => rowStates(page), (s) => s.length === 3), ['n0:pending', 'n1:pending', 'n2:pending']);
  assert.match(await page.locator(`${PANEL} [data-testid="outbox-count"]`).textContent(), /^showing 3 of 3 · \d+ B$/);
  assert.equal(await page.locator(`${PANEL} .sl-status [data-key="pendingOps"] .sl-v`).textContent(), '3');
  assert.equal(await page.locator(`${PANEL} .sl-cursor`).getAttribute('data-phase'), 'coldStart');
  assert.equal(await page.locator(`${PANEL} button[data-action]`).filter({ hasText: /Retry|Discard/ }).count(), 0, 'no actions on pending ops');

  // The server refuses "bad": it fails for good, the others are delivered.
  await page.evaluate(async () => {
    window.provider.setFaults({ rejectOps: (op) => (op.pk === 'bad' || op.pk === 'doomed' ? 'rejected' : undefined) });
    await window.engine.put('notes', { id: 'bad', text: 'refused' });
    await window.engine.syncNow();
    await window.panel.refresh();
  });
  assert.deepEqual(await rowStates(page), ['bad:failed']);
  const bad = page.locator(`${PANEL} tr[data-pk="bad"]`);
  assert.match(await bad.textContent(), /rejected: op [0-9a-f]+ was rejected by the server/);
  assert.match(await bad.textContent(), /waits for retry/);
  assert.equal(await page.locator(`${PANEL} .sl-status [data-key="failedOps"] .sl-v`).textContent(), '1');
  assert.equal(await page.locator(`${PANEL} .sl-status`).getAttribute('data-state'), await page.evaluate(async () => (await window.engine.status()).state));
  assert.equal(await page.locator(`${PANEL} .sl-cursor`).getAttribute('data-phase'), 'live');
  assert.equal(await page.locator(`${PANEL} button[data-action="retry"]`).count(), 1);

  // Retry from the panel (the fault cleared): the op is pending again, and the next sync delivers it.
  await page.evaluate(() => window.provider.setFaults({ rejectOps: (op) => (op.pk === 'doomed' ? 'rejected' : undefined) }));
  await bad.locator('button[data-action="retry"]').click();
  assert.deepEqual(await until('bad pending again', () => rowStates(page), (s) => s[0] === 'bad:pending'), ['bad:pending']);
  await page.evaluate(async () => {
    await window.engine.syncNow();
    await window.panel.refresh();
  });
  assert.deepEqual(await rowStates(page), []);
  assert.equal(await page.locator(`${PANEL} [data-testid="outbox-count"]`).textContent(), 'empty');
  const onServer = await page.evaluate(async () => {
    const reader = await window.openDevice('reader', new window.synclane.MemorySyncProvider({ id: 'reader', server: window.server }));
    await reader.syncNow();
    return (await reader.get('notes', 'bad'))?.text ?? null;
  });
  assert.equal(onServer, 'refused', 'the server has the retried op');

  // Discard from the panel: the op leaves the outbox and never reaches the server.
  await page.evaluate(async () => {
    await window.engine.put('notes', { id: 'doomed', text: 'never pushed' });
    await window.engine.syncNow();
    await window.panel.refresh();
  });
  assert.deepEqual(await rowStates(page), ['doomed:failed']);
  await page.locator(`${PANEL} tr[data-pk="doomed"] button[data-action="discard"]`).click();
  await until('the discarded row to go', () => rowStates(page), (s) => s.length === 0);
  const after = await page.evaluate(async () => ({ outbox: (await window.engine.outbox()).totals.count, records: window.server.stats('e2e').records }));
  assert.deepEqual(after, { outbox: 0, records: 4 });
  assert.equal(await page.locator(`${PANEL} [data-testid="error"]`).isHidden(), true, 'no error shown');
  await close();
});

test('the conflict log shows both versions, the winner and bootstrap conflicts; the picker switches engines', async () => {
  const { page, close } = await openPage();
  await page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const a = await window.openDevice('a', new MemorySyncProvider({ id: 'a', server }));
    const b = await window.openDevice('b', new MemorySyncProvider({ id: 'b', server }));
    await a.put('notes', { id: 'x', text: 'v0' });
    await a.syncNow();
    await b.syncNow();
    await a.put('notes', { id: 'x', text: 'a1' }); // clock 2, pending on A
    await b.put('notes', { id: 'x', text: 'b1' });
    await b.put('notes', { id: 'x', text: 'b2' }); // clock 3: B wins
    await b.syncNow();
    await a.syncNow();
    // C wrote x before its first sync: its bootstrap meets B's version.
    const c = await window.openDevice('c', new MemorySyncProvider({ id: 'c', server }));
    await c.put('notes', { id: 'x', text: 'c1' });
    await c.syncNow();
    Object.assign(window, { a, b, c });
    // No engine: the element lists every engine of the page.
    window.panel = window.mountPanel();
    await window.panel.refresh();
  });
  const picker = page.locator(`${PANEL} select[data-testid="engine-picker"]`);
  assert.equal(await picker.isVisible(), true);
  const options = await picker.locator('option').evaluateAll((os) => os.map((o) => ({ id: o.value, label: o.textContent })));
  const idOf = (name) => options.find((o) => o.label.includes(`devtools-${name}-`)).id;
  assert.ok(options.length >= 3);

  await picker.selectOption(idOf('a'));
  const conflicts = page.locator(`${PANEL} .sl-conflicts tr`);
  await until('a conflict row', () => conflicts.count(), (n) => n === 1);
  const row = conflicts.first();
  assert.equal(await row.getAttribute('data-pk'), 'x');
  assert.equal(await row.getAttribute('data-winner'), 'remote');
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[0], 'notes/x');
  assert.match(cells[1], /^put · clock 2 · pending\s*hlc [0-9a-f]{16}-[0-9a-f]{16} · device [0-9a-f]{8}…$/);
  assert.match(cells[2], /^put · clock 3\s*hlc [0-9a-f]{16}-[0-9a-f]{16} · device [0-9a-f]{8}…$/);
  assert.equal(cells[3], 'remote');
  assert.equal(cells[4], '—');
  assert.match(cells[5], /ago|now/);
  assert.equal(await page.locator(`${PANEL} [data-testid="conflict-count"]`).textContent(), 'showing 1 of 1');

  await picker.selectOption(idOf('c'));
  await until('the bootstrap conflict', () => page.locator(`${PANEL} .sl-conflicts tr[data-pk="x"] td:nth-child(5)`).allTextContents(), (t) => t[0] === 'yes');
  assert.equal(await page.locator(`${PANEL} .sl-conflicts tr`).count(), 1);

  // Closing an engine removes it from the picker.
  await page.evaluate(async () => {
    await window.b.close();
    await window.panel.refresh();
  });
  const remaining = await picker.locator('option').evaluateAll((os) => os.map((o) => o.value));
  assert.equal(remaining.includes(idOf('b')), false);
  assert.equal(remaining.includes(idOf('c')), true);
  assert.equal(await picker.inputValue(), idOf('c'), 'the selection stays');
  await close();
});

test('the event stream: newest first, text and name filters, pause and resume', async () => {
  const { page, close } = await openPage();
  await page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    window.engine = await window.openDevice('events', new MemorySyncProvider({ server: new MemorySyncServer() }));
    window.panel = window.mountPanel(window.engine);
    await window.engine.put('notes', { id: 'needle', text: 'find-me-42' });
    await window.engine.put('notes', { id: 'hay', text: 'other' });
    await window.engine.syncNow();
  });
  const items = page.locator(`${PANEL} .sl-events li`);
  await until('sync.push:action:after in the stream', () => page.locator(`${PANEL} .sl-events li[data-name="sync.push:action:after"]`).count(), (n) => n === 1);
  const seqs = (await items.evaluateAll((lis) => lis.map((li) => Number(li.dataset.seq))));
  assert.ok(seqs.length > 10, `events: ${seqs.length}`);
  assert.deepEqual(seqs, [...seqs].sort((x, y) => y - x), 'newest first');
  assert.equal(seqs[0], seqs.length, 'every event since the engine opened, seq from 1');
  const names = await items.evaluateAll((lis) => lis.map((li) => li.dataset.name));
  for (const name of ['sync.op:action:captured', 'sync.job.started', 'sync.push:action:before', 'sync.push:action:after', 'sync.job.completed']) {
    assert.ok(names.includes(name), `${name} in ${names}`);
  }

  // The text filter matches names and payloads.
  const filter = page.locator(`${PANEL} input[data-testid="event-filter"]`);
  await filter.fill('find-me-42');
  const matched = await items.evaluateAll((lis) => lis.map((li) => [li.dataset.name, li.textContent.includes('find-me-42')]));
  assert.ok(matched.length >= 2, JSON.stringify(matched));
  assert.ok(matched.every(([, has]) => has));
  assert.ok(matched.some(([name]) => name === 'sync.op:action:captured'));
  await filter.fill('push:action:AFTER');
  assert.deepEqual(await items.evaluateAll((lis) => lis.map((li) => li.dataset.name)), ['sync.push:action:after']);
  await filter.fill('');

  // The name filter.
  await page.locator(`${PANEL} select[data-testid="event-name"]`).selectOption('sync.op:action:captured');
  assert.deepEqual(await items.evaluateAll((lis) => lis.map((li) => li.dataset.name)), ['sync.op:action:captured', 'sync.op:action:captured']);
  await page.locator(`${PANEL} select[data-testid="event-name"]`).selectOption('');

  // Expanding an event shows its payload in full.
  const captured = page.locator(`${PANEL} .sl-events li[data-name="sync.op:action:captured"]`).last();
  await captured.click();
  assert.match(await captured.locator('.sl-ev-payload').textContent(), /\n {2}"workspaceId": "e2e"/);

  // Paused, new events wait; resumed, they appear.
  const pause = page.locator(`${PANEL} button[data-action="pause-events"]`);
  await pause.click();
  await page.evaluate(() => window.engine.put('notes', { id: 'late', text: 'after-pause' }));
  await until('the paused count', () => pause.textContent(), (t) => t === 'Resume (1 new)');
  assert.equal(await page.locator(`${PANEL} .sl-events li`, { hasText: 'after-pause' }).count(), 0);
  await pause.click();
  assert.equal(await page.locator(`${PANEL} .sl-events li`, { hasText: 'after-pause' }).count(), 1);
  assert.equal(await pause.textContent(), 'Pause');
  await close();
});

test('polling runs while the panel is visible, pauses while it is hidden and stops once it is removed', async () => {
  const { page, close } = await openPage();
  await page.evaluate(async () => {
    const engine = await window.openDevice('polling', new window.synclane.MemorySyncProvider({ faults: { offline: true } }));
    await engine.put('notes', { id: 'n', text: 't' });
    // Any DevtoolsSource can feed the element: this one counts the calls of the page source.
    const inner = window.devtools.createPageSource(engine);
    window.calls = { inspect: 0, events: 0 };
    const source = {
      ...inner,
      inspect: (...args) => (window.calls.inspect++, inner.inspect(...args)),
      events: (...args) => (window.calls.events++, inner.events(...args)),
    };
    window.devtools.defineDevtoolsElement();
    window.panel = document.createElement('synclane-devtools');
    window.panel.options = { inspectIntervalMs: 200, eventsIntervalMs: 100 };
    window.panel.source = source;
    document.body.append(window.panel);
  });
  const calls = () => page.evaluate(() => ({ ...window.calls }));
  const live = page.locator(`${PANEL} [data-testid="live"]`);
  await until('a few polls', calls, (c) => c.inspect >= 3 && c.events >= 5);
  assert.equal(await live.getAttribute('data-state'), 'live');
  assert.equal(await page.locator(`${PANEL} tr[data-pk="n"]`).count(), 1);

  await page.evaluate(() => (window.panel.hidden = true));
  await new Promise((r) => setTimeout(r, 300)); // a poll in flight may finish
  const hidden = await calls();
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(await calls(), hidden, 'no calls while hidden');
  assert.equal(await live.getAttribute('data-state'), 'paused');

  await page.evaluate(() => (window.panel.hidden = false));
  await until('polling again', calls, (c) => c.inspect > hidden.inspect && c.events > hidden.events);

  await page.evaluate(() => window.panel.remove());
  await new Promise((r) => setTimeout(r, 300));
  const removed = await calls();
  await new Promise((r) => setTimeout(r, 800));
  assert.deepEqual(await calls(), removed, 'no calls once removed');
  await close();
});

test('10,000 pending ops: 200 rows fetched and drawn, unchanged rows untouched, render cost independent of the outbox size', async () => {
  const { page, close } = await openPage();
  const result = await page.evaluate(async () => {
    const { MemorySyncProvider } = window.synclane;
    const fill = async (engine, n) => {
      for (let done = 0; done < n; done += 1000) {
        const size = Math.min(1000, n - done);
        await engine.batch(Array.from({ length: size }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `r${String(done + i).padStart(5, '0')}`, text: 'x'.repeat(40) } })));
      }
    };
    const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const sum = (xs) => xs.reduce((s, x) => s + x, 0);
    const measure = async (pending) => {
      // Offline and never started: everything stays pending.
      const engine = await window.openDevice(`perf-${pending}`, new MemorySyncProvider({ faults: { offline: true } }));
      await fill(engine, pending);
      const cycles = [];
      // No background polling during the measurement: every cycle below is one we asked for.
      const el = window.mountPanel(engine, { inspectIntervalMs: 3_600_000, eventsIntervalMs: 3_600_000, onCycle: (s) => cycles.push(s) });
      const first = await el.refresh();
      const tbody = el.shadowRoot.querySelector('.sl-outbox');
      const marked = [...tbody.rows];
      for (const tr of marked) tr.__kept = true;
      const steady = [];
      for (let i = 0; i < 20; i++) steady.push(await el.refresh());
      const rows = [...tbody.rows];
      const out = {
        pending,
        creation: cycles.filter((c) => c.rows.created > 0).map((c) => ({ inspectMs: c.inspectMs, renderMs: c.renderMs, created: c.rows.created })),
        firstShown: first.outboxShown,
        steadyInspectMs: median(steady.map((s) => s.inspectMs)),
        steadyRenderMs: median(steady.map((s) => s.renderMs)),
        steadyRenderTotalMs: sum(steady.map((s) => s.renderMs)),
        steadyCycleMs: median(steady.map((s) => s.inspectMs + s.renderMs)),
        touched: steady.reduce((n, s) => n + s.rows.created + s.rows.updated + s.rows.moved + s.rows.removed, 0),
        kept: steady.at(-1).rows.kept,
        domRows: rows.length,
        sameNodes: rows.length === marked.length && rows.every((tr, i) => tr === marked[i] && tr.__kept),
        countText: el.shadowRoot.querySelector('[data-testid="outbox-count"]').textContent,
        firstKey: rows[0]?.dataset.pk,
        lastKey: rows.at(-1)?.dataset.pk,
      };
      el.remove();
      await engine.close();
      return out;
    };
    return { small: await measure(100), large: await measure(10_000) };
  });
  const { small, large } = result;
  const fmt = (r) =>
    `${r.pending} pending: first render ${r.creation.map((c) => `${c.created} rows in ${c.renderMs.toFixed(1)} ms (inspect ${c.inspectMs.toFixed(1)} ms)`).join(', ')}; ` +
    `steady cycle ${r.steadyCycleMs.toFixed(1)} ms = inspect ${r.steadyInspectMs.toFixed(1)} ms + render ${r.steadyRenderMs.toFixed(2)} ms (20 renders: ${r.steadyRenderTotalMs.toFixed(1)} ms)`;
  console.log(`devtools panel:\n  ${fmt(small)}\n  ${fmt(large)}`);

  assert.match(small.countText, /^showing 100 of 100 · \d+(\.\d)? KB$/);
  assert.match(large.countText, /^showing 200 of 10,000 · \d+(\.\d)? MB$/);
  assert.deepEqual([small.domRows, large.domRows, large.firstShown], [100, 200, 200], 'only outboxLimit rows are fetched and drawn');
  assert.deepEqual([large.firstKey, large.lastKey], ['r00000', 'r00199'], 'the head of the queue');
  for (const r of [small, large]) {
    assert.equal(r.creation.length, 1, 'rows are created once');
    assert.equal(r.touched, 0, 'a refresh with nothing changed touches no row');
    assert.equal(r.kept, r.domRows);
    assert.ok(r.sameNodes, 'the same row elements stay');
  }
  // Bounds relative to the 100-op baseline of this run (no absolute timings). The first render
  // draws 200 rows against 100; steady renders touch nothing whatever the outbox holds. The
  // 1 ms allows for the timer's resolution (0.1 ms) over sub-millisecond renders.
  const smallCreate = small.creation[0].renderMs;
  const largeCreate = large.creation[0].renderMs;
  assert.ok(largeCreate <= 6 * smallCreate + 1, `first render: ${largeCreate.toFixed(1)} ms vs ${smallCreate.toFixed(1)} ms`);
  assert.ok(large.steadyRenderTotalMs <= 6 * small.steadyRenderTotalMs + 1, `steady renders: ${large.steadyRenderTotalMs.toFixed(2)} ms vs ${small.steadyRenderTotalMs.toFixed(2)} ms`);
  await close();
});

test('the panel keeps its styles to itself and ignores the page\'s', async () => {
  const { page, close } = await openPage();
  await page.addStyleTag({
    content: `
      * { color: rgb(255, 0, 0) !important; font-family: serif !important; }
      body { font-size: 31px; line-height: 3; }
      td, th { background: rgb(0, 255, 0); padding: 17px; }
      button { text-transform: uppercase; }`,
  });
  await page.evaluate(async () => {
    document.body.insertAdjacentHTML('beforeend', '<table id="app-table"><tr><td id="app-cell">app</td></tr></table><button id="app-button">app</button>');
    const engine = await window.openDevice('styles', new window.synclane.MemorySyncProvider({ faults: { rejectOps: () => 'rejected' } }));
    await engine.put('notes', { id: 'n', text: 't' });
    await engine.syncNow();
    window.panel = window.mountPanel(engine);
    await window.panel.refresh();
  });
  const cell = page.locator(`${PANEL} tr[data-op-id] td`).first();
  const styles = await cell.evaluate((td) => {
    const s = getComputedStyle(td);
    return { color: s.color, background: s.backgroundColor, padding: s.paddingTop, font: s.fontFamily, size: s.fontSize };
  });
  assert.notEqual(styles.color, 'rgb(255, 0, 0)');
  assert.notEqual(styles.background, 'rgb(0, 255, 0)');
  assert.equal(styles.padding, '2px');
  assert.doesNotMatch(styles.font, /^serif$/);
  assert.equal(styles.size, '12px');
  assert.equal(await page.locator(`${PANEL} button[data-action="retry"]`).evaluate((b) => getComputedStyle(b).textTransform), 'none');
  // The page's own table and button are as the page styled them, untouched by the panel's rules.
  const app = await page.evaluate(() => {
    const td = getComputedStyle(document.getElementById('app-cell'));
    return { padding: td.paddingTop, border: td.borderBottomWidth, background: td.backgroundColor, transform: getComputedStyle(document.getElementById('app-button')).textTransform };
  });
  assert.deepEqual(app, { padding: '17px', border: '0px', background: 'rgb(0, 255, 0)', transform: 'uppercase' });
  // Nothing was added to the document's own styles.
  assert.equal(await page.evaluate(() => document.querySelectorAll('head style').length), 1);
  await close();
});

test('the extension manifest is valid Manifest V3 and every file it names exists', () => {
  const dir = `${root}devtools-extension/`;
  const manifest = JSON.parse(readFileSync(`${dir}manifest.json`, 'utf8'));
  assert.equal(manifest.manifest_version, 3);
  assert.equal(typeof manifest.name, 'string');
  assert.ok(manifest.name.length > 0 && manifest.name.length <= 75);
  assert.match(manifest.version, /^\d+(\.\d+){0,3}$/);
  assert.ok(manifest.description.length <= 132, 'the store limits descriptions to 132 characters');
  assert.equal(manifest.devtools_page, 'devtools.html');
  assert.equal(manifest.background, undefined, 'no background code');
  assert.equal(manifest.permissions, undefined, 'chrome.devtools needs no permission');
  const csp = manifest.content_security_policy?.extension_pages ?? '';
  assert.doesNotMatch(csp, /unsafe-eval|unsafe-inline|https?:/, 'the CSP allows no remote or eval\'d code');
  for (const file of [manifest.devtools_page, ...Object.values(manifest.icons)]) assert.ok(existsSync(`${dir}${file}`), `${file} exists`);
  for (const [size, file] of Object.entries(manifest.icons)) {
    const png = readFileSync(`${dir}${file}`);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [Number(size), Number(size)], `${file} is ${size}×${size}`);
  }
  const devtoolsJs = readFileSync(`${dir}devtools.js`, 'utf8');
  assert.match(devtoolsJs, /chrome\.devtools\.panels\.create\('synclane', 'icons\/icon-32\.png', 'panel\.html'/);

  // The packaged folder (scripts/package-extension.mjs ran in `before`): the same manifest at the
  // package's version, the extension's files, and the panel's modules, all reachable only through
  // relative imports inside the folder.
  const out = `${root}dist/devtools-extension/`;
  const packaged = JSON.parse(readFileSync(`${out}manifest.json`, 'utf8'));
  assert.equal(packaged.version, JSON.parse(readFileSync(`${root}pkg-template/package.json`, 'utf8')).version);
  for (const file of ['devtools.html', 'devtools.js', 'panel.html', 'panel.js', 'panel.css', 'devtools/index.js', 'devtools/panel.js', 'devtools/source.js']) {
    assert.ok(existsSync(`${out}${file}`), `${file} is packaged`);
  }
  const scripts = [...readdirSync(out).filter((f) => f.endsWith('.js')), ...readdirSync(`${out}devtools`).filter((f) => f.endsWith('.js')).map((f) => `devtools/${f}`)];
  for (const script of scripts) {
    const code = readFileSync(`${out}${script}`, 'utf8');
    assert.doesNotMatch(code, /(?<![.\w])eval\(|new Function\(/, `${script}: no eval in the extension's own code (only inspectedWindow.eval)`);
    for (const [, spec] of code.matchAll(/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm)) {
      assert.match(spec, /^\.\.?\//, `${script} imports ${spec}`);
      assert.ok(existsSync(new URL(spec, `file://${out}${script}`)), `${script} → ${spec} is packaged`);
    }
  }
  for (const html of ['devtools.html', 'panel.html']) {
    const text = readFileSync(`${out}${html}`, 'utf8');
    assert.doesNotMatch(text, /<script(?![^>]*\bsrc=)[^>]*>\s*\S/, `${html}: no inline script`);
    assert.doesNotMatch(text, /(src|href)=["'](https?:)?\/\//, `${html}: nothing remote`);
  }
});

test('the packaged extension panel shows another page\'s engine through chrome.devtools.inspectedWindow.eval', async () => {
  // The inspected page: an engine with pending and failed ops, registered in its registry.
  const app = await openPage();
  await app.page.evaluate(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    window.server = new MemorySyncServer();
    window.provider = new MemorySyncProvider({ server: window.server, faults: { rejectOps: (op) => (op.pk === 'bad' ? 'rejected' : undefined) } });
    window.engine = await window.openDevice('inspected', window.provider);
    await window.engine.put('notes', { id: 'bad', text: 'refused' });
    await window.engine.syncNow();
    for (let i = 0; i < 5; i++) await window.engine.put('notes', { id: `p${i}`, text: 'pending' });
  });

  // The panel page, as DevTools would show it, with chrome.devtools stubbed: eval runs the
  // expression in the inspected page and answers like the real API (a JSON value, or exception info).
  const panelPage = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const panelErrors = [];
  panelPage.on('pageerror', (e) => panelErrors.push(e.message));
  panelPage.on('console', (m) => {
    if (m.type() === 'error') panelErrors.push(m.text());
  });
  let evaluations = 0;
  await panelPage.exposeFunction('__evalInInspectedPage', async (expression) => {
    evaluations += 1;
    return app.page.evaluate((expr) => {
      try {
        const value = (0, eval)(expr);
        if (value && typeof value.then === 'function') return [{}, undefined]; // what DevTools does with a promise
        return [value === undefined ? null : JSON.parse(JSON.stringify(value)), undefined];
      } catch (e) {
        return [undefined, { isException: true, value: String(e) }];
      }
    }, expression);
  });
  await panelPage.addInitScript(() => {
    window.chrome = {
      devtools: {
        inspectedWindow: {
          eval(expression, options, callback) {
            window.__evalInInspectedPage(expression).then(([result, exception]) => callback(result, exception));
          },
        },
        panels: { themeName: 'dark' },
        network: { onNavigated: { addListener() {} } },
      },
    };
  });
  await panelPage.goto(`${server.url}/ext/panel.html`);
  const rows = () => panelPage.locator('tr[data-op-id]').evaluateAll((trs) => trs.map((tr) => `${tr.dataset.pk}:${tr.dataset.state}`));
  assert.deepEqual(await until('the inspected outbox', rows, (r) => r.length === 6), ['bad:failed', 'p0:pending', 'p1:pending', 'p2:pending', 'p3:pending', 'p4:pending']);
  assert.match(await panelPage.locator('[data-testid="outbox-count"]').textContent(), /^showing 6 of 6 · \d+ B$/);
  assert.match(await panelPage.locator('tr[data-pk="bad"]').textContent(), /rejected/);
  assert.match(await panelPage.locator('[data-testid="engine-label"]').textContent(), /^e2e · devtools-inspected-/);
  assert.equal(await panelPage.locator('.sl-root').evaluate((r) => r.classList.contains('sl-theme-dark')), true, 'follows the DevTools theme');
  // The stylesheet applied under the panel page's CSP (no inline styles or scripts).
  assert.equal(await panelPage.locator('tr[data-pk="bad"] td').first().evaluate((td) => getComputedStyle(td).paddingLeft), '6px');
  await until('events from the inspected page', () => panelPage.locator('.sl-events li[data-name="sync.push:action:after"]').count(), (n) => n >= 1);

  // Actions go through request/take in the inspected page.
  await app.page.evaluate(() => window.provider.setFaults({}));
  await panelPage.locator('tr[data-pk="bad"] button[data-action="retry"]').click();
  await until('bad pending again', rows, (r) => r[0] === 'bad:pending');
  await app.page.evaluate(() => window.engine.syncNow());
  await until('the outbox to drain', rows, (r) => r.length === 0);
  assert.equal(await app.page.evaluate(() => window.server.stats('e2e').records), 6);
  assert.ok(evaluations > 5);

  // The inspected page closes its engine: the panel says so.
  await app.page.evaluate(() => window.engine.close());
  await until('the no-engine message', () => panelPage.locator('[data-testid="message"]').isVisible(), (v) => v === true);
  await panelPage.close();
  assert.deepEqual(panelErrors, []);
  await app.close();
});

test('Chromium loads the packaged extension; its pages run under the real MV3 policy', async () => {
  const dir = `${root}dist/devtools-extension`;
  // An unpacked extension's id: the SHA-256 of its path, first 32 hex digits written a-p.
  const id = [...createHash('sha256').update(dir).digest('hex').slice(0, 32)].map((c) => String.fromCharCode(97 + parseInt(c, 16))).join('');
  const context = await chromium.launchPersistentContext('', {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS, `--disable-extensions-except=${dir}`, `--load-extension=${dir}`],
  });
  try {
    const errors = [];
    const watch = (page, label) => {
      page.on('pageerror', (e) => errors.push(`${label}: ${e.message}`));
      // Console errors too (a blocked script or stylesheet reports there), but not the app page's favicon 404.
      if (label !== 'app') page.on('console', (m) => m.type() === 'error' && errors.push(`${label}: ${m.text()}`));
    };
    const probe = await context.newPage();
    const manifest = await probe.goto(`chrome-extension://${id}/manifest.json`).catch((e) => e);
    assert.ok(manifest?.ok?.(), `Chromium did not load the extension (branded Chrome ignores --load-extension): ${manifest}`);
    await probe.close();

    // The inspected page, in the same browser.
    const app = await context.newPage();
    watch(app, 'app');
    await app.goto(`${server.url}/tests/e2e/support/blank.html`);
    await app.addScriptTag({
      type: 'module',
      content: `
        import { SyncEngine } from '/dist/npm/dist/index.js';
        import { initMemoryServer, MemorySyncProvider } from '/dist/npm/dist/memory.js';
        import { installDevtoolsHook } from '/dist/npm/dist/devtools.js';
        await initMemoryServer();
        const engine = await SyncEngine.open({ workspaceId: 'e2e', dbName: 'devtools-ext-' + Math.random(), tables: ['notes'], provider: new MemorySyncProvider({ faults: { offline: true } }) });
        installDevtoolsHook(engine);
        for (let i = 0; i < 3; i++) await engine.put('notes', { id: 'loaded-' + i, text: 'x' });
        window.ready = true;`,
    });
    await app.waitForFunction(() => window.ready === true);

    // chrome.devtools exists only inside DevTools: stub what the pages use, in extension pages only.
    await context.exposeFunction('__evalInInspectedPage', (expression) =>
      app.evaluate((expr) => {
        try {
          const value = (0, eval)(expr);
          return [value === undefined ? null : JSON.parse(JSON.stringify(value)), undefined];
        } catch (e) {
          return [undefined, { isException: true, value: String(e) }];
        }
      }, expression),
    );
    await context.addInitScript(() => {
      if (location.protocol !== 'chrome-extension:') return;
      window.__violations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
      const listeners = () => ({ addListener() {} });
      window.chrome.devtools = {
        inspectedWindow: {
          eval(expression, options, callback) {
            window.__evalInInspectedPage(expression).then(([result, exception]) => callback(result, exception));
          },
        },
        panels: {
          themeName: 'default',
          create(title, icon, page, callback) {
            window.__created = [title, icon, page];
            callback?.({ onShown: listeners(), onHidden: listeners() });
          },
        },
        network: { onNavigated: listeners() },
      };
    });

    const devtoolsPage = await context.newPage();
    watch(devtoolsPage, 'devtools.html');
    await devtoolsPage.goto(`chrome-extension://${id}/devtools.html`);
    assert.deepEqual(await devtoolsPage.evaluate(() => window.__created), ['synclane', 'icons/icon-32.png', 'panel.html']);
    assert.ok((await context.newPage().then(async (p) => {
      const icon = await p.goto(`chrome-extension://${id}/icons/icon-32.png`);
      await p.close();
      return icon.ok();
    })), 'the panel icon is served');

    const panel = await context.newPage();
    watch(panel, 'panel.html');
    await panel.goto(`chrome-extension://${id}/panel.html`);
    const keys = await until('the inspected outbox in the real extension page', () => panel.locator('tr[data-op-id]').evaluateAll((trs) => trs.map((tr) => tr.dataset.pk)), (k) => k.length === 3);
    assert.deepEqual(keys, ['loaded-0', 'loaded-1', 'loaded-2']);
    assert.equal(await panel.locator('tr[data-op-id] td').first().evaluate((td) => getComputedStyle(td).paddingLeft), '6px', 'styled');
    assert.deepEqual([await devtoolsPage.evaluate(() => window.__violations), await panel.evaluate(() => window.__violations)], [[], []], 'no CSP violation');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});
