#!/usr/bin/env bash
# Self-test of tollgate-sim: two private network namespaces joined by a veth pair, the
# simulator's own reflector standing in for the appliance, and the simulator checking it.
# Needs root. Only addresses inside the two namespaces are used. Always cleans up.
#
#   tests/gwlb-sim/selftest.sh            (builds tollgate-sim in release mode first)
#   TOLLGATE_SIM=/path/to/tollgate-sim tests/gwlb-sim/selftest.sh
#   KEEP=1 ... keeps the work directory (captures, JSON summaries, logs)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
if [[ $EUID -ne 0 ]]; then
    echo "selftest: needs root (network namespaces and raw sockets)" >&2
    exit 2
fi
if [[ -z "${TOLLGATE_SIM:-}" ]]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
    (cd "$repo" && cargo build --quiet --release -p tollgate-sim)
    TOLLGATE_SIM="$CARGO_TARGET_DIR/release/tollgate-sim"
fi
sim="$TOLLGATE_SIM"

id=$$
ns_g="tgs-gwlb-$id"
ns_a="tgs-appl-$id"
if_g="tgsg$id"
if_a="tgsa$id"
work="$(mktemp -d /tmp/tgs-selftest.XXXXXX)"
gwlb_ip=10.254.11.60
appliance=10.254.11.101
reflector_pid=""

