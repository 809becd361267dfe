#!/usr/bin/env node
// Packages the Chrome DevTools extension into dist/devtools-extension/ (load it unpacked, or
// zip it for the store): the extension's own files from devtools-extension/, and the panel's
// modules from the built npm package (dist/npm/dist/devtools/): exactly the files that the
// extension's scripts reach through relative imports, with their source maps.
//
// Run it after the TypeScript build (`tsc -p js`). It fails when a script imports anything the
// extension cannot ship under Manifest V3 (a bare or remote specifier: no remote code), or when
// the devtools modules stop being self-contained (an import leaving dist/npm/dist/devtools/).
//
//   node scripts/package-extension.mjs [--out DIR]
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const extensionDir = join(root, 'devtools-extension');
const libDir = join(root, 'dist/npm/dist/devtools');
const outArg = process.argv.indexOf('--out');
const outDir = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist/devtools-extension');
// The folder of the extension that holds the package's devtools modules.
const LIB_PREFIX = 'devtools';

function fail(message) {
  console.error(`[package-extension] ${message}`);
  process.exit(1);
}

if (!existsSync(join(libDir, 'index.js'))) fail(`${relative(root, libDir)}/index.js is missing: build the TypeScript layer first (tsc -p js)`);

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const copied = [];
const copy = (from, to) => {
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied.push(relative(outDir, to).split(sep).join('/'));
};

// 1. The extension's own files (everything but notes for developers).
const walk = (dir) => readdirSync(dir).flatMap((name) => (statSync(join(dir, name)).isDirectory() ? walk(join(dir, name)) : [join(dir, name)]));
for (const file of walk(extensionDir)) {
  const rel = relative(extensionDir, file);
  if (rel.endsWith('.md') || rel === 'manifest.json') continue;
  if (rel.split(sep)[0] === LIB_PREFIX) fail(`devtools-extension/${LIB_PREFIX}/ is reserved for the package's modules`);
  copy(file, join(outDir, rel));
}

// 2. The manifest, with the package's version.
const manifest = JSON.parse(readFileSync(join(extensionDir, 'manifest.json'), 'utf8'));
const { version } = JSON.parse(readFileSync(join(root, 'pkg-template/package.json'), 'utf8'));
const numeric = String(version).split(/[-+]/)[0];
if (!/^\d+(\.\d+){0,3}$/.test(numeric)) fail(`package version ${version} cannot be a Chrome extension version`);
manifest.version = numeric;
if (numeric !== version) manifest.version_name = version;
if (manifest.manifest_version !== 3) fail('manifest_version must be 3');
writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
copied.push('manifest.json');

// 3. Every module the extension's scripts import, followed from file to file.
const IMPORT_RE = [
  /^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import x from '...', export * from '...'
  /^\s*import\s*['"]([^'"]+)['"]/gm, // import '...'
  /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
];
const specifiers = (code) => IMPORT_RE.flatMap((re) => [...code.matchAll(re)].map((m) => m[1]));
const queue = walk(outDir).filter((f) => f.endsWith('.js'));
const seen = new Set(queue);
while (queue.length) {
  const file = queue.shift();
  for (const spec of specifiers(readFileSync(file, 'utf8'))) {
    const where = relative(outDir, file);
    if (!spec.startsWith('./') && !spec.startsWith('../')) fail(`${where} imports "${spec}": only relative imports can ship in the extension (MV3: no remote code)`);
    const target = resolve(dirname(file), spec);
    const rel = relative(outDir, target);
    if (rel.startsWith('..')) fail(`${where} imports "${spec}", outside the extension`);
    if (seen.has(target)) continue;
    seen.add(target);
    if (existsSync(target)) {
      queue.push(target);
      continue;
    }
    // Not an extension file: it must be one of the package's devtools modules.
    const parts = rel.split(sep);
    if (parts[0] !== LIB_PREFIX) fail(`${where} imports "${spec}", which is neither an extension file nor under ${LIB_PREFIX}/`);
    const from = join(libDir, ...parts.slice(1));
    if (!existsSync(from)) fail(`${where} imports "${spec}": ${relative(root, from)} does not exist (it must stay inside dist/npm/dist/devtools/)`);
    copy(from, target);
    if (existsSync(`${from}.map`)) copy(`${from}.map`, `${target}.map`);
    queue.push(target);
  }
}

// 4. Everything the manifest and the pages name must exist.
const referenced = [manifest.devtools_page, ...Object.values(manifest.icons ?? {})];
for (const page of walk(outDir).filter((f) => f.endsWith('.html'))) {
  const html = readFileSync(page, 'utf8');
  if (/<script(?![^>]*\bsrc=)[^>]*>\s*\S/i.test(html)) fail(`${relative(outDir, page)} has an inline script (MV3 forbids it)`);
  for (const [, ref] of html.matchAll(/\b(?:src|href)=["']([^"']+)["']/g)) {
    if (/^[a-z]+:|^\/\//i.test(ref)) fail(`${relative(outDir, page)} loads ${ref}: no remote code`);
    referenced.push(relative(outDir, resolve(dirname(page), ref)));
  }
}
for (const ref of referenced) {
  if (ref && !existsSync(join(outDir, ref))) fail(`${ref} is referenced but missing`);
}

console.error(`[package-extension] ${relative(root, outDir) || outDir}: ${copied.length} files`);
for (const file of copied.sort()) console.log(file);
