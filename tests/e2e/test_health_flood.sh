#!/usr/bin/env bash
# GWLB's health checks survive floods (issue 19), on real DPDK ports:
# - 500 SYNs per second to the health port, as raw frames on the appliance's
#   port from 1022 spoofed non-GWLB addresses; idle TCP connections opened
#   from a non-GWLB address of the GWLB namespace (10.254.11.50); and the
#   GWLB node itself (10.254.11.60) opening 10 connections per second that
#   it holds idle: far more than control's 16 sockets;
# - meanwhile the GWLB node runs 5 HTTP checks per second for 20 s: at least
#   99 % must get 200 within 1 s.
# Twice: with the default [punt] health_sources (the GWLB node), where the
# dataplane drops the flood (punt:source_not_allowed) and the outsider never
# connects; then with health_sources = 0.0.0.0/0, where the whole flood
# reaches control and its responder alone must hold out (recycling
# half-open and idle connections). The counters must show in `tollgatectl
# status` and on /metrics.
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
SOCKETS=16

topology_up

cat >"$WORK/control.toml" <<TOML
[shm]
name = "$SHM_NAME"
[api]
socket = "$CTL_SOCK"
[health]
protocol = "http"
port = 80
path = "/healthz"
sockets = $SOCKETS
heartbeat_timeout_ms = 1000
[metrics]
listen = "127.0.0.1:$METRICS_PORT"
TOML

check() {
  ip netns exec "$NS_GWLB" curl -s -o /dev/null --interface "$GWLB_IP" -m 1 \
    -w '%{http_code} %{time_total}\n' "http://$APPLIANCE_IP/healthz" || true
}

# metric_positive SERIES: the series is on /metrics with a value above 0.
metric_positive() {
  local value
  value=$(grep -F "$1 " "$WORK/metrics.txt" | awk '{print $2}')
  [ -n "$value" ] && awk -v v="$value" 'BEGIN { exit !(v > 0) }' || fail "$1 is ${value:-absent}"
}

