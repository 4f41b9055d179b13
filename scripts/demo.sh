#!/usr/bin/env bash
# Tollgate's main job on a self-contained default: a simulated GWLB node and
# the appliance in two network namespaces joined by a veth pair. The
# dataplane (configs/dataplane.toml, rules configs/rules.demo.toml) owns the
# appliance end through DPDK's net_af_packet; the simulator sends GWLB
# traffic for a few seconds and checks every returned frame. Prints what
# crossed and cleans everything up. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
DURATION=${DURATION:-5}

bash scripts/setup.sh
echo "demo: building (release)"
cargo build --release --quiet --workspace --bins

. scripts/lib/topology.sh
SHM_NAME=tollgate
topology_up
log "namespaces $NS_GWLB (gwlb0, GWLB node $GWLB_IP) and $NS_APPL (tg0, appliance $APPLIANCE_IP)"
start_dataplane "$ROOT/configs/dataplane.toml"

log "ping the appliance from the GWLB namespace (answered by the dataplane)"
ip netns exec "$NS_GWLB" ping -c 2 -i 0.3 "$APPLIANCE_IP" | tail -2

log "GWLB traffic for ${DURATION} s: 4 endpoints, IPv4+IPv6, TCP/UDP/ICMP, 46-8500 byte inner packets"
sim run --duration "$DURATION" --rate 2000 --endpoints 4 --flows 256 \
  --sizes min,imix,1500,8500 --inner v4,v6 --protocols tcp,udp,icmp || true

log "firewall scenario: allowed, dropped and rejected flows"
sim scenario --file tests/gwlb-sim/scenarios/firewall-example.toml || true

log "spoofed GENEVE (source outside gwlb_addresses): dropped and counted"
sim run --src-ip 10.254.11.99 --count 100 --rate 1000 --expect none | tail -1 || true

stop_dataplane
echo
echo "== what crossed the dataplane (counters at exit) =="
sed -n '/tollgate-dataplane: totals/,$p' "$WORK/dataplane.log"
