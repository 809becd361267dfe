#!/usr/bin/env node
// Fails when the Rust modules of a crate import each other in a circle.
//
// A circle between files means neither can be read, changed or tested without the other, and
// it is how layering erodes: the store starts calling the code that presents its results, and
// soon nothing can move. The compiler accepts circles within a crate, so this check is where
// the direction of dependency is kept.
//
//   node scripts/check-cycles.mjs [CRATE_DIR ...]
//
// Without arguments it checks the root crate and every crates/*. Each crate's module tree is
// built the way rustc builds it: from `src/lib.rs` and `src/main.rs` along their `mod x;`
// declarations (x.rs or x/mod.rs, or a `#[path]`), so each file gets its module path. Then
// every path a file names is resolved to the file that defines it:
//
// - `use` trees, grouped or not (`use crate::{a::b, c::{d, self as e}}`), and paths in code
//   (`crate::x::y()`, `super::x::Y`, `self::x`, `child::f()` for a child module);
// - a path starting with `crate`, `self` or `super` (`super::super::` too), a child module, or
//   a name the module imported with `use`, which is followed to what it names: a name that the
//   root imports from another crate (`use other_crate::error;` then `crate::error::f`) leads
//   out of the crate and is no edge, and a re-export leads to the file that defines the item;
// - the edge goes to the deepest module the path reaches: `crate::store::rows::cursor` is an
//   edge to the file of `store::rows`, `crate::store::Store` one to the file of `store`.
//
// A parent declaring its children (`mod x;`) is not an edge: that is the tree itself. A child
// using its parent's items (`use super::Store`, `use super::*`) is one, and so is a parent using
// its child's items (`use x::Thing`, `pub use x::Thing`): both together make a circle. Inline
// modules (`mod tests { use super::*; }`) belong to their file, so their `super` is the file's
// own module, not its parent. Comments and string literals are skipped.
//
// Every circle is reported as its strongly connected set of files, with the shortest loop
// through it and each edge inside it (file:line and the path named), and the exit code is 1.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Splits Rust source into identifiers, string literals and punctuation, with line numbers. */
export function tokenize(source) {
  const tokens = [];
  let i = 0;
  let line = 1;
  const n = source.length;
  const isIdentStart = (c) => /[A-Za-z_]/.test(c);
  const isIdent = (c) => /[A-Za-z0-9_]/.test(c);
  // Advances over source[i..end), counting lines.
  const skipTo = (end) => {
    for (; i < end; i++) if (source[i] === '\n') line++;
  };
  while (i < n) {
    const c = source[i];
    const next = source[i + 1];
    const prefixed = c === 'r' || c === 'b' ? rawOrByteString(source, i) : null;
    if (c === '\n') {
      line++;
      i++;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      i = end === -1 ? n : end;
    } else if (c === '/' && next === '*') {
      // Block comments nest in Rust.
      let depth = 0;
      let j = i;
      do {
        if (source[j] === '/' && source[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (source[j] === '*' && source[j + 1] === '/') {
          depth--;
          j += 2;
        } else {
          j++;
        }
      } while (depth > 0 && j < n);
      skipTo(j);
    } else if (prefixed) {
      tokens.push({ kind: 'str', value: prefixed.value, line });
      skipTo(prefixed.end);
    } else if (c === '"') {
      let j = i + 1;
      let value = '';
      while (j < n && source[j] !== '"') {
        if (source[j] === '\\') {
          value += source[j + 1];
          j += 2;
        } else {
          value += source[j++];
        }
      }
      tokens.push({ kind: 'str', value, line });
      skipTo(j + 1);
    } else if (c === "'") {
      // A char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): a lifetime has no
      // closing quote right after its first character.
      if (next === '\\') {
        const end = source.indexOf("'", i + 3);
        skipTo(end === -1 ? n : end + 1);
      } else if (source[i + 2] === "'") {
        skipTo(i + 3);
      } else {
        i++;
      }
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < n && isIdent(source[j])) j++;
      tokens.push({ kind: 'ident', value: source.slice(i, j), line });
      i = j;
    } else if (c === ':' && next === ':') {
      tokens.push({ kind: 'punct', value: '::', line });
      i += 2;
    } else {
      tokens.push({ kind: 'punct', value: c, line });
      i++;
    }
  }
  return tokens;
}

/** A string literal with a prefix at `i` (`b"..."`, `r"..."`, `r#"..."#`, `br#"..."#`). */
function rawOrByteString(source, i) {
  const m = /^(b?)(r?)(#*)"/.exec(source.slice(i, i + 260));
  if (!m || (!m[1] && !m[2]) || (m[3] && !m[2])) return null;
  const start = i + m[0].length;
  if (m[2]) {
    const close = '"' + m[3];
    const end = source.indexOf(close, start);
    if (end === -1) return null;
    return { end: end + close.length, value: source.slice(start, end) };
  }
  let j = start;
  while (j < source.length && source[j] !== '"') j += source[j] === '\\' ? 2 : 1;
  return { end: j + 1, value: source.slice(start, j) };
}

/**
 * Parses a `use` tree starting at tokens[i] (just after `use`) up to its `;`. Returns the
 * flattened entries, each `{ path, name }` (name: what the entry brings into scope, `null` for
 * a glob), and the index after the `;`.
 */
function parseUse(tokens, i) {
  const entries = [];
  const tree = (prefix) => {
    const path = [...prefix];
    for (;;) {
      const t = tokens[i];
      if (!t) return;
      if (t.value === '{') {
        i++;
        while (tokens[i] && tokens[i].value !== '}') {
          tree(path);
          if (tokens[i] && tokens[i].value === ',') i++;
        }
        i++;
        return;
      }
      if (t.value === '*') {
        entries.push({ path, name: null, line: t.line });
        i++;
        return;
      }
      if (t.value === '::') {
        i++;
        continue;
      }
      if (t.kind !== 'ident') return;
      i++;
      if (t.value === 'self' && path.length > 0) {
        // `a::b::{self}` names `a::b` itself.
      } else {
        path.push(t.value);
      }
      const after = tokens[i];
      if (after && after.value === '::') continue;
      let name = path[path.length - 1];
      if (after && after.value === 'as') {
        name = tokens[i + 1].value;
        i += 2;
      }
      entries.push({ path, name: name === '_' ? null : name, line: t.line });
      return;
    }
  };
  // A leading `::` (`use ::std::...`) names an external crate.
  if (tokens[i] && tokens[i].value === '::') {
    while (tokens[i] && tokens[i].value !== ';') i++;
    return { entries: [], next: i + 1 };
  }
  tree([]);
  while (tokens[i] && tokens[i].value !== ';') i++;
  return { entries, next: i + 1 };
}

/** A module: a file, or an inline `mod x { ... }` inside one. */
function newModule(name, parent, file, dir) {
  return { name, parent, file, dir, children: new Map(), aliases: new Map(), refs: [] };
}

/**
 * Reads one file into `mod` (and the inline modules it holds), and returns the `mod x;`
 * declarations it makes, with the module each is declared in and its `#[path]` if any.
 */
function readModuleFile(mod) {
  const tokens = tokenize(readFileSync(mod.file, 'utf8'));
  const declarations = [];
  // The inline modules open at this point, with the brace depth at which each ends.
  const scopes = [{ mod, depth: 0 }];
  let depth = 0;
  let pathAttr = null;
  const scope = () => scopes[scopes.length - 1].mod;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.value === '{') {
      depth++;
    } else if (t.value === '}') {
      depth--;
      if (scopes.length > 1 && depth < scopes[scopes.length - 1].depth) scopes.pop();
    } else if (t.value === '#' && tokens[i + 1]?.value === '[' && tokens[i + 2]?.value === 'path') {
      if (tokens[i + 3]?.value === '=' && tokens[i + 4]?.kind === 'str') pathAttr = tokens[i + 4].value;
    } else if (t.kind === 'ident' && t.value === 'mod' && tokens[i + 1]?.kind === 'ident') {
      const name = tokens[i + 1].value;
      const after = tokens[i + 2]?.value;
      if (after === ';') {
        declarations.push({ name, in: scope(), path: pathAttr, inline: scopes.length > 1 });
        i += 2;
      } else if (after === '{') {
        const parent = scope();
        const inner = newModule(name, parent, mod.file, join(parent.dir, name));
        parent.children.set(name, inner);
        depth++;
        scopes.push({ mod: inner, depth });
        i += 2;
      }
      pathAttr = null;
    } else if (t.kind === 'ident' && t.value === 'use' && tokens[i - 1]?.value !== '::') {
      const { entries, next } = parseUse(tokens, i + 1);
      for (const entry of entries) {
        if (entry.path.length === 0) continue;
        scope().refs.push({ path: entry.path, line: entry.line });
        if (entry.name !== null) scope().aliases.set(entry.name, entry.path);
      }
      i = next - 1;
    } else if (t.kind === 'ident' && tokens[i + 1]?.value === '::' && tokens[i - 1]?.value !== '::') {
      // A path in code: `crate::a::b`, `super::x`, `child::f`, `Alias::Item`.
      const path = [t.value];
      let j = i + 1;
      while (tokens[j]?.value === '::' && tokens[j + 1]?.kind === 'ident') {
        path.push(tokens[j + 1].value);
        j += 2;
      }
      scope().refs.push({ path, line: t.line });
      i = j - 1;
    } else if (t.value === ';') {
      pathAttr = null; // a #[path] belongs to the `mod` right after it
    }
  }
  return declarations;
}

