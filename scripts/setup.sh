#!/usr/bin/env bash
# Installs what building and testing synclane needs, skipping whatever is already present.
# Safe to run again and again: every step checks before it installs.
set -euo pipefail

cd "$(dirname "$0")/.."

# The wasm-bindgen CLI must match the crate version pinned in Cargo.toml exactly.
WASM_BINDGEN_VERSION="$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml | head -n1)"
WASM_PACK_VERSION="0.15.1"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
else
  log "wasm32-unknown-unknown target present"
fi

if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WASM_BINDGEN_VERSION" ]; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (takes a few minutes)"
  # --locked is deliberately absent: the CLI's lockfile names a crate version the registry lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
else
  log "wasm-bindgen-cli $WASM_BINDGEN_VERSION present"
fi

if ! command -v wasm-pack >/dev/null 2>&1; then
  log "installing wasm-pack (takes a few minutes)"
  cargo install wasm-pack --version "$WASM_PACK_VERSION"
else
  log "wasm-pack present ($(wasm-pack --version))"
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  log "installing chromium and chromedriver"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
else
  log "chromium and chromedriver present"
fi

# PostgreSQL for the server's tests (they start a private cluster of their own on 127.0.0.1).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  log "installing postgresql"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
else
  log "postgresql present"
fi

if [ -f package.json ]; then
  # Reinstall node modules only when the lockfile changed since the last install.
  stamp="node_modules/.synclane-lock-stamp"
  want="$(sha256sum package-lock.json 2>/dev/null | awk '{print $1}')"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing node modules"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  else
    log "node modules up to date"
  fi
fi

log "done"
