// Remote input the engine must survive, in headless Chromium through the npm package: pages
// replayed, reordered, stale or overlapping, and a hostile provider sending malformed,
// mistyped, huge, misaddressed, far-future and non-JSON changes (named cases plus a seeded fuzz
// of thousands). Every rejected page changes nothing, and the cursor never moves backwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usePackagePages } from './support/scenario.mjs';

const { inPage } = usePackagePages();

const FUZZ_CASES = Number(process.env.SYNCLANE_FUZZ_CASES ?? 2000);

test('replayed, reordered, stale and overlapping pages change nothing they should not; the cursor never moves back', async () => {
  const result = await inPage(async () => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const writer = await window.openDevice('writer', new MemorySyncProvider({ id: 'w', server }));
    const real = new MemorySyncProvider({ id: 'r', server });
    // The reader's provider: the real one, except that a fault can replace the next pull's answer.
    const seen = [];
    let fault;
    const provider = window.providerWith(real, {
      id: 'faulty',
      pull: async (request) => {
        const response = await real.pull(request);
        seen.push({ request, response });
        if (!fault) return response;
        const forged = fault(request, response);
        fault = undefined;
        return forged;
      },
    });
    const reader = await window.openDevice('reader', provider, { pullLimit: 5 });
    const cursors = [];
    reader.hooks.on('sync.pull:action:applied', (e) => cursors.push(e.cursor));
    const errors = [];
    reader.hooks.on('sync.pull:action:error', (e) => errors.push(e.error.code));
    const view = async () => JSON.stringify({
      notes: (await reader.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort(),
      cursor: (await reader.cursor()).cursor,
    });
    const step = async (name, forge) => {
      const before = await view();
      const cursorBefore = (await reader.cursor()).cursor;
      fault = forge;
      const outcome = await reader.syncNow();
      const after = await view();
      return { name, before, after, error: outcome.report?.error?.code, cursorBefore, cursorAfter: (await reader.cursor()).cursor };
    };

    // History: three rounds of edits, the reader catching up after each, so old pages exist.
    for (let round = 0; round < 3; round++) {
      await writer.batch(Array.from({ length: 8 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `n${i}`, text: `round ${round}` } })));
      if (round === 2) await writer.delete('notes', 'n7');
      await writer.syncNow();
      await reader.syncNow();
    }
    const caughtUp = await view();
    const oldPage = seen[0].response; // round 0's first page: versions 1..5, stale stamps
    const lastPage = seen.filter((s) => s.response.changes.length > 0).at(-1).response;
    const steps = [];
    // 1. Replay: an old page arrives again (duplicate and stale at once), its cursor far behind.
    steps.push(await step('replayed old page', () => structuredClone(oldPage)));
    // 2. The latest page again, verbatim (a duplicate delivery).
    steps.push(await step('duplicate of the latest page', () => structuredClone(lastPage)));
    // 3. Stale: old versions of records under a current-looking cursor.
    steps.push(await step('stale versions, current cursor', (req, res) => ({ ...structuredClone(oldPage), nextCursor: req.cursor, hasMore: false })));
    // New writes, so the next pages hold something new.
    await writer.batch([
      { table: 'notes', op: 'put', record: { id: 'n0', text: 'round 3' } },
      { table: 'notes', op: 'put', record: { id: 'n1', text: 'round 3' } },
      { table: 'notes', op: 'put', record: { id: 'fresh', text: 'round 3' } },
    ]);
    await writer.syncNow();
    // 4. Reordered: the new page with its changes descending.
    steps.push(await step('reordered page', (req, res) => ({ ...res, changes: [...res.changes].reverse() })));
    // 5. A page repeating one change (a record twice).
    steps.push(await step('a change twice in one page', (req, res) => ({ ...res, changes: [res.changes[0], ...res.changes] })));
    // 6. Overlapping: the new page plus old changes before it, still ascending.
    steps.push(await step('overlapping page', (req, res) => ({
      ...res,
      changes: [...oldPage.changes.filter((c) => c.serverVersion < res.changes[0].serverVersion), ...res.changes],
    })));
    // 7. A page whose cursor goes backwards.
    steps.push(await step('cursor going backwards', (req, res) => ({ ...res, changes: [], nextCursor: 1, hasMore: false })));
    const final = await view();
    await writer.syncNow();
    return {
      caughtUp,
      steps,
      final,
      writer: (await writer.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort(),
      cursors,
      errors,
    };
  });

  const byName = Object.fromEntries(result.steps.map((s) => [s.name, s]));
  for (const name of ['replayed old page', 'duplicate of the latest page', 'stale versions, current cursor', 'cursor going backwards']) {
    assert.equal(byName[name].after, byName[name].before, `${name}: nothing changed`);
    assert.equal(byName[name].error, undefined, `${name}: harmless, so not an error`);
  }
  for (const name of ['reordered page', 'a change twice in one page']) {
    assert.equal(byName[name].after, byName[name].before, `${name}: rejected whole, nothing changed`);
    assert.equal(byName[name].error, 'invalid_change', name);
  }
  // The overlap's old part is older than what the reader holds: only the new part applies.
  const overlap = JSON.parse(byName['overlapping page'].after);
  assert.ok(overlap.notes.includes('n0=round 3') && overlap.notes.includes('fresh=round 3'));
  assert.ok(overlap.notes.includes('n2=round 2'), 'old versions did not overwrite newer ones');
  assert.ok(!overlap.notes.some((n) => n.startsWith('n7=')), 'the deleted record stayed deleted');
  for (const s of result.steps) assert.ok(s.cursorAfter >= s.cursorBefore, `${s.name}: cursor ${s.cursorBefore} -> ${s.cursorAfter}`);
  for (let i = 1; i < result.cursors.length; i++) assert.ok(result.cursors[i] >= result.cursors[i - 1], `cursor sequence ${result.cursors}`);
  assert.deepEqual(JSON.parse(result.final).notes, result.writer, 'the reader ends equal to the writer');
  assert.deepEqual(result.errors, ['invalid_change', 'invalid_change']);
});

