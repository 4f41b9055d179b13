#!/usr/bin/env bash
# Prepares a Debian 12 host (as root) to build, test and run tollgate.
# Idempotent: safe to run again; does only what is missing.
set -euo pipefail

HUGEPAGES_2M=${TOLLGATE_HUGEPAGES_2M:-1024}   # 2 GiB of 2 MiB pages
PACKAGES=(
  dpdk dpdk-dev libdpdk-dev          # DPDK 22.11 runtime, tools (testpmd), headers
  clang libclang-dev pkg-config      # bindgen
  iproute2 iputils-ping ethtool      # namespaces, veth, ping
  tshark tcpdump python3-scapy       # independent decoders and fixture builders
  prometheus                         # real scraper for the metrics test
  curl jq valgrind iperf3             # iperf3: real TCP/UDP through the appliance (e2e)
  dpkg-dev binutils python3-venv systemd  # package.sh (dpkg-shlibdeps, objcopy), cfn-lint venv, systemd-analyze
)

log() { printf 'setup: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (installs packages, reserves hugepages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer once.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts the prometheus service on install; tests run their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi

# Hugepages: reserve, and mount hugetlbfs if nothing is mounted.
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
if [ -w "$nr" ] && [ "$(cat "$nr")" -lt "$HUGEPAGES_2M" ]; then
  echo "$HUGEPAGES_2M" > "$nr"
  log "reserved $(cat "$nr") x 2 MiB hugepages"
fi
if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
  mkdir -p /dev/hugepages
  mount -t hugetlbfs nodev /dev/hugepages
  log "mounted hugetlbfs on /dev/hugepages"
fi
free_pages=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages 2>/dev/null || echo 0)
log "ok: DPDK $(pkg-config --modversion libdpdk), ${free_pages} free 2 MiB hugepages"
