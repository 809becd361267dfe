// The demo, as `scripts/demo.sh` serves it (the reference server on SQLite, the app, the
// devtools panel): an offline edit waits in the panel's outbox and reaches the other device when
// back online; an op the server refuses shows as failed and the panel's Retry delivers it; a
// conflict made offline resolves the same way on both devices. Saves docs/demo.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDemo } from '../../scripts/serve.mjs';
import { launchBrowser } from './support/browser.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
let dir;
let demo;
let browser;
let page;
const errors = [];

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/devtools.js`), 'run scripts/build.sh first');
  dir = mkdtempSync(join(tmpdir(), 'synclane-demo-'));
  demo = await startDemo({ db: join(dir, 'demo.db') });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  await page.waitForSelector('body[data-ready=true]', { timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  await demo?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const device = (name) => page.locator(`[data-device="${name}"]`);
const noteTexts = (name) => device(name).locator('.notes .note-text').evaluateAll((inputs) => inputs.map((i) => i.value));
const panel = () => page.locator('synclane-devtools');
const outboxRows = () => panel().locator('tr[data-op-id]');

async function until(what, check, timeoutMs = 10_000) {
  const started = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Points the panel at the device's engine (the panel lists every engine of the page). */
async function inspect(name) {
  const picker = panel().locator('[data-testid=engine-picker]');
  await picker.waitFor({ state: 'attached' });
  await until('both engines in the picker', async () => (await picker.locator('option').count()) === 2);
  const value = await picker.evaluate((select, name) => [...select.options].find((o) => o.textContent.includes(name))?.value, name);
  assert.ok(value, `an engine for ${name} in ${await picker.innerHTML()}`);
  await picker.selectOption(value);
}

async function setSwitch(name, which, on) {
  const input = device(name).locator(`.${which}-toggle input`);
  if (on) await input.check();
  else await input.uncheck();
}

async function editFirstNote(name, text) {
  const input = device(name).locator('.notes .note-text').first();
  await input.fill(text);
  await input.press('Enter');
  await input.blur();
}

test('an offline edit waits in the panel outbox, drains when back online and reaches the other device', async () => {
  await until('the welcome note on both devices', async () => (await noteTexts('laptop')).length === 1 && (await noteTexts('phone')).length === 1);
  await inspect('laptop');
  await setSwitch('laptop', 'online', false);
  await editFirstNote('laptop', 'written offline on the laptop');
  await until('a pending row in the outbox', async () => (await outboxRows().count()) === 1);
  assert.equal(await outboxRows().first().getAttribute('data-state'), 'pending');
  assert.match(await outboxRows().first().textContent(), /notes.*welcome.*put/s);
  assert.deepEqual(await noteTexts('phone'), ['Edit me on both devices while they are offline'], 'the phone has not seen it');

  await setSwitch('laptop', 'online', true);
  await until('the outbox drained', async () => (await outboxRows().count()) === 0);
  await until('the phone has the edit', async () => (await noteTexts('phone'))[0] === 'written offline on the laptop');
});

test('an op the server refuses is failed in the panel; Retry from the panel delivers it', async () => {
  await inspect('laptop');
  await setSwitch('laptop', 'access', false);
  await device('laptop').locator('.new-note input').fill('refused while read-only');
  await device('laptop').locator('.new-note button').click();
  await until('a failed row', async () => (await panel().locator('tr[data-op-id][data-state="failed"]').count()) === 1, 15_000);
  const row = panel().locator('tr[data-op-id][data-state="failed"]');
  assert.match(await row.textContent(), /forbidden/);
  assert.ok(!(await noteTexts('phone')).includes('refused while read-only'));

  await setSwitch('laptop', 'access', true);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await panel().locator('tr[data-op-id][data-state="failed"]').count(), 1, 'write access back does not retry a failed op by itself');
  await row.locator('button[data-action="retry"]').click();
  await until('the outbox drained', async () => (await outboxRows().count()) === 0);
  await until('the phone has the note', async () => (await noteTexts('phone')).includes('refused while read-only'));
});

test('a conflict made offline resolves to the same winner on both devices, and the panel logs it', async () => {
  await setSwitch('laptop', 'online', false);
  await setSwitch('phone', 'online', false);
  // The laptop edits twice, so its version has the higher clock and wins.
  await editFirstNote('laptop', 'laptop draft');
  await editFirstNote('laptop', 'laptop final');
  await editFirstNote('phone', 'phone edit');
  // The phone delivers its edit before the laptop comes back: the laptop's first pull then
  // meets it while its own edit waits, and logs the conflict. (Online together, the phone's
  // push can land between the laptop's pull and push; neither device then sees the other's
  // version while its own is pending, and nothing is logged.)
  await setSwitch('phone', 'online', true);
  const phonePending = () =>
    page.evaluate(async () => (await window.demo.devices.phone.inspect({ outboxLimit: 0, conflictLimit: 0 })).outbox.totals.count);
  await until('the phone delivered its edit', async () => (await phonePending()) === 0);
  await setSwitch('laptop', 'online', true);
  await until('both devices agree', async () => {
    const [a, b] = [await noteTexts('laptop'), await noteTexts('phone')];
    return a[0] === 'laptop final' && b[0] === 'laptop final';
  }, 15_000);
  assert.deepEqual(await noteTexts('laptop'), await noteTexts('phone'));
  // The laptop logs the conflict; the log is stored, so the panel shows it (the activity log
  // keeps only the latest 8 lines and may have moved on). Both devices are looked at, in case
  // the phone logged one too.
  const conflictRows = panel().locator('[data-testid=conflict-rows] tr');
  let shown;
  let since = 0;
  await until('the conflict in the panel', async () => {
    // Give each device's view two seconds to render before looking at the other one.
    if (shown === undefined || Date.now() - since > 2_000) {
      shown = shown === 'laptop' ? 'phone' : 'laptop';
      since = Date.now();
      await inspect(shown);
    }
    return (await conflictRows.count()) > 0;
  }, 15_000);
  assert.match(await conflictRows.first().textContent(), /welcome/);
  await page.screenshot({ path: join(root, 'docs', 'demo.png'), fullPage: true });
  assert.deepEqual(errors, []);
});
