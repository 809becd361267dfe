#!/usr/bin/env bash
# The main job: installs what is missing, builds the package and the server (skipped when
# nothing changed), starts the reference sync server on its embedded database (data/demo.db)
# and serves the demo on 127.0.0.1. PORT=8080 and SYNC_PORT=8787 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh
stamp="dist/.build-stamp"
sources="$(cat Cargo.toml Cargo.lock $(git ls-files src crates js pkg-template devtools-extension scripts/build.sh) 2>/dev/null | sha256sum | awk '{print $1}')"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sources" ] || [ ! -f dist/npm/dist/index.js ] || [ ! -x "${CARGO_TARGET_DIR:-target}/release/synclane-server" ]; then
  bash scripts/build.sh
  echo "$sources" > "$stamp"
else
  echo "[demo] package and server are up to date (dist/ and the server)"
fi
exec node scripts/serve.mjs
