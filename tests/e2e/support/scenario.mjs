// Runs a scenario in a fresh page that loaded the built npm package as `window.synclane`, with
// `window.openDevice(name, provider, extra)` opening an engine on its own database.
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../../scripts/static-server.mjs';
import { launchBrowser } from './browser.mjs';

export async function inPage(browser, serverUrl, scenario, arg) {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await loadPackage(page, serverUrl);
  try {
    return await page.evaluate(scenario, arg);
  } finally {
    await page.close();
    assert.deepEqual(errors, []);
  }
}

/**
 * Loads the package into `page` as `window.synclane` (the main entry, `synclane/memory` and
 * `synclane/conformance` together, both wasm modules loaded), with the helpers `openDevice`,
 * `providerWith`, `sleep`, `until`.
 */
export async function loadPackage(page, serverUrl) {
  await page.goto(`${serverUrl}/tests/e2e/support/blank.html`);
  await page.addScriptTag({ type: 'module', content: `
    import * as engineEntry from '/dist/npm/dist/index.js';
    import * as memory from '/dist/npm/dist/memory.js';
    import * as conformance from '/dist/npm/dist/conformance.js';
    const synclane = { ...engineEntry, ...memory, ...conformance };
    await Promise.all([synclane.initSynclane(), synclane.initMemoryServer()]);
    window.synclane = synclane;
    window.openDevice = (name, provider, extra = {}) => synclane.SyncEngine.open({
      workspaceId: 'e2e', dbName: 'e2e-' + name + '-' + Math.random(), tables: ['notes'], provider,
      ...extra, sync: { manualCooldownMs: 0, ...extra.sync },
    });
    // A provider that passes every call to \`real\` except those \`overrides\` replaces.
    window.providerWith = (real, overrides) => ({
      id: real.id, mode: 'direct',
      subscribe: (...args) => real.subscribe(...args),
      push: (batch) => real.push(batch),
      pull: (request) => real.pull(request),
      updateCursor: (...args) => real.updateCursor(...args),
      ...overrides,
    });
    window.sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    window.until = async (what, check, timeoutMs = 10_000) => {
      const started = Date.now();
      while (!(await check())) {
        if (Date.now() - started > timeoutMs) throw new Error('timed out waiting for ' + what);
        await window.sleep(20);
      }
    };
    window.ready = true;` });
  await page.waitForFunction(() => window.ready === true);
}

/**
 * For test files whose tests all run scenarios: starts a static server on the repository and a
 * browser before the file's tests and stops them after. Returns `inPage(scenario, arg)` and,
 * for tests that drive pages themselves, `opened()`: `{ browser, url }`.
 */
export function usePackagePages() {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
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
  return {
    inPage: (scenario, arg) => inPage(browser, server.url, scenario, arg),
    opened: () => ({ browser, url: server.url }),
  };
}
