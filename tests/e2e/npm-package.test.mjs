// Loads the npm package (dist/npm, the compiled TypeScript layer with the release wasm) in
// headless Chromium the way an app does: an ES module import, then initSynclane() and
// initMemoryServer() with no arguments, which find synclane_bg.wasm and
// synclane_memory_bg.wasm through import.meta.url. Then it runs the provider conformance kit
// against MemorySyncProvider in the browser.
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
  assert.ok(existsSync(`${root}dist/npm/dist/index.js`), 'run scripts/build.sh first');
  server = await startStaticServer(root);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test('the npm package loads its wasm by itself and passes the conformance kit in the browser', async () => {
  const page = await browser.newPage();
  const errors = [];
  const warnings = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'warning' && warnings.push(m.text()));
  await page.goto(`${server.url}/tests/e2e/support/blank.html`);
  const outcome = await page.evaluate(async () => {
    const synclane = { ...(await import('/dist/npm/dist/index.js')), ...(await import('/dist/npm/dist/memory.js')) };
    const kit = await import('/dist/npm/dist/conformance.js');
    await Promise.all([synclane.initSynclane(), synclane.initSynclane(), synclane.initMemoryServer()]);
    const report = await kit.runProviderConformance(async () => {
      const provider = new synclane.MemorySyncProvider();
      const other = new synclane.MemorySyncProvider({ id: 'other', server: provider.server });
      return {
        provider,
        other,
        expireCursors: async () => {
          provider.setFaults({ expireCursorBelow: 1000 });
          return 5;
        },
      };
    });
    let error;
    try {
      await new synclane.MemorySyncProvider({ faults: { offline: true } }).pull({ scope: { workspaceId: 'w' }, cursor: 0, limit: 1 });
    } catch (e) {
      error = { instance: e instanceof synclane.SyncError, code: e.code };
    }
    return {
      passed: report.passed.length,
      failed: report.failed.map((f) => `${f.name}: ${f.error.message}`),
      skipped: report.skipped.length,
      error,
      stamp: new synclane.SyncClock('browser').now(),
    };
  });
  assert.deepEqual(errors, []);
  assert.deepEqual(warnings, [], 'no MIME-type fallback or deprecated-parameter warnings');
  assert.deepEqual(outcome.failed, []);
  assert.equal(outcome.passed, 11);
  assert.equal(outcome.skipped, 0);
  assert.deepEqual(outcome.error, { instance: true, code: 'network' });
  assert.match(outcome.stamp, /^[0-9a-f]{16}-[0-9a-f]{16}$/);
});