/** The file of child module `name` declared in `decl.in` (rustc's lookup rules). */
function childFile(decl) {
  const parent = decl.in;
  if (decl.path !== null) {
    // Outside inline modules, #[path] is relative to the declaring file's folder; inside one,
    // to the folder the inline module's children would live in.
    return decl.inline ? join(parent.dir, decl.path) : join(dirname(parent.file), decl.path);
  }
  const flat = join(parent.dir, `${decl.name}.rs`);
  if (existsSync(flat)) return flat;
  const nested = join(parent.dir, decl.name, 'mod.rs');
  return existsSync(nested) ? nested : null;
}

/** The folder holding the children of a file module: `src/` for lib.rs, `a/` for a.rs or a/mod.rs. */
function childrenDir(file) {
  const base = file.split(/[\\/]/).pop();
  return ['lib.rs', 'main.rs', 'mod.rs'].includes(base) ? dirname(file) : file.slice(0, -'.rs'.length);
}

/** Builds the module tree of the crate rooted at `rootFile`; returns its modules. */
function buildCrate(rootFile) {
  const root = newModule('crate', null, rootFile, childrenDir(rootFile));
  const modules = [];
  const pending = [root];
  const seen = new Set();
  while (pending.length > 0) {
    const mod = pending.pop();
    if (seen.has(mod.file)) continue;
    seen.add(mod.file);
    const declarations = readModuleFile(mod);
    const collect = (m) => {
      modules.push(m);
      for (const child of m.children.values()) if (child.file === m.file) collect(child);
    };
    collect(mod);
    for (const decl of declarations) {
      const file = childFile(decl);
      if (file === null) continue; // rustc reports it; not this check's business
      const child = newModule(decl.name, decl.in, file, childrenDir(file));
      decl.in.children.set(decl.name, child);
      pending.push(child);
    }
  }
  return { root, modules };
}

