#!/usr/bin/env bash
# Builds the Debian 12 package: target/debian/tollgate_<version>_amd64.deb.
#
#   /usr/bin/tollgate-dataplane, tollgate-control, tollgatectl
#   /usr/sbin/tollgate-host-prep
#   /lib/systemd/system/tollgate-dataplane.service, tollgate-control.service
#   /etc/tollgate/{dataplane,control,rules}.toml, /etc/default/tollgate (conffiles)
#   /usr/share/tollgate/{grafana-dashboard.json,prometheus.yml,alerts.yml}
#   /usr/share/doc/tollgate/{README.md,operations.md,copyright}
#
# The tree is staged and packed with dpkg-deb (under fakeroot when run as a
# user): the package is a handful of files and four maintainer lines, which
# does not call for cargo-deb (a crates.io tool compiled on every fresh CI
# machine) or debhelper. Depends: dpkg-shlibdeps on the binaries (the DPDK
# libraries they link) plus the DPDK plugins EAL loads at run time, which no
# ELF dependency names.
#
# Usage: scripts/package.sh [--no-build]   (--no-build: use target/release as is)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"

build=1
[ "${1:-}" = --no-build ] && build=0

version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "package: no [workspace.package] version in Cargo.toml" >&2; exit 1; }
arch=amd64
name=tollgate_${version}_${arch}
out=target/debian
stage=$out/$name
deb=$out/$name.deb

if [ "$build" -eq 1 ]; then
  nice cargo build --release -p tollgate-dataplane -p tollgate-control --bins
fi
for b in tollgate-dataplane tollgate-control tollgatectl; do
  [ -x "target/release/$b" ] || { echo "package: target/release/$b missing (build first)" >&2; exit 1; }
done

rm -rf "$stage" "$deb"
install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/usr/sbin" "$stage/lib/systemd/system" \
  "$stage/etc/tollgate" "$stage/etc/default" "$stage/usr/share/tollgate" "$stage/usr/share/doc/tollgate"

for b in tollgate-dataplane tollgate-control tollgatectl; do
  # Symbols stay (profiles and backtraces need them); DWARF goes.
  objcopy --strip-debug "target/release/$b" "$stage/usr/bin/$b"
  chmod 0755 "$stage/usr/bin/$b"
done
install -m 0755 deploy/tollgate-host-prep "$stage/usr/sbin/tollgate-host-prep"
install -m 0644 deploy/systemd/tollgate-dataplane.service deploy/systemd/tollgate-control.service \
  "$stage/lib/systemd/system/"

# Configs: the documented examples, pointed at an EC2 data ENI and at
# /etc/tollgate/rules.toml instead of the demo's veth and rule set. Every key
# and comment stays (tests/e2e/test_package.sh checks the key sets match).
awk '
  /^args = \[/ { skip = 1
    print "args = [\"-l\", \"0-2\", \"--in-memory\", \"-a\", \"0000:00:06.0,large_llq_hdr=1\"]"; next }
  skip && /^\]/ { skip = 0; next }
  skip { next }
  /^device = / { print "device = \"0000:00:06.0\""; next }
  /^rules_file = / { print "rules_file = \"rules.toml\""; next }
  /^# This file is the default used by scripts\/demo.sh/ {
    print "# Installed by the tollgate package for an EC2 appliance: the data ENI at"
    print "# PCI 0000:00:06.0 (bound by tollgate-host-prep), lcore 0 for housekeeping,"
    print "# lcores 1-2 as workers. Edit device, -a and -l for the instance."
    print "# --in-memory: no hugepage files, so a crashed run leaves no pages taken."; skip_hdr = 1; next }
  skip_hdr && /^# / { next }
  { skip_hdr = 0; print }
