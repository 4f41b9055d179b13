#!/usr/bin/env bash
# The Debian package and the fleet deployment, checked as far as this
# machine can:
#   1. scripts/package.sh builds the .deb; dpkg-deb lists every file, the
#      conffiles and the DPDK Depends;
#   2. installed into a throwaway root (dpkg --root), every path the units
#      name exists there; systemd-analyze verify is clean on the installed
#      units;
#   3. tollgate-host-prep --dry-run prints its steps and refuses bad input
#      with one line (a fake sysfs plays an EC2 host with an ENA), and a
#      real run on the fake host is idempotent;
#   4. cfn-lint (from PyPI, in a venv) is clean on the CloudFormation
#      template, and tests/deploy/check_template.py holds;
#   5. the units start the appliance: their ExecStartPre/ExecStart/
#      ExecReload lines, read from the installed unit files with the config
#      paths pointed at the test topology, run the dataplane and control;
#      GWLB's health check (the template's port and path) answers 200, the
#      simulator's traffic comes back intact, reload and drain work, and
#      SIGTERM (systemd's stop) ends the dataplane with exit 0.
# This machine has no systemd as PID 1: the units' sandboxing is checked by
# systemd-analyze, not exercised.
set -euo pipefail
NS_GWLB=${NS_GWLB:-tgp-gwlb-$$}
NS_APPL=${NS_APPL:-tgp-appl-$$}
. "$(dirname "$0")/../../scripts/lib/topology.sh"
CTL_SOCK="$WORK/control.sock"
METRICS_PORT=$((20000 + $$ % 10000))
DEB_ROOT="$WORK/root"
CFN_VENV=${TOLLGATE_CFN_VENV:-/tmp/tollgate-cfn-lint-venv}

