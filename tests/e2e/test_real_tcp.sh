#!/usr/bin/env bash
# Real Linux TCP/IP stacks through the appliance. A client and a server, each
# in its own namespace behind a TUN device; `tollgate-sim bridge` plays GWLB
# between the TUNs and the appliance's port: every packet goes in GENEVE with
# the three AWS options (a cookie per flow, outer source ports differing per
# direction), every returned frame is checked byte for byte against what was
# sent and delivered to the TUN of its destination. Through it: curl fetches
# a multi-megabyte file (sha256 compared), iperf3 TCP both ways and with 4
# parallel streams (window scaling, SACK, retransmissions as they come), and
# iperf3 UDP; a port the rules deny does not connect. At the end no frame may
# be lost or damaged except the denied port's, and the dataplane may count no
# drop but those of the denied port.
set -euo pipefail
# Own namespace names, so this can run beside other topology users.
NS_GWLB=${NS_GWLB:-tgr-gwlb-$$}
NS_APPL=${NS_APPL:-tgr-appl-$$}
NS_CLI=tgr-cli-$$
NS_SRV=tgr-srv-$$
. "$(dirname "$0")/../../scripts/lib/topology.sh"
BIN=${TOLLGATE_BIN:-$BIN}

CLIENT_IP=10.1.11.10
SERVER_IP=10.2.22.20
HTTP_PORT=80
IPERF_PORT=5201
DENIED_PORT=8080
TUN_MTU=${TUN_MTU:-1500}
SECONDS_EACH=${SECONDS_EACH:-4}
UDP_RATE=${UDP_RATE:-100M}
FILE_MB=${FILE_MB:-32}

real_tcp_down() {
  topology_down
  ip netns del "$NS_CLI" 2>/dev/null || true
  ip netns del "$NS_SRV" 2>/dev/null || true
}
topology_up
trap real_tcp_down EXIT

on_cli() { ip netns exec "$NS_CLI" "$@"; }
on_srv() { ip netns exec "$NS_SRV" "$@"; }

cat >"$WORK/rules.toml" <<TOML
# The client's HTTP and iperf3 to the server; everything else (port $DENIED_PORT too)
# falls to the default drop.
default_action = "drop"
on_rule_change = "keep"

[[rule]]
id = "http-iperf"
action = "pass"
protocol = "tcp"
src = "10.1.0.0/16"
dst = "10.2.0.0/16"
dst_port = [$HTTP_PORT, $IPERF_PORT]

[[rule]]
id = "iperf-udp"
action = "pass"
protocol = "udp"
src = "10.1.0.0/16"
dst = "10.2.0.0/16"
dst_port = [$IPERF_PORT]

[[rule]]
id = "ping"
action = "pass"
protocol = "icmp"
icmp_type = 8
TOML
RULES_FILE="$WORK/rules.toml" dataplane_config >"$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"

log "client ($CLIENT_IP) and server ($SERVER_IP) namespaces behind TUNs, GWLB bridge between them"
for ns in "$NS_CLI" "$NS_SRV"; do
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
# Started directly (not through a shell function) so that $! is the simulator.
ip netns exec "$NS_GWLB" "$BIN/tollgate-sim" bridge --host "$NS_CLI:tgc0:10.1.0.0/16" --host "$NS_SRV:tgs0:10.2.0.0/16" \
  --json "$WORK/bridge.json" >"$WORK/bridge.log" 2>&1 &
BRIDGE_PID=$!
PIDS+=("$BRIDGE_PID")
wait_for 10 "the bridge's TUN devices" grep -q "bridge: ready" "$WORK/bridge.log"
cat "$WORK/bridge.log"
host_up() {
  local ns=$1 dev=$2 addr=$3 peer_net=$4
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
  ip -n "$ns" addr add "$addr/32" dev "$dev"
  ip -n "$ns" link set "$dev" mtu "$TUN_MTU" up
  ip -n "$ns" route add "$peer_net" dev "$dev" src "$addr"
  # What the issue asks to exercise: the kernel defaults, made sure of.
  ip netns exec "$ns" sysctl -qw net.ipv4.tcp_window_scaling=1 net.ipv4.tcp_sack=1 \
    net.ipv4.tcp_timestamps=1
}
host_up "$NS_CLI" tgc0 "$CLIENT_IP" 10.2.0.0/16
host_up "$NS_SRV" tgs0 "$SERVER_IP" 10.1.0.0/16

log "servers: HTTP on $HTTP_PORT and $DENIED_PORT, iperf3 on $IPERF_PORT"
mkdir -p "$WORK/www"
head -c "$((FILE_MB << 20))" /dev/urandom >"$WORK/www/blob.bin"
for port in "$HTTP_PORT" "$DENIED_PORT"; do
  ip netns exec "$NS_SRV" python3 -m http.server "$port" --bind "$SERVER_IP" --directory "$WORK/www" \
    >"$WORK/http-$port.log" 2>&1 &
  PIDS+=("$!")
