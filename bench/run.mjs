// The benchmark: synclane (the built npm package) against a hand-written IndexedDB
// floor, Dexie with a hand-written outbox, and TinyBase, in one headless Chromium, interleaved
// run by run; medians of the runs. Prints a table and writes dist/bench/results.json.
//
// Knobs (environment): BENCH_RUNS (5), BENCH_BATCH_SAMPLES (3), BENCH_BOOTSTRAP_RUNS (2), BENCH_BOOTSTRAP_RECORDS
// (100000), BENCH_SINGLE_WRITES (200), BENCH_COALESCE_WRITES (10000), BENCH_CONTENDERS and
// BENCH_SCENARIOS (comma-separated subsets), BENCH_STORAGE (disk | memory), BENCH_TIMEOUT_S
// (300, per measurement), BENCH_OUT, BENCH_FROM, CHROMIUM_PATH. See bench/README.md.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir, cpus, loadavg } from 'node:os';
import { join, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { record, hlcAt } from './page/common.mjs';
import { packageSize } from '../scripts/package-size.mjs';

const root = fileURLToPath(new URL('../', import.meta.url));
const env = process.env;
const int = (name, fallback) => {
  const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
  if (!Number.isInteger(value) || value < 0) fail(`${name} must be a whole number (got "${env[name]}")`);
  return value;
};
const list = (name, all) => {
  if (!env[name]) return all;
  const chosen = env[name].split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = chosen.filter((c) => !all.includes(c));
  if (unknown.length) fail(`${name}: unknown ${unknown.join(', ')} (known: ${all.join(', ')})`);
  return all.filter((c) => chosen.includes(c));
};

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(1);
}

const CONTENDERS = list('BENCH_CONTENDERS', ['synclane', 'floor', 'dexie', 'tinybase']);
const SCENARIOS = list('BENCH_SCENARIOS', ['singleWrite', 'batchWrite', 'remoteApply', 'coalesce', 'reads', 'bootstrap', 'size']);
const RUNS = Math.max(1, int('BENCH_RUNS', 5));
// A batch is one sample of half a second, and one sample moves by a fifth on a shared machine:
// each run takes several, interleaved by contender.
const BATCH_SAMPLES = Math.max(1, int('BENCH_BATCH_SAMPLES', 3));
const BOOTSTRAP_RUNS = Math.max(1, int('BENCH_BOOTSTRAP_RUNS', 2));
const BOOTSTRAP_RECORDS = Math.max(1, int('BENCH_BOOTSTRAP_RECORDS', 100_000));
const SINGLE_WRITES = Math.max(1, int('BENCH_SINGLE_WRITES', 200));
const COALESCE_WRITES = Math.max(100, int('BENCH_COALESCE_WRITES', 10_000));
const STORAGE = env.BENCH_STORAGE || 'disk';
const MEASURE_TIMEOUT_S = Math.max(1, int('BENCH_TIMEOUT_S', 300));
if (!['disk', 'memory'].includes(STORAGE)) fail('BENCH_STORAGE must be disk or memory');
const OUT = env.BENCH_OUT || join(root, 'dist/bench/results.json');
const TOKEN = 'bench-token';
// Re-renders the table and targets from a results.json written before (its raw runs), measuring nothing.
const FROM = env.BENCH_FROM;
const BOOTSTRAP_WORKSPACE = 'bench-bootstrap';

// ---- what must exist: the release build (scripts/build.sh) and the node modules.

