#!/usr/bin/env bash
# The main job: three local Redis servers with redshard in front of them.
# Installs redis-server if it is missing, builds redshard, starts everything
# on free loopback ports, prints how to connect, and stops it all on Ctrl-C
# (or after DEMO_SECONDS, if set).
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/lib.sh
need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_cargo

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p
    while :; do
        p=$((20000 + RANDOM % 30000))
        port_in_use "$p" || { echo "$p"; return; }
    done
}

cargo build --release --quiet
work=$(mktemp -d /tmp/redshard-demo.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
    echo "stopped."
}
trap cleanup EXIT
trap 'exit 0' INT TERM

listen=22121
port_in_use "$listen" && listen=$(free_port)
{
    echo "demo:"
    echo "  listen: 127.0.0.1:$listen"
    echo "  hash: fnv1a_64"
    echo "  hash_tag: \"{}\""
    echo "  distribution: ketama"
    echo "  redis: true"
    echo "  timeout: 400"
    echo "  auto_eject_hosts: true"
    echo "  server_retry_timeout: 2000"
    echo "  server_failure_limit: 2"
    echo "  servers:"
} > "$work/redshard.yml"
for i in 1 2 3; do
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --logfile "$work/redis-$i.log" &
    pids+=($!)
    echo "   - 127.0.0.1:$port:1 redis-$i" >> "$work/redshard.yml"
    echo "redis-$i: 127.0.0.1:$port (pid ${pids[-1]})"
done
for _ in $(seq 50); do
    ok=1
    for p in $(grep -o '127.0.0.1:[0-9]*:1' "$work/redshard.yml" | cut -d: -f2); do
        port_in_use "$p" || ok=0
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
done

target/release/redshard -c "$work/redshard.yml" 2> "$work/redshard.log" &
pids+=($!)
for _ in $(seq 50); do port_in_use "$listen" && break; sleep 0.1; done
port_in_use "$listen" || { cat "$work/redshard.log"; exit 1; }

echo
echo "redshard is listening on 127.0.0.1:$listen (pid ${pids[-1]}), config $work/redshard.yml"
echo
echo "  redis-cli -p $listen                # then: SET user:{42}:name ada, MGET ..., PING"
echo "  target/release/redshard route -c $work/redshard.yml <<< 'user:{42}:name'"
echo "  redis-benchmark -p $listen -t set,get -q"
echo
redis-cli -p "$listen" SET 'user:{42}:name' ada >/dev/null
redis-cli -p "$listen" MSET a 1 b 2 c 3 >/dev/null
echo "MGET user:{42}:name a b c  ->  $(redis-cli -p "$listen" MGET 'user:{42}:name' a b c | tr '\n' ' ')"
echo
if [ -n "${DEMO_SECONDS:-}" ]; then
    echo "stopping in $DEMO_SECONDS s"
    sleep "$DEMO_SECONDS"
else
    echo "Ctrl-C stops redshard and the Redis servers."
    wait "${pids[-1]}"
fi
