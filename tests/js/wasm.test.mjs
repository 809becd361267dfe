// Loading the wasm modules through initSynclane and initMemoryServer, the typed wasm classes, and
// the npm package layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { synclane, loadWasm, packageDir, root } from './support/synclane.mjs';

/** Runs `body` as an ES module in a fresh Node process (a fresh, unloaded wasm module). */
function inFreshProcess(body) {
  const script = `
    const synclane = await import(${JSON.stringify(`${packageDir}dist/index.js`)});
    const memory = await import(${JSON.stringify(`${packageDir}dist/memory.js`)});
    const { readFileSync } = await import('node:fs');
    const bytes = readFileSync(${JSON.stringify(`${packageDir}dist/wasm/synclane_bg.wasm`)});
    const memoryBytes = readFileSync(${JSON.stringify(`${packageDir}dist/wasm/synclane_memory_bg.wasm`)});
    const warnings = [];
    console.warn = (...args) => warnings.push(args.join(' '));
    const out = {};
    ${body}
    out.warnings = warnings;
    console.log(JSON.stringify(out));
  `;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

test('initSynclane is idempotent: concurrent and later calls share one load', async () => {
  const out = inFreshProcess(`
    const a = synclane.initSynclane({ module_or_path: bytes });
    const b = synclane.initSynclane({ module_or_path: bytes });
    out.same = a === b;
    out.readyBefore = synclane.isSynclaneReady();
    await a;
    out.readyAfter = synclane.isSynclaneReady();
    await synclane.initSynclane();
    out.stamp = new synclane.SyncClock('d').now();
  `);
  assert.deepEqual(
    { ...out, stamp: /^[0-9a-f]{16}-[0-9a-f]{16}$/.test(out.stamp) },
    { same: true, readyBefore: false, readyAfter: true, stamp: true, warnings: [] },
  );
});

test('bare bytes load without wasm-bindgen deprecation warnings', () => {
  const out = inFreshProcess(`
    await synclane.initSynclane(bytes);
    out.ready = synclane.isSynclaneReady();
  `);
  assert.deepEqual(out, { ready: true, warnings: [] });
});

test('a failed load rejects with a SyncError and the next call tries again', () => {
  const out = inFreshProcess(`
    try { await synclane.initSynclane({ module_or_path: new Uint8Array([0, 1, 2, 3]) }); }
    catch (e) { out.first = { isSyncError: e instanceof synclane.SyncError, code: e.code }; }
    await synclane.initSynclane({ module_or_path: bytes });
    out.ready = synclane.isSynclaneReady();
  `);
  assert.deepEqual(out, { first: { isSyncError: true, code: 'internal' }, ready: true, warnings: [] });
});

test('initSynclaneSync loads from bytes or a compiled module', () => {
  const out = inFreshProcess(`
    synclane.initSynclaneSync(new WebAssembly.Module(bytes));
    synclane.initSynclaneSync(bytes); // a no-op now
    out.ready = synclane.isSynclaneReady();
    out.stamp = typeof new synclane.SyncClock('d').now();
  `);
  assert.deepEqual(out, { ready: true, stamp: 'string', warnings: [] });
});

test('the in-memory server is a module of its own: the engine\'s load leaves it unloaded, and it loads alone', () => {
  const out = inFreshProcess(`
    await synclane.initSynclane(bytes);
    out.afterEngine = memory.isMemoryServerReady();
    try { new memory.MemorySyncProvider(); } catch (e) { out.before = { code: e.code, message: e.message }; }
    const a = memory.initMemoryServer(memoryBytes);
    out.same = a === memory.initMemoryServer(memoryBytes);
    await a;
    out.afterLoad = memory.isMemoryServerReady();
    memory.initMemoryServerSync(memoryBytes); // a no-op now
    out.version = new memory.MemorySyncServer().stats('w').version;
    out.engineKeysOnMemory = ['SyncEngine', 'initSynclane', 'SyncClock'].filter((k) => k in memory);
    out.memoryKeysOnEngine = ['MemorySyncServer', 'MemorySyncProvider', 'initMemoryServer'].filter((k) => k in synclane);
  `);
  assert.equal(out.before.code, 'internal');
  assert.match(out.before.message, /initMemoryServer/);
  delete out.before;
  assert.deepEqual(out, {
    afterEngine: false, same: true, afterLoad: true, version: 0,
    engineKeysOnMemory: [], memoryKeysOnEngine: [], warnings: [],
  });
});

test('initMemoryServerSync loads the in-memory server from a compiled module', () => {
  const out = inFreshProcess(`
    memory.initMemoryServerSync(new WebAssembly.Module(memoryBytes));
    out.ready = memory.isMemoryServerReady();
    out.engineReady = synclane.isSynclaneReady();
    out.version = new memory.MemorySyncServer().stats('w').version;
  `);
  assert.deepEqual(out, { ready: true, engineReady: false, version: 0, warnings: [] });
});

test('MemorySyncServer is the wasm class: instanceof works, and stats are plain numbers', async () => {
  await loadWasm();
  const server = new synclane.MemorySyncServer({ maxPullLimit: 5 });
  assert.ok(server instanceof synclane.MemorySyncServer);
  assert.deepEqual(server.stats('nothing-here'), { version: 0, records: 0, tombstones: 0, floor: 0, devices: 0 });
  assert.equal(server.collectGarbage(), 0);
  server.free();
});

test('the npm package: exports resolve to built files, version matches the crate', () => {
  const pkg = JSON.parse(readFileSync(`${packageDir}package.json`, 'utf8'));
  assert.equal(pkg.name, 'synclane');
  assert.equal(pkg.type, 'module');
  const crateVersion = readFileSync(`${root}Cargo.toml`, 'utf8').match(/\[package\][\s\S]*?\nversion = "([^"]+)"/)[1];
  assert.equal(pkg.version, crateVersion);
  const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
  for (const target of targets) assert.ok(existsSync(`${packageDir}${target}`), `${target} exists`);
  for (const file of ['dist/wasm/synclane.js', 'dist/wasm/synclane.d.ts', 'dist/wasm/synclane_memory.js', 'README.md']) {
    assert.ok(existsSync(`${packageDir}${file}`), `${file} exists`);
  }
});

test('the shipped files name no path of the machine that built them', async () => {
  const { homedir } = await import('node:os');
  const { readdirSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const machinePaths = [`${homedir()}/`, root, '/.cargo/registry', '/.rustup/'].filter((p) => p.length > 2);
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(`${packageDir}dist`);
  assert.ok(files.some((f) => f.endsWith('synclane_bg.wasm')), 'the wasm is among the files');
  assert.ok(files.some((f) => f.endsWith('synclane_memory_bg.wasm')), 'the memory server wasm is among the files');
  for (const file of files) {
    const text = readFileSync(file).toString('latin1');
    for (const path of machinePaths) assert.ok(!text.includes(path), `${file} names ${path}`);
  }
});
