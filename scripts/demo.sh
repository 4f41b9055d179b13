#!/usr/bin/env bash
# Tollgate's main job on a self-contained default: a simulated GWLB node and
# the appliance in two network namespaces joined by a veth pair. The
# dataplane (configs/dataplane.toml, rules configs/rules.demo.toml) owns the
# appliance end through DPDK's net_af_packet, the control plane
# (configs/control.toml) answers GWLB health checks and serves metrics; the
# simulator sends GWLB traffic for a few seconds and checks every returned
# frame. Prints what crossed and cleans everything up. Root, Debian 12.
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
# The shipped control config, with its socket in the demo's work folder.
sed "s|^socket = .*|socket = \"$CTL_SOCK\"|; s|^file = \"|file = \"$ROOT/configs/|" \
  configs/control.toml >"$WORK/control.toml"
start_control "$WORK/control.toml"

log "GWLB's health check from the GWLB namespace: GET http://$APPLIANCE_IP/"
ip netns exec "$NS_GWLB" curl -s -m 2 -w ' (HTTP %{http_code})\n' "http://$APPLIANCE_IP/" || true

log "ping the appliance from the GWLB namespace (answered by the dataplane)"
ip netns exec "$NS_GWLB" ping -c 2 -i 0.3 "$APPLIANCE_IP" | tail -2

log "GWLB traffic for ${DURATION} s: 4 endpoints, IPv4+IPv6, TCP/UDP/ICMP, 46-8500 byte inner packets"
sim run --duration "$DURATION" --rate 2000 --endpoints 4 --flows 256 \
  --sizes min,imix,1500,8500 --inner v4,v6 --protocols tcp,udp,icmp || true

log "firewall scenario: allowed, dropped and rejected flows"
sim scenario --file tests/gwlb-sim/scenarios/firewall-example.toml || true

log "spoofed GENEVE (source outside gwlb_addresses): dropped and counted"
sim run --src-ip 10.254.11.99 --count 100 --rate 1000 --expect none | tail -1 || true

log "tollgatectl status"
ctl status || true
log "a few of the Prometheus metrics at http://127.0.0.1:9469/metrics"
curl -s -m 2 http://127.0.0.1:9469/metrics |
  grep -E '^tollgate_(rx_packets_total|tx_packets_total|dropped_packets_total|flows_active|healthy)' | head -12 || true
log "tollgatectl drain: the health check now fails, so GWLB would move new flows away"
ctl drain >/dev/null || true
ip netns exec "$NS_GWLB" curl -s -m 2 -w ' (HTTP %{http_code})\n' "http://$APPLIANCE_IP/" || true
ctl undrain >/dev/null || true

kill -TERM "$CONTROL_PID"; wait "$CONTROL_PID" 2>/dev/null || true
stop_dataplane
echo
echo "== what crossed the dataplane (counters at exit) =="
sed -n '/tollgate-dataplane: totals/,$p' "$WORK/dataplane.log"
