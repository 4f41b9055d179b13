#!/usr/bin/env bash
# End-to-end check of tollgate-dataplane with tollgate-sim (issue 3 acceptance, and the
# firewall issue's end-to-end point): the dataplane on net_af_packet (2 workers, qpairs=2)
# in one private namespace, the simulator in another, joined by a veth pair. Needs root.
#   phase 1 (pass-all rules): mixed GWLB traffic, sizes to 8500, every frame back intact;
#           the capture decodes in tshark as GENEVE with class 0x0108; ARP and ping answered;
#           GENEVE from outside gwlb_addresses gets nothing and raises the spoof counter;
#           no other drop counter moves; SIGINT stops the dataplane with exit 0 and the
#           mempool's in-use count is back to its starting value (from --stats-out).
#   phase 2 (scenarios/firewall-example.rules.toml): pass, drop and reject flows as expected.
#
#   TOLLGATE_DATAPLANE=path TOLLGATE_SIM=path tests/gwlb-sim/e2e-dataplane.sh
# Without the variables both are built in release mode. KEEP=1 keeps the work directory.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[[ $EUID -eq 0 ]] || { echo "e2e: needs root" >&2; exit 2; }
if [[ -z "${TOLLGATE_DATAPLANE:-}" || -z "${TOLLGATE_SIM:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
    (cd "$repo" && cargo build --quiet --release -p tollgate-dataplane -p tollgate-sim)
    TOLLGATE_DATAPLANE="${TOLLGATE_DATAPLANE:-$CARGO_TARGET_DIR/release/tollgate-dataplane}"
    TOLLGATE_SIM="${TOLLGATE_SIM:-$CARGO_TARGET_DIR/release/tollgate-sim}"
fi
dp="$TOLLGATE_DATAPLANE"
sim="$TOLLGATE_SIM"

id=$$
ns_g="tgs-e2eg-$id"
ns_a="tgs-e2ea-$id"
if_g="tgeg$id"
if_a="tgea$id"
work="$(mktemp -d /tmp/tgs-e2e.XXXXXX)"
dp_pid=""
cleanup() {
    set +e
    if [[ -n "$dp_pid" ]] && kill -0 "$dp_pid" 2>/dev/null; then kill -INT "$dp_pid"; wait "$dp_pid"; fi
    ip netns del "$ns_g" 2>/dev/null
    ip netns del "$ns_a" 2>/dev/null
    # The dataplane's shared-memory segment and EAL runtime directory outlive it.
    rm -f "/dev/shm/tollgate-tgs-e2e-$id"
    rm -rf "/var/run/dpdk/tgs-e2e-$id"
    if [[ -n "${KEEP:-}" ]]; then echo "e2e: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

failures=0
pass() { echo "e2e: ok   - $*"; }
fail() { echo "e2e: FAIL - $*"; failures=$((failures + 1)); }
in_g() { ip netns exec "$ns_g" "$@"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

ip netns add "$ns_g"
ip netns add "$ns_a"
ip link add "$if_g" mtu 9001 netns "$ns_g" type veth peer name "$if_a" mtu 9001 netns "$ns_a"
for ns in "$ns_g" "$ns_a"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$ns_g" addr add 10.254.11.60/24 dev "$if_g"
ip -n "$ns_g" link set "$if_g" up
ip -n "$ns_a" link set "$if_a" up

# --no-pci: never touch the host's own NICs; --no-huge: leave hugepages to others.
write_config() {
    cat >"$work/dataplane.toml" <<TOML
[eal]
args = ["--lcores=0@0,1@1,2@1", "--no-pci", "--no-huge", "-m", "1024", "--file-prefix", "tgs-e2e-$id",
        "--vdev=net_af_packet0,iface=$if_a,qpairs=2,framesz=9216,blocksz=36864,framecnt=512"]
[port]
device = "net_af_packet0"
mtu = 9001
[appliance]
address = "10.254.11.101"
gwlb_addresses = ["10.254.11.60/32"]
[shm]
name = "tgs-e2e-$id"
[worker]
idle_sleep_us = 50
[firewall]
rules_file = "$1"
TOML
}
start_dataplane() {
    write_config "$1"
    ip netns exec "$ns_a" "$dp" --config "$work/dataplane.toml" --stats-out "$work/$2.stats.json" \
        >"$work/$2.log" 2>&1 &
    dp_pid=$!
    for _ in $(seq 50); do
        grep -q "forwarding on" "$work/$2.log" && return 0
        kill -0 "$dp_pid" 2>/dev/null || break
        sleep 0.2
    done
    cat "$work/$2.log"
    fail "dataplane did not start"
    exit 1
}
stop_dataplane() {
    local rc=0
    kill -INT "$dp_pid"
    wait "$dp_pid" || rc=$?
    dp_pid=""
    if [[ $rc -eq 0 ]]; then pass "SIGINT stopped the dataplane with exit 0"
    else tail -5 "$work/$1.log"; fail "dataplane exited $rc after SIGINT"; fi
}

# Phase 1: pass-all.
start_dataplane "$repo/configs/rules.pass-all.toml" phase1
if in_g "$sim" run --iface "$if_g" --count 5000 --rate 2000 --endpoints 4 --flows 64 \
    --sizes min,imix,1500,8500 --inner v4,v6 --protocols tcp,udp,icmp --unknown-option-every 4 \
    --pcap-out "$work/returned.pcap" --json "$work/run.json" >"$work/run.txt"; then
    pass "run: $(grep '^sent' "$work/run.txt" | cut -d, -f1-6)"
else
    cat "$work/run.txt"
    fail "run of 5000 mixed frames did not pass"
fi
if [[ "$(json "$work/run.json" "d['sizes'].get('8500',{}).get('returned',0) > 0")" == True ]]; then
    pass "8500-byte inner packets came back whole"
else fail "no 8500-byte inner packet came back"; fi
if command -v tshark >/dev/null; then
    amazon=$(tshark -r "$work/returned.pcap" -Y 'geneve.option.class == 0x0108' 2>/dev/null | wc -l)
    frames=$(tshark -r "$work/returned.pcap" 2>/dev/null | wc -l)
    if [[ "$amazon" -eq "$frames" && "$frames" -eq 5000 ]]; then pass "tshark: all $frames returned frames are GENEVE with class 0x0108"
    else fail "tshark: $amazon of $frames frames are GENEVE with class 0x0108"; fi
fi
if in_g ping -c 3 -W 1 -i 0.2 10.254.11.101 >/dev/null; then pass "ARP and ping of 10.254.11.101 answered"
else fail "ping of 10.254.11.101 not answered"; fi
if in_g "$sim" run --iface "$if_g" --src-ip 10.254.11.61 --expect none --count 200 --rate 2000 \
    >"$work/spoof.txt"; then pass "GENEVE from 10.254.11.61 got no reply"
else cat "$work/spoof.txt"; fail "GENEVE from 10.254.11.61 got replies"; fi
stop_dataplane phase1
stats="$work/phase1.stats.json"
spoofed=$(json "$stats" "d.get('dropped_packets_total:spoofed_geneve', 'missing')")
if [[ "$spoofed" == 200 ]]; then pass "spoof counter raised by 200"
else fail "spoof counter is $spoofed, expected 200"; fi
others=$(json "$stats" "{k: v for k, v in d.items() if k.startswith('dropped') and 'spoofed' not in k and v}")
if [[ "$others" == "{}" ]]; then pass "no other drops under pass-all"
else fail "unexpected drops under pass-all: $others"; fi
mempool=$(json "$stats" "(d.get('mempool_in_use_at_start'), d.get('mempool_in_use_at_exit'))")
if [[ "$(json "$stats" "d.get('mempool_in_use_at_start') == d.get('mempool_in_use_at_exit') != None")" == True ]]; then
    pass "mempool in use at start and exit: $mempool"
else fail "mempool in use (start, exit) = $mempool"; fi

# Phase 2: firewall rules.
start_dataplane "$here/scenarios/firewall-example.rules.toml" phase2
if in_g "$sim" scenario --iface "$if_g" --file "$here/scenarios/firewall-example.toml" --unknown-option \
    --json "$work/scenario.json" >"$work/scenario.txt"; then
    pass "firewall scenario: $(grep -c ': ok' "$work/scenario.txt") flows as expected"
else cat "$work/scenario.txt"; fail "firewall scenario"; fi
stop_dataplane phase2

if [[ $failures -gt 0 ]]; then echo "e2e: $failures check(s) FAILED"; exit 1; fi
echo "e2e: all checks passed"
