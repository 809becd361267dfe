// Removes the comments of a generated JavaScript file in place (the wasm-bindgen glue carries
// every Rust doc comment; its .d.ts keeps them for editors). TypeScript's own transpiler does
// the parsing, so strings and regular expressions that look like comments are left alone.
//
//   node scripts/strip-comments.mjs FILE...
import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';

for (const file of process.argv.slice(2)) {
  const source = readFileSync(file, 'utf8');
  const { outputText, diagnostics } = ts.transpileModule(source, {
    fileName: file,
    reportDiagnostics: true,
    compilerOptions: {
      allowJs: true,
      removeComments: true,
      target: ts.ScriptTarget.ESNext,
      module: ts.ModuleKind.ESNext,
      verbatimModuleSyntax: true,
    },
  });
  if (diagnostics?.length) {
    throw new Error(`${file}: ${ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n')}`);
  }
  writeFileSync(file, outputText);
}
