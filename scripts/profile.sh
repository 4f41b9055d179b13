#!/usr/bin/env bash
# Where the forwarding core's time goes (issue 6), by sampling.
#
#   scripts/profile.sh [SCENARIO]     (default est-100k; root, perf)
#
# Runs `tollgate-bench run --quick --only SCENARIO` (testpmd macswap, then
# the tollgate worker, on the same net_pcap device and CPU 1) under
# `perf record -e cpu-clock`: a timer, so it works in guests that have no
# performance counters. Prints, for testpmd's forwarding thread and for
# tollgate's worker, the share of their samples in each library (net_pcap
# is the device: its receive copies every frame from the replay buffer),
# then tollgate's burst function by innermost inlined function, and its
# hottest instructions.
# With the loop's cycles per packet from the same run, a share is cycles.
# Sampling skids: a stalled load's samples land on the next instructions.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCENARIO=${1:-est-100k}
case "$SCENARIO" in -h|--help) sed -n '2,15p' "$0"; exit 0 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "profile.sh: needs root (DPDK, perf -a)" >&2; exit 2; }
command -v perf >/dev/null || { echo "profile.sh: perf missing: apt-get install linux-perf" >&2; exit 2; }
command -v dpdk-testpmd >/dev/null || { echo "profile.sh: dpdk-testpmd missing: run scripts/setup.sh" >&2; exit 2; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release/tollgate-bench
WORK=$(mktemp -d /tmp/tollgate-profile.XXXXXX)
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HP_BEFORE=$(cat "$HP")
cleanup() {
  echo "$HP_BEFORE" >"$HP"
  [ -n "${KEEP:-}" ] && { echo "profile.sh: kept $WORK" >&2; return; }
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
[ "$HP_BEFORE" -ge 1024 ] || echo 1024 >"$HP"

(cd "$ROOT" && cargo build --release --quiet -p tollgate-bench)
# 999 Hz: a few thousand samples per thread, little overhead.
perf record -q -e cpu-clock -F 999 -a -o "$WORK/perf.data" -- \
  "$BIN" run --quick --only "$SCENARIO" --work-dir "$WORK" | tee "$WORK/bench.out"
loop=$(awk -v s="$SCENARIO" '$1 == s && $8 == "|" {print $13}' "$WORK/bench.out")

perf report -i "$WORK/perf.data" --cpu 1 --stdio --field-separator='|' --sort pid,dso \
  2>/dev/null | grep -v '^#' >"$WORK/by-dso"
# Threads: the one that ran code of tollgate-bench is tollgate's worker,
# the one that ran dpdk-testpmd's is testpmd's. Without samples of
# tollgate's worker there is nothing more to show (exit 1).
python3 - "$WORK/by-dso" "${loop:-}" <<'PY'
import collections, sys
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    parts = [p.strip() for p in line.split('|')]
    if len(parts) != 3 or not parts[0].endswith('%'):
        continue
    rows[parts[1]][parts[2]] = float(parts[0].rstrip('%'))
loop = sys.argv[2]
for name, own in (('testpmd', 'dpdk-testpmd'), ('tollgate', 'tollgate-bench')):
    threads = [t for t, d in rows.items() if own in d and 'rte-worker' in t]
    if not threads:
        print(f'{name}: no samples of its forwarding thread')
        if name == 'tollgate':
            sys.exit(1)
        continue
    t = max(threads, key=lambda t: sum(rows[t].values()))
    total = sum(rows[t].values())
    extra = f', loop {loop} cycles/packet' if name == 'tollgate' and loop else ''
    print(f'\n{name} forwarding thread ({t.split(":")[0]}{extra}):')
    for dso, v in sorted(rows[t].items(), key=lambda kv: -kv[1])[:6]:
        cyc = f'  ~{float(loop) * v / total:5.0f} cycles' if extra else ''
        print(f'  {100 * v / total:5.1f} %  {dso}{cyc}')
PY
# The worker's burst function holds nearly all of tollgate's samples; its
# instructions' shares, each placed in the innermost inlined function.
perf annotate -i "$WORK/perf.data" --stdio --dso tollgate-bench \
  -s tollgate_dataplane::worker::Worker::process_burst 2>/dev/null |
  awk '/^ +[0-9]+\.[0-9]+ :/ && $1 > 0 {sub(":", "", $3); print $1, $3}' >"$WORK/hot"
awk '{print "0x" $2}' "$WORK/hot" | addr2line -e "$BIN" -f -C -s | paste - - >"$WORK/where"
paste -d ' ' "$WORK/hot" "$WORK/where" >"$WORK/hot-where"
python3 - "$WORK/hot-where" <<'PY'
import collections, re, sys
by_fn = collections.Counter()
rows = []
for line in open(sys.argv[1]):
    pct, addr, rest = line.rstrip('\n').split(' ', 2)
    fn, loc = rest.rsplit('\t', 1)
    fn = re.sub(r'(?<=\w)<[^<>]*>', '', fn)  # no generic parameters
    by_fn[fn + ' (' + loc.split(':')[0] + ')'] += float(pct)
    rows.append((float(pct), addr, fn + ' ' + loc))
print('\ntollgate worker, burst function, by innermost inlined function (% of its samples):')
for fn, pct in by_fn.most_common(14):
    print(f'  {pct:5.1f} %  {fn}')
print("\nhottest instructions (a stalled instruction's samples land just after it):")
for pct, addr, where in sorted(rows, reverse=True)[:10]:
    print(f'  {pct:5.1f} %  {addr}  {where}')
PY
