#!/usr/bin/env bash
# Builds the release wasm modules (the engine's into dist/wasm, the in-memory server's into
# dist/wasm-memory) and optimises them, the npm package (dist/npm), the devtools extension and
# the reference server.
#
# wasm-pack's own wasm-opt step is off (Cargo.toml): Debian's wasm-opt corrupts current
# wasm-bindgen output. The npm `binaryen` package's wasm-opt is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Panic locations name the source files of dependencies by where cargo unpacked them: shipped
# as `cargo-registry/...` and `rustup/...`, the wasm carries no path of the build machine.
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
wasm_rustflags="--remap-path-prefix=$cargo_home/registry/src=cargo-registry --remap-path-prefix=$cargo_home/git/checkouts=cargo-git --remap-path-prefix=$rustup_home=rustup --remap-path-prefix=$PWD=synclane"

# build_wasm CRATE_DIR OUT_DIR NAME: the crate's release wasm and its bindings, optimised.
build_wasm() {
  # A fresh output directory: wasm-pack leaves files of earlier builds (an old snippet) in place.
  rm -rf "$2"
  RUSTFLAGS="$wasm_rustflags" wasm-pack build --release --target web --out-dir "$PWD/$2" --out-name "$3" --no-pack "$1" >&2
  local wasm="$2/$3_bg.wasm" before after gz
  before=$(stat -c %s "$wasm")
  # Optimised for the size an app downloads, gzipped, rather than the raw size: `-O2 -s 2`
  # without inlining functions into their only caller (`-ocimfs 0`) is 5.9 KB smaller gzipped
  # than `-Oz` for the engine's module (3 % larger raw): merged functions repeat less of
  # themselves, so gzip finds less to share. The producers and target-features sections are
  # build metadata no browser reads. The imports and exports get short names, and the glue
  # and its types the same (scripts/minify-wasm-names.mjs says why).
  node node_modules/binaryen/bin/wasm-opt -O2 -s 2 --one-caller-inline-max-function-size=0 \
    --enable-reference-types --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-sign-ext --strip-producers --strip-target-features \
    --minify-imports-and-exports-and-modules \
    "$wasm" -o "$wasm.opt" >"$2/names.json"
  mv "$wasm.opt" "$wasm"
  node scripts/minify-wasm-names.mjs "$2/names.json" "$wasm" "$2/$3.js" "$2/$3.d.ts"
  # wasm-pack's type of the raw module lists the old names; nothing ships or reads it.
  rm "$2/names.json" "$2/$3_bg.wasm.d.ts"
  after=$(stat -c %s "$wasm")
  gz=$(gzip -9 -c "$wasm" | wc -c)
  echo "[build] $wasm: $before -> $after bytes ($gz gzipped)" >&2
}
# The engine, and the in-memory server as a module of its own (entry point `synclane/memory`).
build_wasm . dist/wasm synclane
build_wasm crates/synclane-memory dist/wasm-memory synclane_memory

# The TypeScript layer (js/) into the npm package dist/npm. The wasm bindings are copied beside
# the sources, so tsc checks the code against their generated types, and beside the output, so
# the compiled `./wasm/synclane.js` imports resolve and `synclane_bg.wasm` sits where its
# `new URL(..., import.meta.url)` looks for it.
wasm_files=(dist/wasm/synclane.js dist/wasm/synclane.d.ts dist/wasm/synclane_bg.wasm
  dist/wasm-memory/synclane_memory.js dist/wasm-memory/synclane_memory.d.ts dist/wasm-memory/synclane_memory_bg.wasm)
# `snippets/` holds the small JavaScript functions the wasm imports (`inline_js`).
mkdir -p js/src/wasm
rm -rf js/src/wasm/snippets
cp "${wasm_files[@]}" js/src/wasm/
cp -r dist/wasm/snippets js/src/wasm/
rm -rf dist/npm
node node_modules/typescript/bin/tsc -p js
node node_modules/typescript/bin/tsc -p js --emitDeclarationOnly --removeComments false
mkdir -p dist/npm/dist/wasm
cp "${wasm_files[@]}" dist/npm/dist/wasm/
cp -r dist/wasm/snippets dist/npm/dist/wasm/
node scripts/strip-comments.mjs dist/npm/dist/wasm/synclane.js dist/npm/dist/wasm/synclane_memory.js
cp pkg-template/package.json pkg-template/README.md pkg-template/LICENSE dist/npm/
# The Chrome DevTools extension: its own files plus the panel modules, in dist/devtools-extension.
node scripts/package-extension.mjs >/dev/null
echo "[build] devtools extension: dist/devtools-extension" >&2
echo "[build] dist/npm: TypeScript compiled, wasm copied ($(find dist/npm -type f | wc -l) files)" >&2

# What an app downloads: the engine's wasm and the main entry's JavaScript as a bundler ships it.
node -e '
  import("./scripts/package-size.mjs").then(({ packageSize }) => {
    const s = packageSize();
    const kb = (b) => (b / 1024).toFixed(1) + " KB";
    console.error(`[build] package size (gzipped): wasm ${kb(s.wasmGzipBytes)} + js ${kb(s.jsGzipBytes)} (main entry, bundled and minified) = ${kb(s.totalGzipBytes)}; js unminified ${kb(s.jsUnminifiedGzipBytes)}`);
  });'
(cd dist/npm && npm pack --silent --pack-destination .. >/dev/null)
echo "[build] npm tarball: $(ls dist/synclane-*.tgz)" >&2

# The reference sync server (native, release).
cargo build --release -p synclane-server >&2
echo "[build] server: target/release/synclane-server" >&2