# --- 1. the package ------------------------------------------------------------
log "building the package"
bash "$ROOT/scripts/package.sh" >"$WORK/package.log" 2>&1 || { cat "$WORK/package.log"; fail "scripts/package.sh failed"; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml")
DEB="$ROOT/target/debian/tollgate_${version}_amd64.deb"
[ -f "$DEB" ] || fail "no $DEB"

expected=(
  /usr/bin/tollgate-dataplane /usr/bin/tollgate-control /usr/bin/tollgatectl
  /usr/sbin/tollgate-host-prep
  /lib/systemd/system/tollgate-dataplane.service /lib/systemd/system/tollgate-control.service
  /etc/tollgate/dataplane.toml /etc/tollgate/control.toml /etc/tollgate/rules.toml /etc/default/tollgate
  /usr/share/tollgate/grafana-dashboard.json /usr/share/tollgate/prometheus.yml /usr/share/tollgate/alerts.yml
  /usr/share/doc/tollgate/operations.md /usr/share/doc/tollgate/copyright
)
dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\.||' >"$WORK/contents"
for f in "${expected[@]}"; do
  grep -qx "$f" "$WORK/contents" || fail "package lacks $f"
done
dpkg-deb -f "$DEB" Architecture | grep -qx amd64 || fail "package is not amd64"
conffiles=$(dpkg-deb -I "$DEB" conffiles)
for f in /etc/tollgate/dataplane.toml /etc/tollgate/control.toml /etc/tollgate/rules.toml /etc/default/tollgate; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile"
done
depends=$(dpkg-deb -f "$DEB" Depends)
for p in librte-eal23 librte-ethdev23 librte-mbuf23 librte-mempool23 librte-net-ena23 librte-bus-pci23 librte-mempool-ring23; do
  grep -q "\b$p\b" <<<"$depends" || fail "Depends lacks $p: $depends"
done
# Every DPDK library the dataplane links directly (ELF NEEDED) is a dependency.
for needed in $(readelf -d "$ROOT/target/release/tollgate-dataplane" | sed -n 's/.*Shared library: \[\(librte_[^]]*\)\]/\1/p'); do
  lib=$(ldd "$ROOT/target/release/tollgate-dataplane" | awk -v n="$needed" '$1 == n { print $3 }')
  pkg=$(dpkg -S "$(readlink -f "$lib")" | cut -d: -f1)
  grep -q "\b$pkg\b" <<<"$depends" || fail "the dataplane links $lib ($pkg), not in Depends"
done
log "package: $(wc -l <"$WORK/contents") entries, ${#expected[@]} checked; Depends: $depends"

# --- 2. installed into a throwaway root -------------------------------------------
mkdir -p "$DEB_ROOT/var/lib/dpkg/info" "$DEB_ROOT/var/lib/dpkg/updates"
touch "$DEB_ROOT/var/lib/dpkg/status"
# The root has no DPDK and no shell of its own: dependencies are checked
# above, and the maintainer scripts (no-ops without systemd) run outside it.
dpkg --root="$DEB_ROOT" --force-depends --force-script-chrootless --log=/dev/null -i "$DEB" \
  >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log"; fail "dpkg --root -i failed"; }
dpkg --root="$DEB_ROOT" -s tollgate | grep -q '^Status: install ok installed' || fail "dpkg does not list tollgate as installed"
for f in "${expected[@]}"; do
  [ -e "$DEB_ROOT$f" ] || fail "installed root lacks $f"
done
UNITS="$DEB_ROOT/lib/systemd/system"

# unit_lines UNIT KEY: the unit's KEY= lines, without systemd's prefixes.
unit_lines() { sed -n "s/^$2=[-+@!:]*//p" "$UNITS/$1"; }
for unit in tollgate-dataplane.service tollgate-control.service; do
  for key in ExecStartPre ExecStart ExecReload; do
    while read -r exe rest; do
      [ -n "$exe" ] || continue
      case $exe in /bin/kill) continue ;; esac
      [ -x "$DEB_ROOT$exe" ] || fail "$unit $key: $exe is not an executable in the package"
      for arg in $rest; do
        case $arg in /etc/*) [ -f "$DEB_ROOT$arg" ] || fail "$unit $key: $arg is not in the package" ;; esac
      done
    done < <(unit_lines "$unit" "$key")
  done
done
# The control socket lives in the control unit's RuntimeDirectory.
runtime=$(unit_lines tollgate-control.service RuntimeDirectory)
socket=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["api"]["socket"])' "$DEB_ROOT/etc/tollgate/control.toml")
[ "$(dirname "$socket")" = "/run/$runtime" ] || fail "control socket $socket is not in RuntimeDirectory=$runtime"
# Rule files named by the configs are installed next to them.
for conf in dataplane.toml:firewall:rules_file control.toml:rules:file; do
  IFS=: read -r file section key <<<"$conf"
  rules=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))[sys.argv[2]][sys.argv[3]])' \
    "$DEB_ROOT/etc/tollgate/$file" "$section" "$key")
  [ -f "$DEB_ROOT/etc/tollgate/$rules" ] || fail "$file names rule file $rules, not installed"
done
# The packaged dataplane config keeps every key of the documented example.
python3 - "$ROOT/configs/dataplane.toml" "$DEB_ROOT/etc/tollgate/dataplane.toml" <<'PY' || fail "packaged dataplane.toml lost keys"
import sys, tomllib
a, b = (tomllib.load(open(p, "rb")) for p in sys.argv[1:])
flat = lambda d, p="": {p + k for k in d} | {x for k, v in d.items() if isinstance(v, dict) for x in flat(v, p + k + ".")}
sys.exit(flat(a) != flat(b))
PY

# The alerting rules parse, and name only metrics the code exports.
if command -v promtool >/dev/null; then
  promtool check rules "$DEB_ROOT/usr/share/tollgate/alerts.yml" >"$WORK/promtool.log" 2>&1 ||
    { cat "$WORK/promtool.log"; fail "promtool check rules"; }
fi
for metric in $(grep -o 'tollgate_[a-z_]*' "$DEB_ROOT/usr/share/tollgate/alerts.yml" | sort -u); do
  grep -rqs "\"$metric\"" "$ROOT/shm/src" "$ROOT/control/src" || fail "alerts.yml uses $metric, which nothing exports"
done

# systemd-analyze verify needs the base units and /bin/kill in the root.
mkdir -p "$DEB_ROOT/usr/lib/systemd" "$DEB_ROOT/bin"
cp -a /usr/lib/systemd/system "$DEB_ROOT/usr/lib/systemd/"
cp /usr/bin/kill "$DEB_ROOT/bin/kill"
if ! systemd-analyze verify --root="$DEB_ROOT" /lib/systemd/system/tollgate-dataplane.service \
  /lib/systemd/system/tollgate-control.service >"$WORK/verify.log" 2>&1 || [ -s "$WORK/verify.log" ]; then
  cat "$WORK/verify.log"
  fail "systemd-analyze verify is not clean"
fi
log "installed with dpkg --root; systemd-analyze verify clean"

# --- 3. tollgate-host-prep ---------------------------------------------------
HOSTPREP="$DEB_ROOT/usr/sbin/tollgate-host-prep"
FAKE="$WORK/fakehost"
# An EC2 host: management ENI eth0 (0000:00:05.0, default route) and data
# ENI eth1 (0000:00:06.0), both on the kernel's ena driver, no IOMMU.
fake_host() {
  rm -rf "$FAKE"
  local s="$FAKE/sys"
  mkdir -p "$s/kernel/mm/hugepages/hugepages-2048kB" "$s/kernel/iommu_groups" "$s/bus/pci/drivers/ena" \
    "$s/bus/pci/drivers/vfio-pci" "$s/class/net" "$s/module"
  echo 16 >"$s/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
  touch "$s/bus/pci/drivers_probe"
  local pci ifname mac
  for spec in 0000:00:05.0,eth0,02:00:00:00:00:05 0000:00:06.0,eth1,02:00:00:00:00:06; do
    IFS=, read -r pci ifname mac <<<"$spec"
    mkdir -p "$s/bus/pci/devices/$pci/net/$ifname"
    echo 0x020000 >"$s/bus/pci/devices/$pci/class"
    echo 0x1d0f >"$s/bus/pci/devices/$pci/vendor"
    touch "$s/bus/pci/devices/$pci/driver_override"
    ln -s "../../drivers/ena" "$s/bus/pci/devices/$pci/driver"
    mkdir -p "$s/class/net/$ifname"
    echo "$mac" >"$s/class/net/$ifname/address"
    ln -s "../../../bus/pci/devices/$pci" "$s/class/net/$ifname/device"
  done
  printf 'MemTotal:       %s kB\n' "${1:-16000000}" >"$FAKE/meminfo"
  printf 'Iface\tDestination\tGateway\nlo\t0000FEA9\t00000000\neth0\t00000000\t0105FE0A\n' >"$FAKE/route"
  printf 'sysfs /sys sysfs rw 0 0\n' >"$FAKE/mounts"
}
hp() {
  TOLLGATE_SYSFS="$FAKE/sys" TOLLGATE_MEMINFO="$FAKE/meminfo" TOLLGATE_PROC_ROUTE="$FAKE/route" \
    TOLLGATE_MOUNTS="$FAKE/mounts" "$HOSTPREP" "$@"
}
# expect_refusal WHAT PATTERN ARGS...: exit 1, exactly one line on stderr.
expect_refusal() {
  local what=$1 pattern=$2 rc=0; shift 2
  hp "$@" >"$WORK/hp.out" 2>"$WORK/hp.err" || rc=$?
  [ "$rc" -eq 1 ] || { cat "$WORK/hp.out" "$WORK/hp.err"; fail "host-prep ($what): exit $rc, expected 1"; }
  [ "$(wc -l <"$WORK/hp.err")" -eq 1 ] || { cat "$WORK/hp.err"; fail "host-prep ($what): refusal is not one line"; }
  grep -q "$pattern" "$WORK/hp.err" || fail "host-prep ($what): '$(cat "$WORK/hp.err")' does not say '$pattern'"
  log "host-prep refuses $what: $(cat "$WORK/hp.err")"
}
PKG_DP="$DEB_ROOT/etc/tollgate/dataplane.toml"

fake_host
hp --config "$PKG_DP" --dry-run --allow-no-iommu >"$WORK/hp.out" 2>&1 || { cat "$WORK/hp.out"; fail "host-prep --dry-run failed on the fake EC2 host"; }
for step in "would write 127 to .*nr_hugepages" "would mount hugetlbfs" "would load vfio in no-IOMMU mode" \
  "would load vfio-pci" "would take eth1 down" "would write vfio-pci to .*0000:00:06.0/driver_override" \
  "would write 0000:00:06.0 to .*0000:00:06.0/driver/unbind" "would write 0000:00:06.0 to .*drivers_probe" \
  "write combining" "management interface eth0 left alone" "MTU: the dataplane sets 9001" "dry run: nothing changed"; do
  grep -q "$step" "$WORK/hp.out" || { cat "$WORK/hp.out"; fail "host-prep --dry-run does not print '$step'"; }
done
[ "$(cat "$FAKE/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 16 ] || fail "host-prep --dry-run changed nr_hugepages"
log "host-prep --dry-run on a fake EC2 host: $(grep -c would "$WORK/hp.out") steps"
hp --config "$PKG_DP" --dry-run --allow-no-iommu --device 02:00:00:00:00:06 >"$WORK/hp.out" 2>&1 || true
grep -q "MAC 02:00:00:00:00:06 is PCI device 0000:00:06.0" "$WORK/hp.out" || { cat "$WORK/hp.out"; fail "host-prep does not find the data ENI by MAC"; }

expect_refusal "no IOMMU without permission" "no IOMMU" --config "$PKG_DP" --dry-run
expect_refusal "the management ENI" "management interface" --config "$PKG_DP" --dry-run --allow-no-iommu --device 0000:00:05.0
expect_refusal "an unknown PCI device" "unknown interface: no PCI device 0000:00:09.0" --config "$PKG_DP" --dry-run --device 0000:00:09.0
expect_refusal "an unknown MAC" "no network interface has MAC" --config "$PKG_DP" --dry-run --device 02:00:00:00:00:99
expect_refusal "a non-device name" "unknown interface eth7" --config "$PKG_DP" --dry-run --device eth7
sed 's/^flow_capacity = .*/flow_capacity = 200000000/' "$PKG_DP" >"$WORK/big.toml"
expect_refusal "too little memory for the flows" "not enough memory" --config "$WORK/big.toml" --dry-run --allow-no-iommu
fake_host 700000
expect_refusal "too little memory for the mbufs" "not enough memory" --config "$PKG_DP" --dry-run --allow-no-iommu
fake_host
mkdir -p "$FAKE/sys/module/igb_uio/parameters"; echo 0 >"$FAKE/sys/module/igb_uio/parameters/wc_activate"
expect_refusal "igb_uio without write combining" "wc_activate=1" --config "$PKG_DP" --dry-run --driver igb_uio
expect_refusal "an unreadable config" "cannot read" --config "$WORK/nonexistent.toml" --dry-run
printf '[port\n' >"$WORK/broken.toml"
expect_refusal "a broken config" "broken.toml" --config "$WORK/broken.toml" --dry-run

