#!/usr/bin/env bash
# The GWLB simulator checks itself against its own reflector (it must catch
# loss, corruption and wrong expectations) before its verdicts on the
# dataplane are worth anything. See tests/gwlb-sim/selftest.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOLLGATE_SIM="$ROOT/target/release/tollgate-sim" exec bash "$ROOT/tests/gwlb-sim/selftest.sh"
