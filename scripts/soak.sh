#!/usr/bin/env bash
# The soak (issue 20): the dataplane and control under everything at once for
# N minutes, on the e2e topology (scripts/lib/topology.sh, as root):
# - GWLB traffic from the simulator in segments of a few seconds (TCP, UDP and
#   ICMP, v4 and v6), each segment a new seed: flows open, close and expire
#   (short [firewall.timeouts]) through a small table, many times its size;
# - every few seconds a rule push, cycling on_rule_change keep, revalidate
#   and flush; every third push an invalid file, which must be refused and
#   leave the rules in force; flow listings;
# - control killed (-9) and restarted, one dataplane restart, a SYN flood at
#   the appliance address (punted traffic).
# Checks, printed as a table (exit 1 on any FAIL; --json PATH for the figures):
# - mempool in-use at each dataplane exit equal to its value at start;
# - RSS of the dataplane and control flat: the largest sample of private
#   memory (RssAnon + RssFile) after warm-up within 5 % of the first one after
#   warm-up (the restarts happen during warm-up, so both series are of one
#   process each); the shared segment's resident pages are shown beside it;
# - no frame of an allowed flow lost or changed in any traffic segment that
#   overlaps neither the dataplane restart nor a push with on_rule_change =
#   flush (which cuts every flow by design, counted as flow_flushed);
# - no counter (every *_total series on /metrics) going backwards between
#   samples; resets allowed only across the dataplane restart (a new segment)
#   and, for control's own series (tollgate_control_*, tollgate_health_*),
#   across control's restart.
#
#   scripts/soak.sh --minutes N [--json PATH]
set -euo pipefail
MINUTES=2
JSON_OUT=
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=$2; shift 2 ;;
    --json) JSON_OUT=$2; shift 2 ;;
    -h | --help) sed -n '2,/^#   scripts\/soak.sh/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 --minutes N [--json PATH]" >&2; exit 2 ;;
  esac
done
[[ "$MINUTES" =~ ^[1-9][0-9]*$ ]] || { echo "--minutes must be a positive integer" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "soak.sh needs root (namespaces, DPDK)" >&2; exit 2; }
[ -z "$JSON_OUT" ] || JSON_OUT=$(realpath -m "$JSON_OUT")

NS_GWLB=${NS_GWLB:-tgs-gwlb-$$}
NS_APPL=${NS_APPL:-tgs-appl-$$}
. "$(dirname "$0")/lib/topology.sh"
BIN=${TOLLGATE_BIN:-$BIN}
CTL_SOCK="$WORK/control.sock"
METRICS_PORT=$((20000 + $$ % 10000))
HERE="$ROOT/tests/e2e"

TOTAL=$((MINUTES * 60))
CAPACITY=4096
SEGMENT_SECONDS=5
RATE=1000
SIM_FLOWS=200
PUSH_EVERY=4
SAMPLE_EVERY=2
LIST_EVERY=10
# Both restarts fall in the warm-up, so that RSS after it is one process's.
CONTROL_KILL_AT=$((TOTAL / 10))
DATAPLANE_RESTART_AT=$((TOTAL * 3 / 20))
WARMUP=$((TOTAL * 3 / 10))
FLOOD_AT=$((TOTAL / 2))
FLOOD_SECONDS=$((TOTAL / 12 > 30 ? 30 : TOTAL / 12))
FLOOD_PPS=500

topology_up
TRAFFIC_PID=
FLOOD_PID=
soak_down() {
  [ -z "$TRAFFIC_PID" ] || kill -TERM "$TRAFFIC_PID" 2>/dev/null || true
  [ -z "$FLOOD_PID" ] || kill -TERM "$FLOOD_PID" 2>/dev/null || true
  topology_down
}
trap soak_down EXIT

T0=$(date +%s)
now() { echo $(($(date +%s) - T0)); }
phase() { log "[t+$(now)s] $*"; }

cp "$ROOT/configs/rules.demo.toml" "$WORK/rules.toml"
RULES_FILE="$WORK/rules.toml" dataplane_config "$(cat <<'TOML'
[firewall.timeouts]
syn_sent = 5
syn_recv = 5
established = 10
fin_wait = 3
close_wait = 3
last_ack = 3
time_wait = 2
close = 2
udp_single = 3
udp_stream = 3
icmp_echo = 3
TOML
)" >"$WORK/dataplane.toml"
sed -i "s/^flow_capacity = .*/flow_capacity = $CAPACITY/" "$WORK/dataplane.toml"
control_config http "heartbeat_timeout_ms = 1000" >"$WORK/control.toml"

