#!/usr/bin/env bash
# The soak of issue 20 for 2 minutes (scripts/soak.sh says what it does and
# checks): traffic churning through a small flow table, rule pushes (valid
# and invalid), control killed, a dataplane restart, a punt flood, flow
# listings; mempool, RSS, lost frames and counters checked.
set -euo pipefail
exec bash "$(dirname "$0")/../../scripts/soak.sh" --minutes "${SOAK_MINUTES:-2}" "$@"