const { startSyncServer, tempDir, SERVER_BINARY } = await import('../scripts/sync-server.mjs');
const BUILD = ['dist/npm/dist/index.js', 'dist/npm/dist/wasm/synclane.js', 'dist/npm/dist/wasm/synclane_bg.wasm'].map((f) => join(root, f));
BUILD.push(SERVER_BINARY);
const missingBuild = FROM ? [] : BUILD.filter((f) => !existsSync(f));
if (missingBuild.length) fail(`missing ${missingBuild.join(', ')}: run scripts/build.sh first`);
const MODULES = ['node_modules/playwright-core', 'node_modules/dexie/dist/modern/dexie.mjs', 'node_modules/tinybase/mergeable-store/index.js'];
const missingModules = FROM ? [] : MODULES.filter((f) => !existsSync(join(root, f)));
if (missingModules.length) fail(`missing ${missingModules.join(', ')}: run scripts/setup.sh (or npm ci) first`);

const { chromium } = FROM ? {} : await import('playwright-core');
const { CHROMIUM_ARGS } = FROM ? {} : await import('../tests/e2e/support/browser.mjs');
const { startStaticServer } = await import('../scripts/static-server.mjs');

const log = (message) => process.stderr.write(`[bench] ${message}\n`);
const median = (values) => {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

// ---- the reference server, pre-filled through /v1/push for the bootstrap.

async function prefill(url, workspaceId, count) {
  const deviceId = 'bench-filler';
  const started = Date.now() - 60_000;
  let pushed = 0;
  for (let from = 0; from < count; from += 1000) {
    const ops = [];
    for (let i = from; i < Math.min(count, from + 1000); i++) {
      ops.push({ tableName: 'notes', pk: `r${i}`, op: 'put', payload: record(i, 0), stamp: { clock: 1, hlc: hlcAt(started, 0xf111n, i), deviceId, opId: `fill-${i}` } });
    }
    const response = await fetch(`${url}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scope: { workspaceId }, deviceId, ops }),
    });
    if (!response.ok) throw new Error(`prefill push: ${response.status} ${await response.text()}`);
    const result = await response.json();
    pushed += result.results.filter((r) => r.status === 'applied' || r.status === 'duplicate').length;
  }
  if (pushed !== count) throw new Error(`prefill: ${pushed} of ${count} ops applied`);
}

// ---- measuring: one fresh page per measurement.

async function main() {
  const benchStarted = Date.now();
  const loadAtStart = loadavg().map((x) => Number(x.toFixed(2)));
  // Cross-origin isolated, so that performance.now() counts in microseconds rather than in
  // tenths of a millisecond: single writes take about one millisecond.
  const staticServer = await startStaticServer(root, {
    headers: { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' },
  });
  const temp = tempDir();
  const profile = mkdtempSync(join(tmpdir(), 'synclane-bench-profile-'));
  let syncServer;
  let context;
  let browser;
  const results = { runs: {}, errors: [] };
  const record_ = (contender, scenario, value) => {
    ((results.runs[scenario] ??= {})[contender] ??= []).push(value);
  };
  try {
    const needsServer = SCENARIOS.includes('bootstrap') || SCENARIOS.includes('coalesce');
    if (needsServer) {
      syncServer = await startSyncServer({
        db: join(temp.dir, 'bench.sqlite'),
        tokens: [`${TOKEN}=*`],
        settings: { rateLimit: { perSecond: 1_000_000, burst: 1_000_000 } },
      });
      log(`sync server ${syncServer.url} (SQLite in ${temp.dir})`);
    }
    if (SCENARIOS.includes('bootstrap')) {
      const t = Date.now();
      await prefill(syncServer.url, BOOTSTRAP_WORKSPACE, BOOTSTRAP_RECORDS);
      log(`pre-filled ${BOOTSTRAP_RECORDS} records through /v1/push in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    const launch = {
      executablePath: env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
    };
    // A persistent profile keeps IndexedDB on disk, as in a user's browser; a fresh context
    // (incognito) would keep it in memory.
    if (STORAGE === 'disk') {
      context = await chromium.launchPersistentContext(profile, launch);
    } else {
      browser = await chromium.launch(launch);
      context = await browser.newContext();
    }
    const version = context.browser()?.version() ?? (await (async () => {
      const page = await context.newPage();
      const ua = await page.evaluate(() => navigator.userAgent);
      await page.close();
      return /Chrome\/(\S+)/.exec(ua)?.[1];
    })());
    log(`Chromium ${version}, IndexedDB on ${STORAGE}`);

    let isolated;
    const measure = async (contender, scenario, params = {}, attempt = 1) => {
      const page = await context.newPage();
      let loaded = false;
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
      });
      page.on('response', (r) => {
        if (r.status() >= 400) errors.push(`${r.status()} ${r.url()}`);
      });
      page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
      const t = Date.now();
      try {
        await page.goto(`${staticServer.url}/bench/page/index.html`);
        await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30_000 });
        loaded = true;
        isolated ??= await page.evaluate(() => globalThis.crossOriginIsolated === true);
        let timer;
        const value = await Promise.race([
          page.evaluate(([c, s, p]) => window.bench.run(c, s, p), [contender, scenario, params]),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${MEASURE_TIMEOUT_S} s`)), MEASURE_TIMEOUT_S * 1000);
          }),
        ]).finally(() => clearTimeout(timer));
        if (value.ok === false) results.errors.push(`${contender} ${scenario}: the final state is not what the scenario expects: ${JSON.stringify(value)}`);
        if (errors.length) results.errors.push(`${contender} ${scenario}: page errors: ${errors.join('; ')}`);
        record_(contender, scenario, value);
        const shown = value.unsupported ? 'n/a' : Object.entries(value).filter(([, v]) => typeof v === 'number').slice(0, 4).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`).join(' ');
        log(`  ${scenario.padEnd(13)} ${contender.padEnd(9)} ${shown}  (${((Date.now() - t) / 1000).toFixed(1)} s)`);
        return value;
      } catch (error) {
        if (!loaded && attempt === 1) {
          // The page did not load (e.g. dist/npm being rebuilt by scripts/build.sh): once more.
          log(`  ${scenario} ${contender}: the page did not load (${errors.join('; ') || error.message.split('\n')[0]}); retrying`);
          await page.close();
          await new Promise((r) => setTimeout(r, 5000));
          return measure(contender, scenario, params, 2);
        }
        const message = `${contender} ${scenario}: ${error.message.split('\n')[0]}${errors.length ? ` (page: ${errors.join('; ')})` : ''}`;
        results.errors.push(message);
        log(`  FAILED ${message}`);
        return undefined;
      } finally {
        if (!page.isClosed()) await page.close();
      }
    };

    const baseMs = Date.now();
    const perRun = ['singleWrite', 'batchWrite', 'remoteApply', 'reads'].filter((s) => SCENARIOS.includes(s));
    for (let run = 1; run <= RUNS; run++) {
      log(`run ${run}/${RUNS}`);
      for (const scenario of perRun) {
        for (let sample = 0; sample < (scenario === 'batchWrite' ? BATCH_SAMPLES : 1); sample++) {
          for (const contender of CONTENDERS) {
            const params = scenario === 'singleWrite' ? { writes: SINGLE_WRITES } : scenario === 'remoteApply' ? { baseMs } : {};
            await measure(contender, scenario, params);
          }
        }
        if (scenario === 'remoteApply' && CONTENDERS.includes('synclane')) await measure('synclane', 'remoteSyncNow', { baseMs });
        if (scenario === 'singleWrite' && CONTENDERS.includes('floor')) {
          await measure('floor', 'singleWriteReading', { writes: SINGLE_WRITES });
          await measure('floor', 'singleWriteTotals', { writes: SINGLE_WRITES });
        }
      }
    }
    if (SCENARIOS.includes('coalesce')) {
      // Deterministic counts: once per contender.
      log('coalescing (once: the counts are deterministic)');
      for (const contender of CONTENDERS) {
        await measure(contender, 'coalesce', {
          url: syncServer.url, token: TOKEN, workspaceId: `bench-coalesce-${contender}-${Date.now()}`, writes: COALESCE_WRITES, records: 100,
        });
      }
    }
    if (SCENARIOS.includes('bootstrap')) {
      for (let run = 1; run <= BOOTSTRAP_RUNS; run++) {
        log(`bootstrap of ${BOOTSTRAP_RECORDS} records, run ${run}/${BOOTSTRAP_RUNS}`);
        for (const contender of CONTENDERS) {
          await measure(contender, 'bootstrap', { url: syncServer.url, token: TOKEN, workspaceId: BOOTSTRAP_WORKSPACE, expected: BOOTSTRAP_RECORDS });
        }
        if (CONTENDERS.includes('floor')) await measure('floor', 'putCeiling', { count: BOOTSTRAP_RECORDS });
      }
    }
    results.meta = {
      date: new Date().toISOString(),
      chromium: version,
      storage: STORAGE,
      crossOriginIsolated: isolated,
      cpu: cpuModel(),
      cores: cpus().length,
      loadAverage: { atStart: loadAtStart, atEnd: loadavg().map((x) => Number(x.toFixed(2))) },
      node: process.version,
      runs: RUNS,
      batchSamples: BATCH_SAMPLES,
      bootstrapRuns: BOOTSTRAP_RUNS,
      bootstrapRecords: BOOTSTRAP_RECORDS,
      singleWrites: SINGLE_WRITES,
      coalesceWrites: COALESCE_WRITES,
      contenders: CONTENDERS,
      versions: versions(),
      durationS: (Date.now() - benchStarted) / 1000,
    };
  } finally {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await syncServer?.stop().catch(() => undefined);
    await staticServer.close();
    temp.remove();
    rmSync(profile, { recursive: true, force: true });
  }
  if (SCENARIOS.includes('size')) results.size = packageSize();
  return results;
}

