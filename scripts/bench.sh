#!/usr/bin/env bash
# The benchmark: synclane's release build against a hand-written IndexedDB floor,
# Dexie with a hand-written outbox and TinyBase, in headless Chromium. Prints a table and
# writes dist/bench/results.json; then the Convex cost table (bench/convex-cost.mjs). Knobs: see bench/README.md (BENCH_RUNS, ...).
set -euo pipefail
cd "$(dirname "$0")/.."

for f in dist/npm/dist/index.js dist/npm/dist/wasm/synclane_bg.wasm "${CARGO_TARGET_DIR:-target}/release/synclane-server"; do
  if [ ! -e "$f" ]; then
    echo "bench: $f is missing: run scripts/build.sh first" >&2
    exit 1
  fi
done
if [ ! -d node_modules/dexie ] || [ ! -d node_modules/tinybase ] || [ ! -d node_modules/playwright-core ]; then
  echo "bench: node modules are missing: run scripts/setup.sh (or npm ci) first" >&2
  exit 1
fi
status=0
node bench/run.mjs "$@" || status=$?
# The Convex cost table: counts on convex-test (no browser), added to the same results.json.
node bench/convex-cost.mjs || { rc=$?; [ "$status" -ne 0 ] || status=$rc; }
exit "$status"
