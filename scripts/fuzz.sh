#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ through cargo-afl, on the stable
# toolchain (cargo-fuzz needs nightly).
#
#   scripts/fuzz.sh --list            the targets (fuzz/src/bin/*.rs)
#   scripts/fuzz.sh TARGET SECONDS    fuzz TARGET for SECONDS from its seeds
#
# Installs cargo-afl (which builds AFL++ with the system's clang/llvm) if
# it is missing, builds the instrumented targets in target/fuzz/, runs
# afl-fuzz on fuzz/corpus/TARGET/ and prints executions, executions per
# second and edges found. Exits 1 if the run found a crash, leaving the
# inputs in target/fuzz/afl/TARGET/default/crashes/. FUZZ_TIMEOUT_MS
# (default 1000) is the time one input may take before AFL++ calls it a
# hang; hangs are reported, not failed on (a loaded machine makes them).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

AFL_VERSION=0.18.2
targets() { ls fuzz/src/bin/ | sed -n 's/\.rs$//p' | grep -vx seeds; }

usage() { echo "usage: $0 --list | TARGET SECONDS" >&2; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = --list ]; then targets; exit 0; fi
[ $# -eq 2 ] || usage
target=$1 seconds=$2
targets | grep -qx "$target" || { echo "no fuzz target '$target' (try --list)" >&2; exit 2; }
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage

# cargo-afl: its install also builds AFL++ (needs clang and llvm-config).
if ! cargo afl --version >/dev/null 2>&1; then
  if ! command -v llvm-config >/dev/null || ! command -v clang >/dev/null; then
    apt-get update -qq && apt-get install -y -qq clang llvm >/dev/null
  fi
  echo "fuzz: installing cargo-afl $AFL_VERSION (builds AFL++; minutes the first time)" >&2
  cargo install --quiet --locked cargo-afl --version "$AFL_VERSION"
fi

# A target dir of its own: instrumented builds must not replace the
# release binaries. Thin LTO and one codegen unit cost minutes here and
# buy the fuzzer little.
export CARGO_TARGET_DIR=target/fuzz
export CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
cargo afl build --quiet --release -p tollgate-fuzz --features afl --bins

out=target/fuzz/afl/$target
rm -rf "$out"
mkdir -p "$out"
log=$out/afl.log
# No UI, no CPU pinning (the machine is shared), no core-dump setup check.
status=0
AFL_NO_UI=1 AFL_NO_AFFINITY=1 AFL_SKIP_CPUFREQ=1 AFL_FAST_CAL=1 \
  AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  cargo afl fuzz -V "$seconds" -t "${FUZZ_TIMEOUT_MS:-1000}" \
  -i "fuzz/corpus/$target" -o "$out" "target/fuzz/release/$target" >"$log" 2>&1 || status=$?
stats=$out/default/fuzzer_stats
if [ ! -f "$stats" ]; then
  tail -n 30 "$log" >&2
  echo "fuzz: $target: afl-fuzz did not run (exit $status; log $log)" >&2
  exit 1
fi
stat() { sed -n "s/^$1 *: *//p" "$stats"; }
crashes=$(stat saved_crashes) hangs=$(stat saved_hangs)
echo "fuzz: $target: $(stat execs_done) executions in $(stat run_time) s," \
  "$(stat execs_per_sec) exec/s, edges $(stat edges_found) of $(stat total_edges)," \
  "corpus $(stat corpus_count), crashes $crashes, hangs $hangs"
if [ "$hangs" != 0 ]; then
  echo "fuzz: $target: inputs slower than ${FUZZ_TIMEOUT_MS:-1000} ms: $out/default/hangs/" >&2
fi
if [ "$crashes" != 0 ]; then
  echo "fuzz: $target: crashing inputs in $out/default/crashes/" >&2
  echo "fuzz: to make one a regression test: cp CRASH fuzz/regressions/$target/NAME &&" \
    "cargo test -p tollgate-fuzz --test corpus ${target}_corpus (shows the panic)" >&2
  exit 1
fi
[ "$status" -eq 0 ] || { tail -n 30 "$log" >&2; echo "fuzz: $target: afl-fuzz exit $status" >&2; exit 1; }
