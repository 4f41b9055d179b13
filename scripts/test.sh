#!/usr/bin/env bash
# Tollgate's test command (what CI runs): prepares the host, then runs the
# format and lint checks, the unit and DPDK tests, and the end-to-end tests
# on veth pairs in network namespaces. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

step() { printf '\n=== %s\n' "$*"; }

step "host setup"
bash scripts/setup.sh

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets -- -D warnings

step "unit, property and DPDK tests"
cargo test --workspace

step "release build"
cargo build --release --workspace --bins

step "end-to-end tests"
passed=0 failed=0 failures=()
for t in tests/e2e/test_*.sh; do
  printf -- '--- %s\n' "$t"
  if timeout 600 bash "$t"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failures+=("$t")
  fi
done
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