function cpuModel() {
  try {
    return /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function versions() {
  const read = (p) => {
    try {
      return JSON.parse(readFileSync(join(root, p), 'utf8')).version;
    } catch {
      return undefined;
    }
  };
  return { synclane: read('dist/npm/package.json'), dexie: read('node_modules/dexie/package.json'), tinybase: read('node_modules/tinybase/package.json') };
}

// ---- medians, ratios, targets, the table.

const WORST_OF_RUNS = new Set(['longestTaskMs', 'maxTimerLatenessMs']);

function summarize(results) {
  const m = {};
  for (const [scenario, byContender] of Object.entries(results.runs)) {
    for (const [contender, values] of Object.entries(byContender)) {
      const supported = values.filter((v) => !v.unsupported);
      const entry = (m[scenario] ??= {})[contender] = { runs: supported.length };
      if (supported.length === 0) {
        entry.unsupported = values[0]?.unsupported ?? 'not measured';
        continue;
      }
      for (const key of Object.keys(supported[0])) {
        // The main thread's worst moments are judged on the worst run, the rest on the median.
        if (WORST_OF_RUNS.has(key)) entry[key] = Math.max(...supported.map((v) => v[key]));
        else if (typeof supported[0][key] === 'number') entry[key] = median(supported.map((v) => v[key]));
        else if (typeof supported[0][key] === 'boolean') entry[key] = supported.every((v) => v[key]);
      }
      entry.ok = supported.every((v) => v.ok !== false);
    }
  }
  return m;
}

const KB = 1024;
const MB = 1024 * 1024;

function targets(m, size) {
  const get = (s, c, k) => m[s]?.[c]?.[k];
  const ratio = (s, c, k) => {
    const a = get(s, c, k);
    const f = get(s, 'floor', k);
    return a !== undefined && f ? a / f : undefined;
  };
  const checks = [];
  const add = (id, label, value, pass, shown) => checks.push({ id, label, value, pass: value === undefined ? null : pass, shown: value === undefined ? 'not measured' : shown });
  const pair = (scenario, key, limit, label) => {
    const r = ratio(scenario, 'synclane', key);
    add(`${scenario}.floorRatio`, `${label}: synclane <= ${limit}x floor`, r, r <= limit, r === undefined ? '' : `${r.toFixed(2)}x`);
    const s = get(scenario, 'synclane', key);
    const d = get(scenario, 'dexie', key);
    add(`${scenario}.vsDexie`, `${label}: synclane faster than Dexie`, s !== undefined && d !== undefined ? s / d : undefined, s < d, s !== undefined && d !== undefined ? `${fmt(s)} vs ${fmt(d)} ms` : '');
  };
  pair('singleWrite', 'p50', 1.2, 'single write (p50)');
  pair('batchWrite', 'ms', 1.3, '1,000 writes in one batch');
  pair('remoteApply', 'ms', 1.5, '10,000 remote changes');
  const rps = get('bootstrap', 'synclane', 'recordsPerSec');
  add('bootstrap.rate', 'bootstrap >= 25,000 records/s', rps, rps >= 25_000, rps === undefined ? '' : `${Math.round(rps).toLocaleString('en-US')}/s`);
  // Long tasks as Chromium reports them ('longtask': tasks over 50 ms); the setTimeout(0)
  // lateness is shown beside (it also counts runs of short tasks back to back).
  const observed = m.bootstrap?.synclane?.longTaskObserver !== false;
  const task = get('bootstrap', 'synclane', observed ? 'longestTaskMs' : 'maxTimerLatenessMs');
  const late = get('bootstrap', 'synclane', 'maxTimerLatenessMs');
  add('bootstrap.longTask', 'bootstrap: no main-thread task over 50 ms', task, task <= 50, task === undefined ? '' : `longest task ${fmt(task)} ms (setTimeout(0) lateness ${fmt(late)} ms)`);
  const ops = get('coalesce', 'synclane', 'ops');
  add('coalesce.ops', 'coalescing pushes exactly 100 ops', ops, ops === 100, ops === undefined ? '' : `${ops} ops`);
  const total = size?.totalGzipBytes;
  add('size', 'package <= 120 KB gzipped', total, total <= 120 * KB, total === undefined ? '' : `${(total / KB).toFixed(1)} KB`);
  const mem = get('bootstrap', 'synclane', 'wasmMemoryBytes');
  add('wasmMemory', 'wasm memory <= 16 MB after 100,000 records', mem, mem <= 16 * MB, mem === undefined ? '' : `${(mem / MB).toFixed(1)} MB`);
  return checks;
}

function fmt(n, digits) {
  if (n === undefined || n === null || !Number.isFinite(n)) return '-';
  if (digits !== undefined) return n.toFixed(digits);
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function table(m, size, checks, meta) {
  const names = { synclane: 'synclane', floor: 'floor (raw IDB)', dexie: 'Dexie + outbox', tinybase: 'TinyBase' };
  const cols = meta.contenders;
  const status = (ids) => {
    const found = ids.map((id) => checks.find((c) => c.id === id)).filter(Boolean);
    if (found.length === 0) return '';
    return found.map((c) => (c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'FAIL')).join(' / ');
  };
  const rows = [];
  const cell = (s, c, k, scale = 1, digits) => {
    const e = m[s]?.[c];
    if (!e) return '-';
    if (e.unsupported) return 'n/a';
    const v = e[k];
    if (k === 'longestTaskMs' && v === 0) return 'none';
    return v === undefined ? '-' : fmt(v * scale, digits) + (e.ok === false ? ' (!)' : '');
  };
  const ratio = (s, c, k) => {
    const a = m[s]?.[c]?.[k];
    const f = m[s]?.floor?.[k];
    return a !== undefined && f ? `${(a / f).toFixed(2)}x` : '-';
  };
  const row = (label, s, k, target = '', ids = [], options = {}) => {
    rows.push([
      label,
      ...cols.map((c) => (options.only && !options.only.includes(c) ? (m[s]?.[c] ? cell(s, c, k, options.scale, options.digits) : 'n/a') : cell(s, c, k, options.scale, options.digits))),
      options.noRatio ? '' : ratio(s, 'synclane', k),
      options.noRatio ? '' : ratio(s, 'dexie', k),
      target,
      status(ids),
    ]);
  };
  row('single write with outbox, p50 (ms)', 'singleWrite', 'p50', '<= 1.2x floor; < Dexie', ['singleWrite.floorRatio', 'singleWrite.vsDexie']);
  row('single write with outbox, p95 (ms)', 'singleWrite', 'p95');
  if (m.singleWriteReading?.floor) {
    // The floor doing a write's reads first (record clock, tombstone, pending entry): the part
    // of the gap that the write's semantics, not synclane's code, cost.
    const reading = m.singleWriteReading.floor.p50;
    const ours = m.singleWrite?.synclane?.p50;
    rows.push(['  floor reading first, p50 (ms)', ...cols.map((c) => (c === 'floor' ? fmt(reading) : '')), ours ? `${(ours / reading).toFixed(2)}x of it` : '', '', 'informative', '']);
  }
  if (m.singleWriteTotals?.floor) {
    // The reading floor also keeping the outbox totals row: every request synclane's write
    // makes, by hand. What remains of the gap is synclane's own code.
    const full = m.singleWriteTotals.floor.p50;
    const ours = m.singleWrite?.synclane?.p50;
    rows.push(['  floor reading first, keeping totals, p50 (ms)', ...cols.map((c) => (c === 'floor' ? fmt(full) : '')), ours ? `${(ours / full).toFixed(2)}x of it` : '', '', 'informative', '']);
  }
  row('1,000 writes in one batch (ms)', 'batchWrite', 'ms', '<= 1.3x floor; < Dexie', ['batchWrite.floorRatio', 'batchWrite.vsDexie']);
  row('  the first batch of a fresh page (ms)', 'batchWrite', 'firstMs', 'informative');
  row('10,000 remote changes, batches of 500 (ms)', 'remoteApply', 'ms', '<= 1.5x floor; < Dexie', ['remoteApply.floorRatio', 'remoteApply.vsDexie']);
  if (m.remoteSyncNow?.synclane) {
    rows.push(['  same changes through syncNow() (ms)', ...cols.map((c) => (c === 'synclane' ? cell('remoteSyncNow', 'synclane', 'ms') : 'n/a')), '', '', 'informative', '']);
  }
  row(`bootstrap ${fmt(meta.bootstrapRecords)} over HTTP (records/s)`, 'bootstrap', 'recordsPerSec', '>= 25,000/s', ['bootstrap.rate']);
  if (m.putCeiling?.floor) {
    // The same records put with nothing else (no network, no reads): no bootstrap on this
    // machine can store records faster than its IndexedDB takes them.
    const ceiling = m.putCeiling.floor.recordsPerSec;
    const ours = m.bootstrap?.synclane?.recordsPerSec;
    rows.push(['  floor putting the records alone, no network (records/s)', ...cols.map((c) => (c === 'floor' ? fmt(ceiling) : '')), ours ? `${(ours / ceiling).toFixed(2)}x of it` : '', '', 'informative', '']);
  }
  row('bootstrap: longest main-thread task, worst run (ms)', 'bootstrap', 'longestTaskMs', 'none over 50 ms', ['bootstrap.longTask'], { noRatio: true });
  row('bootstrap: setTimeout(0) lateness, worst run (ms)', 'bootstrap', 'maxTimerLatenessMs', '', [], { noRatio: true });
  row(`${fmt(meta.coalesceWrites)} writes over 100 records: ops pushed`, 'coalesce', 'ops', 'exactly 100', ['coalesce.ops']);
  row('  bytes sent (push bodies, KB)', 'coalesce', 'bytes', '', [], { scale: 1 / KB, digits: 1 });
  row('  time of the writes (ms)', 'coalesce', 'writeMs');
  row('  time of the flush (ms)', 'coalesce', 'flushMs');
  row('get by id over 10,000, mean of 1,000 (ms)', 'reads', 'getMeanMs', '', [], { digits: 3 });
  row('getAll of 10,000 (ms)', 'reads', 'getAllMs');
  if (size) {
    rows.push(['package, gzipped (KB: wasm + JS bundled, minified)', `${(size.totalGzipBytes / KB).toFixed(1)} (${(size.wasmGzipBytes / KB).toFixed(1)} + ${(size.jsGzipBytes / KB).toFixed(1)})`, ...cols.slice(1).map(() => ''), '', '', '<= 120 KB', status(['size'])]);
    rows.push(['  JS unminified, file by file (KB)', (size.jsUnminifiedGzipBytes / KB).toFixed(1), ...cols.slice(1).map(() => ''), '', '', '', '']);
  }
  const mem = m.bootstrap?.synclane?.wasmMemoryBytes;
  if (mem !== undefined) {
    rows.push([`wasm memory after ${fmt(meta.bootstrapRecords)} records (MB)`, `${(mem / MB).toFixed(1)} (${(m.bootstrap.synclane.wasmMemoryBeforeBytes / MB).toFixed(1)} before)`, ...cols.slice(1).map(() => ''), '', '', '<= 16 MB', status(['wasmMemory'])]);
  }
  const header = ['scenario', ...cols.map((c) => names[c]), 'synclane / floor', 'Dexie / floor', 'target', 'status'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (r) => `| ${r.map((v, i) => String(v).padEnd(widths[i])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
  const notes = [
    `Medians of ${meta.runs} runs (batched writes: ${meta.runs * (meta.batchSamples ?? 1)} samples, ${meta.batchSamples ?? 1} per run; bootstrap: ${meta.bootstrapRuns}, its main-thread figures from the worst run; coalescing: 1, its counts are deterministic), interleaved by contender.`,
    `Chromium ${meta.chromium} headless, IndexedDB on ${meta.storage}, ${meta.crossOriginIsolated ? 'cross-origin isolated (timers in microseconds)' : 'not cross-origin isolated (timers in tenths of a millisecond)'}; ${meta.cpu}, ${meta.cores} cores; synclane ${meta.versions.synclane}, Dexie ${meta.versions.dexie}, TinyBase ${meta.versions.tinybase}. KB = 1,024 bytes, MB = 1,048,576.`,
    'Ratios are value / floor value (for records/s, below 1 is slower). (!) marks a contender whose final state was not the expected one; n/a: the contender does not support the scenario; none: no long task (over 50 ms) was reported.',
  ];
  return `${out.join('\n')}\n\n${notes.join('\n')}`;
}

const results = FROM ? JSON.parse(readFileSync(FROM, 'utf8')) : await main();
const summary = summarize(results);
const checks = targets(summary, results.size);
const text = table(summary, results.size, checks, results.meta);
console.log(text);
console.log('\nTargets:');
for (const c of checks) console.log(`  ${c.pass === null ? 'n/a ' : c.pass ? 'PASS' : 'FAIL'}  ${c.label}: ${c.shown}`);
if (results.errors.length) {
  console.log('\nProblems:');
  for (const e of results.errors) console.log(`  - ${e}`);
}
if (FROM && !env.BENCH_OUT) process.exit(results.errors.length ? 2 : 0);
mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify({ meta: results.meta, medians: summary, targets: checks, size: results.size, runs: results.runs, errors: results.errors, table: text }, null, 2)}\n`);
console.log(`\nResults: ${relative(process.cwd(), OUT) || OUT} (${results.meta.durationS.toFixed(0)} s)`);
process.exit(results.errors.length ? 2 : 0);
