// Two browsers (two Playwright contexts: two devices, each with its own IndexedDB) sync through
// Convex with ConvexSyncProvider over the real `ConvexClient` of `convex/browser` (bundled with
// esbuild for the page): changes reach the other device through the head subscription, both
// devices edit offline (Chromium's offline mode, and the stand-in drops their sockets), come
// back and converge with last-write-wins winners equal to what the functions hold, and a push
// whose acknowledgement is lost (the mutation applied, its socket closed unanswered) is sent
// again by the client and stored once (idempotent by opId).
//
// By default the deployment is the local stand-in (tests/e2e/support/convex-standin.mjs): the
// client's WebSocket sync protocol over convex-test running the test app of tests/convex, whose
// `authorize` checks membership; the devices sign in as two writer members.
//
// With `CONVEX_URL` set, the same test runs against that deployment instead (the lost-ack test is
// skipped there): it must have the test app's functions (tests/convex/convex) deployed, and
// `CONVEX_TOKEN_A` / `CONVEX_TOKEN_B` must be tokens it accepts for two writer members of the
// workspace `CONVEX_WORKSPACE` (default `convex-e2e-<time>`), e.g.
//   CONVEX_URL=https://<name>.convex.cloud CONVEX_TOKEN_A=... CONVEX_TOKEN_B=... node --test tests/e2e/convex-browser.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { startStaticServer } from '../../scripts/static-server.mjs';
import { launchBrowser } from './support/browser.mjs';
import { until as waitUntil } from './support/wait.mjs';
import { startConvexStandin, tokenFor } from './support/convex-standin.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const REMOTE = process.env.CONVEX_URL;
const WORKSPACE = process.env.CONVEX_WORKSPACE ?? `convex-e2e-${Date.now()}`;
const USERS = { a: 'alice', b: 'bob', c: 'carol' };
const TOKENS = REMOTE
  ? { a: process.env.CONVEX_TOKEN_A, b: process.env.CONVEX_TOKEN_B }
  : { a: tokenFor(USERS.a), b: tokenFor(USERS.b), c: tokenFor(USERS.c) };

let statics;
let browser;
let standin;
let bundleDir;
let url;
let remoteClient;
let remoteRef;
const contexts = [];

before(async () => {
  assert.ok(existsSync(`${root}dist/npm/dist/convex/index.js`), 'run scripts/build.sh first');
  bundleDir = mkdtempSync(join(tmpdir(), 'synclane-convex-e2e-'));
  await build({
    stdin: {
      contents: `export { ConvexClient, ConvexHttpClient } from 'convex/browser';\nexport { makeFunctionReference } from 'convex/server';\n`,
      resolveDir: root,
      sourcefile: 'convex-entry.js',
    },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    outfile: join(bundleDir, 'convex.js'),
    logLevel: 'error',
  });
  if (REMOTE) {
    assert.ok(TOKENS.a && TOKENS.b, 'CONVEX_URL needs CONVEX_TOKEN_A and CONVEX_TOKEN_B');
    url = REMOTE;
    const { ConvexHttpClient } = await import('convex/browser');
    const { makeFunctionReference } = await import('convex/server');
    remoteRef = (name) => makeFunctionReference(`synclane:${name}`);
    remoteClient = new ConvexHttpClient(url, { skipConvexDeploymentUrlCheck: true });
    remoteClient.setAuth(TOKENS.a);
  } else {
    standin = await startConvexStandin();
    url = standin.url;
    await standin.run(async (ctx) => {
      for (const user of [USERS.a, USERS.b]) await ctx.db.insert('members', { user, workspaceId: WORKSPACE, role: 'writer' });
    });
  }
  statics = await startStaticServer(root, { mounts: { '/convex-bundle/': bundleDir } });
  browser = await launchBrowser();
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await statics?.close();
  await standin?.stop();
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
});

