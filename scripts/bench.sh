#!/usr/bin/env bash
# End-to-end benchmark: redshard vs nutcracker vs one Redis directly, with
# redis-benchmark, interleaved, median of 3. Installs what it needs.
# Usage: scripts/bench.sh [--quick] [--sentinel] [--tls-only] [--cluster]
# (quick: 1 round, fewer requests; sentinel: also a pool that follows
# Sentinel, against a plain one; tls-only: just the TLS rows; cluster: just
# the Redis Cluster rows)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_pkg redis-server redis-server
need_pkg redis-benchmark redis-tools
need_pkg nutcracker nutcracker
need_pkg redis-sentinel redis-sentinel
# Certificates for the TLS rows (the proxy itself links no OpenSSL).
need_pkg openssl openssl
need_cargo
cargo build --release --quiet
# The MGET driver of the cluster rows (examples/cluster_mget.rs).
cargo build --release --quiet --example cluster_mget
exec python3 benches/e2e.py "$@"