# A real run on a fake host whose ENA is already on vfio-pci in no-IOMMU
# mode: the first run reserves hugepages, the second has nothing to do.
fake_host
rm "$FAKE/sys/bus/pci/devices/0000:00:06.0/driver"
ln -s "../../drivers/vfio-pci" "$FAKE/sys/bus/pci/devices/0000:00:06.0/driver"
rm -r "$FAKE/sys/bus/pci/devices/0000:00:06.0/net" "$FAKE/sys/class/net/eth1"
mkdir -p "$FAKE/sys/module/vfio/parameters" "$FAKE/sys/module/vfio_pci"
echo Y >"$FAKE/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
echo 'nodev /dev/hugepages hugetlbfs rw 0 0' >>"$FAKE/mounts"
hp --config "$PKG_DP" --allow-no-iommu --vfio-wc >"$WORK/hp1.out" 2>&1 || { cat "$WORK/hp1.out"; fail "host-prep failed on a prepared fake host"; }
[ "$(cat "$FAKE/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")" = 127 ] || fail "host-prep did not reserve 127 hugepages"
hp --config "$PKG_DP" --allow-no-iommu --vfio-wc >"$WORK/hp2.out" 2>&1 || { cat "$WORK/hp2.out"; fail "host-prep's second run failed"; }
grep -E ': write [^ ]+ to |would ' "$WORK/hp2.out" && fail "host-prep's second run changed something"
for what in "hugepages: 127 x 2 MiB reserved, 127 needed: nothing to do" "bound to vfio-pci: nothing to do" \
  "no-IOMMU mode already on: nothing to do" "host ready"; do
  grep -q "$what" "$WORK/hp2.out" || { cat "$WORK/hp2.out"; fail "host-prep's second run does not say '$what'"; }