/**
 * The module a path names from `scope`, or null when it leads out of the crate (another crate,
 * a std item) or to something only local (a type's associated item, a local variable's enum).
 */
function resolvePath(root, scope, path, depth = 0) {
  if (depth > 16) return null; // an alias loop; rustc rejects it anyway
  let mod;
  let i = 0;
  const first = path[0];
  if (first === 'crate') {
    mod = root;
    i = 1;
  } else if (first === 'self') {
    mod = scope;
    i = 1;
  } else if (first === 'super') {
    mod = scope;
    while (path[i] === 'super') {
      mod = mod.parent;
      if (!mod) return null;
      i++;
    }
  } else if (scope.children.has(first)) {
    mod = scope;
  } else if (scope.aliases.has(first)) {
    return resolvePath(root, scope, [...scope.aliases.get(first), ...path.slice(1)], depth + 1);
  } else {
    return null;
  }
  for (; i < path.length; i++) {
    const segment = path[i];
    if (mod.children.has(segment)) {
      mod = mod.children.get(segment);
    } else if (mod.aliases.has(segment)) {
      // A name the module imported: a re-export. What it names decides the edge.
      return resolvePath(root, mod, [...mod.aliases.get(segment), ...path.slice(i + 1)], depth + 1);
    } else {
      return mod; // an item defined in `mod`
    }
  }
  return mod;
}

/** The import edges between the files of one crate: Map(from -> Map(to -> [{ line, path }])). */
export function crateEdges(rootFile) {
  const { root, modules } = buildCrate(rootFile);
  const edges = new Map();
  for (const mod of modules) {
    for (const ref of mod.refs) {
      const target = resolvePath(root, mod, ref.path);
      if (!target || target.file === mod.file) continue;
      if (!edges.has(mod.file)) edges.set(mod.file, new Map());
      const out = edges.get(mod.file);
      if (!out.has(target.file)) out.set(target.file, []);
      out.get(target.file).push({ line: ref.line, path: ref.path.join('::') });
    }
  }
  const files = [...new Set(modules.map((m) => m.file))];
  return { files, edges };
}

