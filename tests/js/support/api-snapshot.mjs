// The public API of the npm package as text, one snapshot per entry point of its "exports" map,
// read from the published declarations (dist/npm) with the TypeScript compiler API.
//
// Each snapshot lists every name the entry point exports (re-exports followed to the
// declaration), sorted, each with its declaration as the compiler prints it, comments left out:
// a changed member, parameter, type or modifier changes the text. Types that an exported
// declaration names but the entry point does not export are listed after them ("reached"), and
// so on transitively, since an app depends on their shape too; so are the `declare global`
// blocks of the declaration files the entry point reaches. Which file of dist/ declares what is
// not part of the API (only the entry points are), so nothing in a snapshot names a file:
// `import("./x.js").T` is printed as `T`, and `export`/`declare` modifiers are dropped.
//
//   node tests/js/support/api-snapshot.mjs           prints the snapshots
//   node tests/js/support/api-snapshot.mjs --update  writes them to tests/js/api/<entry>.api.txt

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const snapshotDir = join(root, 'tests/js/api');

/** The entry points of the package's "exports" map that have declarations: `[name, file]`. */
export function entryPoints(packageDir = join(root, 'dist/npm')) {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  return Object.entries(manifest.exports)
    .filter(([, target]) => typeof target === 'object' && target.types)
    .map(([key, target]) => [key === '.' ? 'index' : key.replace(/^\.\//, ''), resolve(packageDir, target.types)]);
}

/** The snapshot text of every entry point, by entry name. */
export function apiSnapshots(packageDir = join(root, 'dist/npm')) {
  const entries = entryPoints(packageDir);
  const options = {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: [],
    noEmit: true,
  };
  const program = ts.createProgram(entries.map(([, file]) => file), options);
  const checker = program.getTypeChecker();
  const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });
  const inPackage = (file) => resolve(file.fileName).startsWith(resolve(packageDir) + '/');

  const resolveAlias = (symbol) => (symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol);

  const print = (node) =>
    printer
      .printNode(ts.EmitHint.Unspecified, node, node.getSourceFile())
      .replace(/import\("[^"]*"\)\./g, '')
      .replace(/^(export )?(default )?(declare )?/, '');

  /** The statement that declares `declaration` (a variable's whole `const x: T;`). */
  const statementOf = (declaration) =>
    ts.isVariableDeclaration(declaration) ? declaration.parent.parent : declaration;

  /** The package's own symbols a declaration names in its types. */
  const referenced = (node, found = new Set()) => {
    const visit = (n) => {
      let name;
      if (ts.isTypeReferenceNode(n)) name = n.typeName;
      else if (ts.isExpressionWithTypeArguments(n)) name = n.expression;
      else if (ts.isTypeQueryNode(n)) name = n.exprName;
      else if (ts.isImportTypeNode(n)) name = n.qualifier;
      if (name) {
        const symbol = checker.getSymbolAtLocation(ts.isQualifiedName(name) ? name.right : name);
        const target = symbol && resolveAlias(symbol);
        const own = target && !(target.flags & ts.SymbolFlags.TypeParameter) && target.declarations?.some((d) => inPackage(d.getSourceFile()));
        if (own) found.add(target);
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    return found;
  };

  /** The declaration files an entry point reaches through imports and re-exports. */
  const reach = (file) => {
    const seen = new Set();
    const queue = [file];
    while (queue.length > 0) {
      const current = queue.pop();
      if (seen.has(current)) continue;
      seen.add(current);
      const source = program.getSourceFile(current);
      if (!source) continue;
      const specifiers = [];
      const visit = (n) => {
        if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
          specifiers.push(n.moduleSpecifier.text);
        } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) {
          specifiers.push(n.argument.literal.text);
        }
        ts.forEachChild(n, visit);
      };
      visit(source);
      for (const specifier of specifiers) {
        const resolved = ts.resolveModuleName(specifier, current, options, ts.sys).resolvedModule;
        if (resolved && !resolved.isExternalLibraryImport) queue.push(resolve(resolved.resolvedFileName));
      }
    }
    return [...seen].map((f) => program.getSourceFile(f)).filter((s) => s && inPackage(s));
  };

  const snapshots = {};
  for (const [name, file] of entries) {
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`${file}: not found (build the package first)`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    const exported = moduleSymbol ? checker.getExportsOfModule(moduleSymbol) : [];
    const lines = [`// The public API of the entry point "${name === 'index' ? 'synclane' : `synclane/${name}`}" (tests/js/api.test.mjs).`];
    const block = (title, symbol) => lines.push('', title, ...(symbol.declarations ?? []).map((d) => print(statementOf(d))));
    const targets = new Set();
    for (const symbol of [...exported].sort((a, b) => a.name.localeCompare(b.name))) {
      const target = resolveAlias(symbol);
      targets.add(target);
      block(`export ${symbol.name}${target.name !== symbol.name ? ` (declared as ${target.name})` : ''}`, target);
    }
    // Types named by the API but not exported by this entry point, transitively.
    const reached = new Set();
    const queue = [...targets];
    while (queue.length > 0) {
      for (const d of queue.pop().declarations ?? []) {
        for (const symbol of referenced(statementOf(d))) {
          if (targets.has(symbol) || reached.has(symbol)) continue;
          reached.add(symbol);
          queue.push(symbol);
        }
      }
    }
    const text = (symbol) => (symbol.declarations ?? []).map((d) => print(statementOf(d))).join('\n');
    const byName = (a, b) => a.name.localeCompare(b.name) || text(a).localeCompare(text(b));
    for (const symbol of [...reached].sort(byName)) block(`reached ${symbol.name}`, symbol);
    const globals = reach(file)
      .flatMap((s) => s.statements.filter((st) => ts.isModuleDeclaration(st) && st.name.getText(s) === 'global'))
      .map((st) => print(st))
      .sort();
    for (const text of globals) lines.push('', 'global', text);
    snapshots[name] = lines.join('\n') + '\n';
  }
  return snapshots;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const snapshots = apiSnapshots();
  if (process.argv.includes('--update')) {
    mkdirSync(snapshotDir, { recursive: true });
    for (const [name, text] of Object.entries(snapshots)) {
      const path = join(snapshotDir, `${name}.api.txt`);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
      console.error(`wrote ${path}`);
    }
  } else {
    for (const text of Object.values(snapshots)) process.stdout.write(text + '\n');
  }
}