done
log "host-prep is idempotent: the second run had nothing to do"

# --- 4. the CloudFormation template ------------------------------------------------
if [ ! -x "$CFN_VENV/bin/cfn-lint" ]; then
  log "installing cfn-lint from PyPI into $CFN_VENV"
  python3 -m venv "$CFN_VENV"
  "$CFN_VENV/bin/pip" install -q cfn-lint >"$WORK/pip.log" 2>&1 || { cat "$WORK/pip.log"; fail "pip install cfn-lint failed"; }
fi
TEMPLATE="$ROOT/deploy/cloudformation/tollgate-gwlb.yaml"
"$CFN_VENV/bin/cfn-lint" "$TEMPLATE" || fail "cfn-lint is not clean on $TEMPLATE"
"$CFN_VENV/bin/python" "$ROOT/tests/deploy/check_template.py" "$TEMPLATE" "$DEB_ROOT/etc/tollgate" ||
  fail "template invariants"
log "cfn-lint $("$CFN_VENV/bin/cfn-lint" --version | awk '{ print $2 }') clean"

# --- 5. the units start the appliance --------------------------------------------
topology_up
# Pass-all rules: the simulator expects every frame back unchanged (the
# packaged example rule set drops and rejects some of its flows).
cp "$ROOT/configs/rules.pass-all.toml" "$WORK/rules.toml"
RULES_FILE="$WORK/rules.toml" dataplane_config >"$WORK/dataplane.toml"
sed -e "s|^name = .*|name = \"$SHM_NAME\"|" -e "s|^socket = .*|socket = \"$CTL_SOCK\"|" \
  -e "s|^listen = .*|listen = \"127.0.0.1:$METRICS_PORT\"|" \
  -e "s|^file = .*|file = \"$WORK/rules.toml\"|" \
  "$DEB_ROOT/etc/tollgate/control.toml" >"$WORK/control.toml"
