// Gives a wasm module's imports and exports short names, and its wasm-bindgen glue the same.
//
// wasm-bindgen names every import after the JavaScript it calls plus a 16-digit hash
// (`__wbg_transaction_a26f26d9d5badcda`) and every export after its Rust path
// (`enginecore_applyRemote`). Each name is stored twice, in the wasm and in the glue, and the
// hashes do not compress: together they were about 4 KB of the package, gzipped. binaryen's
// `--minify-imports-and-exports-and-modules` pass renames them (to `a`, `b`, ...) in the wasm,
// all imports under one module, and prints the renaming; this script applies it to the glue
// and to its `InitOutput` type, then checks that every import the wasm asks for is provided and
// every export the glue calls exists, and fails the build otherwise.
//
// The glue's types also lose their `[Symbol.dispose](): void` members: `Symbol.dispose` is
// declared only by TypeScript's `esnext` (or `esnext.disposable`) lib, so with a plain
// `lib: ["ES2022", "DOM"]` and `skipLibCheck: false` an app failed to compile the package's
// own declarations. The glue still installs the method at run time where the browser has the
// symbol; `free()` is the typed way to release an object. The build fails if any reference to
// `Symbol.dispose` or `Symbol.asyncDispose` is left in the types.
//
//   node scripts/minify-wasm-names.mjs RENAMING.json MODULE.wasm GLUE.js GLUE.d.ts

import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';

const [renamingFile, wasmFile, glueFile, typesFile] = process.argv.slice(2);
const renaming = JSON.parse(readFileSync(renamingFile, 'utf8'));
const module = new WebAssembly.Module(readFileSync(wasmFile));
const wasmImports = WebAssembly.Module.imports(module);
const wasmExports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
const modules = [...new Set(wasmImports.map((i) => i.module))];
if (modules.length !== 1) fail([`expected the wasm to import from one module, found ${modules.join(', ')}`]);
const [importModule] = modules;

/** `module\0name` -> short name, for every renamed import. */
const importNames = new Map(renaming.imports.map(([mod, name, short]) => [`${mod}\0${name}`, short]));
const exportNames = new Map(renaming.exports);

const parse = (file, text) => ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);

/** Applies `[start, end, text]` replacements to `source`. */
function splice(source, edits) {
  let out = source;
  for (const [start, end, text] of edits.sort((a, b) => b[0] - a[0])) {
    out = out.slice(0, start) + text + out.slice(end);
  }
  return out;
}

function visit(node, fn) {
  fn(node);
  ts.forEachChild(node, (child) => visit(child, fn));
}

/** The object literals of the glue's import builder: its module objects and its answer. */
function importBuilder(file) {
  let builder;
  visit(file, (node) => {
    if (ts.isFunctionDeclaration(node) && node.name?.text === '__wbg_get_imports') builder = node;
  });
  if (!builder) fail(['the glue has no __wbg_get_imports function']);
  const objects = new Map();
  let answer;
  visit(builder, (node) => {
    if (ts.isVariableDeclaration(node) && node.initializer && ts.isObjectLiteralExpression(node.initializer)) {
      objects.set(node.name.getText(file), node.initializer);
    }
    if (ts.isReturnStatement(node) && node.expression && ts.isObjectLiteralExpression(node.expression)) {
      answer = node.expression;
    }
  });
  if (!answer) fail(['__wbg_get_imports returns no object literal']);
  return { objects, answer };
}

/** Module specifier -> the local name of its `import * as NAME` in the glue. */
function namespaceImports(file) {
  const names = new Map();
  for (const statement of file.statements) {
    const bindings = ts.isImportDeclaration(statement) ? statement.importClause?.namedBindings : undefined;
    if (bindings && ts.isNamespaceImport(bindings) && !names.has(statement.moduleSpecifier.text)) {
      names.set(statement.moduleSpecifier.text, bindings.name.text);
    }
  }
  return names;
}

const propertyName = (property, file) =>
  property.name && (ts.isIdentifier(property.name) || ts.isStringLiteral(property.name))
    ? property.name.text
    : property.name?.getText(file);

