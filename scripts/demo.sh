#!/usr/bin/env bash
# The main job: installs what is missing, builds the package (skipped when nothing changed)
# and serves the demo on 127.0.0.1. PORT=8080 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh
stamp="dist/.build-stamp"
sources="$(cat Cargo.toml Cargo.lock $(git ls-files src crates) 2>/dev/null | sha256sum | awk '{print $1}')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sources" ] || [ ! -f dist/wasm/synclane_bg.wasm ]; then
  bash scripts/build.sh
  echo "$sources" > "$stamp"
else
  echo "[demo] package is up to date (dist/wasm)"
fi
exec node scripts/serve.mjs
