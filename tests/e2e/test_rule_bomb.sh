#!/usr/bin/env bash
# A rule-file bomb pushed to the real tollgate-control (issue 20): a set of
# 2,000 prefixes referenced 30,000 times in a file of a few hundred
# kilobytes. The push is refused with the limit it passes, control's peak
# memory (VmHWM from /proc) stays under 512 MiB, GWLB's health checks are
# answered while it is validated, and the rules in force stay in force.
set -euo pipefail
NS_GWLB=${NS_GWLB:-tgb-gwlb-$$}
NS_APPL=${NS_APPL:-tgb-appl-$$}
. "$(dirname "$0")/../../scripts/lib/topology.sh"
METRICS_PORT=$((20000 + $$ % 10000))
topology_up

cp "$ROOT/configs/rules.demo.toml" "$WORK/rules.toml"
RULES_FILE="$WORK/rules.toml" dataplane_config >"$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"
control_config >"$WORK/control.toml"
start_control "$WORK/control.toml"
generation() { ctl --json rules show | jq -er '.applied_generation'; }
before=$(generation)

python3 - "$WORK/bomb.toml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write('default_action = "drop"\n[sets]\nbig = [')
    f.write(",".join(f'"10.{i >> 8}.{i & 255}.0/24"' for i in range(2000)))
    f.write(']\n[[rule]]\nid = "bomb"\naction = "pass"\nsrc = [')
    f.write(",".join(['"$big"'] * 30000))
    f.write("]\n")
PY
log "bomb: $(wc -c <"$WORK/bomb.toml") bytes"

# Health checks from the GWLB node, ten a second, while the push runs.
checks() {
  local i code ok=0 n=0
  for i in $(seq 1 50); do
    code=$(ip netns exec "$NS_GWLB" curl -s -o /dev/null -w '%{http_code}' -m 1 \
      "http://$APPLIANCE_IP/healthz" || true)
    n=$((n + 1)); [ "$code" = 200 ] && ok=$((ok + 1))
    sleep 0.1
  done
  echo "$ok $n" >"$WORK/checks"
}
checks &
CHECKS_PID=$!
start=$(date +%s%N)
if ctl rules push "$WORK/bomb.toml" >"$WORK/push.out" 2>&1; then
  cat "$WORK/push.out"; fail "the bomb was accepted"
fi
took=$(( ($(date +%s%N) - start) / 1000000 ))
wait "$CHECKS_PID"
cat "$WORK/push.out"
grep -q 'rule "bomb": src: .* prefixes (after expanding sets) .* (at most 262144)' "$WORK/push.out" ||
  fail "the refusal does not name the rule, the field and the limit"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$CONTROL_PID/status")
read -r ok n <"$WORK/checks"
log "refused in $took ms; control's peak RSS ${hwm} kB; health checks meanwhile: $ok of $n answered 200"
[ "$hwm" -lt $((512 * 1024)) ] || fail "control's peak memory ${hwm} kB is over 512 MiB"
[ "$ok" -ge $((n * 99 / 100)) ] || fail "only $ok of $n health checks answered during the push"
[ "$(generation)" = "$before" ] || fail "the rules in force changed (generation $before -> $(generation))"
kill -0 "$CONTROL_PID" || fail "control died"
log "PASS"
