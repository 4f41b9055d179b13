#!/usr/bin/env bash
# Hostile TCP on the data path (issue 19), as real GENEVE frames on the
# appliance's port, under rules that allow only inside -> outside:443:
# - walk-through: an outside host's ACK is picked up (its reverse is
#   allowed) but its SYN to the inside host's ssh port, and the inside
#   server's SYN/ACK, never pass; after a real handshake the responder's
#   SYN does not pass either;
# - ack-flood: bare-ACK pickups of unseen flows, several times the flow
#   table, leave every confirmed flow passing and new flows of the flooding
#   endpoint and of another endpoint opening.
set -euo pipefail
NS_GWLB=${NS_GWLB:-tgh-gwlb-$$}
NS_APPL=${NS_APPL:-tgh-appl-$$}
. "$(dirname "$0")/../../scripts/lib/topology.sh"
topology_up

cat >"$WORK/rules.toml" <<'TOML'
default_action = "drop"
on_rule_change = "keep"
[[rule]]
id = "inside-to-outside-https"
action = "pass"
protocol = "tcp"
src = "10.1.0.0/16"
dst = "10.2.0.0/16"
dst_port = "443"
TOML
# The smallest table (1024 flows, 512 per worker): the flood is 4000.
RULES_FILE="$WORK/rules.toml" dataplane_config 'flow_capacity = 1024' |
  sed '/^flow_capacity = 65536$/d' >"$WORK/dataplane.toml"
start_dataplane "$WORK/dataplane.toml"
MAC=$(ip netns exec "$NS_APPL" cat /sys/class/net/tg0/address)
hostile() {
  ip netns exec "$NS_GWLB" timeout 120 /usr/bin/python3 "$ROOT/tests/e2e/hostile.py" "$@" --appliance-mac "$MAC"
}

rc=0
log "walk-through: an outside host tries to open a session the rules deny"
hostile walk-through || rc=1
log "ack-flood: 4000 bare-ACK pickups against a 1024-flow table"
hostile ack-flood --confirmed 100 --flood 4000 || rc=1
stop_dataplane
grep -E 'tcp_|flows_(refused|evicted)|flow_table_full' "$WORK/dataplane.log" || true
[ "$rc" -eq 0 ] || fail "the appliance let hostile traffic through or locked legitimate flows out"
[ "$(stat dropped_packets_total:tcp_invalid)" -ge 3 ] || fail "the walk-through's three invalid segments were not counted as tcp_invalid"
[ "$(stat dropped_packets_total:tcp_out_of_window)" -eq 0 ] || fail "legitimate segments were dropped as out of window"
[ "$(stat flows_evicted_total:unconfirmed)" -gt 0 ] || fail "the flood evicted no unconfirmed pickup"
log "PASS"
