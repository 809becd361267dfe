#!/usr/bin/env bash
# Builds the release WebAssembly package into dist/wasm and optimises it.
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
RUSTFLAGS="--remap-path-prefix=$cargo_home/registry/src=cargo-registry --remap-path-prefix=$cargo_home/git/checkouts=cargo-git --remap-path-prefix=$rustup_home=rustup --remap-path-prefix=$PWD=synclane" \
  wasm-pack build --release --target web --out-dir dist/wasm --out-name synclane --no-pack . >&2
wasm="dist/wasm/synclane_bg.wasm"
before=$(stat -c %s "$wasm")
# The producers and target-features sections are build metadata no browser reads.
node node_modules/binaryen/bin/wasm-opt -Oz \
  --enable-reference-types --enable-bulk-memory --enable-multivalue --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-sign-ext --strip-producers --strip-target-features \
  "$wasm" -o "$wasm.opt"
mv "$wasm.opt" "$wasm"
after=$(stat -c %s "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "[build] dist/wasm/synclane_bg.wasm: $before -> $after bytes ($gz gzipped)" >&2

# The TypeScript layer (js/) into the npm package dist/npm. The wasm bindings are copied beside
# the sources, so tsc checks the code against their generated types, and beside the output, so
# the compiled `./wasm/synclane.js` imports resolve and `synclane_bg.wasm` sits where its
# `new URL(..., import.meta.url)` looks for it.
wasm_files=(dist/wasm/synclane.js dist/wasm/synclane.d.ts dist/wasm/synclane_bg.wasm)
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
node scripts/strip-comments.mjs dist/npm/dist/wasm/synclane.js
cp pkg-template/package.json pkg-template/README.md pkg-template/LICENSE dist/npm/
# The Chrome DevTools extension: its own files plus the panel modules, in dist/devtools-extension.
node scripts/package-extension.mjs >/dev/null
echo "[build] devtools extension: dist/devtools-extension" >&2
echo "[build] dist/npm: TypeScript compiled, wasm copied ($(find dist/npm -type f | wc -l) files)" >&2

# What an app downloads: every JavaScript file of the package plus the wasm, gzipped one by one;
# not the conformance kit nor the devtools panel (tools), but the devtools hook every engine
# installs.
js_gz=0
while IFS= read -r file; do
  js_gz=$((js_gz + $(gzip -9 -c "$file" | wc -c)))
done < <(find dist/npm/dist -name '*.js' -not -path '*/conformance/*' -not -name 'conformance.js' -not -name 'devtools.js' \( -not -path '*/devtools/*' -o -name hook.js -o -name summary.js \))
wasm_gz=$(gzip -9 -c dist/npm/dist/wasm/synclane_bg.wasm | wc -c)
echo "[build] package size (gzipped): wasm ${wasm_gz} B + js ${js_gz} B = $((wasm_gz + js_gz)) B (conformance kit and devtools panel excluded: tools)" >&2
(cd dist/npm && npm pack --silent --pack-destination .. >/dev/null)
echo "[build] npm tarball: $(ls dist/synclane-*.tgz)" >&2

# The reference sync server (native, release).
cargo build --release -p synclane-server >&2
echo "[build] server: target/release/synclane-server" >&2