done
ip netns exec "$NS_SRV" iperf3 -s -B "$SERVER_IP" -p "$IPERF_PORT" >"$WORK/iperf3-server.log" 2>&1 &
PIDS+=("$!")
listening() { on_srv ss -Hltn "sport = :$1" | grep -q LISTEN; }
for port in "$HTTP_PORT" "$DENIED_PORT" "$IPERF_PORT"; do
  wait_for 10 "a listener on port $port" listening "$port"
done

log "ping through the appliance"
on_cli ping -c 3 -i 0.2 -W 2 "$SERVER_IP" >"$WORK/ping.txt" ||
  { cat "$WORK/ping.txt" "$WORK/bridge.log"; fail "no ping answer through the appliance"; }

log "curl fetches $FILE_MB MiB over HTTP"
speed=$(on_cli timeout 90 curl -sS --fail -m 80 -o "$WORK/fetched.bin" \
  -w '%{speed_download}' "http://$SERVER_IP:$HTTP_PORT/blob.bin") ||
  fail "curl failed ($(cat "$WORK/bridge.log"))"
want=$(sha256sum <"$WORK/www/blob.bin" | cut -d' ' -f1)
got=$(sha256sum <"$WORK/fetched.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "the fetched file differs: sha256 $got, expected $want"
RESULTS=("curl HTTP $FILE_MB MiB: $(awk -v b="$speed" 'BEGIN { printf "%.1f Mbit/s", b * 8 / 1e6 }'), sha256 equal")

# iperf NAME ARGS...: one iperf3 client run, its JSON kept as $WORK/iperf-NAME.json.
iperf() {
  local name=$1; shift
  on_cli timeout $((SECONDS_EACH + 30)) iperf3 -c "$SERVER_IP" -p "$IPERF_PORT" \
    -B "$CLIENT_IP" -t "$SECONDS_EACH" -J "$@" >"$WORK/iperf-$name.json" ||
    { cat "$WORK/iperf-$name.json"; fail "iperf3 $name failed"; }
}
tcp_result() {
  local name=$1 f="$WORK/iperf-$1.json"
  jq -e '.end.sum_received.bytes > 0' "$f" >/dev/null || fail "iperf3 $name: nothing received"
  RESULTS+=("iperf3 $name: $(jq -r '"\(.end.sum_received.bits_per_second / 1e6 | floor) Mbit/s received, \(.end.sum_received.bytes / 1048576 | floor) MiB, \(.end.sum_sent.retransmits) retransmits"' "$f")")
}
log "iperf3 TCP client to server"
iperf tcp-up
tcp_result tcp-up
log "iperf3 TCP server to client (-R)"
iperf tcp-down -R
tcp_result tcp-down
log "iperf3 TCP, 4 parallel streams"
# The handshakes of the 5 connections (control and 4 streams), as the server
# sees them: window scaling, SACK and timestamps offered and agreed.
ip netns exec "$NS_SRV" timeout $((SECONDS_EACH + 20)) tcpdump -l -nn -i tgs0 -c 10 \
  "tcp port $IPERF_PORT and tcp[tcpflags] & tcp-syn != 0" >"$WORK/syn.txt" 2>"$WORK/tcpdump.log" &
DUMP_PID=$!
PIDS+=("$DUMP_PID")
wait_for 5 "tcpdump on tgs0" grep -q "listening on" "$WORK/tcpdump.log"
iperf tcp-parallel -P 4
tcp_result tcp-parallel
wait "$DUMP_PID" || { cat "$WORK/syn.txt" "$WORK/tcpdump.log"; fail "tcpdump saw fewer than 10 SYN/SYN-ACKs"; }
handshakes=$(grep -c 'Flags \[S' "$WORK/syn.txt" || true)
negotiated=$(grep 'Flags \[S' "$WORK/syn.txt" | grep 'sackOK' | grep 'TS val' | grep -c 'wscale' || true)
[ "$handshakes" -eq 10 ] && [ "$negotiated" -eq 10 ] ||
  { cat "$WORK/syn.txt"; fail "$negotiated of $handshakes SYN/SYN-ACKs carry sackOK, TS and wscale"; }
RESULTS+=("handshakes: 10 SYN/SYN-ACKs with sackOK, timestamps, $(grep -o -m1 'wscale [0-9]*' "$WORK/syn.txt")")
log "iperf3 UDP at $UDP_RATE"
iperf udp -u -b "$UDP_RATE" -l 1400
f="$WORK/iperf-udp.json"
jq -e '.end.sum.packets > 0' "$f" >/dev/null || fail "iperf3 udp: no datagrams"
RESULTS+=("iperf3 udp: $(jq -r '"\(.end.sum.bits_per_second / 1e6 | floor) Mbit/s, \(.end.sum.packets) datagrams, \(.end.sum.lost_packets) lost (\(.end.sum.lost_percent)%)"' "$f")")
# Datagrams lost in the hosts' socket buffers are no firewall drop (those are
# counted below); a large loss would still mean the path is broken.
jq -e '.end.sum.lost_percent < 10' "$f" >/dev/null || fail "iperf3 udp: ${RESULTS[-1]}"

log "port $DENIED_PORT is denied: no connection, bounded in time"
t0=$(date +%s%N)
rc=0
on_cli timeout 10 curl -sS -m 3 -o /dev/null "http://$SERVER_IP:$DENIED_PORT/blob.bin" 2>"$WORK/denied.txt" || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -eq 28 ] || fail "port $DENIED_PORT: curl exit $rc, expected 28 (timeout): $(cat "$WORK/denied.txt")"
[ "$ms" -lt 6000 ] || fail "port $DENIED_PORT: took $ms ms"
RESULTS+=("port $DENIED_PORT: no connection, gave up after $ms ms")

