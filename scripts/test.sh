#!/usr/bin/env bash
# The test suite: installs what it needs on a fresh Debian machine, then runs
# every unit and integration test. Tests start their own redis-server
# processes on free loopback ports and stop them again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_cargo

# The shared placement vectors sit beside the checkout (../shared); say so
# plainly when they are not there instead of failing deep inside a test.
shared="${REDSHARD_SHARED:-../shared}"
if [ ! -d "$shared/placement" ]; then
    echo "scripts/test.sh: placement vectors not found at $shared/placement (set REDSHARD_SHARED)" >&2
    exit 1
fi

cargo build --all-targets --quiet
cargo test --quiet -- --test-threads="${TEST_THREADS:-4}"
