// scripts/minify-wasm-names.mjs on a small module written here byte by byte: the renamed wasm
// instantiates with the rewritten glue's imports and its export is called by its new name, and
// a glue that lacks an import the wasm needs fails the build. The glue's types lose their
// `[Symbol.dispose]` members, which only compile with TypeScript's esnext lib.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const GLUE_MODULE = './x_bg.js';
const SNIPPET = './snippets/x-0123/inline0.js';
const LOG = '__wbg_log_0123456789abcdef';

const bytes = (text) => [...Buffer.from(text)];
const name = (text) => [bytes(text).length, ...bytes(text)];
const section = (id, body) => [id, body.length, ...body];

/** Imports `log` from the glue and `helper` from a snippet; exports `engine_run`, which calls both. */
function module() {
  const types = section(1, [1, 0x60, 0, 0]);
  const imports = section(2, [2, ...name(GLUE_MODULE), ...name(LOG), 0, 0, ...name(SNIPPET), ...name('helper'), 0, 0]);
  const functions = section(3, [1, 0]);
  const exports = section(7, [1, ...name('engine_run'), 0, 2]);
  const body = [0, 0x10, 0, 0x10, 1, 0x0b];
  const code = section(10, [1, body.length, ...body]);
  return Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...types, ...imports, ...functions, ...exports, ...code]);
}

const glue = (provideLog) => `import * as import1 from "${SNIPPET}";
let wasm;
export function run() { wasm.engine_run(); }
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        ${provideLog ? `${LOG}: function() { globalThis.calls.push('log'); },` : ''}
    };
    return {
        __proto__: null,
        "${GLUE_MODULE}": import0,
        "${SNIPPET}": import1,
    };
}
`;

/** The glue's types as wasm-bindgen writes them: the exports, and a class with its dispose member. */
const TYPES = `export class Thing {
  free(): void;
  [Symbol.dispose](): void;
  get size(): number;
}
export interface InitOutput {
  readonly engine_run: () => void;
}
`;

/** Minifies the module's names as the build does; returns the directory and the script's result. */
function minify(provideLog, types = TYPES) {
  const dir = mkdtempSync(join(tmpdir(), 'minify-names-'));
  writeFileSync(join(dir, 'in.wasm'), module());
  const opt = spawnSync(
    process.execPath,
    [join(root, 'node_modules/binaryen/bin/wasm-opt'), '--minify-imports-and-exports-and-modules', join(dir, 'in.wasm'), '-o', join(dir, 'x_bg.wasm')],
    { encoding: 'utf8' },
  );
  assert.equal(opt.status, 0, opt.stderr);
  writeFileSync(join(dir, 'names.json'), opt.stdout);
  writeFileSync(join(dir, 'x.js'), glue(provideLog));
  writeFileSync(join(dir, 'x.d.ts'), types);
  const script = spawnSync(
    process.execPath,
    [join(root, 'scripts/minify-wasm-names.mjs'), ...['names.json', 'x_bg.wasm', 'x.js', 'x.d.ts'].map((f) => join(dir, f))],
    { encoding: 'utf8' },
  );
  return { dir, script };
}

test('the renamed wasm runs with the rewritten glue, which calls its export by the new name', () => {
  const { dir, script } = minify(true);
  assert.equal(script.status, 0, script.stderr);
  const source = readFileSync(join(dir, 'x.js'), 'utf8');
  assert.ok(!source.includes(LOG) && !source.includes('engine_run'), source);

  const wasm = new WebAssembly.Module(readFileSync(join(dir, 'x_bg.wasm')));
  const [exported] = WebAssembly.Module.exports(wasm).map((e) => e.name);
  assert.notEqual(exported, 'engine_run');
  assert.match(source, new RegExp(`wasm\\.${exported.replace('$', '\\$')}\\(\\)`));
  assert.match(readFileSync(join(dir, 'x.d.ts'), 'utf8'), new RegExp(`readonly "${exported.replace('$', '\\$')}"`));

  // The glue's import builder, with the snippet module as a plain object.
  const build = new Function('import1', `${source.replace(/^import .*$/m, '').replace(/^export /m, '')}; return __wbg_get_imports();`);
  globalThis.calls = [];
  const imports = build({ helper: () => globalThis.calls.push('helper') });
  const instance = new WebAssembly.Instance(wasm, imports);
  instance.exports[exported]();
  assert.deepEqual(globalThis.calls, ['log', 'helper']);
});

test('a glue that lacks an import the wasm needs fails the build, naming it', () => {
  const { script } = minify(false);
  assert.equal(script.status, 1);
  assert.match(script.stderr, /the wasm imports \S+, which the glue does not provide/);
});

test('the types lose their [Symbol.dispose] members and keep everything else', () => {
  const { dir, script } = minify(true);
  assert.equal(script.status, 0, script.stderr);
  const types = readFileSync(join(dir, 'x.d.ts'), 'utf8');
  assert.ok(!types.includes('Symbol.dispose'), types);
  assert.match(types, /export class Thing \{\n {2}free\(\): void;\n {2}get size\(\): number;\n\}/);
});

test('a dispose symbol left in the types in another form fails the build, naming where', () => {
  const { script } = minify(true, `${TYPES}export declare const release: typeof Symbol.asyncDispose;\n`);
  assert.equal(script.status, 1);
  assert.match(script.stderr, /x\.d\.ts still names Symbol\.asyncDispose, .* in: export declare const release/);
});
