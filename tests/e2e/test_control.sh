#!/usr/bin/env bash
# tollgate-control end to end, on the dataplane of test_hairpin.sh:
# - a real Prometheus scrapes the exporter while the simulator sends; a query
#   through its HTTP API gives a non-zero forwarded rate (promtool lints /metrics);
# - GWLB-style checks from the GWLB namespace (HTTP GET and TCP connect to
#   10.254.11.101:80) see healthy; unhealthy right after `tollgatectl drain` and
#   while the dataplane is stopped; healthy after `undrain` and its restart,
#   which control notices by itself (and re-sends its rules);
# - `rules push` of an invalid file exits 1 with the precise error and the old
#   rules stay; a valid push changes verdicts of new flows, established ones go on;
# - `kill -9` of control during traffic loses no forwarded packet.
set -euo pipefail
# Own namespace names, so this can run beside other topology users.
NS_GWLB=${NS_GWLB:-tgc-gwlb-$$}
NS_APPL=${NS_APPL:-tgc-appl-$$}
. "$(dirname "$0")/../../scripts/lib/topology.sh"
BIN=${TOLLGATE_BIN:-$BIN}
CTL_SOCK="$WORK/control.sock"
METRICS_PORT=$((20000 + $$ % 10000))
PROM_PORT=$((METRICS_PORT + 1))
SCEN="$ROOT/tests/gwlb-sim/scenarios"

topology_up

cp "$ROOT/configs/rules.demo.toml" "$WORK/rules.toml"
RULES_FILE="$WORK/rules.toml" dataplane_config >"$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"

control_config http "heartbeat_timeout_ms = 1000
drain_seconds = 2" >"$WORK/control-http.toml"
control_config tcp "heartbeat_timeout_ms = 1000
drain_seconds = 0" >"$WORK/control-tcp.toml"

# http_check: the status code a GWLB HTTP check gets (000: no answer in 2 s).
http_check() {
  rm -f "$WORK/check.body"
  ip netns exec "$NS_GWLB" curl -s -o "$WORK/check.body" -w '%{http_code}' -m 2 \
    "http://$APPLIANCE_IP/healthz" || true
}
# tcp_check: "open", "refused" or "timeout", as GWLB's TCP check sees it.
tcp_check() {
  local out
  out=$(ip netns exec "$NS_GWLB" timeout 3 bash -c "exec 3<>/dev/tcp/$APPLIANCE_IP/80" 2>&1) && { echo open; return; }
  case "$out" in *refused*) echo refused ;; *) echo timeout ;; esac
}
expect_http() {
  local got
  got=$(http_check)
  [ "$got" = "$1" ] || fail "$2: health check got HTTP $got, expected $1 ($(cat "$WORK/check.body" 2>/dev/null))"
  log "$2: HTTP $got $(head -c 120 "$WORK/check.body" 2>/dev/null | tr -d '\n')"
}
expect_tcp() {
  local got
  got=$(tcp_check)
  [ "$got" = "$1" ] || fail "$2: TCP check $got, expected $1"
  log "$2: TCP $got"
}
generation() { ctl --json rules show | jq -er '.applied_generation'; }

start_control "$WORK/control-http.toml"
wait_for 5 "the dataplane's start event in control's log" grep -q "dataplane: started: 2 workers" "$WORK/control.log"
log "event: $(grep -m1 'dataplane: started' "$WORK/control.log")"
# Control pushes its file on attach, so the dataplane's boot generation 1 is replaced.
gen=$(generation)
[ "$gen" -ge 2 ] || fail "control did not ship its rules on attach (generation $gen)"

log "metrics lint clean and a real Prometheus scrapes them"
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics.txt" || fail "no /metrics"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool lint"
grep -q '^tollgate_healthy 1$' "$WORK/metrics.txt" || fail "tollgate_healthy is not 1"
promtool check config "$ROOT/configs/prometheus.yml" >/dev/null || fail "configs/prometheus.yml"
sed -e "s/127.0.0.1:9469/127.0.0.1:$METRICS_PORT/" -e 's/scrape_interval: 5s/scrape_interval: 1s/' \
  -e 's/scrape_timeout: 4s/scrape_timeout: 1s/' "$ROOT/configs/prometheus.yml" >"$WORK/prometheus.yml"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=("$!")
