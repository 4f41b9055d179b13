#!/usr/bin/env bash
# Throughput of tollgate-sim against its own reflector (two private namespaces, one veth
# pair): how fast the simulator can send and verify, i.e. the ceiling of what it can measure
# on this machine. Needs root. Prints one line per case; always cleans up.
#   tests/gwlb-sim/bench.sh [seconds-per-case, default 2]
#   TOLLGATE_SIM=/path/to/tollgate-sim tests/gwlb-sim/bench.sh
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
seconds="${1:-2}"
[[ $EUID -eq 0 ]] || { echo "bench: needs root" >&2; exit 2; }
if [[ -z "${TOLLGATE_SIM:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
    (cd "$repo" && cargo build --quiet --release -p tollgate-sim)
    TOLLGATE_SIM="$CARGO_TARGET_DIR/release/tollgate-sim"
fi
sim="$TOLLGATE_SIM"

id=$$
ns_g="tgs-bgwlb-$id"
ns_a="tgs-bappl-$id"
if_g="tgbg$id"
if_a="tgba$id"
work="$(mktemp -d /tmp/tgs-bench.XXXXXX)"
reflector_pid=""
cleanup() {
    set +e
    if [[ -n "$reflector_pid" ]]; then kill -TERM "$reflector_pid"; wait "$reflector_pid"; fi
    ip netns del "$ns_g" 2>/dev/null
    ip netns del "$ns_a" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

ip netns add "$ns_g"
ip netns add "$ns_a"
ip link add "$if_g" mtu 9001 netns "$ns_g" type veth peer name "$if_a" mtu 9001 netns "$ns_a"
ip -n "$ns_g" addr add 10.254.11.60/24 dev "$if_g"
ip -n "$ns_g" link set "$if_g" up
ip -n "$ns_a" link set "$if_a" up
ip netns exec "$ns_a" "$sim" reflect --iface "$if_a" >"$work/reflector.log" 2>&1 &
reflector_pid=$!
sleep 0.3

printf '%-8s %10s %10s %8s %8s %10s\n' sizes sent_pps gbit_s lost corrupt max_rtt_us
for sizes in min imix 1500 8500; do
    ip netns exec "$ns_g" "$sim" run --iface "$if_g" --rate 0 --duration "$seconds" --sizes "$sizes" \
        --settle-ms 1000 --json "$work/$sizes.json" >/dev/null || true
    python3 - "$work/$sizes.json" "$sizes" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
secs = d["sent"] / max(d["send_pps"], 1e-9)
gbit = d["sent_bytes"] * 8 / max(secs, 1e-9) / 1e9
print(f'{sys.argv[2]:<8} {d["send_pps"]:10.0f} {gbit:10.2f} {d["lost"]:8} {d["corrupted"]:8} {d["rtt_max_us"]:10}')
PY
done
