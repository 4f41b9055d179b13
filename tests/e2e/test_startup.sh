#!/usr/bin/env bash
# The dataplane refuses bad input before it forwards anything, with one
# clear line naming the cause and a non-zero exit: an invalid config, a bad
# rule file, EAL failing for lack of hugepage memory, a device that does not
# exist, more workers than the device has queues. Without a rule set it
# forwards nothing and counts why.
set -euo pipefail
. "$(dirname "$0")/../../scripts/lib/topology.sh"
topology_up

# expect_start_error NAME CONFIG EXIT PATTERN: the dataplane exits with EXIT
# and its stderr's last line matches PATTERN.
expect_start_error() {
  local name=$1 config=$2 want_rc=$3 pattern=$4 rc=0
  timeout 60 ip netns exec "$NS_APPL" "$BIN/tollgate-dataplane" --config "$config" \
    >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
  local msg
  msg=$(grep -v '^EAL: \|^TELEMETRY: \|^eth_\|^$' "$WORK/$name.err" | grep 'tollgate-dataplane:' | tail -1)
  log "$name: exit $rc: $msg"
  [ "$rc" -eq "$want_rc" ] || { cat "$WORK/$name.err"; fail "$name: exit $rc, expected $want_rc"; }
  grep -Eq -- "$pattern" <<<"$msg" || { cat "$WORK/$name.err"; fail "$name: message does not match /$pattern/"; }
  [ ! -e "/dev/shm/tollgate-$SHM_NAME" ] || fail "$name: a segment was left behind"
}

dataplane_config >"$WORK/good.toml"

sed 's/^mtu = 9001$/mtu = 70000/' "$WORK/good.toml" >"$WORK/bad-mtu.toml"
expect_start_error bad-key "$WORK/bad-mtu.toml" 2 "config .*bad-mtu.toml: line [0-9]+: .mtu = 70000.: invalid value"

sed 's/^\[port\]$/[port]\nspeed = 100/' "$WORK/good.toml" >"$WORK/unknown-key.toml"
expect_start_error unknown-key "$WORK/unknown-key.toml" 2 "unknown field .speed."

expect_start_error missing-file "$WORK/nonexistent.toml" 2 "config .*nonexistent.toml: cannot read"

printf '[firewall.timeouts]\nestablishd = 600\n' | cat "$WORK/good.toml" - >"$WORK/bad-timeout.toml"
expect_start_error bad-timeout "$WORK/bad-timeout.toml" 2 \
  "config .*bad-timeout.toml: \[firewall.timeouts\] establishd: no such flow state; one of syn_sent, .*established"

cat >"$WORK/bad-rules.toml" <<'TOML'
default_action = "drop"
[[rule]]
id = "web"
action = "pass"
dst = "10.1.2.3/24"
TOML
RULES_FILE="$WORK/bad-rules.toml" dataplane_config >"$WORK/with-bad-rules.toml"
rc=0; ip netns exec "$NS_APPL" "$BIN/tollgate-dataplane" --config "$WORK/with-bad-rules.toml" \
  >/dev/null 2>"$WORK/bad-rules.err" || rc=$?
[ "$rc" -eq 2 ] || fail "bad rules: exit $rc, expected 2"
grep -q 'bad-rules.toml:5: rule "web": dst: bad CIDR "10.1.2.3/24": host bits set' "$WORK/bad-rules.err" ||
  { cat "$WORK/bad-rules.err"; fail "bad rules: no precise error"; }
log "bad rules: $(grep 'bad-rules.toml:5' "$WORK/bad-rules.err")"

sed 's/"--in-memory", /"--in-memory", "-m", "400000", /' "$WORK/good.toml" >"$WORK/no-memory.toml"
expect_start_error no-hugepages "$WORK/no-memory.toml" 1 "EAL: .*Cannot allocate memory.*hugepages"

sed 's/^device = "net_af_packet0"$/device = "net_nosuch0"/' "$WORK/good.toml" >"$WORK/no-device.toml"
expect_start_error no-device "$WORK/no-device.toml" 1 "port: .*net_nosuch0.*net_af_packet0"

sed 's/qpairs=2/qpairs=1/' "$WORK/good.toml" >"$WORK/few-queues.toml"
expect_start_error few-queues "$WORK/few-queues.toml" 1 "port: .*1 rx queues?, 2 needed"

log "without a rule set nothing is forwarded, and the drops say why"
dataplane_config | sed '/^rules_file = /d' >"$WORK/no-rules.toml"
start_dataplane "$WORK/no-rules.toml"
sim run --count 200 --rate 1000 --expect none >"$WORK/no-rules-sim.txt" 2>&1 ||
  { cat "$WORK/no-rules-sim.txt"; fail "traffic came back without a rule set"; }
stop_dataplane
[ "$(stat dropped_packets_total:no_rule_set)" -ge 200 ] || fail "no_rule_set drops not counted"
log "PASS"