prom_up() {
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode 'query=up{job="tollgate"}' |
    jq -e '.data.result[0].value[1] == "1"'
}
wait_for 30 "Prometheus scraping the exporter" prom_up
sim run --count 16000 --rate 2000 --endpoints 2 --flows 64 --sizes min,imix --inner v4 \
  --protocols tcp,udp --json "$WORK/sim-prom.json" >"$WORK/sim-prom.txt" 2>&1 &
SIM_PID=$!
prom_rate() {
  curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/query" \
    --data-urlencode 'query=sum(rate(tollgate_tx_packets_total{job="tollgate"}[10s]))' |
    jq -er '.data.result[0].value[1] | tonumber | select(. > 0)'
}
rate_seen=
for _ in $(seq 1 200); do
  prom_rate >/dev/null 2>&1 && { rate_seen=1; break; }
  sleep 0.1
done
if [ -z "$rate_seen" ]; then
  cat "$WORK/sim-prom.txt" >&2
  curl -s "http://127.0.0.1:$PROM_PORT/api/v1/query" \
    --data-urlencode 'query=tollgate_tx_packets_total{job="tollgate"}[30s]' >&2 || true
  fail "no non-zero forwarded rate from Prometheus within 20 s"
fi
log "Prometheus: forwarded $(prom_rate) packets/s"
# Only the rate matters here (Prometheus starting up competes for the CPUs);
# the lossless check is the kill -9 run below.
wait "$SIM_PID" || log "note: $(jq -c '{sent, returned, lost}' "$WORK/sim-prom.json" 2>/dev/null) during Prometheus start-up"
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics-busy.txt" || fail "no /metrics"
promtool check metrics <"$WORK/metrics-busy.txt" || fail "promtool lint after traffic"
for series in 'tollgate_rx_packets_total{worker="0"}' 'tollgate_rx_packets_total{worker="1"}' \
  'tollgate_rule_hits_total{rule="web"}' 'tollgate_endpoint_packets_total{endpoint="vpce-01a2b3c4d5e6f0000"}' \
  'tollgate_port_rx_packets_total' 'tollgate_flows_created_total'; do
  value=$(grep -F "$series " "$WORK/metrics-busy.txt" | awk '{print $2}')
  [ -n "$value" ] && awk -v v="$value" 'BEGIN { exit !(v > 0) }' || fail "$series is ${value:-absent} after traffic"
done
log "per-worker, rule, endpoint and port counters all moved"

log "GWLB-style health checks"
expect_http 200 "healthy appliance"
expect_tcp open "healthy appliance"
ctl drain >/dev/null
expect_http 503 "after tollgatectl drain"
grep -q draining "$WORK/check.body" || fail "503 body does not say draining"
ctl undrain >/dev/null
expect_http 200 "after undrain"

log "rules: an invalid push is refused with the precise error; the old rules stay"
sed 's/dst_port = \[53, 123, "51820-51821"\]/dst_port = [123, "51820-51821"]/' "$WORK/rules.toml" >"$WORK/rules-v2.toml"
cmp -s "$WORK/rules.toml" "$WORK/rules-v2.toml" && fail "could not derive rules v2 from rules.demo.toml"
printf '\n[[rule]]\nid = "typo"\naction = "pass"\nprotocol = "tcp"\ndst = "10.2.0.1/16"\n' >>"$WORK/rules-bad.toml"
cat "$WORK/rules.toml" "$WORK/rules-bad.toml" >"$WORK/rules-invalid.toml"
before=$(generation)
if ctl rules push "$WORK/rules-invalid.toml" >"$WORK/push-bad.out" 2>&1; then fail "invalid push exited 0"; fi
grep -q "rules-invalid.toml:[0-9]*: rule \"typo\": dst" "$WORK/push-bad.out" ||
  { cat "$WORK/push-bad.out"; fail "invalid push did not print the precise error"; }
