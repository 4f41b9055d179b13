#!/usr/bin/env bash
# Tollgate's test command (what CI runs): prepares the host, then runs the
# format and lint checks, the unit and DPDK tests, a benchmark smoke check,
# and the end-to-end tests on veth pairs in network namespaces. Run as root
# on Debian 12.
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

step "fuzz smoke (every target for 5 s from its committed seeds)"
# cargo test above replays every target's seeds and regression inputs
# through its harness; this runs the real fuzzer briefly on each target,
# so that the AFL++ build and scripts/fuzz.sh keep working and a crash a
# seed's neighbourhood hides fails the run. The first run installs
# cargo-afl (builds AFL++) and builds every target: minutes.
# FUZZ_SMOKE_TARGETS="pipeline ring" narrows it.
for target in ${FUZZ_SMOKE_TARGETS:-$(bash scripts/fuzz.sh --list)}; do
  bash scripts/fuzz.sh "$target" 5
done

step "release build"
cargo build --release --workspace --bins

step "benchmark smoke check (figures, no thresholds)"
# The quick benchmark on one scenario: it must still run end to end and
# report figures, and tollgate's frames on veth must come back byte-exact.
smoke=$(mktemp /tmp/tollgate-bench-smoke.XXXXXX)
trap 'rm -f "$smoke"' EXIT
bash scripts/bench.sh --quick --only est-1k --json "$smoke"
jq -e '.scenarios["est-1k"].median
       | .ceiling_pps > 0 and .tollgate_pps > 0 and .cycles_pipeline > 0' "$smoke" >/dev/null ||
  { echo "bench smoke: a figure of est-1k is missing or zero" >&2; exit 1; }
jq -e '.veth.tollgate.returned > 0 and .veth.tollgate.corrupted == 0' "$smoke" >/dev/null ||
  { echo "bench smoke: tollgate on veth returned nothing or changed frames" >&2; exit 1; }

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
