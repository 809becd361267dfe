// scripts/check-cycles.mjs on small crates written here: a circle between two files fails the
// check and is named; the constructs that are not imports (a parent declaring its children,
// an inline test module's `super`, a name the root imports from another crate, paths in
// comments and strings) pass; a parent and a child using each other's items are a circle.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { crateEdges, findCycles } from '../../scripts/check-cycles.mjs';

const script = fileURLToPath(new URL('../../scripts/check-cycles.mjs', import.meta.url));

/** A crate folder holding `files` (paths relative to it). */
function crate(files) {
  const dir = mkdtempSync(join(tmpdir(), 'check-cycles-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function check(dir) {
  return spawnSync(process.execPath, [script, dir], { cwd: dir, encoding: 'utf8' });
}

test('two files that import each other fail the check, which names the circle and its edges', () => {
  const dir = crate({
    'src/lib.rs': 'mod a;\nmod b;\n',
    'src/a.rs': 'use crate::b::B;\npub struct A(B);\n',
    'src/b.rs': 'pub struct B;\npub fn make() -> crate::a::A {\n    crate::a::A(B)\n}\n',
  });
  const run = check(dir);
  assert.equal(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /import cycle: src\/a\.rs -> src\/b\.rs -> src\/a\.rs/);
  assert.match(run.stderr, /src\/a\.rs -> src\/b\.rs: crate::b::B \(line 1\)/);
  assert.match(run.stderr, /src\/b\.rs -> src\/a\.rs: crate::a::A \(line 2\)/);
  assert.equal(findCycles([dir]).cycles.length, 1);
});

test('a tree whose files import downwards only passes, whatever else names paths', () => {
  const dir = crate({
    // The root imports a module of another crate under its own name, and re-exports items.
    'src/lib.rs': [
      'mod engine;',
      'mod store;',
      'mod util;',
      'use other_crate::error;',
      'pub use engine::Engine;',
      'pub use store::rows::Row;',
      'pub use util::helper;',
      '',
    ].join('\n'),
    // The inline test module's `super` is util.rs itself, not the root that re-exports it.
    'src/util.rs': 'pub fn helper() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n',
    // `crate::error` is the other crate's: no edge to lib.rs (which would close a circle).
    'src/engine.rs': [
      'use crate::{store::{rows::{self, Row}, Store}, error};',
      'pub struct Engine(Store);',
      'pub fn run() -> Result<Row, error::Error> {',
      '    crate::error::check()?;',
      '    Ok(rows::row())',
      '}',
      '',
    ].join('\n'),
    // Declaring children is not importing them; the children use their parent's items.
    'src/store/mod.rs': 'pub mod rows;\npub mod write;\n\npub struct Store;\n',
    'src/store/write.rs': 'use super::rows::Row;\nuse super::Store;\n\npub fn write(_: &Store, _: Row) {}\n',
    // An inline test module's `super` is rows.rs itself; comments and strings are no imports.
    'src/store/rows.rs': [
      '//! Rows; see `crate::engine::Engine` /* and super::write::write */.',
      'pub struct Row;',
      'pub fn row() -> Row {',
      '    let _ = "crate::engine::run";',
      "    let _ = r#\"super::write::write\"#;",
      "    let _ = ('\"', 'x');",
      '    Row',
      '}',
      '#[cfg(test)]',
      'mod tests {',
      '    use super::*;',
      '    fn lifetime<\'a>(r: &\'a Row) -> &\'a Row { r }',
      '}',
      '',
    ].join('\n'),
  });
  const run = check(dir);
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /import cycles \(Rust\): none among 6 files of 1 crate/);
  // The edges that are there, downwards, and none of the ones that are not.
  const { edges } = crateEdges(join(dir, 'src/lib.rs'));
  const named = [...edges].flatMap(([from, to]) =>
    [...to.keys()].map((file) => `${from.slice(dir.length + 5)} -> ${file.slice(dir.length + 5)}`),
  );
  assert.deepEqual(named.sort(), [
    'engine.rs -> store/mod.rs',
    'engine.rs -> store/rows.rs',
    'lib.rs -> engine.rs',
    'lib.rs -> store/rows.rs',
    'lib.rs -> util.rs',
    'store/write.rs -> store/mod.rs',
    'store/write.rs -> store/rows.rs',
  ]);
});

test('a parent using a child item while the child uses the parent is a circle', () => {
  const dir = crate({
    'src/lib.rs': 'pub mod store;\n',
    'src/store/mod.rs': 'mod write;\nuse write::flush;\n\npub struct Store;\npub fn close(s: &Store) {\n    flush(s)\n}\n',
    'src/store/write.rs': 'pub fn flush(_: &super::Store) {}\n',
  });
  const run = check(dir);
  assert.equal(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /import cycle: src\/store\/mod\.rs -> src\/store\/write\.rs -> src\/store\/mod\.rs/);
});

test('files reached through #[path] and nested `super::super` are resolved', () => {
  const dir = crate({
    'src/lib.rs': 'pub mod a;\npub struct Root;\npub fn use_inner() -> a::inner::Inner { a::inner::Inner }\n',
    'src/a.rs': '#[path = "a_inner.rs"]\npub mod inner;\n',
    'src/a_inner.rs': 'pub struct Inner;\npub fn root() -> super::super::Root { super::super::Root }\n',
  });
  const run = check(dir);
  assert.equal(run.status, 1, run.stdout + run.stderr);
  assert.match(run.stderr, /import cycle: src\/a_inner\.rs -> src\/lib\.rs -> src\/a_inner\.rs/);
});