# The installed environment file, as systemd's EnvironmentFile= reads it.
TOLLGATE_HOST_PREP_ARGS=""
. "$DEB_ROOT/etc/default/tollgate"

# unit_command UNIT KEY: the unit's command line, with the packaged paths
# pointed at the throwaway root and the configs at the test topology's.
unit_command() {
  unit_lines "$1" "$2" | sed -e "s|/etc/tollgate/dataplane.toml|$WORK/dataplane.toml|g" \
    -e "s|/etc/tollgate/control.toml|$WORK/control.toml|g" \
    -e "s|\$TOLLGATE_HOST_PREP_ARGS|$TOLLGATE_HOST_PREP_ARGS|g" \
    -e "s|^/usr/|$DEB_ROOT/usr/|"
}
read -r -a prep_cmd <<<"$(unit_command tollgate-dataplane.service ExecStartPre)"
read -r -a dp_cmd <<<"$(unit_command tollgate-dataplane.service ExecStart)"
read -r -a ctl_cmd <<<"$(unit_command tollgate-control.service ExecStart)"
log "ExecStartPre: ${prep_cmd[*]}"
ip netns exec "$NS_APPL" "${prep_cmd[@]}" >"$WORK/prep.log" 2>&1 || { cat "$WORK/prep.log"; fail "the dataplane unit's ExecStartPre failed"; }
grep -q "virtual device on interface tg0: nothing to bind" "$WORK/prep.log" || { cat "$WORK/prep.log"; fail "host-prep did not find the test port"; }

