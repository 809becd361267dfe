// A fresh Vite app (no plugins) installs the packed npm tarball, builds, and runs two synced
// engines in headless Chromium. This is how an app meets synclane: `npm install synclane`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const VITE_VERSION = '7.3.8';
let app;
let server;
let browser;

before(async () => {
  const tarball = readdirSync(join(root, 'dist')).find((f) => /^synclane-.*\.tgz$/.test(f));
  assert.ok(tarball, 'run scripts/build.sh first: it packs dist/synclane-<version>.tgz');
  app = mkdtempSync(join(tmpdir(), 'synclane-vite-'));
  cpSync(join(root, 'tests/vite-app'), app, { recursive: true });
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({
      name: 'vite-app',
      private: true,
      type: 'module',
      dependencies: { synclane: `file:${join(root, 'dist', tarball)}` },
      devDependencies: { vite: VITE_VERSION },
    }),
  );
  const npm = (args) => execFileSync('npm', args, { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error']);
  execFileSync(join(app, 'node_modules/.bin/vite'), ['build', '--logLevel', 'warn'], { cwd: app, stdio: 'pipe' });
  server = await startStaticServer(join(app, 'dist'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

test('two engines with separate databases sync through MemorySyncProvider in a built Vite app', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.locator('#status', { hasText: 'ready' }).waitFor();
  const result = await page.evaluate(() => window.runScenario());
  const expected = ['n2=from the phone', 'shared=phone version 2'];
  assert.deepEqual(result.laptop, expected, 'the laptop has the phone note, its own delete and the winning version');
  assert.deepEqual(result.phone, expected);
  assert.equal(result.laptopOutbox, 0);
  assert.equal(result.phoneOutbox, 0);
  assert.ok(result.cursor > 0);
  assert.ok(result.watched.some((w) => w.startsWith('remote:')), `watchers see remote changes: ${result.watched}`);
  assert.deepEqual(result.badBatch, { isSyncError: true, code: 'unknown_table' });
  assert.equal(result.otherTabEvent, 'other-tab:t1', 'a write in one tab reaches the watchers of another');
  assert.equal(result.readInTabB, 'written in tab A');
  assert.deepEqual(errors, []);
});