test(`a hostile provider's malformed changes are refused whole with typed errors (named cases and ${FUZZ_CASES} fuzzed pages)`, async () => {
  const result = await inPage(async (fuzzCases) => {
    const { MemorySyncProvider, MemorySyncServer } = window.synclane;
    const server = new MemorySyncServer();
    const writer = await window.openDevice('writer', new MemorySyncProvider({ id: 'w', server }));
    await writer.batch(Array.from({ length: 5 }, (_, i) => ({ table: 'notes', op: 'put', record: { id: `n${i}`, text: 'good' } })));
    await writer.syncNow();
    const real = new MemorySyncProvider({ id: 'r', server });
    let forged;
    const provider = window.providerWith(real, {
      id: 'hostile',
      // Forged pages run the cursor past the real server's: the report of it goes nowhere.
      updateCursor: async () => {},
      pull: async (request) => (forged ? forged(request) : real.pull(request)),
    });
    const device = await window.openDevice('hostile', provider);
    await device.put('notes', { id: 'mine', text: 'pending local edit' });
    await device.syncNow();
    const snapshot = async () => JSON.stringify({
      notes: (await device.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort(),
      cursor: await device.cursor(),
      outbox: (await device.outbox()).entries.map((e) => `${e.pk}:${e.opId}:${e.state}`),
    });
    let cursor = (await device.cursor()).cursor;
    // Stamps like a real device's: the time part of a stamp this browser just made, and one
    // three days ahead (NTP64: seconds in the high 32 bits).
    const nowHlc = (await device.put('notes', { id: 'mine', text: 'pending local edit 2' })).hlc;
    const farFuture = `${(BigInt(`0x${nowHlc.slice(0, 16)}`) + (BigInt(3 * 24 * 3600) << 32n)).toString(16).padStart(16, '0')}-0000000000000007`;
    let seq = 0;
    const valid = () => {
      seq++;
      return {
        tableName: 'notes',
        pk: `r${seq % 7}`,
        op: 'put',
        payload: { id: `r${seq % 7}`, text: `forged ${seq}` },
        serverVersion: cursor + seq,
        stamp: { clock: 50 + seq, hlc: `${nowHlc.slice(0, 16)}-0000000000000007`, deviceId: 'mallory', opId: `op-${seq}` },
      };
    };
    // The control: valid() changes are accepted, so each refusal below is the breaker's doing.
    forged = (request) => ({ changes: [valid(), valid()], nextCursor: request.cursor + 100, hasMore: false, retentionFloor: 0 });
    const control = await device.syncNow();
    const controlNotes = (await device.getAll('notes')).filter((n) => n.id.startsWith('r')).length;
    cursor = (await device.cursor()).cursor;
    const baseline = await snapshot();
    const cyclic = { id: 'r1' };
    cyclic.self = cyclic;
    const hostileValues = [undefined, null, 0, -1, 1.5, NaN, Infinity, '', 'text', true, [], [1, 2], {}, 10n, Symbol('s'), () => 1, new Date(0), cyclic, 'x'.repeat(2000)];
    // Ways to break one change; each is invalid whatever the rest of the page holds.
    const breakers = [
      ['tableName missing', (c) => { delete c.tableName; }],
      ['unknown table', (c) => { c.tableName = 'not_declared'; }],
      ['internal store as table', (c) => { c.tableName = '_pending_ops'; }],
      ['prototype as table', (c) => { c.tableName = '__proto__'; }],
      ['tableName of a wrong type', (c, v) => { c.tableName = typeof v === 'string' ? 42 : v; }],
      ['pk missing', (c) => { delete c.pk; }],
      ['pk empty', (c) => { c.pk = ''; }],
      ['pk too long', (c) => { c.pk = 'k'.repeat(600); c.payload.id = c.pk; }],
      ['pk of a wrong type', (c, v) => { c.pk = typeof v === 'string' ? 7 : v; }],
      ['op unknown', (c) => { c.op = 'explode'; }],
      ['op of a wrong type', (c, v) => { c.op = typeof v === 'string' ? 1 : v; }],
      ['put without payload', (c) => { delete c.payload; }],
      ['payload not an object', (c, v) => { c.payload = [null, 'text', 5, true, [], [1], 10n][seq % 7]; }],
      ['payload id differs from pk', (c) => { c.payload.id = `${c.pk}-other`; }],
      ['payload id not a string', (c) => { c.payload.id = 12; }],
      ['huge payload', (c) => { c.payload.text = 'h'.repeat(1.5 * 1024 * 1024); }],
      ['non-JSON payload (BigInt)', (c) => { c.payload.n = 10n; }],
      ['non-JSON payload (cycle)', (c) => { c.payload.self = c.payload; }],
      ['serverVersion missing', (c) => { delete c.serverVersion; }],
      ['serverVersion zero or negative', (c) => { c.serverVersion = seq % 2 ? 0 : -5; }],
      ['serverVersion of a wrong type', (c) => { c.serverVersion = ['3', 1.5, NaN, null, {}][seq % 5]; }],
      ['stamp missing', (c) => { delete c.stamp; }],
      ['stamp of a wrong type', (c, v) => { c.stamp = ['stamp', 5, [], null][seq % 4]; }],
      ['clock zero or fractional', (c) => { c.stamp.clock = [0, -1, 1.5, '3', null][seq % 5]; }],
      ['hlc malformed', (c) => { c.stamp.hlc = ['', 'zz', '123', 'g'.repeat(33), 5, `${nowHlc}x`][seq % 6]; }],
      ['hlc from the far future', (c) => { c.stamp.hlc = farFuture; }],
      ['deviceId empty or huge', (c) => { c.stamp.deviceId = ['', 'd'.repeat(300), 5, null][seq % 4]; }],
      ['opId missing or wrong', (c) => { c.stamp.opId = [undefined, '', 9, 'o'.repeat(300)][seq % 4]; }],
    ];
    const pageBreakers = [
      ['versions descending', (changes) => changes.reverse()],
      ['a version repeated', (changes) => { changes.push({ ...changes[changes.length - 1], pk: 'dup' }); }],
    ];
    const allowedCodes = new Set(['invalid_change', 'invalid_payload', 'unknown_table', 'clock_skew', 'payload_too_large', 'invalid_argument']);
    const pageErrors = [];
    device.hooks.on('sync.pull:action:error', (e) => pageErrors.push(e.error.code));
    const tally = {};
    const failures = [];
    const tryPage = async (label, changes, extra = {}) => {
      forged = (request) => ({ changes, nextCursor: request.cursor + 100, hasMore: false, retentionFloor: 0, ...extra });
      let outcome;
      try {
        outcome = await device.syncNow();
      } catch (e) {
        failures.push(`${label}: syncNow threw ${e?.message}`);
        return;
      }
      const code = outcome.report?.error?.code;
      tally[label] = tally[label] ?? {};
      tally[label][code] = (tally[label][code] ?? 0) + 1;
      if (!allowedCodes.has(code)) failures.push(`${label}: ${code ?? 'accepted'} ${outcome.report?.error?.message ?? ''}`);
      if ((await snapshot()) !== baseline) failures.push(`${label}: state changed`);
    };
    // Named cases: each breaker once, alone and in a page of valid changes.
    for (const [label, breakIt] of breakers) {
      const alone = valid();
      breakIt(alone, 'x');
      await tryPage(label, [alone]);
      const page = [valid(), valid(), valid()];
      breakIt(page[2], 'x');
      await tryPage(label, page);
    }
    for (const [label, breakIt] of pageBreakers) {
      const page = [valid(), valid(), valid()];
      breakIt(page);
      await tryPage(label, page);
    }
    await tryPage('changes not an array', 'not an array');
    await tryPage('a change that is not an object', [valid(), 'change', valid()]);
    await tryPage('page of a wrong type', null);
    await tryPage('nextCursor of a wrong type', [valid()], { nextCursor: 'far' });
    await tryPage('nextCursor negative', [valid()], { nextCursor: -3 });
    await tryPage('hasMore missing', [valid()], { hasMore: undefined });
    await tryPage('retentionFloor of a wrong type', [valid()], { retentionFloor: {} });
    // The fuzz: pages of 1 to 6 valid changes, one to three of them broken by random breakers
    // with random hostile values (seeded, so a failure replays).
    let state = 0x5eed;
    const rand = (n) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return (state >>> 16) % n;
    };
    const names = [];
    for (let i = 0; i < fuzzCases; i++) {
      const page = Array.from({ length: 1 + rand(6) }, valid);
      const broken = 1 + rand(3);
      const used = [];
      for (let k = 0; k < broken; k++) {
        const [name, breakIt] = breakers[rand(breakers.length)];
        used.push(name);
        try {
          breakIt(page[rand(page.length)], hostileValues[rand(hostileValues.length)]);
        } catch {
          // An earlier breaker already removed what this one edits: the change stays broken.
        }
      }
      if (rand(10) === 0) {
        const [name, breakIt] = pageBreakers[rand(pageBreakers.length)];
        used.push(name);
        if (page.length > 1) breakIt(page);
      }
      names.push(used.join('+'));
      await tryPage('fuzz', page);
    }
    // After all of it, the engine still works: a new write is pushed, the real pages apply.
    forged = undefined;
    await device.put('notes', { id: 'after', text: 'after the attack' });
    const recovered = await device.syncNow();
    return {
      control: { error: control.report?.error?.message, applied: control.report?.applied, notes: controlNotes },
      failures: failures.slice(0, 20),
      failureCount: failures.length,
      tally,
      cases: Object.values(tally).reduce((sum, codes) => sum + Object.values(codes).reduce((a, b) => a + b, 0), 0),
      pageErrors: pageErrors.length,
      recovered: { error: recovered.report?.error?.code, pushed: recovered.report?.pushed },
      notes: (await device.getAll('notes')).map((n) => `${n.id}=${n.text}`).sort(),
      outbox: (await device.outbox()).totals.count,
    };
  }, FUZZ_CASES);

  assert.deepEqual(result.control, { error: undefined, applied: 2, notes: 2 }, 'the control page of valid changes is accepted');
  assert.deepEqual(result.failures, [], `${result.failureCount} cases broke the rules`);
  const named = result.cases - FUZZ_CASES;
  console.log(`hostile provider: ${named} named cases and ${FUZZ_CASES} fuzzed pages refused, none changed anything; codes per case: ${JSON.stringify(result.tally)}`);
  assert.equal(result.tally.fuzz ? Object.values(result.tally.fuzz).reduce((a, b) => a + b, 0) : 0, FUZZ_CASES);
  assert.equal(result.pageErrors, result.cases, 'each refusal was reported to the app');
  assert.equal(result.recovered.error, undefined);
  // The control's r1 and r2 never existed on the real server. Back on it, the device's cursor is
  // ahead of the server's head, which is what a server that lost data looks like: the device
  // keeps the two records it accepted and gives them to the server with the new write (it
  // cannot tell a forger from a server that lost its data; what it refused changed nothing).
  assert.equal(result.recovered.pushed, 3);
  assert.deepEqual(result.notes, ['after=after the attack', 'mine=pending local edit 2', 'n0=good', 'n1=good', 'n2=good', 'n3=good', 'n4=good', 'r1=forged 1', 'r2=forged 2']);
  assert.equal(result.outbox, 0);
});
