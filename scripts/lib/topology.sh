# The test topology shared by scripts/demo.sh and tests/e2e: a simulated
# GWLB node and the appliance in two network namespaces joined by a veth pair.
#
#   tg-gwlb: gwlb0 (10.254.11.60, the GWLB node: the simulator sends as it on
#            a raw socket, and the kernel's pings and health checks leave from
#            it; 10.254.11.50/24, another host of the subnet)
#   tg-appl: tg0, no address: the dataplane owns it through net_af_packet
#
# Source it, call topology_up; everything created is removed on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/target/release"
NS_GWLB=${NS_GWLB:-tg-gwlb}
NS_APPL=${NS_APPL:-tg-appl}
APPLIANCE_IP=10.254.11.101
GWLB_IP=10.254.11.60
HOST_IP=10.254.11.50
SHM_NAME=${SHM_NAME:-tg$$}
WORK=$(mktemp -d /tmp/tollgate.XXXXXX)
CTL_SOCK=${CTL_SOCK:-$WORK/control.sock}
PIDS=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

topology_down() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  ip netns del "$NS_GWLB" 2>/dev/null || true
  ip netns del "$NS_APPL" 2>/dev/null || true
  rm -f "/dev/shm/tollgate-$SHM_NAME"
  rm -rf "/var/run/dpdk/tg$SHM_NAME"
  rm -rf "$WORK"
}

topology_up() {
  trap topology_down EXIT
  ip netns del "$NS_GWLB" 2>/dev/null || true
  ip netns del "$NS_APPL" 2>/dev/null || true
  ip netns add "$NS_GWLB"
  ip netns add "$NS_APPL"
  ip link add gwlb0 netns "$NS_GWLB" mtu 9001 type veth peer name tg0 netns "$NS_APPL" mtu 9001
  # The appliance side carries no kernel address and no IPv6 chatter.
  ip netns exec "$NS_APPL" sysctl -qw net.ipv6.conf.tg0.disable_ipv6=1
  ip netns exec "$NS_APPL" ip link set tg0 up
  ip netns exec "$NS_GWLB" sysctl -qw net.ipv6.conf.gwlb0.disable_ipv6=1
  ip netns exec "$NS_GWLB" ip addr add "$HOST_IP/24" dev gwlb0
  # The GWLB node's address too, so that the simulator can hold UDP 6081 and
  # the kernel does not answer returned GENEVE with port unreachable.
  ip netns exec "$NS_GWLB" ip addr add "$GWLB_IP/32" dev gwlb0
  ip netns exec "$NS_GWLB" ip link set gwlb0 up
  # Health checks and pings leave from the GWLB node's address, as GWLB's
  # do: only its address may reach the control plane ([punt] health_sources).
  ip netns exec "$NS_GWLB" ip route replace 10.254.11.0/24 dev gwlb0 proto kernel scope link src "$GWLB_IP"
  ip netns exec "$NS_GWLB" ip link set lo up
}

# Writes a dataplane config for the test topology to stdout; extra TOML
# lines (e.g. "[firewall]" overrides) come from $1.
dataplane_config() {
  local rules=${RULES_FILE:-$ROOT/configs/rules.example.toml}
  cat <<TOML
[eal]
args = ["--lcores=0@0,1@1,2@0", "--in-memory", "--no-pci", "--file-prefix=tg$SHM_NAME",
        "--vdev=net_af_packet0,iface=tg0,qpairs=2,framesz=9216,blocksz=36864,framecnt=512"]
[port]
device = "net_af_packet0"
mtu = 9001
[appliance]
address = "$APPLIANCE_IP"
gwlb_addresses = ["$GWLB_IP/32"]
[shm]
name = "$SHM_NAME"
[worker]
idle_sleep_us = 50
[firewall]
flow_capacity = 65536
rules_file = "$rules"
${1:-}
TOML
}

# control_config [PROTOCOL [HEALTH_LINES]]: a control config for this
# topology on stdout: the rules in $WORK/rules.toml, the API on $CTL_SOCK,
# GWLB's checks (PROTOCOL, default http) on port 80 at /healthz with the
# extra [health] lines HEALTH_LINES, metrics on 127.0.0.1:$METRICS_PORT
# when METRICS_PORT is set.
control_config() {
  cat <<TOML
[shm]
name = "$SHM_NAME"
[rules]
file = "$WORK/rules.toml"
[api]
socket = "$CTL_SOCK"
[health]
protocol = "${1:-http}"
port = 80
path = "/healthz"
${2:-}
TOML
  [ -z "${METRICS_PORT:-}" ] || printf '[metrics]\nlisten = "127.0.0.1:%s"\n' "$METRICS_PORT"
}

# start_dataplane CONFIG: starts it in the appliance namespace, waits for ready.
start_dataplane() {
  local config=$1 logf="$WORK/dataplane.log"
  ip netns exec "$NS_APPL" "$BIN/tollgate-dataplane" --config "$config" \
    --stats-out "$WORK/dataplane-stats.json" >"$logf" 2>&1 &
  DATAPLANE_PID=$!
  PIDS+=("$DATAPLANE_PID")
  for _ in $(seq 1 300); do
    grep -q "tollgate-dataplane: forwarding" "$logf" && { log "dataplane up (pid $DATAPLANE_PID)"; return 0; }
    kill -0 "$DATAPLANE_PID" 2>/dev/null || { cat "$logf" >&2; fail "dataplane exited during start"; }
    sleep 0.1
  done
  cat "$logf" >&2
  fail "dataplane not ready within 30 s"
}

# stop_dataplane: SIGTERM, expects a clean exit 0 within 10 s.
stop_dataplane() {
  kill -TERM "$DATAPLANE_PID"
  local rc=0
  for _ in $(seq 1 100); do
    kill -0 "$DATAPLANE_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$DATAPLANE_PID" 2>/dev/null && { kill -KILL "$DATAPLANE_PID"; fail "dataplane ignored SIGTERM for 10 s"; }
  wait "$DATAPLANE_PID" || rc=$?
  [ "$rc" -eq 0 ] || { cat "$WORK/dataplane.log" >&2; fail "dataplane exited with $rc"; }
  log "dataplane stopped cleanly"
}

# stat NAME: a counter from the dataplane's exit statistics (JSON).
stat() {
  jq -er --arg k "$1" '.[$k] // 0' "$WORK/dataplane-stats.json"
}

sim() {
  ip netns exec "$NS_GWLB" "$BIN/tollgate-sim" "$@"
}

ctl() { "$BIN/tollgatectl" --socket "$CTL_SOCK" "$@"; }

# wait_for SECONDS DESCRIPTION COMMAND...: polls every 0.1 s.
wait_for() {
  local seconds=$1 what=$2; shift 2
  local i
  for i in $(seq 1 $((seconds * 10))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "$what not within $seconds s"
}

# start_control CONFIG: starts tollgate-control, waits until it is attached
# and reports the appliance healthy.
start_control() {
  "$BIN/tollgate-control" --config "$1" >>"$WORK/control.log" 2>&1 &
  CONTROL_PID=$!
  PIDS+=("$CONTROL_PID")
  local i
  for i in $(seq 1 100); do
    ctl --json status 2>/dev/null | jq -e '.attached and .health.healthy' >/dev/null 2>&1 &&
      { log "control up (pid $CONTROL_PID)"; return 0; }
    sleep 0.1
  done
  cat "$WORK/control.log" >&2
  ctl status >&2 || true
  fail "control not attached and healthy within 10 s"
}

