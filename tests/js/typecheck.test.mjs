// The published declarations type-check an app's code: hook names and payloads, error codes,
// the provider contract and the typed wasm classes (tests/js/types/consumer.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { root } from './support/synclane.mjs';

test('an app type-checks against dist/npm declarations, and the marked mistakes are refused', () => {
  let output = '';
  try {
    execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tests/js/types`], {
      encoding: 'utf8',
    });
  } catch (error) {
    output = `${error.stdout}${error.stderr}`;
  }
  assert.equal(output, '', 'tsc reported errors');
});