function rewriteGlue(source) {
  const file = parse(glueFile, source);
  const edits = [];
  const { objects, answer } = importBuilder(file);
  const namespaces = namespaceImports(file);

  // The answer maps module names to objects: the glue's own functions (an object literal
  // here) and the snippets' namespaces. The wasm now imports all of them from one module.
  const parts = [];
  for (const property of answer.properties) {
    if (!ts.isPropertyAssignment(property)) continue;
    const mod = propertyName(property, file);
    const value = property.initializer.getText(file);
    const literal = objects.get(value);
    if (literal) {
      for (const entry of literal.properties) {
        const name = propertyName(entry, file);
        const short = importNames.get(`${mod}\0${name}`);
        if (short !== undefined && entry.name) edits.push([entry.name.getStart(file), entry.name.end, short]);
      }
      parts.push(value);
    }
  }
  // Functions the wasm imports straight from a snippet module.
  const direct = renaming.imports
    .filter(([mod]) => namespaces.has(mod))
    .map(([mod, name, short]) => `${JSON.stringify(short)}: ${namespaces.get(mod)}[${JSON.stringify(name)}]`);
  const merged = direct.length > 0 ? `Object.assign(${parts[0]}, { ${direct.join(', ')} })` : parts[0];
  if (parts.length !== 1) fail([`expected one object of glue functions, found ${parts.length}`]);
  edits.push([answer.getStart(file), answer.end, `{ __proto__: null, ${JSON.stringify(importModule)}: ${merged} }`]);

  // Every call into the wasm: `wasm.NAME`.
  visit(file, (node) => {
    if (
      ts.isPropertyAccessExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'wasm' &&
      exportNames.has(node.name.text)
    ) {
      edits.push([node.name.getStart(file), node.name.end, exportNames.get(node.name.text)]);
    }
  });
  return splice(source, edits);
}

/**
 * `Symbol.dispose` or `Symbol.asyncDispose` (as a member name, or in a type such as
 * `typeof Symbol.dispose`): symbols only TypeScript's esnext libs declare.
 */
function isDisposeSymbol(node) {
  const [object, name] = ts.isPropertyAccessExpression(node)
    ? [node.expression, node.name]
    : ts.isQualifiedName(node)
      ? [node.left, node.right]
      : [];
  return (
    object !== undefined &&
    ts.isIdentifier(object) &&
    object.text === 'Symbol' &&
    (name.text === 'dispose' || name.text === 'asyncDispose')
  );
}

/**
 * The same renaming in the `InitOutput` interface, which lists the exports; and no members
 * named by a dispose symbol (see the top of this file).
 */
function rewriteTypes(source) {
  const file = parse(typesFile, source);
  const edits = [];
  visit(file, (node) => {
    if (ts.isClassDeclaration(node) || ts.isInterfaceDeclaration(node)) {
      for (const member of node.members) {
        if (member.name && ts.isComputedPropertyName(member.name) && isDisposeSymbol(member.name.expression)) {
          // From the end of the previous member: the member's line and its doc comment go.
          edits.push([member.getFullStart(), member.end, '']);
        }
      }
    }
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'InitOutput') {
      for (const member of node.members) {
        const name = member.name && propertyName(member, file);
        if (exportNames.has(name)) {
          edits.push([member.name.getStart(file), member.name.end, JSON.stringify(exportNames.get(name))]);
        }
      }
    }
  });
  return splice(source, edits);
}

/** What the rewritten glue provides and calls, against what the wasm imports and exports. */
function check(source) {
  const file = parse(glueFile, source);
  const { objects, answer } = importBuilder(file);
  const keys = (literal) => literal.properties.filter((p) => p.name).map((p) => propertyName(p, file));
  const problems = [];
  const provided = new Set();
  for (const property of answer.properties) {
    if (!ts.isPropertyAssignment(property) || propertyName(property, file) === '__proto__') continue;
    if (propertyName(property, file) !== importModule) problems.push(`the glue provides module ${propertyName(property, file)}`);
    // `import0` or `Object.assign(import0, { ... })`.
    const value = property.initializer;
    const parts = ts.isCallExpression(value) ? value.arguments : [value];
    for (const part of parts) {
      if (ts.isIdentifier(part) && objects.has(part.text)) keys(objects.get(part.text)).forEach((k) => provided.add(k));
      if (ts.isObjectLiteralExpression(part)) keys(part).forEach((k) => provided.add(k));
    }
  }
  for (const { module: mod, name } of wasmImports) {
    if (mod !== importModule || !provided.has(name)) problems.push(`the wasm imports ${mod}.${name}, which the glue does not provide`);
  }
  visit(file, (node) => {
    if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'wasm') {
      if (!wasmExports.has(node.name.text)) problems.push(`the glue calls wasm.${node.name.text}, which the wasm does not export`);
    }
  });
  if (problems.length > 0) fail(problems);
}

function fail(problems) {
  console.error(`[minify-wasm-names] ${glueFile ?? ''}:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}

/** The rewritten types name no dispose symbol, whatever form wasm-bindgen gave the member. */
function checkTypes(source) {
  const file = parse(typesFile, source);
  const problems = [];
  visit(file, (node) => {
    if (isDisposeSymbol(node)) {
      let statement = node;
      while (statement.parent && !ts.isSourceFile(statement.parent)) statement = statement.parent;
      const where = statement.getText(file).split('\n')[0];
      problems.push(`${typesFile} still names ${node.getText(file)}, which only TypeScript's esnext lib declares, in: ${where}`);
    }
  });
  if (problems.length > 0) fail(problems);
}

const glue = rewriteGlue(readFileSync(glueFile, 'utf8'));
check(glue);
const types = rewriteTypes(readFileSync(typesFile, 'utf8'));
checkTypes(types);
writeFileSync(glueFile, glue);
writeFileSync(typesFile, types);
