#!/usr/bin/env bash
# The main job, for now: build redshard and show where keys live in the
# example pool (conf/redshard.yml) — the distribution test bench, and a few
# keys routed. (The proxy itself arrives with the data path.)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq cargo rustc; else sudo apt-get update -qq && sudo apt-get install -y -qq cargo rustc; fi
fi

cargo build --release --quiet
bin=target/release/redshard
conf=conf/redshard.yml

"$bin" -t -c "$conf"
echo
"$bin" dist -c "$conf"
echo
"$bin" dist -c "$conf" --keys 200000 --remove 127.0.0.1:7004 | tail -n 7
echo
printf 'user:{42}:name\nuser:{42}:email\nsession:abc\ncart:7\n' | "$bin" route -c "$conf"
