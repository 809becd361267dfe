// The published `synclane/convex` entry: it exports ConvexSyncProvider, its errors are the main
// entry's SyncError class, it loads nothing of `convex` at run time (the client is the app's),
// and the main entry does not reach it (its size stays as it was).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { synclane, packageDir } from './support/synclane.mjs';

/** Every module file the static imports of `entry` reach, and the bare specifiers they name. */
function importGraph(entry) {
  const files = new Set();
  const bare = new Set();
  const visit = (file) => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    // `import … from 'x'`, `export … from 'x'` and the bare `import 'x'`; tsc emits each on lines of its own.
    for (const [, specifier] of source.matchAll(/(?:^|\n)\s*(?:import|export)\b(?:[^'";]*?\bfrom)?\s*['"]([^'"]+)['"]/g)) {
      if (specifier.startsWith('.')) visit(resolve(dirname(file), specifier));
      else bare.add(specifier);
    }
  };
  visit(resolve(entry));
  return { files: [...files], bare: [...bare] };
}

test('synclane/convex exports ConvexSyncProvider, and the main entry does not', async () => {
  const entry = await import(`${packageDir}dist/convex/index.js`);
  assert.equal(typeof entry.ConvexSyncProvider, 'function');
  assert.equal(synclane.ConvexSyncProvider, undefined);
  const provider = new entry.ConvexSyncProvider({ client: {}, functions: {} });
  assert.equal(provider.id, 'convex');
  assert.equal(provider.mode, 'direct');
});

test('its errors are the main entry’s SyncError, with canonical codes', async () => {
  const { convexSyncError } = await import(`${packageDir}dist/convex/index.js`);
  const cause = Object.assign(new Error('nope'), { name: 'ConvexError', data: { code: 'forbidden', message: 'nope' } });
  const error = convexSyncError('pull', cause);
  assert.ok(error instanceof synclane.SyncError);
  assert.equal(error.code, 'forbidden');
  assert.equal(error.cause, cause);
});

test('the entry imports nothing of convex at run time, and the main entry does not reach it', () => {
  const convexEntry = importGraph(`${packageDir}dist/convex/index.js`);
  assert.deepEqual(convexEntry.bare, []);
  assert.ok(convexEntry.files.some((file) => file.endsWith('/convex/provider.js')));
  const main = importGraph(`${packageDir}dist/index.js`);
  assert.ok(main.files.length > 5, 'the graph walker follows the main entry’s imports');
  assert.deepEqual(main.files.filter((file) => file.includes('/dist/convex/')), []);
});