# Loss on the way happens only at the TUN queues (host to bridge), before the
# appliance; the TCP stacks' own counters show how they recovered.
tun_drops() { ip -n "$1" -s -j link show "$2" | jq '.[0].stats64.tx.dropped'; }
RESULTS+=("TUN queue drops (host side, before the appliance): client $(tun_drops "$NS_CLI" tgc0), server $(tun_drops "$NS_SRV" tgs0)")
for side in cli srv; do
  ns=$NS_CLI; [ "$side" = srv ] && ns=$NS_SRV
  RESULTS+=("TCP counters, $side: $(ip netns exec "$ns" nstat -az TcpRetransSegs TcpExtTCPSackRecovery \
    TcpExtTCPSACKReorder TcpExtTCPSackShifted TcpExtTCPFastRetrans | awk '!/^#/ { printf "%s %s  ", $1, $2 }')")
done

log "stopping the bridge and the dataplane"
kill -TERM "$BRIDGE_PID"
rc=0
wait "$BRIDGE_PID" || rc=$?
cat "$WORK/bridge.log"
[ -s "$WORK/bridge.json" ] || fail "the bridge wrote no summary"
stop_dataplane
grep -E "dropped|verdict" "$WORK/dataplane.log" || true
[ "$rc" -eq 0 ] || fail "the bridge reports failure (exit $rc)"

b() { jq -er ".$1" "$WORK/bridge.json"; }
[ "$(b mismatched)" -eq 0 ] || fail "$(b mismatched) frames came back altered: $(jq -c .mismatches "$WORK/bridge.json")"
[ "$(b unexpected)" -eq 0 ] || fail "$(b unexpected) frames came back that were not sent (or too late)"
[ "$(b unroutable)" -eq 0 ] && [ "$(b not_ipv4)" -eq 0 ] && [ "$(b oversize)" -eq 0 ] ||
  fail "the hosts sent packets the bridge could not carry: $(cat "$WORK/bridge.json")"
# Frames lost on the way into the appliance's port (its af_packet rings full)
# are no firewall drop: the veth's receive count minus the dataplane's says
# how many, and the bridge's socket its own drops on the way back. Every
# frame not returned must be one of those or one the rules denied.
tg0_rx=$(ip -n "$NS_APPL" -s -j link show tg0 | jq '.[0].stats64.rx.packets')
port_loss=$((tg0_rx - $(stat rx_packets_total)))
socket_drops=$(b socket_drops)
denied=$(stat "dropped_packets_total:rule_denied")
denied_lost=$(jq --argjson p "$DENIED_PORT" '[.not_returned_flows[]
  | select(.protocol == 6 and .dst_port == $p) | .frames] | add // 0' "$WORK/bridge.json")
allowed_lost=$(jq --argjson p "$DENIED_PORT" '[.not_returned_flows[]
  | select(.protocol != 6 or .dst_port != $p) | .frames] | add // 0' "$WORK/bridge.json")
[ "$denied" -ge 1 ] || fail "no rule_denied drop for port $DENIED_PORT"
[ "$denied" -le "$denied_lost" ] ||
  fail "the dataplane denied $denied frames, but only $denied_lost of port $DENIED_PORT were not returned"
unexplained=$(($(b not_returned) - denied - port_loss - socket_drops))
[ "$unexplained" -le 0 ] ||
  fail "$unexplained frames lost without a count (not returned $(b not_returned), denied $denied, port loss $port_loss, socket drops $socket_drops): $(jq -c .not_returned_flows "$WORK/bridge.json")"
if [ "$allowed_lost" -gt 0 ]; then
  log "NOTE: $allowed_lost frames of allowed flows lost at the ports (appliance's af_packet rings: $port_loss, bridge socket: $socket_drops), none by the firewall"
fi
other_drops=$(jq -c '[to_entries[] | select(.key | startswith("dropped_packets_total:"))
  | select(.key != "dropped_packets_total:rule_denied") | select(.value > 0)] | from_entries' \
  "$WORK/dataplane-stats.json")
[ "$other_drops" = "{}" ] || fail "the dataplane dropped legitimate packets: $other_drops"
[ "$(stat mempool_in_use_at_exit)" -eq "$(stat mempool_in_use_at_start)" ] || fail "mbufs leaked"

log "results (TUN MTU $TUN_MTU, $SECONDS_EACH s each):"
for r in "${RESULTS[@]}"; do log "  $r"; done
log "  bridge: $(b sent) packets sent, $(b delivered) delivered ($(b reordered) after a later one of their flow), $(b not_returned) not returned ($denied denied by the rules, $port_loss lost at the appliance's port), $(stat firewall_verdicts_total:pass) pass verdicts"
log "PASS"
