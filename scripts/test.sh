#!/usr/bin/env bash
# The whole freshet test suite, runnable on a fresh Debian machine that has only the Rust toolchain.
#
# It brings up everything the tests need, then runs formatting, lints and every test of every crate.
# Services the integration tests talk to (Redis, PostgreSQL, a Kafka-protocol broker) are installed and
# started here as the crates that need them land; today's crates need none, so nothing is started and
# nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests (every crate: unit, integration, property and golden-file tests)"
cargo test --workspace --locked

step "fuzz target still builds (run it with: cd crates/engine/fuzz && cargo fuzz run engine_vs_oracle -s none)"
cargo check --manifest-path crates/engine/fuzz/Cargo.toml --locked --quiet
