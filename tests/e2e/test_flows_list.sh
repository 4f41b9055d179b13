#!/usr/bin/env bash
# `tollgatectl flows list` on a table far beyond one reply ring's worth:
# - the simulator fills the table with about 50k flows (two workers);
# - a walk without --limit lists every one, as many as the dataplane's
#   flows_active, none twice (text and one JSON object), in bounded time;
# - --limit/--after pages by hand cover the same flows;
# - filters (endpoint, prefix, port, state) select in the dataplane what a
#   client-side filter of the full listing selects; a flush by filter
#   removes exactly the flows the same filter lists.
set -euo pipefail
NS_GWLB=${NS_GWLB:-tgf-gwlb-$$}
NS_APPL=${NS_APPL:-tgf-appl-$$}
. "$(dirname "$0")/../../scripts/lib/topology.sh"
BIN=${TOLLGATE_BIN:-$BIN}
CTL_SOCK="$WORK/control.sock"
FLOWS=${FLOWS:-50000}

topology_up
cp "$ROOT/configs/rules.demo.toml" "$WORK/rules.toml"
RULES_FILE="$WORK/rules.toml" dataplane_config >"$WORK/dataplane.toml"
# Room for every flow without eviction.
sed -i 's/^flow_capacity = .*/flow_capacity = 262144/' "$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"
control_config tcp >"$WORK/control.toml"
start_control "$WORK/control.toml"

log "filling the table: $FLOWS concurrent UDP flows"
# Round-robin over the flows: the first $FLOWS frames each open one.
sim run --count $((FLOWS + FLOWS / 5)) --rate 20000 --endpoints 4 --flows "$FLOWS" --sizes min \
  --inner v4,v6 --protocols udp --seed 7 --settle-ms 1000 --json "$WORK/sim.json" \
  >"$WORK/sim.txt" 2>&1 || log "note: simulator: $(jq -c '{sent, returned, lost}' "$WORK/sim.json" 2>/dev/null)"
active() { ctl --json status | jq -er '.dataplane.flows_active'; }
sleep 0.5
before=$(active)
log "dataplane: $before active flows"
[ "$before" -ge $((FLOWS * 9 / 10)) ] || fail "only $before flows in the table"

log "walk (text)"
start=$(date +%s%N)
ctl flows list >"$WORK/walk.txt" || fail "flows list walk: $(tail -3 "$WORK/walk.txt")"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
rows=$(($(wc -l <"$WORK/walk.txt") - 2))
tail -1 "$WORK/walk.txt" | grep -qx "$rows flows" || fail "walk summary: $(tail -1 "$WORK/walk.txt")"
[ "$rows" -eq "$before" ] || fail "walk listed $rows flows, the dataplane counts $before"
[ "$ms" -lt 60000 ] || fail "walk took $ms ms"
log "walk listed $rows flows in $ms ms"

log "walk (JSON): one object, every flow once"
ctl --json flows list >"$WORK/walk.json" || fail "flows list --json walk"
jq -e '.reply == "flows" and .next == null' "$WORK/walk.json" >/dev/null || fail "walk JSON envelope"
listed=$(jq '.flows | length' "$WORK/walk.json")
unique=$(jq '[.flows[] | [.endpoint, .protocol, .src, .src_port, .dst, .dst_port] | tostring] | unique | length' "$WORK/walk.json")
[ "$listed" -eq "$before" ] && [ "$unique" -eq "$before" ] ||
  fail "JSON walk: $listed flows, $unique distinct, the dataplane counts $before"

log "pages by hand: --limit 3000 --after CURSOR"
after=() pages=0 paged=0
while :; do
  ctl --json flows list --limit 3000 "${after[@]}" >"$WORK/page.json" || fail "page $pages: $(cat "$WORK/page.json")"
  n=$(jq '.flows | length' "$WORK/page.json")
  [ "$n" -le 3000 ] || fail "a page of $n flows for --limit 3000"
  paged=$((paged + n)) pages=$((pages + 1))
  next=$(jq -r '.next // empty' "$WORK/page.json")
  [ -n "$next" ] || break
  after=(--after "$next")
  [ "$pages" -lt 10000 ] || fail "paging does not end"
done
[ "$paged" -eq "$before" ] || fail "pages by hand: $paged flows, the dataplane counts $before"
ctl flows list --limit 5 | grep -q '^next: [0-9]*:[0-9]*$' || fail "one text page prints its next cursor"
log "$pages pages, $paged flows"

# filter_check NAME JQ-SELECT TOLLGATECTL-FILTER...: the dataplane's filter
# lists exactly what the client-side filter picks from the full walk.
filter_check() {
  local name=$1 select=$2; shift 2
  local want got
  want=$(jq "[.flows[] | select($select)] | length" "$WORK/walk.json")
  got=$(ctl --json flows list "$@" | jq '.flows | length')
  [ "$want" -gt 0 ] || fail "filter $name: nothing to select in the walk"
  [ "$got" -eq "$want" ] || fail "filter $name ($*): $got flows, the walk has $want"
  log "filter $name: $got flows"
}
filter_check endpoint '.endpoint == "vpce-01a2b3c4d5e6f0001"' --endpoint vpce-01a2b3c4d5e6f0001
filter_check prefix '.src | startswith("10.1.")' --address 10.1.0.0/16
filter_check v6-prefix '.src | startswith("2001:db8:1:")' --address 2001:db8:1::/64
filter_check port '.src_port == 53 or .dst_port == 53' --port 53 --protocol udp
filter_check state '.state == "UDP_STREAM"' --state udp_stream
ctl flows list --state OPEN 2>"$WORK/err.txt" && fail "an unknown state is accepted"
grep -q 'unknown flow state "OPEN"' "$WORK/err.txt" || fail "unknown state: $(cat "$WORK/err.txt")"

log "flush by filter removes what the filter lists"
flushed=$(ctl --json flows flush --port 123 --endpoint vpce-01a2b3c4d5e6f0001 | jq -er '.count')
want=$(jq '[.flows[] | select((.src_port == 123 or .dst_port == 123) and .endpoint == "vpce-01a2b3c4d5e6f0001")] | length' "$WORK/walk.json")
[ "$flushed" -eq "$want" ] && [ "$want" -gt 0 ] || fail "flush removed $flushed flows, the filter lists $want"
left=$(ctl --json flows list --port 123 --endpoint vpce-01a2b3c4d5e6f0001 | jq '.flows | length')
[ "$left" -eq 0 ] || fail "$left flows left after the flush"
after_flush=$(ctl flows list | tail -1)
[ "$after_flush" = "$((before - flushed)) flows" ] || fail "after the flush: $after_flush, expected $((before - flushed))"
log "flushed $flushed flows; $after_flush left"

stop_dataplane
log "PASS test_flows_list"
