#!/usr/bin/env bash
# Tollgate benchmarks (issue 6). Needs root, DPDK 22.11 (scripts/setup.sh).
#
#   scripts/bench.sh [--quick] [--json PATH] [--only a,b] [--repeat N] [--no-veth]
#
# 1. In-memory device, one worker core (CPU 1): for every scenario the
#    pipeline alone (TSC cycles/packet without I/O), dpdk-testpmd macswap
#    (the I/O ceiling) and the tollgate worker on the same net_pcap
#    infinite_rx device and core (tollgate-bench run).
# 2. veth, side by side with the same generator (tollgate-sim, CPU 0): the
#    Linux kernel hairpin (iptables DNAT + MASQUERADE in a namespace, as the
#    lab's appliances do) and tollgate-dataplane on net_af_packet (worker on
#    CPU 1): delivered pps, loss, CPU per delivered packet.
# Prints the tables; --json writes every figure (ratios under keys with
# "ratio"). --quick: short runs, no 1M/4M tables (< 3 minutes). --repeat N:
# N rounds over the scenarios, each figure the median (about 5 minutes a
# round; this machine's neighbours move single runs by 10-30 %). Installs
# iptables with apt if missing. Cleans up namespaces, processes, pcaps and
# raises hugepages only for the run (restored on exit).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUICK=""; JSON=""; ONLY=""; REPEAT=1; VETH=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=--quick ;;
    --json) JSON=$2; shift ;;
    --only) ONLY=$2; shift ;;
    --repeat) REPEAT=$2; shift ;;
    --no-veth) VETH=0 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "bench.sh: needs root (DPDK, namespaces)" >&2; exit 2; }

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$CARGO_TARGET_DIR/release
WORK=$(mktemp -d /tmp/tollgate-bench.XXXXXX)
NS_G=tgb-gwlb-$$; NS_A=tgb-appl-$$
IF_G=tgbg$$; IF_A=tgba$$
SHM=tgbench$$
PIDS=()
HP=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
HP_BEFORE=$(cat "$HP")

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

