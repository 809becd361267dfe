// The import-cycle check of the TypeScript layer (scripts/test.sh runs it as its own step):
//   node node_modules/madge/bin/cli.js --circular --no-spinner js/src
// with the settings of .madgerc (the tsconfig's resolver for the `.js` specifiers, type-only
// imports counted). A check that resolved no import would find no cycle and pass, so these tests
// show it failing on a folder with a cycle, and reading every relative import of js/src.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const src = join(root, 'js/src');

/** Runs madge from the repository's root (where .madgerc is) on `folder`. */
function madge(...args) {
  const run = spawnSync(process.execPath, [join(root, 'node_modules/madge/bin/cli.js'), '--no-spinner', '--no-color', ...args], {
    cwd: root,
    encoding: 'utf8',
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}`, stdout: run.stdout };
}

test('the check fails on a two-file cycle of .js-suffixed imports, one of them type-only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synclane-cycle-'));
  try {
    writeFileSync(join(dir, 'engine.ts'), "import { emit } from './hooks.js';\nexport interface Entry { id: string }\nexport const run = () => emit();\n");
    writeFileSync(join(dir, 'hooks.ts'), "import type { Entry } from './engine.js';\nexport const emit = (entry?: Entry) => entry;\n");
    writeFileSync(join(dir, 'leaf.ts'), "export const leaf = 1;\n");
    const { status, output } = madge('--circular', dir);
    assert.notEqual(status, 0, `madge passed a cycle:\n${output}`);
    assert.match(output, /engine\.ts > hooks\.ts/, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('js/src has no import cycle', () => {
  const { status, output } = madge('--circular', 'js/src');
  assert.equal(status, 0, `import cycles in js/src:\n${output}`);
  assert.match(output, /No circular dependency found/);
});

test('the check sees every relative import of js/src', () => {
  const { status, stdout, output } = madge('--json', 'js/src');
  assert.equal(status, 0, output);
  const graph = JSON.parse(stdout);
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      // The generated wasm bindings (copied in by the build) import nothing of ours.
      if (entry.isDirectory() && path !== join(src, 'wasm')) walk(path);
      else if (entry.isFile() && entry.name.endsWith('.ts')) files.push(path);
    }
  };
  walk(src);
  assert.ok(files.length > 20, `only ${files.length} files found`);
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const expected = new Set();
    for (const [, specifier] of text.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const target = resolve(dirname(file), specifier);
      const candidates = [target.replace(/\.js$/, '.ts'), target.replace(/\.js$/, '.d.ts')];
      const found = candidates.find((c) => existsSync(c));
      if (found) expected.add(relative(src, found));
    }
    const seen = new Set(graph[relative(src, file)] ?? []);
    assert.deepEqual([...seen].sort(), [...expected].sort(), `${relative(root, file)}: the imports madge resolved`);
  }
});