' configs/dataplane.toml >"$stage/etc/tollgate/dataplane.toml"
sed 's/^file = "rules.demo.toml"/file = "rules.toml"/' configs/control.toml >"$stage/etc/tollgate/control.toml"
install -m 0644 configs/rules.example.toml "$stage/etc/tollgate/rules.toml"
chmod 0644 "$stage/etc/tollgate/"*.toml
cat >"$stage/etc/default/tollgate" <<'EOF'
# Extra arguments for tollgate-host-prep (run before each start of
# tollgate-dataplane.service), e.g.
#   --allow-no-iommu   EC2 instance types without an IOMMU (vfio no-IOMMU mode)
#   --driver igb_uio   igb_uio (dpdk-kmods) with wc_activate=1
#   --vfio-wc          vfio-pci carries the ENA write-combining patch
TOLLGATE_HOST_PREP_ARGS=""
EOF

install -m 0644 configs/grafana-dashboard.json configs/prometheus.yml "$stage/usr/share/tollgate/"
install -m 0644 deploy/prometheus/tollgate-alerts.yml "$stage/usr/share/tollgate/alerts.yml"
install -m 0644 README.md docs/operations.md "$stage/usr/share/doc/tollgate/"
cat >"$stage/usr/share/doc/tollgate/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: tollgate
License: Apache-2.0
Files: *
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
EOF

(cd "$stage" && find etc -type f | sort | sed 's|^|/|') >"$stage/DEBIAN/conffiles"

# Run-time dependencies. dpkg-shlibdeps wants a debian/control to read.
shlib_dir=$(mktemp -d)
trap 'rm -rf "$shlib_dir"' EXIT
mkdir -p "$shlib_dir/debian"
printf 'Source: tollgate\n\nPackage: tollgate\nArchitecture: any\n' >"$shlib_dir/debian/control"
shlibs=$(cd "$shlib_dir" && dpkg-shlibdeps -O "$ROOT/$stage"/usr/bin/* 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
# EAL loads these from /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0 by itself:
# the PCI and virtual buses, the ring mempool driver, the ENA PMD, and
# net_af_packet (the demo's and tests' port).
dpdk_version=$(dpkg-query -W -f='${Version}' librte-eal23)
plugins="librte-bus-pci23 (>= $dpdk_version), librte-bus-vdev23 (>= $dpdk_version), librte-mempool-ring23 (>= $dpdk_version), librte-net-ena23 (>= $dpdk_version), librte-net-af-packet23 (>= $dpdk_version)"
# tollgate-host-prep: python3 (tomllib) reads the config; kmod, iproute2.
tools="python3 (>= 3.11), kmod, iproute2"

installed_kib=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: tollgate
Version: $version
Architecture: $arch
Maintainer: Tollgate developers <tollgate@localhost>
Section: net
Priority: optional
Installed-Size: $installed_kib
Depends: $shlibs, $plugins, $tools
Description: DPDK dataplane for AWS Gateway Load Balancer appliances
 Tollgate hairpins GWLB's GENEVE traffic through a stateful firewall at
 poll-mode speed: tollgate-dataplane (DPDK), tollgate-control (rules,
 health checks, Prometheus metrics), tollgatectl, tollgate-host-prep (ENA
 hugepages and driver binding) and their systemd units.
EOF

# Units are not enabled here: the operator (or the CloudFormation user data)
# enables them once the configs describe the instance.
cat >"$stage/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
# Installed into another root (dpkg --root, chrootless): leave this host alone.
[ -z "${DPKG_ROOT:-}" ] || exit 0
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade restarts what runs (drain first: docs/operations.md).
  [ -n "$2" ] && systemctl try-restart tollgate-dataplane.service tollgate-control.service || true
fi
exit 0
EOF
cat >"$stage/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
# Installed into another root (dpkg --root, chrootless): leave this host alone.
[ -z "${DPKG_ROOT:-}" ] || exit 0
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop tollgate-control.service tollgate-dataplane.service || true
  systemctl disable tollgate-control.service tollgate-dataplane.service || true
fi
exit 0
EOF
cat >"$stage/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
# Installed into another root (dpkg --root, chrootless): leave this host alone.
[ -z "${DPKG_ROOT:-}" ] || exit 0
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
exit 0
EOF
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"

if [ "$(id -u)" -eq 0 ]; then
  dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
else
  fakeroot dpkg-deb --build "$stage" "$deb" >/dev/null
fi
echo "package: $deb"