cleanup() {
  set +e
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$NS_G" 2>/dev/null
  ip netns del "$NS_A" 2>/dev/null
  rm -f "/dev/shm/tollgate-$SHM" /dev/shm/tollgate-bench-*
  # EAL runtime directories of this run's DPDK processes.
  rm -rf "/var/run/dpdk/$SHM" "/var/run/dpdk/tp$SHM"
  rm -f /tmp/tollgate-bench-*.pcap
  echo "$HP_BEFORE" >"$HP"
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# --- prerequisites ---------------------------------------------------------
command -v dpdk-testpmd >/dev/null || { echo "bench.sh: dpdk-testpmd missing: run scripts/setup.sh" >&2; exit 2; }
if [ "$VETH" = 1 ] && ! command -v iptables >/dev/null; then
  log "installing iptables (kernel hairpin side of the comparison)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
fi
mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
# The 4M-flow scenario keeps 4M frames in mbufs (about 2.3 GiB).
want=$([ -n "$QUICK" ] && echo 1024 || echo 1792)
[ "$HP_BEFORE" -ge "$want" ] || echo "$want" >"$HP"

log "building (release)"
(cd "$ROOT" && cargo build --release --quiet -p tollgate-bench -p tollgate-dataplane -p tollgate-sim)

# --- 1. in-memory device ---------------------------------------------------
log "in-memory device: pipeline alone, testpmd macswap, tollgate worker"
args=(run --json "$WORK/vdev.json")
[ -n "$QUICK" ] && args+=(--quick)
[ -n "$ONLY" ] && args+=(--only "$ONLY")
args+=(--repeat "$REPEAT")
"$BIN/tollgate-bench" "${args[@]}"

# --- 2. veth: kernel hairpin and tollgate side by side ------------------------
SECS=$([ -n "$QUICK" ] && echo 2 || echo 5)
APPL_IP=10.254.11.101; GWLB_IP=10.254.11.60

veth_up() {
  ip netns add "$NS_G"; ip netns add "$NS_A"
  ip link add "$IF_G" netns "$NS_G" mtu 1500 type veth peer name "$IF_A" netns "$NS_A" mtu 1500
  for ns in "$NS_G" "$NS_A"; do ip -n "$ns" link set lo up; done
  ip netns exec "$NS_G" sysctl -qw "net.ipv6.conf.$IF_G.disable_ipv6=1"
  ip netns exec "$NS_A" sysctl -qw "net.ipv6.conf.$IF_A.disable_ipv6=1"
  ip -n "$NS_G" addr add "$GWLB_IP/24" dev "$IF_G"
  ip -n "$NS_G" link set "$IF_G" up
  ip -n "$NS_A" link set "$IF_A" up
}
veth_down() { ip netns del "$NS_G" 2>/dev/null || true; ip netns del "$NS_A" 2>/dev/null || true; }

# Jiffies of CPU 1, the appliance's core in both set-ups: softirq, and all busy time.
softirq_jiffies() { awk '/^cpu1 /{print $8}' /proc/stat; }
busy_jiffies() { awk '/^cpu1 /{print $2+$3+$4+$7+$8}' /proc/stat; }

# Generator: the simulator on CPU 0, as fast as it can, small UDP inner packets.
generate() {  # $1 = label, then extra simulator options
  local label=$1 s0 b0 s1 b1
  shift
  s0=$(softirq_jiffies); b0=$(busy_jiffies)
  ip netns exec "$NS_G" taskset -c 0 "$BIN/tollgate-sim" run --iface "$IF_G" --appliance "$APPL_IP" \
    --unordered --rate 0 --duration "$SECS" --sizes min --inner v4 --protocols udp --flows 1024 \
    --endpoints 1 --settle-ms 500 --json "$WORK/$label.json" "$@" >"$WORK/$label.log" 2>&1 || true
  s1=$(softirq_jiffies); b1=$(busy_jiffies)
  echo "$((s1 - s0)) $((b1 - b0))" >"$WORK/$label.cpu"
}

if [ "$VETH" = 1 ]; then
  log "veth: Linux kernel hairpin (iptables DNAT + MASQUERADE)"
  veth_up
  ip -n "$NS_A" addr add "$APPL_IP/24" dev "$IF_A"
  ip netns exec "$NS_A" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$NS_A" sysctl -qw "net.ipv4.conf.all.send_redirects=0" "net.ipv4.conf.$IF_A.send_redirects=0"
  ip netns exec "$NS_A" sysctl -qw "net.ipv4.conf.all.rp_filter=0" "net.ipv4.conf.$IF_A.rp_filter=0"
  # The appliance's receive work on CPU 1 (RPS), away from the generator on CPU 0.
  ip netns exec "$NS_A" sh -c "echo 2 >/sys/class/net/$IF_A/queues/rx-0/rps_cpus"
  ip netns exec "$NS_A" iptables -t nat -A PREROUTING -i "$IF_A" -p udp --dport 6081 \
    -j DNAT --to-destination "$GWLB_IP"
  ip netns exec "$NS_A" iptables -t nat -A POSTROUTING -o "$IF_A" -p udp --dport 6081 -j MASQUERADE
  generate kernel
  veth_down

  log "veth: tollgate-dataplane on net_af_packet, one worker on CPU 1"
  veth_up
  cat >"$WORK/dataplane.toml" <<TOML
[eal]
args = ["--lcores=0@0,1@1", "--in-memory", "--no-pci", "--file-prefix=$SHM",
        "--vdev=net_af_packet0,iface=$IF_A,qpairs=1,framecnt=4096"]
[port]
device = "net_af_packet0"
mtu = 1500
[appliance]
address = "$APPL_IP"
gwlb_addresses = ["$GWLB_IP/32"]
[shm]
name = "$SHM"
[firewall]
flow_capacity = 2000000
rules_file = "$ROOT/configs/rules.pass-all.toml"
TOML
  ip netns exec "$NS_A" "$BIN/tollgate-dataplane" --config "$WORK/dataplane.toml" \
    --stats-out "$WORK/dataplane-stats.json" >"$WORK/dataplane.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q "forwarding on" "$WORK/dataplane.log" && break; sleep 0.2; done
  grep -q "forwarding on" "$WORK/dataplane.log" || { cat "$WORK/dataplane.log" >&2; echo "bench.sh: dataplane did not start" >&2; exit 1; }
  generate tollgate
  kill -TERM "${PIDS[-1]}"; wait "${PIDS[-1]}" || true
  PIDS=()
  veth_down

  log "veth: dpdk-testpmd macswap on net_af_packet (the veth path's I/O ceiling)"
  veth_up
  ip netns exec "$NS_A" dpdk-testpmd --lcores=0@0,1@1 --in-memory --no-pci --file-prefix="tp$SHM" \
    --vdev="net_af_packet0,iface=$IF_A,qpairs=1,framecnt=4096" -- --forward-mode=macswap \
    --port-topology=loop --auto-start --stats-period=1 --nb-cores=1 >"$WORK/testpmd.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do grep -q "Rx-pps" "$WORK/testpmd.log" && break; sleep 0.2; done
  # testpmd answers no ARP: give the simulator a MAC (the veth delivers every frame).
  generate testpmd --appliance-mac 02:00:00:00:0b:01
  kill -INT "${PIDS[-1]}"; wait "${PIDS[-1]}" || true
  PIDS=()
  veth_down

  python3 - "$WORK" "$SECS" "$(getconf CLK_TCK)" >"$WORK/veth.json" <<'PY'
import json, sys
work, secs, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
out = {}
for name in ("kernel", "tollgate", "testpmd"):
    try:
        d = json.load(open(f"{work}/{name}.json"))
    except Exception as e:
        out[name] = {"error": str(e)}
        continue
    softirq, busy = (int(x) for x in open(f"{work}/{name}.cpu").read().split())
    delivered = d["returned"]
    r = {
        "sent": d["sent"], "returned": delivered, "lost": d["lost"],
        "corrupted": d["corrupted"], "send_pps": d["send_pps"],
        "corrupted_by_layer": d.get("corrupted_by_layer"),
        "first_corruption": (d.get("corruptions") or [None])[0],
        "delivered_pps": delivered / secs,
        "loss_ratio": d["lost"] / max(d["sent"], 1),
        "softirq_us_per_delivered": softirq / hz * 1e6 / max(delivered, 1),
    }
    if name == "testpmd":
        # macswap does not swap IP addresses: every returned frame counts as
        # delivered (the simulator calls them corrupted).
        r["note"] = "macswap: outer IPs not swapped, so every frame is 'corrupted'"
    if name in ("tollgate", "testpmd"):
        # The worker polls its core without pause: one core for the run.
        r["worker_core_us_per_delivered"] = secs * 1e6 / max(delivered, 1)
    if name == "tollgate":
        try:
            stats = json.load(open(f"{work}/dataplane-stats.json"))
            r["dataplane_drops"] = {k: v for k, v in stats.items() if "drop" in k and v}
        except Exception:
            pass
    if name == "kernel":
        r["core_busy_us_per_delivered"] = busy / hz * 1e6 / max(delivered, 1)
    out[name] = r
if "delivered_pps" in out.get("kernel", {}) and "delivered_pps" in out.get("tollgate", {}):
    out["tollgate_over_kernel_delivered_ratio"] = out["tollgate"]["delivered_pps"] / max(out["kernel"]["delivered_pps"], 1)
print(json.dumps(out, indent=1))
PY
  python3 - "$WORK/veth.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("\nveth pair (MTU 1500, generator tollgate-sim on CPU 0, appliance core CPU 1, 128-byte frames, 1024 UDP flows)")
print(f"{'appliance':<10} {'sent_pps':>10} {'deliv_pps':>10} {'loss%':>7} {'softirq_us/pkt':>15} {'core_us/pkt':>12}")
for name in ("kernel", "tollgate", "testpmd"):
    r = d.get(name, {})
    if "error" in r or not r:
        print(f"{name:<10} failed: {r.get('error')}"); continue
    core = r.get("worker_core_us_per_delivered", r.get("core_busy_us_per_delivered"))
    print(f"{name:<10} {r['send_pps']:>10.0f} {r['delivered_pps']:>10.0f} {100*r['loss_ratio']:>7.1f} "
          f"{r['softirq_us_per_delivered']:>15.2f} {core:>12.2f}")
PY
fi

if [ -n "$JSON" ]; then
  python3 - "$WORK/vdev.json" "$WORK/veth.json" >"$JSON" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
if os.path.exists(sys.argv[2]):
    d["veth"] = json.load(open(sys.argv[2]))
print(json.dumps(d, indent=1))
PY
  log "figures written to $JSON"
fi
