// The published declarations type-check an app's code: hook names and payloads, error codes,
// the provider contract and the typed wasm classes (tests/js/types/consumer.ts); and every
// entry point compiles under a plain strict ES2022 + DOM setup without skipLibCheck
// (tests/js/types/plain/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, packageDir } from './support/synclane.mjs';

/** Runs tsc with `args`; returns what it reported ('' when the code compiles). */
function tsc(...args) {
  try {
    execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, ...args], { encoding: 'utf8' });
    return '';
  } catch (error) {
    return `${error.stdout}${error.stderr}`;
  }
}

test('an app type-checks against dist/npm declarations, and the marked mistakes are refused', () => {
  assert.equal(tsc('-p', `${root}tests/js/types`), '', 'tsc reported errors');
});

test('every entry point compiles in a plain strict ES2022 + DOM app, skipLibCheck off', () => {
  // An app of its own, importing `synclane` through node_modules, so the package's "exports"
  // map resolves the entry points as a bundler would.
  const app = mkdtempSync(join(tmpdir(), 'synclane-plain-app-'));
  try {
    for (const file of ['tsconfig.json', 'consumer.ts']) copyFileSync(`${root}tests/js/types/plain/${file}`, join(app, file));
    mkdirSync(join(app, 'node_modules'));
    symlinkSync(packageDir, join(app, 'node_modules', 'synclane'), 'dir');
    assert.equal(tsc('-p', app, '--noEmit'), '', 'tsc reported errors');
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});
