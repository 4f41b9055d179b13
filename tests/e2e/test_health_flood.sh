#!/usr/bin/env bash
# GWLB's health checks survive floods (issue 19), on real DPDK ports:
# - 500 SYNs per second to the health port, as raw frames on the appliance's
#   port from 1022 spoofed non-GWLB addresses; idle TCP connections opened
#   from a non-GWLB address of the GWLB namespace (10.254.11.50); and the
#   GWLB node itself (10.254.11.60) opening 10 connections per second that
#   it holds idle: far more than control's 16 sockets;
# - meanwhile the GWLB node runs 5 HTTP checks per second for 20 s: at least
#   99 % must get 200 within 1 s;
# - the flood is dropped in the dataplane (punt:source_not_allowed), the
#   non-GWLB connections never establish, the GWLB node's idle ones are
#   recycled by the responder; the counters say so in `tollgatectl status`
#   and on /metrics.
set -euo pipefail
NS_GWLB=${NS_GWLB:-tgf-gwlb-$$}
NS_APPL=${NS_APPL:-tgf-appl-$$}
. "$(dirname "$0")/../../scripts/lib/topology.sh"
BIN=${TOLLGATE_BIN:-$BIN}
CTL_SOCK="$WORK/control.sock"
METRICS_PORT=$((20000 + $$ % 10000))
HERE="$ROOT/tests/e2e"
SECONDS_OF_CHECKS=20
CHECKS_PER_SECOND=5
FLOOD_PPS=500
OUTSIDER_IP=$HOST_IP

topology_up

dataplane_config >"$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"
cat >"$WORK/control.toml" <<TOML
[shm]
name = "$SHM_NAME"
[api]
socket = "$CTL_SOCK"
[health]
protocol = "http"
port = 80
path = "/healthz"
sockets = 16
heartbeat_timeout_ms = 1000
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
TOML
start_control "$WORK/control.toml"

check() {
  ip netns exec "$NS_GWLB" curl -s -o /dev/null --interface "$GWLB_IP" -m 1 \
    -w '%{http_code} %{time_total}\n' "http://$APPLIANCE_IP/healthz" || true
}
[ "$(check | cut -d' ' -f1)" = 200 ] || fail "no healthy answer before the flood"
ip netns exec "$NS_GWLB" ping -c 1 -W 1 -I "$GWLB_IP" "$APPLIANCE_IP" >/dev/null || fail "no ping answer"
APPLIANCE_MAC=$(ip -n "$NS_GWLB" neigh show "$APPLIANCE_IP" dev gwlb0 | awk '{print $3}')
[ -n "$APPLIANCE_MAC" ] || fail "appliance MAC not learnt"
log "appliance $APPLIANCE_IP is at $APPLIANCE_MAC"

duration=$((SECONDS_OF_CHECKS + 2))
log "flood: $FLOOD_PPS SYN/s from 10.254.200.0/22, idle connections from $OUTSIDER_IP and from $GWLB_IP"
ip netns exec "$NS_GWLB" python3 "$HERE/syn_flood.py" gwlb0 "$APPLIANCE_MAC" "$APPLIANCE_IP" 80 \
  --rate "$FLOOD_PPS" --seconds "$duration" --sources 10.254.200.0/22 >"$WORK/flood.out" 2>&1 &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
ip netns exec "$NS_GWLB" python3 "$HERE/hold_connections.py" "$OUTSIDER_IP" "$APPLIANCE_IP" 80 \
  --per-second 5 --seconds "$duration" >"$WORK/hold-outsider.out" 2>&1 &
HOLD_OUT_PID=$!
PIDS+=("$HOLD_OUT_PID")
ip netns exec "$NS_GWLB" python3 "$HERE/hold_connections.py" "$GWLB_IP" "$APPLIANCE_IP" 80 \
  --per-second 10 --seconds "$duration" >"$WORK/hold-gwlb.out" 2>&1 &
HOLD_GWLB_PID=$!
PIDS+=("$HOLD_GWLB_PID")
sleep 1.5