/** Strongly connected sets of more than one file (Tarjan), each sorted, in a stable order. */
export function stronglyConnected(files, edges) {
  let index = 0;
  const stack = [];
  const info = new Map();
  const sets = [];
  const visit = (file) => {
    info.set(file, { index, low: index, onStack: true });
    index++;
    stack.push(file);
    for (const to of (edges.get(file) ?? new Map()).keys()) {
      if (!info.has(to)) {
        visit(to);
        info.get(file).low = Math.min(info.get(file).low, info.get(to).low);
      } else if (info.get(to).onStack) {
        info.get(file).low = Math.min(info.get(file).low, info.get(to).index);
      }
    }
    if (info.get(file).low === info.get(file).index) {
      const set = [];
      let member;
      do {
        member = stack.pop();
        info.get(member).onStack = false;
        set.push(member);
      } while (member !== file);
      if (set.length > 1) sets.push(set.sort());
    }
  };
  for (const file of [...files].sort()) if (!info.has(file)) visit(file);
  return sets.sort((a, b) => a[0].localeCompare(b[0]));
}

/** The shortest loop from the set's first file back to itself, through the set (BFS). */
function shortestLoop(set, edges) {
  const members = new Set(set);
  const start = set[0];
  const cameFrom = new Map();
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    for (const to of (edges.get(file) ?? new Map()).keys()) {
      if (!members.has(to)) continue;
      if (to === start) {
        const loop = [start];
        for (let at = file; at !== start; at = cameFrom.get(at)) loop.splice(1, 0, at);
        return [...loop, start];
      }
      if (!cameFrom.has(to)) {
        cameFrom.set(to, file);
        queue.push(to);
      }
    }
  }
  return [start, start];
}

/** The crate roots of a crate folder: src/lib.rs and src/main.rs (each a crate of its own). */
function crateRoots(crateDir) {
  return ['lib.rs', 'main.rs'].map((f) => join(crateDir, 'src', f)).filter((f) => existsSync(f));
}

/** Checks the given crate folders; returns every circle found, with what ties it. */
export function findCycles(crateDirs) {
  const cycles = [];
  let fileCount = 0;
  for (const dir of crateDirs) {
    for (const rootFile of crateRoots(dir)) {
      const { files, edges } = crateEdges(rootFile);
      fileCount += files.length;
      for (const set of stronglyConnected(files, edges)) {
        const ties = [];
        for (const from of set) {
          for (const [to, refs] of edges.get(from) ?? []) {
            if (set.includes(to)) ties.push({ from, to, refs });
          }
        }
        cycles.push({ files: set, loop: shortestLoop(set, edges), ties });
      }
    }
  }
  return { cycles, fileCount };
}

/** The root crate and crates/* of the repository. */
function defaultCrates(repo) {
  const dirs = [repo];
  const crates = join(repo, 'crates');
  if (existsSync(crates)) {
    for (const entry of readdirSync(crates, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.isDirectory()) dirs.push(join(crates, entry.name));
    }
  }
  return dirs.filter((d) => crateRoots(d).length > 0);
}

function main() {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const args = process.argv.slice(2);
  const dirs = args.length > 0 ? args.map((a) => resolve(a)) : defaultCrates(repo);
  const base = args.length > 0 ? process.cwd() : repo;
  const show = (file) => relative(base, file) || file;
  const { cycles, fileCount } = findCycles(dirs);
  if (cycles.length === 0) {
    console.log(`import cycles (Rust): none among ${fileCount} files of ${dirs.length} crate(s)`);
    return 0;
  }
  for (const cycle of cycles) {
    console.error(`import cycle: ${cycle.loop.map(show).join(' -> ')}`);
    console.error(`  files that import each other: ${cycle.files.map(show).join(', ')}`);
    for (const { from, to, refs } of cycle.ties) {
      const named = [...new Set(refs.map((r) => `${r.path} (line ${r.line})`))].join(', ');
      console.error(`  ${show(from)} -> ${show(to)}: ${named}`);
    }
  }
  console.error(`${cycles.length} import cycle(s) among Rust modules: make one side stop importing the other`);
  return 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main();
}