log "invalid push: $(head -1 "$WORK/push-bad.out")"
[ "$(generation)" = "$before" ] || fail "the invalid push changed the generation"

cat >"$WORK/before.toml" <<'TOML'
[defaults]
endpoint = "vpce-01a2b3c4d5e6f0000"
exchanges = 2
size = 200
[[flow]]
name = "dns, established before the push"
protocol = "udp"
src = "10.1.11.10"
src_port = 40000
dst = "10.2.11.20"
dst_port = 53
expect = "pass"
[[flow]]
name = "syslog, not allowed by either rule set"
protocol = "udp"
src = "10.1.11.10"
src_port = 40009
dst = "10.2.11.20"
dst_port = 5514
expect = "drop"
TOML
cat >"$WORK/after.toml" <<'TOML'
[defaults]
endpoint = "vpce-01a2b3c4d5e6f0000"
exchanges = 2
size = 200
[[flow]]
name = "dns, established before the push, goes on"
protocol = "udp"
src = "10.1.11.10"
src_port = 40000
dst = "10.2.11.20"
dst_port = 53
expect = "pass"
[[flow]]
name = "dns, new flow after the push: dropped by rules v2"
protocol = "udp"
src = "10.1.11.10"
src_port = 40001
dst = "10.2.11.20"
dst_port = 53
expect = "drop"
[[flow]]
name = "ntp, new flow: still allowed"
protocol = "udp"
src = "10.1.11.10"
src_port = 40002
dst = "10.2.11.20"
dst_port = 123
expect = "pass"
TOML
sim scenario --file "$WORK/before.toml" >"$WORK/before.txt" 2>&1 || { cat "$WORK/before.txt"; fail "scenario before the push"; }
ctl rules push "$WORK/rules-v2.toml" >"$WORK/push.out" 2>&1 || { cat "$WORK/push.out"; fail "valid push failed"; }
grep -q "applied generation" "$WORK/push.out" || fail "push did not print the generation: $(cat "$WORK/push.out")"
log "valid push: $(cat "$WORK/push.out")"
[ "$(generation)" -gt "$before" ] || fail "generation did not increase"
sim scenario --file "$WORK/after.toml" >"$WORK/after.txt" 2>&1 || { cat "$WORK/after.txt"; fail "scenario after the push"; }
log "verdicts changed for new flows only"

log "flows list and flush through the dataplane"
ctl flows list --protocol udp --port 53 --address 10.1.11.10 >"$WORK/flows.txt" || { cat "$WORK/flows.txt"; fail "flows list"; }
grep -q '40000' "$WORK/flows.txt" || { cat "$WORK/flows.txt"; fail "the established DNS flow is not listed"; }
ctl --json flows list --endpoint vpce-01a2b3c4d5e6f0000 | jq -e '.reply == "flows" and (.flows | length) >= 1' >/dev/null ||
  fail "flows list --json by endpoint"
flushed=$(ctl --json flows flush --protocol udp --port 53 | jq -er '.count')
[ "$flushed" -ge 1 ] || fail "flows flush removed $flushed flows"
ctl --json flows list --protocol udp --port 53 | jq -e '.flows | length == 0' >/dev/null || fail "flows remain after flush"
log "flushed $flushed DNS flows"

log "kill -9 of control during traffic loses no forwarded packet"
sim run --count 5000 --rate 1000 --endpoints 2 --flows 64 --sizes min,imix --inner v4,v6 \
  --protocols tcp,icmp --json "$WORK/sim-kill.json" >"$WORK/sim-kill.txt" 2>&1 &
SIM_PID=$!
sleep 1.5
kill -KILL "$CONTROL_PID"
wait "$CONTROL_PID" 2>/dev/null || true
log "control killed mid-traffic"
wait "$SIM_PID" || { cat "$WORK/sim-kill.txt"; fail "packets lost while control was killed"; }
jq -e '.lost == 0 and .corrupted == 0 and .returned >= 5000' "$WORK/sim-kill.json" >/dev/null ||
  fail "simulator: $(cat "$WORK/sim-kill.json")"
log "all $(jq .returned "$WORK/sim-kill.json") frames returned"

