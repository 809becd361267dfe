// What an app downloads from the npm package (dist/npm), gzipped (-9):
// - the wasm module of the main entry;
// - the JavaScript of the main entry `synclane`, bundled and minified as an app's bundler
//   ships it (esbuild), the usual measure of a package's size. The tools have entries of their
//   own (`synclane/conformance`, `synclane/devtools`) and are not counted; the devtools hook
//   every engine installs is, since the engine imports it.
// The same files unminified, gzipped one by one, are reported beside it for reference.
//
// Run directly, it prints the figures as JSON; bench/run.mjs and scripts/build.sh use it.

import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));

const gzipBytes = (input) =>
  execFileSync('gzip', ['-9', '-c'], { input, maxBuffer: 64 << 20 }).length;

export function packageSize(packageDir = join(root, 'dist/npm')) {
  const dist = join(packageDir, 'dist');
  const wasm = join(dist, 'wasm/synclane_bg.wasm');
  const built = buildSync({
    entryPoints: [join(dist, 'index.js')],
    bundle: true,
    minify: true,
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const bundle = built.outputFiles[0].contents;
  // The files the bundle was made of, as they ship.
  const inputs = Object.keys(built.metafile.inputs);
  const unminified = inputs.reduce((sum, f) => sum + gzipBytes(readFileSync(f)), 0);
  const wasmGzipBytes = gzipBytes(readFileSync(wasm));
  const jsGzipBytes = gzipBytes(bundle);
  return {
    wasmGzipBytes,
    jsGzipBytes,
    totalGzipBytes: wasmGzipBytes + jsGzipBytes,
    wasmRawBytes: statSync(wasm).size,
    jsMinifiedBytes: bundle.length,
    jsFiles: inputs.length,
    jsUnminifiedGzipBytes: unminified,
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(packageSize(process.argv[2]), null, 2));
}