cleanup() {
    set +e
    if [[ -n "$reflector_pid" ]] && kill -0 "$reflector_pid" 2>/dev/null; then
        kill -TERM "$reflector_pid"
        wait "$reflector_pid"
    fi
    ip netns del "$ns_g" 2>/dev/null
    ip netns del "$ns_a" 2>/dev/null
    if [[ -n "${KEEP:-}" ]]; then echo "selftest: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT INT TERM

failures=0
pass() { echo "selftest: ok   - $*"; }
fail() { echo "selftest: FAIL - $*"; failures=$((failures + 1)); }
in_g() { ip netns exec "$ns_g" "$@"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

ip netns add "$ns_g"
ip netns add "$ns_a"
ip link add "$if_g" mtu 9001 netns "$ns_g" type veth peer name "$if_a" mtu 9001 netns "$ns_a"
for ns in "$ns_g" "$ns_a"; do
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$ns" link set lo up
done
ip -n "$ns_g" addr add "$gwlb_ip/24" dev "$if_g"
ip -n "$ns_g" link set "$if_g" up
ip -n "$ns_a" link set "$if_a" up

start_reflector() {
    ip netns exec "$ns_a" "$sim" reflect --iface "$if_a" --appliance "$appliance" \
        --drop-port 23 --drop-port 8080 --reject-port 25 --reject-port 514 "$@" \
        >"$work/reflector.log" 2>&1 &
    reflector_pid=$!
    sleep 0.3
}
stop_reflector() {
    kill -TERM "$reflector_pid"
    wait "$reflector_pid" || true
    reflector_pid=""
}

start_reflector

# 1. Mixed GWLB traffic: every frame must come back intact, all sizes up to 8500.
if in_g "$sim" run --iface "$if_g" --count 3000 --rate 3000 --endpoints 4 --flows 64 \
    --sizes min,imix,1500,8500 --inner v4,v6 --protocols tcp,udp,icmp --unknown-option-every 4 \
    --pcap-out "$work/returned.pcap" --json "$work/run.json" >"$work/run.txt"; then
    pass "run: $(grep '^sent' "$work/run.txt" | cut -d, -f1-6)"
else
    cat "$work/run.txt"
    fail "run of 3000 mixed frames did not pass"
fi
if [[ "$(json "$work/run.json" "d['sizes'].get('8500',{}).get('returned',0) > 0 and len(d['endpoints']) == 4")" == True ]]; then
    pass "8500-byte inner packets came back whole, 4 endpoints reported"
else
    fail "no 8500-byte inner packet or endpoint missing in run.json"
fi

# 2. The capture decodes in tshark as GENEVE with the Amazon option class.
if command -v tshark >/dev/null; then
    amazon=$(tshark -r "$work/returned.pcap" -Y 'geneve.option.class == 0x0108' 2>/dev/null | wc -l)
    frames=$(tshark -r "$work/returned.pcap" 2>/dev/null | wc -l)
    if [[ "$amazon" -eq 3000 && "$frames" -eq 3000 ]]; then pass "tshark decodes all $amazon returned frames as GENEVE with class 0x0108"
    else fail "tshark: $amazon of $frames captured frames are GENEVE with class 0x0108 (want 3000 of 3000)"; fi
    # tshark as an independent judge of the simulator's inner checksums (one per frame).
    checks="-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE"
    good=$(tshark -r "$work/returned.pcap" $checks -Y 'tcp.checksum.status == 1 || udp.checksum.status == 1 || icmp.checksum.status == 1 || icmpv6.checksum.status == 1' 2>/dev/null | wc -l)
    bad=$(tshark -r "$work/returned.pcap" $checks -Y 'ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0 || icmp.checksum.status == 0 || icmpv6.checksum.status == 0' 2>/dev/null | wc -l)
    if [[ "$good" -eq 3000 && "$bad" -eq 0 ]]; then pass "tshark verifies all 3000 inner transport checksums"
    else fail "tshark: $good good and $bad bad checksums"; fi
else
    echo "selftest: skip - tshark not installed"
fi

# 3. ARP and ping of the appliance address.
if in_g ping -c 2 -W 1 -i 0.2 "$appliance" >/dev/null; then pass "ping $appliance answered"
else fail "ping $appliance not answered"; fi

# 4. Spoofed outer source: nothing may come back.
if in_g "$sim" run --iface "$if_g" --src-ip 10.254.11.61 --expect none --count 200 --rate 2000 \
    --settle-ms 300 >"$work/spoof.txt"; then pass "spoofed source: nothing returned"
else cat "$work/spoof.txt"; fail "spoofed source got replies"; fi

# 5. The simulator catches losses: expecting replies to spoofed frames must fail with exit 1.
rc=0
in_g "$sim" run --iface "$if_g" --src-ip 10.254.11.61 --count 50 --settle-ms 200 \
    --json "$work/lost.json" >"$work/lost.txt" || rc=$?
if [[ $rc -eq 1 && "$(json "$work/lost.json" "d['lost']")" == 50 ]]; then pass "losses detected (50 lost, exit 1)"
else cat "$work/lost.txt"; fail "losses not detected (exit $rc)"; fi

# 6. Unknown appliance address: a clear ARP error and exit 2.
rc=0
in_g "$sim" run --iface "$if_g" --appliance 10.254.11.102 --count 1 2>"$work/arp.txt" >/dev/null || rc=$?
if [[ $rc -eq 2 ]] && grep -q "no ARP reply for 10.254.11.102 on $if_g within 2 s" "$work/arp.txt"; then
    pass "missing appliance: $(cat "$work/arp.txt")"
else cat "$work/arp.txt"; fail "missing appliance not reported clearly (exit $rc)"; fi

# 6b. A given appliance MAC skips ARP.
mac=$(ip -n "$ns_a" -o link show "$if_a" | grep -o "link/ether [0-9a-f:]*" | cut -d" " -f2)
if in_g "$sim" run --iface "$if_g" --appliance-mac "$mac" --count 100 >"$work/mac.txt"; then pass "run with --appliance-mac $mac"
else cat "$work/mac.txt"; fail "run with --appliance-mac failed"; fi

# 7. Firewall scenario: pass, drop and reject flows, IPv4 and IPv6.
if in_g "$sim" scenario --iface "$if_g" --file "$here/scenarios/firewall-example.toml" \
    --unknown-option --json "$work/scenario.json" >"$work/scenario.txt"; then
    pass "scenario: $(grep -c ': ok' "$work/scenario.txt") flows as expected"
else cat "$work/scenario.txt"; fail "scenario did not pass"; fi

# 8. A scenario whose expectation is wrong must fail.
cat >"$work/wrong.toml" <<'TOML'
[[flow]]
name = "telnet is dropped, so expecting pass must fail"
protocol = "tcp"
src = "10.1.11.10"
dst = "10.2.11.20"
dst_port = 23
expect = "pass"

[[flow]]
name = "https passes, so expecting reject must fail"
protocol = "tcp"
src = "10.1.11.10"
dst = "10.2.11.20"
dst_port = 443
expect = "reject"
TOML
rc=0
in_g "$sim" scenario --iface "$if_g" --file "$work/wrong.toml" --reply-timeout-ms 300 \
    --json "$work/wrong.json" >"$work/wrong.txt" || rc=$?
if [[ $rc -eq 1 && "$(json "$work/wrong.json" "sum(1 for f in d['flows'] if not f['ok'])")" == 2 ]]; then
    pass "wrong expectations caught: $(grep -o 'got no reply\|passed, not rejected' "$work/wrong.txt" | paste -sd,)"
else cat "$work/wrong.txt"; fail "wrong expectations not caught (exit $rc)"; fi

stop_reflector
sed 's/^/selftest: /' "$work/reflector.log"
if grep -q "spoofed 250," "$work/reflector.log"; then pass "reflector counted the 250 spoofed frames"
else fail "reflector did not count 250 spoofed frames"; fi

# 9. Corruption is caught and attributed: a reflector that damages every 10th frame.
start_reflector --corrupt-every 10
rc=0
in_g "$sim" run --iface "$if_g" --count 500 --rate 5000 --sizes imix --json "$work/corrupt.json" \
    >"$work/corrupt.txt" || rc=$?
stop_reflector
if [[ $rc -eq 1 && "$(json "$work/corrupt.json" "d['corrupted'] == 50 and d['lost'] == 0")" == True ]]; then
    pass "corruption caught: $(grep '^corrupted in' "$work/corrupt.txt" | paste -sd,)"
else cat "$work/corrupt.txt"; fail "corruption not caught exactly (exit $rc)"; fi

if [[ $failures -gt 0 ]]; then
    echo "selftest: $failures check(s) FAILED"
    exit 1
fi
echo "selftest: all checks passed"