phase "start: ${MINUTES} min, flow_capacity $CAPACITY, $RATE frames/s in ${SEGMENT_SECONDS}s segments"
start_dataplane "$WORK/dataplane.toml"
DP_INSTANCE=1
start_control "$WORK/control.toml"

# Traffic: back-to-back simulator runs until the end, one line per segment.
# Odd seeds only: the simulator's generator ORs its seed with 1, so 2k and
# 2k+1 would replay the same flows while the previous ones are still open.
SEED_BASE=$((($$ % 1000) * 100000 + 1))
traffic_loop() {
  local i=0 start end
  while [ $(($(date +%s) + SEGMENT_SECONDS)) -le $((T0 + TOTAL)) ]; do
    i=$((i + 1))
    start=$(date +%s.%N)
    sim run --duration "$SEGMENT_SECONDS" --rate "$RATE" --endpoints 4 --flows "$SIM_FLOWS" \
      --sizes min,imix,1500 --inner v4,v6 --protocols tcp,udp,icmp --seed "$((SEED_BASE + 2 * i))" \
      --json "$WORK/seg-$i.json" >"$WORK/seg-$i.txt" 2>&1 || true
    end=$(date +%s.%N)
    printf '%s %s %s\n' "$i" "$start" "$end" >>"$WORK/segments.txt"
  done
}
traffic_loop &
TRAFFIC_PID=$!

