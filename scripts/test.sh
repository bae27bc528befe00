#!/usr/bin/env bash
# The whole freshet test suite, runnable on a fresh Debian machine that has only the Rust toolchain.
#
# It brings up everything the tests need, then runs formatting, lints and every test of every crate.
# That is Debian's redis-server (the online-store tests start their own servers and a three-master
# cluster on free loopback ports, and stop them), Debian's PostgreSQL server binaries (the source tests
# make their own clusters with initdb, serve them on free loopback ports and shut them down; a server
# the machine already runs is never touched) and a Python with the `deltalake` package, the independent
# reader that checks the event log. The Kafka-protocol broker is librdkafka's mock cluster, hosted by
# the tests themselves; librdkafka is built from source, which needs a C compiler and make. Nothing is
# skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step prints the minutes since the start, so a slow CI run shows which step took the time.
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
trap 'printf "\n==> [%dm%02ds] finished (exit %d)\n" $((SECONDS / 60)) $((SECONDS % 60)) $?' EXIT

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo not found; install the Rust toolchain (https://rustup.rs) and run this again" >&2
  exit 1
fi
if command -v rustup >/dev/null 2>&1; then
  for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
  done
fi

# Installs Debian packages (as root, or through sudo).
install_packages() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq && $sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}
# Installs packages when a command is missing.
need() {
  local command=$1; shift
  command -v "$command" >/dev/null 2>&1 || install_packages "$@"
}

step "build tools: a C compiler and make (librdkafka is built from source)"
need cc build-essential
need make make

step "test services: redis-server and redis-cli (the tests start their own servers and a cluster on free ports)"
need redis-server redis-server
need redis-cli redis-tools

step "test services: PostgreSQL server binaries and psql (the tests run their own clusters on free ports)"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
  install_packages postgresql
fi

step "test tools: Python with deltalake and pyarrow (reads the event log independently)"
need python3 python3 python3-venv
target_dir=${CARGO_TARGET_DIR:-target}
venv="$target_dir/test-python"
# Pinned, as in crates/cli/tests/it/offline.rs: the independent reader must not change under us.
python_packages="deltalake==1.6.6 pyarrow==26.0.1"
if ! "$venv/bin/python" -c "import deltalake, pyarrow, sys; sys.exit(deltalake.__version__ != '1.6.6' or pyarrow.__version__ != '26.0.1')" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; install_packages python3-venv; python3 -m venv "$venv"; }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check $python_packages
fi
FRESHET_TEST_PYTHON="$(cd "$venv" && pwd)/bin/python"
export FRESHET_TEST_PYTHON

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "API docs build without broken or private links (cargo doc, warnings are errors)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "tests (every crate: unit, integration, property and golden-file tests)"
cargo test --workspace --locked

step "engine fuzz targets still build (cd crates/engine/fuzz && cargo fuzz run engine_vs_oracle -s none; likewise stored_state_decode)"
cargo check --manifest-path crates/engine/fuzz/Cargo.toml --locked --quiet
step "fuzz targets of the pgoutput and JSON payload decoders still build (cd crates/sources/fuzz && cargo fuzz run pgoutput_decode -s none; json_payload_decode with corpus/json_payload_decode seeds/json_payload_decode)"
cargo check --manifest-path crates/sources/fuzz/Cargo.toml --locked --quiet
step "fuzz target of the project file still builds (cd crates/project/fuzz && cargo fuzz run project_file corpus/project_file seeds/project_file -s none)"
cargo check --manifest-path crates/project/fuzz/Cargo.toml --locked --quiet