// Waits default to 15 s in this file.
const until = (what, check, timeoutMs = 15_000, describe) => waitUntil(what, check, timeoutMs, describe);

/** Runs a query of the functions as device A's user. */
function serverQuery(name, args) {
  return REMOTE ? remoteClient.query(remoteRef(name), args) : standin.query(`synclane:${name}`, args, USERS.a);
}

/** Every record the functions hold for the workspace, as `id=text` (puts) or with its stamp. */
async function serverRecords({ stamps = false } = {}) {
  const latest = new Map();
  let cursor = 0;
  for (;;) {
    const page = await serverQuery('pull', { workspaceId: WORKSPACE, cursor, limit: 500 });
    for (const change of page.changes) latest.set(`${change.tableName}/${change.pk}`, change);
    cursor = page.nextCursor;
    if (!page.hasMore) break;
  }
  return [...latest.values()]
    .filter((change) => change.op === 'put')
    .map(({ pk, payload, stamp: { clock, hlc, opId } }) => (stamps ? JSON.stringify([pk, clock, hlc, opId]) : `${pk}=${JSON.parse(payload).text}`))
    .sort();
}

/**
 * A device: a fresh browser context (its own storage) with a page that opened a `SyncEngine`
 * on a `ConvexSyncProvider` over a `ConvexClient` signed in as the device's user.
 */
