// The public API of the npm package stays what the snapshots in tests/js/api/ say: for every
// entry point of the "exports" map (synclane, synclane/memory, synclane/conformance,
// synclane/devtools), every exported name with its declaration, the types those name, and the
// global declarations, as read from the built declarations in dist/npm (see
// tests/js/support/api-snapshot.mjs). Moving code between files changes none of it; any other
// difference fails here, with the lines that differ.
//
// When the API changes on purpose: build the package (scripts/build.sh), then run
//   node tests/js/support/api-snapshot.mjs --update
// and commit the rewritten tests/js/api/*.api.txt with the change, so the review shows the
// API's difference beside the code's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageDir } from './support/synclane.mjs';
import { apiSnapshots, entryPoints, snapshotDir } from './support/api-snapshot.mjs';

/** The lines of `expected` and `actual` that differ, as a unified-style listing with context. */
function lineDiff(expected, actual, context = 3) {
  const a = expected.split('\n');
  const b = actual.split('\n');
  // Longest common subsequence over the lines between the common head and tail.
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const lcs = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  }
  const rows = a.slice(0, head).map((line) => ['  ', line]);
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) rows.push(['  ', x[i++]]), j++;
    else if (i < x.length && (j === y.length || lcs[i + 1][j] >= lcs[i][j + 1])) rows.push(['- ', x[i++]]);
    else rows.push(['+ ', y[j++]]);
  }
  rows.push(...a.slice(a.length - tail).map((line) => ['  ', line]));
  // Only the changed lines and a few around them, with line numbers of the snapshot.
  const keep = rows.map(() => false);
  rows.forEach(([mark], k) => {
    if (mark !== '  ') for (let d = -context; d <= context; d++) if (rows[k + d]) keep[k + d] = true;
  });
  const out = [];
  let line = 0;
  rows.forEach(([mark, text], k) => {
    if (mark !== '+ ') line++;
    if (keep[k]) out.push(`${mark}${String(line).padStart(5)} | ${text}`);
    else if (keep[k - 1]) out.push('  ...');
  });
  return out.join('\n');
}

const snapshots = apiSnapshots(packageDir);

for (const [name] of entryPoints(packageDir)) {
  test(`the public API of "${name}" matches tests/js/api/${name}.api.txt`, () => {
    const path = join(snapshotDir, `${name}.api.txt`);
    assert.ok(existsSync(path), `${path} is missing: node tests/js/support/api-snapshot.mjs --update writes it`);
    const expected = readFileSync(path, 'utf8');
    const actual = snapshots[name];
    if (actual !== expected) {
      assert.fail(
        `the public API of "${name}" differs from its snapshot (- snapshot, + built package):\n${lineDiff(expected, actual)}\n` +
          'If the change is meant, run `node tests/js/support/api-snapshot.mjs --update` and commit the snapshot.',
      );
    }
  });
}

test('the API is read from real declarations: every entry point exports something', () => {
  for (const [name, text] of Object.entries(snapshots)) {
    assert.match(text, /^export /m, `${name} exports nothing`);
  }
});
