// The demo page: two devices edit offline, make a conflict, reconnect and converge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
let server;
let browser;

before(async () => {
  server = await startStaticServer(`${root}www`, { mounts: { '/dist/': `${root}dist` } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function save(page, device, pk, title) {
  const form = page.locator(`[data-device="${device}"] .editor`);
  await form.locator('input[name=pk]').fill(pk);
  await form.locator('input[name=title]').fill(title);
  await form.locator('button').click();
}

const notes = (page, device) =>
  page.locator(`[data-device="${device}"] .notes li`).evaluateAll((items) =>
    items.map((li) => `${li.querySelector('b').textContent}=${li.querySelector('b + span').textContent}`));

test('offline edits on both devices and a conflict converge after reconnecting', async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/`);
  await page.locator('#server-stats', { hasText: 'version' }).waitFor();
  for (const device of ['laptop', 'phone']) await page.locator(`[data-device="${device}"] .online input`).uncheck();

  await save(page, 'laptop', 'todo', 'milk');
  await save(page, 'laptop', 'plan', 'trip');
  await save(page, 'phone', 'todo', 'eggs'); // same note, same clock: the HLC decides
  await save(page, 'phone', 'todo', 'bread'); // clock 2 on the phone: this one wins
  await page.waitForTimeout(1200);
  assert.deepEqual(await notes(page, 'laptop'), ['plan=trip', 'todo=milk'], 'offline: nothing arrived');
  assert.match(await page.locator('[data-device="laptop"] .outbox').textContent(), /outbox: 2 pending/);

  for (const device of ['laptop', 'phone']) await page.locator(`[data-device="${device}"] .online input`).check();
  await page.waitForFunction(() =>
    [...document.querySelectorAll('.outbox')].every((p) => p.textContent.startsWith('outbox: 0 pending')));
  await page.waitForTimeout(1200); // one more round so each device pulls the other's push
  const expected = ['plan=trip', 'todo=bread'];
  assert.deepEqual(await notes(page, 'laptop'), expected);
  assert.deepEqual(await notes(page, 'phone'), expected);

  await page.locator('[data-device="phone"] .notes li', { hasText: 'plan' }).getByRole('button').click();
  await page.waitForFunction(() => !document.querySelector('[data-device="laptop"] .notes').textContent.includes('plan'));
  assert.deepEqual(await notes(page, 'laptop'), ['todo=bread']);
  await page.screenshot({ path: `${root}target/playground.png`, fullPage: true });
  assert.deepEqual(errors, []);
});
