#!/usr/bin/env bash
# The test suite: installs what it needs on a fresh Debian machine, then runs
# every unit and integration test. Tests start their own redis-server
# processes on free loopback ports and stop them again.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
need_pkg() { # need_pkg COMMAND PACKAGE...
    command -v "$1" >/dev/null 2>&1 && return
    shift
    if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
need_pkg cargo cargo rustc

# The shared placement vectors sit beside the checkout (../shared); say so
# plainly when they are not there instead of failing deep inside a test.
shared="${REDSHARD_SHARED:-../shared}"
if [ ! -d "$shared/placement" ]; then
    echo "scripts/test.sh: placement vectors not found at $shared/placement (set REDSHARD_SHARED)" >&2
    exit 1
fi

cargo build --all-targets --quiet
cargo test --quiet -- --test-threads="${TEST_THREADS:-4}"