async function openDevice(name) {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${statics.url}/tests/e2e/support/blank.html`);
  await page.evaluate(
    async ({ name, url, token, workspaceId }) => {
      const convex = await import('/convex-bundle/convex.js');
      const synclane = await import('/dist/npm/dist/index.js');
      const { ConvexSyncProvider } = await import('/dist/npm/dist/convex/index.js');
      await synclane.initSynclane();
      const log = { jobs: [], blocked: [], errors: [], providerErrors: [], conflicts: [], pushed: [] };
      const client = new convex.ConvexClient(url, { skipConvexDeploymentUrlCheck: true, unsavedChangesWarning: false, logger: false });
      client.setAuth(async () => token);
      const ref = (fn) => convex.makeFunctionReference(`synclane:${fn}`);
      const provider = new ConvexSyncProvider({
        client,
        functions: { push: ref('push'), pull: ref('pull'), head: ref('head'), updateCursor: ref('updateCursor') },
        onError: (error) => log.providerErrors.push(error.code),
      });
      const engine = await synclane.SyncEngine.open({
        workspaceId,
        dbName: `convex-e2e-${name}-${Math.random()}`,
        tables: ['notes'],
        provider,
        // No interval sync: what reaches a device comes from the head subscription, a local
        // write, connectivity, or an explicit request.
        sync: { manualCooldownMs: 0, intervalMs: 3_600_000 },
      });
      engine.hooks.on('sync.job.started', (e) => log.jobs.push({ trigger: e.trigger, at: Date.now() }));
      engine.hooks.on('sync.job.blocked', (e) => log.blocked.push({ trigger: e.trigger, reason: e.reason }));
      engine.hooks.on('sync.error:action', (e) => log.errors.push({ code: e.error.code, at: Date.now() }));
      engine.hooks.on('sync.conflict:action:detected', (e) => log.conflicts.push(`${e.pk}:${e.winner}`));
      engine.hooks.on('sync.push:action:after', (e) =>
        e.batch.ops.forEach((op, i) => log.pushed.push(`${op.pk}:${e.result.results[i]?.status}`)),
      );
      Object.assign(window, { synclane, client, provider, engine, log });
      window.view = async () => (await engine.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort();
      window.state = async () => ({
        view: await window.view(),
        outbox: (await engine.outbox()).totals.count,
        cursor: (await engine.cursor()).cursor,
        status: (await engine.status()).state,
        connected: client.connectionState().isWebSocketConnected,
      });
    },
    { name, url, token: TOKENS[name], workspaceId: WORKSPACE },
  );
  const state = () => page.evaluate(() => window.state());
  const log = () => page.evaluate(() => window.log);
  return { name, user: USERS[name], context, page, errors, state, log };
}

let a;
let b;

test('changes reach the other device through the head subscription', async () => {
  a = await openDevice('a');
  b = await openDevice('b');
  for (const device of [a, b]) {
    await device.page.evaluate(() => window.engine.start());
    await until(`${device.name}: connected and the startup sync done`, async () => {
      const state = await device.state();
      return state.connected && (await device.log()).jobs.some((j) => j.trigger === 'startup') && state.status === 'idle';
    });
  }
  const jobsBefore = (await b.log()).jobs.length;
  await a.page.evaluate(() =>
    window.engine.batch(['shared', 'doomed', 'gone', 'tie', 'keep'].map((id) => ({ table: 'notes', op: 'put', record: { id, text: 'v0' } }))),
  );
  await until('B receives the records', async () => (await b.state()).view.length === 5, 15_000, async () => JSON.stringify(await b.state()));
  const triggers = (await b.log()).jobs.slice(jobsBefore).map((j) => j.trigger);
  assert.ok(triggers.length > 0 && triggers.every((t) => t === 'remote'), `B synced only because the subscription told it: ${triggers}`);
  assert.deepEqual((await b.state()).view, ['doomed=v0', 'gone=v0', 'keep=v0', 'shared=v0', 'tie=v0']);
  await until('both outboxes are empty', async () => (await a.state()).outbox === 0 && (await b.state()).outbox === 0);
  assert.deepEqual(await serverRecords(), ['doomed=v0', 'gone=v0', 'keep=v0', 'shared=v0', 'tie=v0']);
  const head = await serverQuery('head', { workspaceId: WORKSPACE });
  assert.equal(head.version, 5, 'one server version per op');
  for (const device of [a, b]) assert.deepEqual(device.errors, [], `${device.name}: no page errors`);
});

test('both devices edit offline, come back and converge with the winners the functions hold', async () => {
  const headBefore = (await serverQuery('head', { workspaceId: WORKSPACE })).version;
  for (const device of [a, b]) {
    await device.context.setOffline(true);
    // Chromium's offline mode fails new connections; the stand-in also drops the open ones.
    if (standin) standin.disconnect(device.user);
    await until(`${device.name}: offline`, async () => !(await device.page.evaluate(() => navigator.onLine)) && (REMOTE || !(await device.state()).connected));
  }
  await a.page.evaluate(async () => {
    await window.engine.put('notes', { id: 'shared', text: 'a1' });
    await window.engine.delete('notes', 'doomed');
    await window.engine.put('notes', { id: 'tie', text: 'a-tie' });
    await window.engine.put('notes', { id: 'only-a', text: 'a' });
  });
  await b.page.evaluate(async () => {
    await window.engine.put('notes', { id: 'shared', text: 'b1' });
    await window.engine.delete('notes', 'gone');
    await window.engine.put('notes', { id: 'only-b', text: 'b' });
  });
  await a.page.evaluate(() => window.engine.put('notes', { id: 'tie', text: 'a-last' }));
  for (const device of [a, b]) {
    const state = await device.state();
    assert.ok(state.outbox > 0, `${device.name}: the offline writes wait in the outbox`);
    const { blocked } = await device.log();
    assert.ok(blocked.some((x) => x.trigger === 'localWrite' && x.reason === 'offline'), `${device.name}: local writes were blocked as offline`);
  }
  assert.equal((await serverQuery('head', { workspaceId: WORKSPACE })).version, headBefore, 'nothing reached the functions while offline');

  await a.context.setOffline(false);
  await b.context.setOffline(false);
  const expected = ['keep=v0', 'only-a=a', 'only-b=b', 'shared=b1', 'tie=a-last'];
  const describe = async () => JSON.stringify({ a: await a.state(), b: await b.state(), server: await serverRecords() });
  await until(
    'both devices converge',
    async () => {
      const [sa, sb] = [await a.state(), await b.state()];
      return sa.outbox === 0 && sb.outbox === 0 && JSON.stringify(sa.view) === JSON.stringify(expected) && JSON.stringify(sb.view) === JSON.stringify(expected);
    },
    45_000,
    describe,
  );
  assert.deepEqual(await serverRecords(), expected, 'the functions hold the same winners');
  // The devices' stamps equal the functions' (each record's winner is the same op everywhere).
  const stamps = await serverRecords({ stamps: true });
  for (const device of [a, b]) {
    const local = await device.page.evaluate(async () => {
      const rows = [];
      for (const record of await window.engine.getAll('notes')) rows.push(record.id);
      return rows.sort();
    });
    assert.deepEqual(local, stamps.map((s) => JSON.parse(s)[0]).sort(), `${device.name}: the same live keys`);
  }
  for (const device of [a, b]) assert.deepEqual(device.errors, [], `${device.name}: no page errors`);
});

test('a push whose acknowledgement is lost is sent again and stored once', { skip: REMOTE ? 'needs the stand-in to lose an acknowledgement' : false }, async () => {
  const pushesOf = (pk) => standin.calls.filter((c) => c.udfPath.startsWith('synclane:push') && c.args.ops.some((op) => op.pk === pk));
  let dropped;
  standin.dropNextAck(({ udfPath, args }) => {
    const hit = udfPath.startsWith('synclane:push') && args.ops.some((op) => op.pk === 'acked');
    if (hit) dropped = args.ops.find((op) => op.pk === 'acked').stamp.opId;
    return hit;
  });
  const headBefore = (await serverQuery('head', { workspaceId: WORKSPACE })).version;
  await a.page.evaluate(() => window.engine.put('notes', { id: 'acked', text: 'once' }));
  await until('B sees the record and A’s outbox is empty', async () => (await b.state()).view.includes('acked=once') && (await a.state()).outbox === 0, 30_000, async () =>
    JSON.stringify({ a: await a.state(), b: await b.state(), pushes: pushesOf('acked').length }),
  );
  assert.ok(dropped, 'the acknowledgement of the push was dropped');
  const pushes = pushesOf('acked');
  assert.ok(pushes.length >= 2, `the push was sent again after the lost acknowledgement (${pushes.length} runs)`);
  assert.ok(pushes.every((c) => c.args.ops.find((op) => op.pk === 'acked').stamp.opId === dropped), 'with the same opId');
  const stored = await standin.run(async (ctx) => ({
    ops: (await ctx.db.query('synclane_ops').collect()).filter((op) => op.workspaceId === WORKSPACE && op.opId === dropped).length,
    records: (await ctx.db.query('synclane_records').collect()).filter((r) => r.workspaceId === WORKSPACE && r.pk === 'acked').length,
  }));
  assert.deepEqual(stored, { ops: 1, records: 1 }, 'the op is stored once');
  assert.equal((await serverQuery('head', { workspaceId: WORKSPACE })).version, headBefore + 1, 'one new server version');
  assert.ok((await serverRecords()).includes('acked=once'));
  for (const device of [a, b]) assert.deepEqual(device.errors, [], `${device.name}: no page errors`);
});

test('a signed-in user who is not a member is refused by the app’s authorize and gets nothing', { skip: REMOTE ? 'needs a token of a non-member' : false }, async () => {
  const c = await openDevice('c');
  await c.page.evaluate(() => window.engine.start());
  await until('C is refused', async () => (await c.log()).errors.some((e) => e.code === 'forbidden'), 15_000, async () => JSON.stringify(await c.log()));
  assert.deepEqual((await c.state()).view, [], 'C received nothing of the workspace');
  assert.equal((await serverRecords()).length, 6, 'the members’ records are all still there');
  assert.deepEqual(c.errors, [], 'no page errors');
  await c.context.close();
});
