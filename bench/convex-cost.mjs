// The Convex cost table: function calls and documents read and written per operation of
// synclane's Convex functions, counted (not timed) on convex-test by tests/convex/cost.test.ts,
// which runs the mounted functions with a counting `ctx.db` (tests/convex/convex/counted.ts).
// Prints a Markdown table with PASS/FAIL against the targets, and adds the figures to
// BENCH_OUT (dist/bench/results.json) as `convexCost`. Needs no build and no browser.
// Exits with 2 when a target is missed or the measurement failed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { env } = process;
const OUT = env.BENCH_OUT || join(root, 'dist/bench/results.json');
const K = 5;

const run = spawnSync(
  process.execPath,
  [join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--root', join(root, 'tests/convex'), 'cost.test.ts'],
  { cwd: root, env: { ...env, SYNCLANE_CONVEX_COST: '1', FORCE_COLOR: '0', NO_COLOR: '1' }, encoding: 'utf8', maxBuffer: 64 << 20 },
);
const line = `${run.stdout}`.split('\n').find((l) => l.startsWith('SYNCLANE_CONVEX_COST '));
if (!line) {
  process.stderr.write(`convex cost: no figures (vitest exited with ${run.status})\n${run.stdout}\n${run.stderr}\n`);
  process.exit(2);
}
const f = JSON.parse(line.slice('SYNCLANE_CONVEX_COST '.length));

const w = (x, table) => x.writtenByTable[table] ?? 0;
const calls = (x) => [x.queries && `${x.queries} query`, x.mutations && `${x.mutations} mutation`].filter(Boolean).join(', ');
const rows = [
  ['push of 100 new records (first push of a workspace)', f.pushFirst, '1 mutation; ≤ 100 records + 100 op ids + k written', (x) => x.mutations === 1 && x.calls === 1 && w(x, 'synclane_records') <= 100 && x.written <= 200 + K],
  ['push of 100 new records', f.pushNew, '1 mutation; ≤ 100 records + 100 op ids + k written; ≤ 200 + k read', (x) => x.mutations === 1 && x.calls === 1 && w(x, 'synclane_records') <= 100 && x.written <= 200 + K && x.read <= 200 + K],
  ['push of 100 updates of stored records', f.pushUpdates, 'same', (x) => x.mutations === 1 && x.calls === 1 && w(x, 'synclane_records') <= 100 && x.written <= 200 + K && x.read <= 200 + K],
  ['push of 100 duplicates (a retried batch)', f.pushDuplicates, '1 mutation; nothing written; no head re-run', (x) => x.calls === 1 && x.written === 0 && x.counterWrites === 0],
  ['push of 100 superseded ops only', f.pushSuperseded, '1 mutation; no record written; no head re-run', (x) => x.calls === 1 && w(x, 'synclane_records') === 0 && x.counterWrites === 0],
  ['pull, a page of 500 changes', f.pull500, '1 query; ≤ 500 + k read; no head re-run', (x) => x.calls === 1 && x.queries === 1 && x.read <= 500 + K && x.written === 0],
  ['head (one run of the subscription)', f.head, '1 query; 1 read', (x) => x.calls === 1 && x.read === 1 && x.written === 0],
  ['updateCursor', f.updateCursor, '1 mutation; ≤ k read + written; no head re-run', (x) => x.calls === 1 && x.read + x.written <= K && x.counterWrites === 0],
  ['collectGarbage over 100 tombstones', f.collectGarbage100, '1 mutation; ≤ 100 + k read; ≤ 200 + k written', (x) => x.calls === 1 && x.read <= 100 + K && x.written <= 200 + K],
];
const byTable = (m) => Object.entries(m).map(([t, n]) => `${t.replace('synclane_', '')} ${n}`).join(', ') || '-';
const lines = [
  '## Convex cost per operation (counted on convex-test; k = 5)',
  '',
  '| operation | function calls | index ranges + gets | documents read | documents written | written, by table | head re-runs (counter writes) | target | |',
  '|---|---|---|---|---|---|---|---|---|',
];
const checks = [];
for (const [name, x, target, ok] of rows) {
  const pass = ok(x);
  checks.push({ operation: name, target, pass });
  lines.push(`| ${name} | ${calls(x)} | ${x.dbQueries} | ${x.read} | ${x.written} | ${byTable(x.writtenByTable)} | ${x.counterWrites} | ${target} | ${pass ? 'PASS' : 'FAIL'} |`);
}
lines.push(
  '',
  'Head re-runs: `head` reads the counter document (`synclane_workspaces`) alone, and a Convex',
  'subscription re-runs when a document it read is written, so its re-runs per operation are the',
  "writes to that document. A push that stores something writes it once; duplicates, superseded",
  'ops, updateCursor and pull never do. collectGarbage writes it (floor and record count) when it',
  'purges, which re-runs the subscription with an unchanged result (version and epoch).',
  'Each pushed op also stores its op id (`synclane_ops`, the idempotency log), so a push of 100',
  'ops writes about 2 x 100 documents, not 100: records alone stay within 100.',
);
const text = lines.join('\n');
console.log(text);

if (!(env.BENCH_FROM && !env.BENCH_OUT)) {
  let results = {};
  if (existsSync(OUT)) {
    try {
      results = JSON.parse(readFileSync(OUT, 'utf8'));
    } catch {
      results = {};
    }
  } else mkdirSync(dirname(OUT), { recursive: true });
  results.convexCost = { figures: f, targets: checks, table: text };
  writeFileSync(OUT, `${JSON.stringify(results, null, 2)}\n`);
}
process.exit(checks.every((c) => c.pass) ? 0 : 2);