# flood_run MODE: MODE "closed" (default health_sources) or "open" (0.0.0.0/0).
flood_run() {
  local mode=$1 out="$WORK/$1"
  mkdir -p "$out"
  log "=== health_sources $mode"
  if [ "$mode" = open ]; then
    dataplane_config $'[punt]\nhealth_sources = ["0.0.0.0/0"]' >"$out/dataplane.toml"
  else
    dataplane_config >"$out/dataplane.toml"
  fi
  start_dataplane "$out/dataplane.toml"
  start_control "$WORK/control.toml"
  [ "$(check | cut -d' ' -f1)" = 200 ] || fail "no healthy answer before the flood"
  ip netns exec "$NS_GWLB" ping -c 1 -W 1 -I "$GWLB_IP" "$APPLIANCE_IP" >/dev/null || fail "no ping answer"
  local mac
  mac=$(ip -n "$NS_GWLB" neigh show "$APPLIANCE_IP" dev gwlb0 | awk '{print $3}')
  [ -n "$mac" ] || fail "appliance MAC not learnt"

  local duration=$((SECONDS_OF_CHECKS + 2)) flood_pid hold_out_pid hold_gwlb_pid
  log "flood: $FLOOD_PPS SYN/s from 10.254.200.0/22 to $mac, idle connections from $OUTSIDER_IP and $GWLB_IP"
  ip netns exec "$NS_GWLB" python3 "$HERE/syn_flood.py" gwlb0 "$mac" "$APPLIANCE_IP" 80 \
    --rate "$FLOOD_PPS" --seconds "$duration" --sources 10.254.200.0/22 >"$out/flood.out" 2>&1 &
  flood_pid=$!
  PIDS+=("$flood_pid")
  ip netns exec "$NS_GWLB" python3 "$HERE/hold_connections.py" "$OUTSIDER_IP" "$APPLIANCE_IP" 80 \
    --per-second 5 --seconds "$duration" >"$out/hold-outsider.out" 2>&1 &
  hold_out_pid=$!
  PIDS+=("$hold_out_pid")
  ip netns exec "$NS_GWLB" python3 "$HERE/hold_connections.py" "$GWLB_IP" "$APPLIANCE_IP" 80 \
    --per-second 10 --seconds "$duration" >"$out/hold-gwlb.out" 2>&1 &
  hold_gwlb_pid=$!
  PIDS+=("$hold_gwlb_pid")
  sleep 1.5

  local total=$((SECONDS_OF_CHECKS * CHECKS_PER_SECOND)) start i next pause
  log "$total HTTP checks from the GWLB node, $CHECKS_PER_SECOND per second"
  start=$(date +%s.%N)
  for i in $(seq 0 $((total - 1))); do
    check >>"$out/checks.txt"
    next=$(awk -v s="$start" -v i="$i" -v r="$CHECKS_PER_SECOND" 'BEGIN { printf "%.3f", s + (i + 1) / r }')
    pause=$(awk -v n="$next" -v now="$(date +%s.%N)" 'BEGIN { d = n - now; printf "%.3f", (d > 0 ? d : 0) }')
    sleep "$pause"
  done
  wait "$flood_pid" || { cat "$out/flood.out"; fail "flood sender failed"; }
  wait "$hold_out_pid" || { cat "$out/hold-outsider.out"; fail "outsider holder failed"; }
  wait "$hold_gwlb_pid" || { cat "$out/hold-gwlb.out"; fail "GWLB holder failed"; }

  local answered checks
  answered=$(awk '$1 == 200 && $2 < 1.0' "$out/checks.txt" | wc -l)
  checks=$(wc -l <"$out/checks.txt")
  log "checks answered 200 within 1 s: $answered of $checks"
  [ "$checks" -eq "$total" ] || fail "ran $checks checks, meant $total"
  [ $((answered * 100)) -ge $((checks * 99)) ] || {
    awk '{ print $1, ($2 < 1.0 ? "within" : "after"), "1 s" }' "$out/checks.txt" | sort | uniq -c >&2
    fail "only $answered of $checks checks answered within 1 s"
  }

  local flooded outsider_opened outsider_established gwlb_opened gwlb_established
  flooded=$(cat "$out/flood.out")
  read -r outsider_opened outsider_established <"$out/hold-outsider.out"
  read -r gwlb_opened gwlb_established <"$out/hold-gwlb.out"
  log "flood sent $flooded SYNs; outsider opened $outsider_opened ($outsider_established established);" \
    "GWLB node opened $gwlb_opened ($gwlb_established established)"
  [ "$gwlb_established" -gt "$SOCKETS" ] ||
    fail "the GWLB node established only $gwlb_established connections (meant more than the $SOCKETS sockets)"

  ctl --json status >"$out/status.json"
  ctl status >"$out/status.txt"
  cat "$out/status.txt"
  curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics"
  promtool check metrics <"$WORK/metrics.txt" || fail "promtool lint"
  local not_allowed idle half_open
  not_allowed=$(jq -r '[.dataplane.drops[] | select(.[0] == "punt:source_not_allowed") | .[1]] | add // 0' "$out/status.json")
  idle=$(jq -r '.responder.recycled_idle' "$out/status.json")
  half_open=$(jq -r '.responder.recycled_half_open' "$out/status.json")
  grep -q "recycled half-open $half_open idle $idle" "$out/status.txt" || fail "tollgatectl status does not show recycling"
  [ "$idle" -gt 0 ] || fail "no idle connection recycled ($(jq -c .responder "$out/status.json"))"
  metric_positive 'tollgate_health_connections_recycled_total{state="idle"}'
  if [ "$mode" = closed ]; then
    [ "$outsider_established" -eq 0 ] || fail "$outsider_established connections from $OUTSIDER_IP reached control"
    # Every flood frame (and the outsider's SYNs) dropped, allowing for
    # frames net_af_packet itself lost under the load.
    [ "$not_allowed" -ge $((flooded * 9 / 10)) ] ||
      fail "punt:source_not_allowed is $not_allowed for $flooded flood frames"
    grep -q "drop punt:source_not_allowed" "$out/status.txt" || fail "tollgatectl status does not show punt:source_not_allowed"
    metric_positive 'tollgate_punt_dropped_packets_total{reason="source_not_allowed"}'
    log "dataplane dropped $not_allowed punts from outside health_sources; responder recycled $idle idle connections"
  else
    [ "$not_allowed" -eq 0 ] || fail "punt:source_not_allowed is $not_allowed with health_sources 0.0.0.0/0"
    [ "$outsider_established" -gt 0 ] || fail "the outsider did not reach control with health_sources 0.0.0.0/0"
    [ "$half_open" -gt 0 ] || fail "no half-open connection recycled under the flood"
    metric_positive 'tollgate_health_connections_recycled_total{state="half_open"}'
    log "responder recycled $half_open half-open and $idle idle connections"
  fi

  kill -TERM "$CONTROL_PID"
  wait "$CONTROL_PID" || fail "control did not exit 0 on SIGTERM"
  stop_dataplane
}

flood_run closed
flood_run open
log "PASS"
