#!/usr/bin/env bash
# Runs every test suite of synclane, installing what is missing first. This is the README's
# test command and exactly what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh

started=$SECONDS
step() {
  local name="$1"
  shift
  printf '\n\033[1;34m==> %s\033[0m\n' "$name"
  local t0=$SECONDS
  "$@"
  printf '\033[1;32m<== %s passed (%ss)\033[0m\n' "$name" "$((SECONDS - t0))"
}

step "format (cargo fmt --check)" cargo fmt --all -- --check
step "lint (clippy -D warnings)" cargo clippy --workspace --all-targets -- -D warnings
step "import cycles (Rust)" node scripts/check-cycles.mjs
step "import cycles (TypeScript)" node node_modules/madge/bin/cli.js --circular --no-spinner js/src
# Includes the deterministic simulation (500 seeds; SYNCLANE_SIM_SEEDS=N for more).
step "native tests (core, simulation)" cargo test --workspace
# The Convex functions (js/src/convex/server) on convex-test's in-memory backend, the golden
# vectors the core test above checks among them, and ConvexSyncProvider over a client of that
# backend (the conformance kit among its tests); type-checked as an app's convex/ folder, with
# the check that ConvexClient fits the provider's client type.
step "Convex functions (convex-test)" \
  bash -c 'node node_modules/typescript/bin/tsc -p tests/convex && node node_modules/vitest/vitest.mjs run --root tests/convex'
step "browser tests (wasm-pack, headless Chromium)" \
  env CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" wasm-pack test --headless --chrome .
step "browser tests of the in-memory server module" \
  env CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}" wasm-pack test --headless --chrome crates/synclane-memory
step "release build" bash scripts/build.sh
# Type-checks the TypeScript layer again (strict) and runs its unit tests against dist/npm.
step "TypeScript build and unit tests" \
  bash -c 'node node_modules/typescript/bin/tsc -p js --noEmit && node --test tests/js/'
step "end-to-end tests (release package, Playwright)" node --test tests/e2e/

printf '\n\033[1;32mall suites passed in %ss\033[0m\n' "$((SECONDS - started))"
