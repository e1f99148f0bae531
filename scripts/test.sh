#!/usr/bin/env bash
# The test suite: installs what it needs on a fresh Debian machine, then runs
# every unit and integration test. Tests start their own redis-server
# processes on free loopback ports and stop them again.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_pkg redis-sentinel redis-sentinel
need_cargo

# The shared placement vectors sit beside the checkout (../shared); say so
# plainly when they are not there instead of failing deep inside a test.
shared="${REDSHARD_SHARED:-../shared}"
if [ ! -d "$shared/placement" ]; then
    echo "scripts/test.sh: placement vectors not found at $shared/placement (set REDSHARD_SHARED)" >&2
    exit 1
fi

# Client libraries the compatibility tests drive, with their default
# settings: redis-py (latest and 4.x), ioredis and node-redis (latest).
# Installed under target/clients, so nothing system-wide changes.
need_pkg python3 python3
python3 -c 'import venv, ensurepip' 2>/dev/null || need_pkg __python3_venv python3-venv
need_pkg node nodejs
need_pkg npm npm
clients=target/clients
mkdir -p "$clients"
install_py() { # install_py NAME REQUIREMENT
    if [ ! -x "$clients/$1/bin/python" ] || ! "$clients/$1/bin/python" -c 'import redis' 2>/dev/null; then
        rm -rf "${clients:?}/$1"
        python3 -m venv "$clients/$1"
        "$clients/$1/bin/pip" install --quiet --disable-pip-version-check "$2"
    fi
}
install_py py-latest redis
install_py py4 'redis>=4,<5'
if [ ! -d "$clients/node/node_modules/ioredis" ] || [ ! -d "$clients/node/node_modules/redis" ]; then
    mkdir -p "$clients/node"
    (cd "$clients/node" && { [ -f package.json ] || echo '{"private":true}' > package.json; } \
        && npm install --silent --no-audit --no-fund ioredis redis >/dev/null)
fi
# Real applications through the proxy (tests/libraries.rs), each set in a
# directory of its own and pinned, so that a new release cannot change what
# the tests send; made again only when the list below changes.
install_pinned() { # install_pinned py|npm NAME PACKAGE...
    local kind=$1 dir="$clients/$2"; shift 2
    [ "$(cat "$dir/.pinned" 2>/dev/null)" = "$*" ] && return
    rm -rf "$dir"
    if [ "$kind" = py ]; then
        python3 -m venv "$dir"
        "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
    else
        mkdir -p "$dir"
        echo '{"private":true}' > "$dir/package.json"
        (cd "$dir" && npm install --silent --no-audit --no-fund --save-exact "$@" >/dev/null)
    fi
    echo "$*" > "$dir/.pinned"
}
# - huey 3.5.4: a Python job queue, with redis-py 8.1.0, the version it
#   was checked with;
# - django-redis 7.0.0 with Django 5.2.19, the newest Django for Python 3.11
#   (Django 6 needs 3.12);
# - bullmq 6.7.6 with ioredis 6.1.0, which BullMQ 6 no longer installs itself
#   (an optional peer dependency);
# - aiocache 0.12.3 (a cache) and dramatiq 2.2.1 (a task broker).
install_pinned py py-apps huey==3.5.4 redis==8.1.0 django-redis==7.0.0 Django==5.2.19 \
    aiocache==0.12.3 dramatiq==2.2.1
install_pinned npm node-apps bullmq@6.7.6 ioredis@6.1.0
echo "clients: redis-py $("$clients/py-latest/bin/python" -c 'import redis; print(redis.__version__)')," \
    "redis-py $("$clients/py4/bin/python" -c 'import redis; print(redis.__version__)')," \
    "ioredis $(node -p "require('./$clients/node/node_modules/ioredis/package.json').version")," \
    "node-redis $(node -p "require('./$clients/node/node_modules/redis/package.json').version")"

cargo build --all-targets --quiet
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --quiet --no-fail-fast -- --test-threads="${TEST_THREADS:-4}" 2>&1 | tee "$log" || status=$?
# One closing line for the whole suite (cargo prints one per test binary,
# the last being the doc tests).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
