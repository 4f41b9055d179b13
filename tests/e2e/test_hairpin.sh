#!/usr/bin/env bash
# The dataplane's main job on real DPDK ports: two workers on net_af_packet
# (two queue pairs), the simulator in another namespace sending GWLB traffic
# (several endpoints, changing cookies, many outer source ports, IPv4 and
# IPv6 inner TCP/UDP/ICMP from 46 to 8500 bytes). Every returned frame is
# checked by the simulator; ARP, ping, spoofed GENEVE, tshark decoding and
# the mempool's in-use count are checked here.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/topology.sh"
topology_up

RULES_FILE="$ROOT/configs/rules.pass-all.toml" dataplane_config >"$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"

log "ARP and ping from the GWLB namespace"
ip netns exec "$NS_GWLB" ping -c 3 -i 0.2 -W 2 "$APPLIANCE_IP" >"$WORK/ping.txt" ||
  { cat "$WORK/ping.txt"; fail "ping to the appliance address got no answer"; }
ip netns exec "$NS_GWLB" ip neigh show "$APPLIANCE_IP" | grep -q lladdr ||
  fail "no ARP entry for the appliance address"

log "GWLB traffic: every frame must come back intact"
sim run --count 6000 --rate 3000 --endpoints 4 --flows 128 \
  --sizes min,imix,1500,8500 --inner v4,v6 --protocols tcp,udp,icmp \
  --unknown-option-every 5 --pcap-out "$WORK/returned.pcap" --json "$WORK/sim.json" \
  >"$WORK/sim.txt" 2>&1 || { cat "$WORK/sim.txt"; fail "simulator saw lost or corrupted frames"; }
jq -e '.returned >= 6000 and .lost == 0 and .corrupted == 0' "$WORK/sim.json" >/dev/null ||
  { cat "$WORK/sim.txt"; fail "simulator summary: $(cat "$WORK/sim.json")"; }
jumbo=$(jq '.sizes["8500"].returned // 0' "$WORK/sim.json")
log "returned $(jq .returned "$WORK/sim.json") frames, $jumbo of them with 8500-byte inner packets"
[ "$jumbo" -gt 0 ] || fail "no 8500-byte inner packet came back whole"

log "tshark decodes the returned frames as GENEVE with the Amazon option class"
decoded=$(tshark -r "$WORK/returned.pcap" -Y 'geneve' -T fields -e frame.number 2>/dev/null | wc -l)
amazon=$(tshark -r "$WORK/returned.pcap" -Y 'geneve' -V 2>/dev/null | grep -c 'Amazon.com' || true)
log "tshark: $decoded GENEVE frames, $amazon Amazon option lines"
[ "$decoded" -ge 6000 ] || fail "tshark decoded only $decoded GENEVE frames"
[ "$amazon" -ge "$decoded" ] || fail "GENEVE frames without the Amazon option class"

log "GENEVE from an address outside gwlb_addresses gets no reply"
sim run --src-ip 10.254.11.99 --count 200 --rate 1000 --expect none --json "$WORK/spoof.json" \
  >"$WORK/spoof.txt" 2>&1 || { cat "$WORK/spoof.txt"; fail "spoofed GENEVE was answered"; }

stop_dataplane
cat "$WORK/dataplane.log"
spoofed=$(stat "dropped_packets_total:spoofed_geneve")
[ "$spoofed" -eq 200 ] || fail "spoof counter is $spoofed, expected 200"
other_drops=$(jq '[to_entries[] | select(.key | startswith("dropped_packets_total:"))
  | select(.key != "dropped_packets_total:spoofed_geneve") | .value] | add // 0' "$WORK/dataplane-stats.json")
[ "$other_drops" -eq 0 ] || fail "$other_drops packets dropped for other reasons: $(grep dropped "$WORK/dataplane.log")"
[ "$(stat mempool_in_use_at_exit)" -eq "$(stat mempool_in_use_at_start)" ] || fail "mbufs leaked"
for w in 0 1; do
  rx=$(stat "worker$w:rx_packets_total")
  [ "$rx" -gt 0 ] || fail "worker $w received nothing: RSS/fanout did not spread flows"
done
log "PASS"