# Rule files: the demo rules with on_rule_change MODE and an extra rule that
# changes with every push (a new generation each time); the simulator's
# traffic stays allowed by every one of them.
rules_file() {
  local mode=$1 n=$2 f="$WORK/push-$2.toml"
  sed "s/^on_rule_change = .*/on_rule_change = \"$mode\"/" "$ROOT/configs/rules.demo.toml" >"$f"
  printf '\n[[rule]]\nid = "soak-%d"\naction = "drop"\nprotocol = "udp"\ndst = "192.0.2.%d/32"\ndst_port = 9\n' \
    "$n" $((n % 250 + 1)) >>"$f"
  echo "$f"
}
generation() { ctl --json rules show | jq -er '.applied_generation'; }
CONTROL_UP=1
PUSHES=0 PUSHES_FAILED=0 INVALID=0 INVALID_FAILED=0 LISTINGS=0 LISTINGS_FAILED=0
MODES=(keep revalidate flush)
push_rules() {
  local n=$((PUSHES + INVALID)) before f
  before=$(generation) || { PUSHES_FAILED=$((PUSHES_FAILED + 1)); phase "push: no generation from control"; return; }
  if [ $((n % 3)) -eq 2 ]; then
    INVALID=$((INVALID + 1))
    f=$(rules_file keep "$n")
    printf '\n[[rule]]\nid = "typo"\naction = "pass"\nprotocol = "tcp"\ndst = "10.2.0.1/16"\n' >>"$f"
    if ctl rules push "$f" >"$WORK/push.out" 2>&1; then
      INVALID_FAILED=$((INVALID_FAILED + 1)); phase "FAIL: invalid push $n accepted"
    elif ! grep -q 'rule "typo": dst' "$WORK/push.out" || [ "$(generation)" != "$before" ] ||
      ! ctl --json rules show | jq -e --arg o "$LAST_PUSHED" '.current.origin == $o' >/dev/null; then
      INVALID_FAILED=$((INVALID_FAILED + 1)); phase "FAIL: invalid push $n: $(head -1 "$WORK/push.out"), rules changed"
    fi
    return
  fi
  local mode=${MODES[$((PUSHES % ${#MODES[@]}))]}
  PUSHES=$((PUSHES + 1))
  f=$(rules_file "$mode" "$n")
  local pushed_at
  pushed_at=$(date +%s.%N)
  if ctl rules push "$f" >"$WORK/push.out" 2>&1 && [ "$(generation)" -gt "$before" ]; then
    LAST_PUSHED=$f
    printf '%s %s %s\n' "$pushed_at" "$(date +%s.%N)" "$mode" >>"$WORK/pushes.txt"
  else
    PUSHES_FAILED=$((PUSHES_FAILED + 1)); phase "FAIL: push $n ($mode): $(head -1 "$WORK/push.out")"
  fi
}
LAST_PUSHED=$WORK/rules.toml

list_flows() {
  LISTINGS=$((LISTINGS + 1))
  if ! ctl --json flows list --limit 1000 >"$WORK/list.json" 2>&1 ||
    ! jq -e '.reply == "flows" and (.flows | length) <= 1000' "$WORK/list.json" >/dev/null; then
    LISTINGS_FAILED=$((LISTINGS_FAILED + 1)); phase "FAIL: flows list: $(head -c 200 "$WORK/list.json")"
  fi
}

# Samples: time, RSS (kB) of both processes, and every *_total series.
SAMPLE=0
: >"$WORK/rss.txt"
: >"$WORK/backwards.txt"
# Private RSS (RssAnon + RssFile): a leak shows there. The shared-memory
# segment's pages (RssShmem) are counted as a ring first reaches them, up to
# the segment's fixed size, so they are shown apart.
rss() { awk '/^RssAnon:|^RssFile:/ { s += $2 } END { print s + 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
shmem() { awk '/^RssShmem:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
take_sample() {
  local t cur="$WORK/metrics-$((SAMPLE + 1)).txt"
  t=$(now)
  printf '%s %s %s %s %s %s %s\n' "$t" "$DATAPLANE_PID" "$(rss "$DATAPLANE_PID")" "$CONTROL_PID" "$(rss "$CONTROL_PID")" \
    "$(shmem "$DATAPLANE_PID")" "$(shmem "$CONTROL_PID")" >>"$WORK/rss.txt"
  curl -sf -m 2 "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null |
    awk '$1 ~ /^tollgate_[a-z_]*_total(\{|$)/ { print $1, $2 }' >"$cur.tmp" || true
  [ -s "$cur.tmp" ] || { rm -f "$cur.tmp"; return; }
  grep -q '^tollgate_port_rx_packets_total ' "$cur.tmp" || { rm -f "$cur.tmp"; return; }
  SAMPLE=$((SAMPLE + 1))
  mv "$cur.tmp" "$cur"
  echo "$DP_INSTANCE $CONTROL_PID" >"$cur.who"
  [ "$SAMPLE" -gt 1 ] || return 0
  local prev="$WORK/metrics-$((SAMPLE - 1)).txt" pdp pcp dp cp
  read -r pdp pcp <"$prev.who"
  read -r dp cp <"$cur.who"
  # A new dataplane is a new segment: every dataplane counter starts over.
  rm -f "$WORK/metrics-$((SAMPLE - 2)).txt" "$WORK/metrics-$((SAMPLE - 2)).txt.who"
  [ "$pdp" = "$dp" ] || return 0
  awk -v t="$t" -v control_restarted=$([ "$pcp" = "$cp" ] && echo 0 || echo 1) '
    NR == FNR { before[$1] = $2; next }
    control_restarted && $1 ~ /^tollgate_(control|health)_/ { next }
    ($1 in before) && $2 + 0 < before[$1] + 0 { print "t+" t "s", $1, before[$1], "->", $2 }
  ' "$prev" "$cur" >>"$WORK/backwards.txt"
}

DP_RESTART_START= DP_RESTART_END=
MEMPOOL=()
record_mempool() {
  local s e
  s=$(stat mempool_in_use_at_start) e=$(stat mempool_in_use_at_exit)
  MEMPOOL+=("$DP_INSTANCE $s $e")
  phase "dataplane $DP_INSTANCE exit: mempool in use $e, at start $s"
}

control_restart() {
  phase "control: kill -9 (pid $CONTROL_PID)"
  kill -KILL "$CONTROL_PID"
  wait "$CONTROL_PID" 2>/dev/null || true
  CONTROL_UP=0
  sleep 2
  start_control "$WORK/control.toml"
  CONTROL_UP=1
  # A restarted control ships its file again: make the last push current.
  ctl rules push "$LAST_PUSHED" >/dev/null 2>&1 || phase "note: re-push after control restart failed"
  phase "control restarted (pid $CONTROL_PID)"
}

dataplane_restart() {
  DP_RESTART_START=$(date +%s.%N)
  phase "dataplane: stop (pid $DATAPLANE_PID)"
  stop_dataplane
  record_mempool
  start_dataplane "$WORK/dataplane.toml"
  DP_INSTANCE=2
  wait_for 15 "control reattached and healthy" sh -c \
    "'$BIN/tollgatectl' --socket '$CTL_SOCK' --json status | jq -e '.attached and .health.healthy'"
  wait_for 10 "the current rules re-sent to the restarted dataplane" sh -c \
    "'$BIN/tollgatectl' --socket '$CTL_SOCK' --json rules show | jq -e '.applied_generation == .current.generation'"
  DP_RESTART_END=$(date +%s.%N)
  phase "dataplane restarted (pid $DATAPLANE_PID), control reattached"
}

punt_flood() {
  local mac
  ip netns exec "$NS_GWLB" ping -c 1 -W 1 -I "$GWLB_IP" "$APPLIANCE_IP" >/dev/null 2>&1 || true
  mac=$(ip -n "$NS_GWLB" neigh show "$APPLIANCE_IP" dev gwlb0 | awk '{print $3}')
  [ -n "$mac" ] || { phase "FAIL: no appliance MAC for the flood"; FLOOD_FAILED=1; return; }
  phase "punt flood: $FLOOD_PPS SYN/s for ${FLOOD_SECONDS}s from 10.254.200.0/22 to the appliance address"
  ip netns exec "$NS_GWLB" python3 "$HERE/syn_flood.py" gwlb0 "$mac" "$APPLIANCE_IP" 80 \
    --rate "$FLOOD_PPS" --seconds "$FLOOD_SECONDS" --sources 10.254.200.0/22 >"$WORK/flood.out" 2>&1 &
  FLOOD_PID=$!
}
FLOOD_FAILED=0

# The schedule, one tick a second.
phase "traffic running; events: control kill at t+${CONTROL_KILL_AT}s, dataplane restart at" \
  "t+${DATAPLANE_RESTART_AT}s, warm-up until t+${WARMUP}s, punt flood at t+${FLOOD_AT}s"
did_kill=0 did_restart=0 did_flood=0 did_warm=0
while [ "$(now)" -lt "$TOTAL" ]; do
  t=$(now)
  if [ $did_kill -eq 0 ] && [ "$t" -ge "$CONTROL_KILL_AT" ]; then did_kill=1; control_restart; fi
  if [ $did_restart -eq 0 ] && [ "$t" -ge "$DATAPLANE_RESTART_AT" ]; then did_restart=1; dataplane_restart; fi
  if [ $did_warm -eq 0 ] && [ "$t" -ge "$WARMUP" ]; then did_warm=1; phase "warm-up over"; fi
  if [ $did_flood -eq 0 ] && [ "$t" -ge "$FLOOD_AT" ]; then did_flood=1; punt_flood; fi
  [ $((t % PUSH_EVERY)) -ne 0 ] || push_rules
  [ $((t % LIST_EVERY)) -ne 5 ] || list_flows
  [ $((t % SAMPLE_EVERY)) -ne 0 ] || take_sample
  if [ $((t % 30)) -eq 0 ] && [ "$t" -gt 0 ]; then
    phase "progress: $PUSHES pushes, $INVALID invalid refused, $LISTINGS listings, $SAMPLE samples," \
      "$(ctl --json status | jq -r '"\(.dataplane.flows_active) flows active"' 2>/dev/null || echo 'status unavailable')"
  fi
  while [ "$(now)" -eq "$t" ]; do sleep 0.1; done
done
phase "run over: waiting for the last traffic segment"
wait "$TRAFFIC_PID" || true
TRAFFIC_PID=
if [ -n "$FLOOD_PID" ]; then wait "$FLOOD_PID" || FLOOD_FAILED=1; FLOOD_PID=; fi
take_sample
curl -sf -m 2 "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics-final.prom" || true
metric() { awk -v s="$1" '$1 == s { print $2 + 0; found = 1 } END { if (!found) print 0 }' "$WORK/metrics-final.prom"; }
FLOWS_CREATED=$(metric tollgate_flows_created_total)
ctl --json status >"$WORK/status-final.json" 2>/dev/null || true
phase "port: $(grep -E '^tollgate_port_(rx_missed_packets|rx_nombuf|rx_errors|tx_errors)_total' "$WORK/metrics-final.prom" | tr '\n' ' ')"
phase "dataplane drops: $(jq -c '.dataplane.drops, .dataplane.flows_refused, .dataplane.flows_evicted' "$WORK/status-final.json" 2>/dev/null | tr '\n' ' ')"
PUNT_DROPPED=$(awk '$1 ~ /^tollgate_punt_dropped_packets_total\{/ { s += $2 } END { print s + 0 }' "$WORK/metrics-final.prom")
phase "dataplane: final stop"
stop_dataplane
record_mempool

# ---- Checks
RESULTS=()
check() { RESULTS+=("$1|$2|$3"); }

bad_mempool=0 mempool_desc=
for m in "${MEMPOOL[@]}"; do
  read -r inst s e <<<"$m"
  mempool_desc+="dataplane $inst: start $s, exit $e; "
  [ "$s" -eq "$e" ] || bad_mempool=1
done
check "mempool in-use back to baseline" "$([ "${#MEMPOOL[@]}" -eq 2 ] && [ $bad_mempool -eq 0 ] && echo PASS || echo FAIL)" "${mempool_desc%; }"

# rss.txt: t dp_pid dp_kB control_pid control_kB dp_shmem_kB control_shmem_kB;
# after warm-up, one pid each.
rss_check() {
  local col=$1 name=$2 summary
  summary=$(awk -v w="$WARMUP" -v c="$col" -v sc=$((col == 3 ? 6 : 7)) '$1 >= w && $c > 0 {
      n++; if (n == 1) { first = $c; pid = $(c - 1); sfirst = $sc } if ($(c - 1) != pid) other = 1; slast = $sc
      if ($c > max) max = $c; if (min == "" || $c < min) min = $c; last = $c }
    END { if (n < 2 || other) { print "FAIL", n " samples" (other ? ", process changed after warm-up" : ""); exit }
      pct = (max - first) * 100 / first
      printf "%s private first %d kB, min %d, max %d, last %d (%+.1f %%), %d samples; shared segment %d -> %d kB\n",
        (pct <= 5 ? "PASS" : "FAIL"), first, min, max, last, pct, n, sfirst, slast }' "$WORK/rss.txt")
  check "RSS $name flat (within 5 % after warm-up)" "${summary%% *}" "${summary#* }"
}
rss_check 3 dataplane
rss_check 5 control

# Traffic segments: those overlapping the dataplane restart are excused, and
# so are those during which a push with on_rule_change = flush was applied
# (it kills every flow by design: their frames are counted as flow_flushed).
segs=0 excused=0 sent=0 returned=0 lost=0 corrupted=0 lost_excused=0 missing=0 flushed_segs=0
while read -r i start end; do
  f="$WORK/seg-$i.json"
  segs=$((segs + 1))
  if [ ! -s "$f" ]; then missing=$((missing + 1)); continue; fi
  read -r s r l c < <(jq -r '"\(.sent) \(.returned) \(.lost) \(.corrupted)"' "$f")
  pushes=$(awk -v a="$start" -v b="$end" '$2 >= a && $1 <= b { printf "%s ", $3 }' "$WORK/pushes.txt" 2>/dev/null)
  if [ -n "$DP_RESTART_START" ] && awk -v a="$start" -v b="$end" -v x="$DP_RESTART_START" -v y="$DP_RESTART_END" \
    'BEGIN { exit !(a <= y + 1 && b >= x) }'; then
    excused=$((excused + 1)); lost_excused=$((lost_excused + l))
    continue
  fi
  if [[ " $pushes" == *" flush "* ]]; then
    flushed_segs=$((flushed_segs + 1)); lost_excused=$((lost_excused + l))
    continue
  fi
  sent=$((sent + s)) returned=$((returned + r)) lost=$((lost + l)) corrupted=$((corrupted + c))
  [ "$l" -eq 0 ] && [ "$c" -eq 0 ] || phase "segment $i (t+$(awk -v a="$start" -v t="$T0" 'BEGIN { printf "%.0f", a - t }')s):" \
    "lost $l, corrupted $c of $s, pushes during it: ${pushes:-none}"
done <"$WORK/segments.txt"
check "no lost frames outside restart and flushes" \
  "$([ "$lost" -eq 0 ] && [ "$corrupted" -eq 0 ] && [ "$missing" -eq 0 ] && [ "$segs" -gt $((excused + flushed_segs)) ] && echo PASS || echo FAIL)" \
  "$segs segments, $excused in the restart window, $flushed_segs with a flush ($lost_excused lost in those); others: sent $sent, returned $returned, lost $lost, corrupted $corrupted$([ "$missing" -eq 0 ] || echo ", $missing without a summary")"

nb=$(wc -l <"$WORK/backwards.txt")
check "no counter going backwards" "$([ "$nb" -eq 0 ] && [ "$SAMPLE" -ge 5 ] && echo PASS || echo FAIL)" \
  "$SAMPLE samples of every *_total series, $nb went backwards$([ "$nb" -eq 0 ] || echo ": $(head -3 "$WORK/backwards.txt" | tr '\n' ';')")"
check "flows churned through the table" "$([ "$FLOWS_CREATED" -ge $((CAPACITY * 2)) ] && echo PASS || echo FAIL)" \
  "$FLOWS_CREATED flows created on the restarted dataplane, capacity $CAPACITY"
check "rule pushes applied (keep/revalidate/flush)" "$([ "$PUSHES" -ge 3 ] && [ "$PUSHES_FAILED" -eq 0 ] && echo PASS || echo FAIL)" \
  "$PUSHES pushes, $PUSHES_FAILED failed"
check "invalid pushes refused, rules kept" "$([ "$INVALID" -ge 1 ] && [ "$INVALID_FAILED" -eq 0 ] && echo PASS || echo FAIL)" \
  "$INVALID invalid pushes, $INVALID_FAILED not refused cleanly"
check "flow listings answered" "$([ "$LISTINGS" -ge 1 ] && [ "$LISTINGS_FAILED" -eq 0 ] && echo PASS || echo FAIL)" \
  "$LISTINGS listings, $LISTINGS_FAILED failed"
flood_sent=$(cat "$WORK/flood.out" 2>/dev/null || echo 0)
check "punt flood sent and dropped" "$([ "$FLOOD_FAILED" -eq 0 ] && [ "${flood_sent:-0}" -gt 0 ] && [ "$PUNT_DROPPED" -gt 0 ] && echo PASS || echo FAIL)" \
  "${flood_sent:-0} SYNs sent, $PUNT_DROPPED punt drops counted"
check "restarts: control once, dataplane once" "$([ $did_kill -eq 1 ] && [ $did_restart -eq 1 ] && echo PASS || echo FAIL)" \
  "dataplane restart window $(awk -v a="$DP_RESTART_START" -v b="$DP_RESTART_END" -v t="$T0" 'BEGIN { printf "t+%.1fs..t+%.1fs", a - t, b - t }')"

echo
printf '%-48s %-5s %s\n' CHECK RESULT FIGURES
failed=0
for r in "${RESULTS[@]}"; do
  IFS='|' read -r name result figures <<<"$r"
  printf '%-48s %-5s %s\n' "$name" "$result" "$figures"
  [ "$result" = PASS ] || failed=$((failed + 1))
done

if [ -n "$JSON_OUT" ]; then
  printf '%s\n' "${RESULTS[@]}" | jq -R 'split("|") | {check: .[0], result: .[1], figures: .[2]}' |
    jq -s --argjson minutes "$MINUTES" --argjson capacity "$CAPACITY" \
      --rawfile rss "$WORK/rss.txt" '{
        minutes: $minutes, flow_capacity: $capacity, checks: .,
        rss: ($rss | split("\n") | map(select(length > 0) | split(" ") | map(tonumber)
          | {t: .[0], dataplane_pid: .[1], dataplane_private_kb: .[2], control_pid: .[3], control_private_kb: .[4],
             dataplane_shmem_kb: .[5], control_shmem_kb: .[6]}))
      }' >"$JSON_OUT"
  log "figures in $JSON_OUT"
fi
[ "$failed" -eq 0 ] || { echo "soak: $failed check(s) FAILED"; exit 1; }
echo "soak: all checks PASS"