log "TCP health checks: accepted when healthy, refused when not"
start_control "$WORK/control-tcp.toml"
expect_tcp open "healthy (tcp mode)"
ctl drain >/dev/null
expect_tcp refused "drained (tcp mode)"
ctl undrain >/dev/null
expect_tcp open "undrained (tcp mode)"
kill -TERM "$CONTROL_PID"
wait "$CONTROL_PID" || fail "control did not exit 0 on SIGTERM"

start_control "$WORK/control-http.toml"
# A restarted control ships its file (v1) again; make v2 current once more so
# that a restarted dataplane (which boots with v1) must be sent v2 by control.
ctl rules push "$WORK/rules-v2.toml" >/dev/null || fail "push of v2 after control restart"
attaches=$(grep -c "attached to" "$WORK/control.log")
log "dataplane stop and restart: control notices by itself"
stop_dataplane
expect_http 000 "dataplane stopped"
ctl --json status >"$WORK/status-stopped.json" || true
jq -e '.health.healthy == false' "$WORK/status-stopped.json" >/dev/null || fail "status while stopped: $(cat "$WORK/status-stopped.json")"
log "status while stopped: $(jq -r .health.summary "$WORK/status-stopped.json")"
start_dataplane "$WORK/dataplane.toml"
wait_for 10 "control reattached and healthy" sh -c "'$BIN/tollgatectl' --socket '$CTL_SOCK' --json status | jq -e '.attached and .health.healthy'"
expect_http 200 "dataplane restarted"
[ "$(grep -c "attached to" "$WORK/control.log")" -eq $((attaches + 1)) ] || fail "control did not reattach exactly once"
ctl --json rules show | jq -e '.current.origin | endswith("rules-v2.toml")' >/dev/null || fail "control lost its rule set"
wait_for 5 "rules v2 re-sent to the restarted dataplane" sh -c \
  "'$BIN/tollgatectl' --socket '$CTL_SOCK' --json rules show | jq -e '.applied_generation == .current.generation and .applied_generation >= 2'"
# v2 in force on the new dataplane: new DNS flows dropped (v1 would pass them).
sed -e 's/40000/40005/; s/40001/40006/; s/40002/40007/' -e '/established before the push, goes on/,/^expect/s/"pass"/"drop"/' \
  -e 's/established before the push, goes on/new flow on the restarted dataplane/' \
  "$WORK/after.toml" >"$WORK/after-restart.toml"
sim scenario --file "$WORK/after-restart.toml" >"$WORK/after-restart.txt" 2>&1 ||
  { cat "$WORK/after-restart.txt"; fail "rules v2 not in force on the restarted dataplane"; }
ctl status

log "SIGHUP reloads the rule file; an invalid file is logged and refused"
before=$(generation)
cp "$WORK/rules-invalid.toml" "$WORK/rules.toml"
kill -HUP "$CONTROL_PID"
wait_for 5 "the invalid file's error in control's log" grep -q 'rules.toml:[0-9]*: rule "typo": dst' "$WORK/control.log"
sleep 0.3
[ "$(generation)" = "$before" ] || fail "an invalid file on SIGHUP changed the rules"
cp "$ROOT/configs/rules.demo.toml" "$WORK/rules.toml"
kill -HUP "$CONTROL_PID"
wait_for 5 "the SIGHUP reload applied" sh -c \
  "'$BIN/tollgatectl' --socket '$CTL_SOCK' --json rules show | jq -e '.applied_generation > $before and (.current.origin | endswith(\"/rules.toml\"))'"
log "SIGHUP: generation $before -> $(generation)"

log "SIGTERM drains for drain_seconds (2), then control exits 0"
kill -TERM "$CONTROL_PID"
sleep 0.2
expect_http 503 "during the SIGTERM drain"
for _ in $(seq 1 50); do kill -0 "$CONTROL_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$CONTROL_PID" 2>/dev/null && fail "control still running 5 s after SIGTERM"
wait "$CONTROL_PID" || fail "control did not exit 0 on SIGTERM"
[ -e "$CTL_SOCK" ] && fail "control left its socket behind"
stop_dataplane
log "PASS"