log "ExecStart: ${dp_cmd[*]}"
ip netns exec "$NS_APPL" "${dp_cmd[@]}" >"$WORK/dataplane.log" 2>&1 &
DATAPLANE_PID=$!
PIDS+=("$DATAPLANE_PID")
wait_for 30 "the dataplane started from its unit" grep -q "tollgate-dataplane: forwarding" "$WORK/dataplane.log"
log "ExecStart: ${ctl_cmd[*]}"
"${ctl_cmd[@]}" >"$WORK/control.log" 2>&1 &
CONTROL_PID=$!
PIDS+=("$CONTROL_PID")
TCTL="$DEB_ROOT/usr/bin/tollgatectl"
healthy() { "$TCTL" --socket "$CTL_SOCK" --json status | jq -e '.attached and .health.healthy'; }
wait_for 15 "control attached and healthy" healthy

# GWLB's health check as the template configures it (port and path).
health_port=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["health"]["port"])' "$WORK/control.toml")
health_path=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["health"]["path"])' "$WORK/control.toml")
check() { ip netns exec "$NS_GWLB" curl -s -o /dev/null -w '%{http_code}' -m 2 "http://$APPLIANCE_IP:$health_port$health_path" || true; }
wait_for 10 "health check 200" bash -c "[ \"\$(ip netns exec $NS_GWLB curl -s -o /dev/null -w '%{http_code}' -m 2 http://$APPLIANCE_IP:$health_port$health_path)\" = 200 ]"
log "health check GET :$health_port$health_path: $(check)"

sim run --count 3000 --rate 3000 --endpoints 4 --flows 64 --sizes min,imix,1500,8500 --inner v4,v6 \
  --protocols tcp,udp,icmp --json "$WORK/sim.json" >"$WORK/sim.txt" 2>&1 ||
  { cat "$WORK/sim.txt"; fail "simulator: lost or corrupted frames through the appliance started from its units"; }
jq -e '.returned >= 3000 and .lost == 0 and .corrupted == 0' "$WORK/sim.json" >/dev/null ||
  fail "simulator summary: $(cat "$WORK/sim.json")"
log "simulator: $(jq .returned "$WORK/sim.json") frames returned intact"

# ExecReload, as systemd runs it: the rule file is loaded again.
loads=$(grep -c "validated .* rules from" "$WORK/control.log" || true)
reload=$(unit_lines tollgate-control.service ExecReload | sed "s/\$MAINPID/$CONTROL_PID/")
log "ExecReload: $reload"
$reload
wait_for 5 "the rule file reloaded on ExecReload" bash -c "[ \$(grep -c 'validated .* rules from' '$WORK/control.log') -gt $loads ]"
kill -0 "$CONTROL_PID" || fail "control exited on ExecReload"

# The termination hook's drain: health checks fail, then recover.
"$TCTL" --socket "$CTL_SOCK" drain >/dev/null
wait_for 5 "health check 503 while draining" bash -c "[ \"\$(ip netns exec $NS_GWLB curl -s -o /dev/null -w '%{http_code}' -m 2 http://$APPLIANCE_IP:$health_port$health_path)\" = 503 ]"
"$TCTL" --socket "$CTL_SOCK" undrain >/dev/null
wait_for 5 "health check 200 after undrain" bash -c "[ \"\$(ip netns exec $NS_GWLB curl -s -o /dev/null -w '%{http_code}' -m 2 http://$APPLIANCE_IP:$health_port$health_path)\" = 200 ]"
log "drain: 503; undrain: 200"

# systemctl stop: SIGTERM to each main process.
kill -TERM "$CONTROL_PID"
stop_dataplane
rc=0; wait "$CONTROL_PID" || rc=$?
[ "$rc" -eq 0 ] || { cat "$WORK/control.log"; fail "control exited with $rc on SIGTERM"; }
log "PASS: package, units, host-prep, template"
