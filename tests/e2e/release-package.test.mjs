// Loads the RELEASE build of the in-memory server's module (optimised by wasm-opt) on its own in
// headless Chromium and runs the reference server through it. wasm-pack's browser tests use
// debug builds, so without this test a broken optimiser could ship a module that passes them;
// the engine's release module runs in every other end-to-end test, through the npm package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
let server;
let browser;

before(async () => {
  assert.ok(existsSync(`${root}dist/wasm-memory/synclane_memory_bg.wasm`), 'run scripts/build.sh first');
  server = await startStaticServer(root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the optimised in-memory server module loads and serves push and pull', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/tests/e2e/support/blank.html`);
  const outcome = await page.evaluate(async () => {
    const wasm = await import('/dist/wasm-memory/synclane_memory.js');
    await wasm.default();
    const server = new wasm.MemorySyncServer({ maxPullLimit: 50 });
    const ms = Date.now();
    const ntp = (BigInt(Math.floor(ms / 1000)) << 32n) | ((BigInt(ms % 1000) << 32n) / 1000n);
    const hlc = `${ntp.toString(16).padStart(16, '0')}-0000000000000001`;
    const ops = Array.from({ length: 120 }, (_, i) => ({
      tableName: 'notes', pk: `n${i}`, op: 'put', payload: { id: `n${i}`, body: `note ${i}` },
      stamp: { clock: 1, hlc, deviceId: 'dev', opId: `op${i}` },
    }));
    const pushed = server.push({ scope: { workspaceId: 'w' }, deviceId: 'dev', ops });
    const pages = [];
    let cursor = 0;
    for (;;) {
      const page = server.pull({ scope: { workspaceId: 'w' }, cursor, limit: 1000 });
      pages.push(page.changes.length);
      cursor = page.nextCursor;
      if (!page.hasMore) break;
    }
    let error;
    try {
      server.push({ scope: { workspaceId: 'w' }, deviceId: 'dev', ops: [{ ...ops[0], tableName: '' }] });
    } catch (e) {
      error = { name: e.name, code: e.code, isError: e instanceof Error };
    }
    return { applied: pushed.results.filter((r) => r.status === 'applied').length, pages, cursor, error };
  });
  assert.deepEqual(errors, []);
  assert.equal(outcome.applied, 120);
  assert.deepEqual(outcome.pages, [50, 50, 20], 'the server caps pages at maxPullLimit');
  assert.equal(outcome.cursor, 120);
  assert.deepEqual(outcome.error, { name: 'SyncError', code: 'invalid_change', isError: true });
});