total=$((SECONDS_OF_CHECKS * CHECKS_PER_SECOND))
log "$total HTTP checks from the GWLB node, $CHECKS_PER_SECOND per second"
start=$(date +%s.%N)
for i in $(seq 0 $((total - 1))); do
  check >>"$WORK/checks.txt"
  next=$(awk -v s="$start" -v i="$i" -v r="$CHECKS_PER_SECOND" 'BEGIN { printf "%.3f", s + (i + 1) / r }')
  wait_s=$(awk -v n="$next" -v now="$(date +%s.%N)" 'BEGIN { d = n - now; printf "%.3f", (d > 0 ? d : 0) }')
  sleep "$wait_s"
done

wait "$FLOOD_PID" || { cat "$WORK/flood.out"; fail "flood sender failed"; }
wait "$HOLD_OUT_PID" || { cat "$WORK/hold-outsider.out"; fail "outsider holder failed"; }
wait "$HOLD_GWLB_PID" || { cat "$WORK/hold-gwlb.out"; fail "GWLB holder failed"; }

answered=$(awk '$1 == 200 && $2 < 1.0' "$WORK/checks.txt" | wc -l)
checks=$(wc -l <"$WORK/checks.txt")
log "checks answered 200 within 1 s: $answered of $checks"
[ "$checks" -eq "$total" ] || fail "ran $checks checks, meant $total"
[ $((answered * 100)) -ge $((checks * 99)) ] ||
  { sort "$WORK/checks.txt" | uniq -c | sort -rn | head >&2; fail "only $answered of $checks checks answered within 1 s"; }

flooded=$(cat "$WORK/flood.out")
read -r outsider_opened outsider_established <"$WORK/hold-outsider.out"
read -r gwlb_opened gwlb_established <"$WORK/hold-gwlb.out"
log "flood sent $flooded SYNs; outsider opened $outsider_opened ($outsider_established established);" \
  "GWLB node opened $gwlb_opened ($gwlb_established established)"
[ "$outsider_established" -eq 0 ] || fail "$outsider_established connections from $OUTSIDER_IP reached control"
[ "$gwlb_established" -gt 16 ] || fail "the GWLB node established only $gwlb_established connections (meant more than the 16 sockets)"

ctl --json status >"$WORK/status.json"
ctl status >"$WORK/status.txt"
cat "$WORK/status.txt"
not_allowed=$(jq -r '[.dataplane.drops[] | select(.[0] == "punt:source_not_allowed") | .[1]] | add // 0' "$WORK/status.json")
# Every flood frame (and the outsider's SYNs) dropped, allowing for frames
# net_af_packet itself lost under the load.
[ "$not_allowed" -ge $((flooded * 9 / 10)) ] || fail "punt:source_not_allowed is $not_allowed for $flooded flood frames"
grep -q "drop punt:source_not_allowed" "$WORK/status.txt" || fail "tollgatectl status does not show punt:source_not_allowed"
recycled=$(jq -r '.responder | .recycled_half_open + .recycled_idle + .recycled_answered' "$WORK/status.json")
idle=$(jq -r '.responder.recycled_idle' "$WORK/status.json")
[ "$idle" -gt 0 ] || fail "no idle connection recycled ($(jq -c .responder "$WORK/status.json"))"
grep -q "recycled half-open" "$WORK/status.txt" || fail "tollgatectl status does not show recycling"
log "dataplane dropped $not_allowed punts from outside health_sources; responder recycled $recycled connections ($idle idle)"

curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool lint"
for series in 'tollgate_punt_dropped_packets_total{reason="source_not_allowed"}' \
  'tollgate_health_connections_recycled_total{state="idle"}'; do
  value=$(grep -F "$series " "$WORK/metrics.txt" | awk '{print $2}')
  [ -n "$value" ] && awk -v v="$value" 'BEGIN { exit !(v > 0) }' || fail "$series is ${value:-absent}"
done
log "the counters are on /metrics"

kill -TERM "$CONTROL_PID"
wait "$CONTROL_PID" || fail "control did not exit 0 on SIGTERM"
stop_dataplane
log "PASS"
