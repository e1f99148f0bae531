#!/usr/bin/env python3
"""End-to-end benchmark (run through scripts/bench.sh).

Starts 4 Redis servers on free loopback ports, redshard and nutcracker in
front of them with the same pool, then runs redis-benchmark
(-c 50 -n 200000 -r 100000) for SET, GET, MSET (10 keys) and MGET (10 keys),
at -P 1 and -P 16, against one Redis directly, nutcracker and redshard,
interleaved, 3 rounds; prints the median rps, the ratios and p99 latency, and
redshard's RSS after the run. Everything it starts it stops again.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDSHARD = os.path.join(ROOT, "target", "release", "redshard")
QUICK = "--quick" in sys.argv
ROUNDS = 1 if QUICK else 3
REQUESTS = 50000 if QUICK else 200000
WORKERS = os.environ.get("REDSHARD_WORKERS")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("port %d never opened" % port)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


MGET = ["MGET"] + ["key:__rand_int__"] * 10
TESTS = [
    ("SET", ["-t", "set"]),
    ("GET", ["-t", "get"]),
    ("MSET x10", ["-t", "mset"]),
    ("MGET x10", MGET),
]


def bench(port, pipeline, args):
    cmd = ["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(REQUESTS), "-r", "100000",
           "-P", str(pipeline), "--csv"]
    if args and args[0] == "-t":
        cmd += args
    else:
        cmd += args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    for line in out.splitlines():
        if line.startswith('"test"') or not line.strip():
            continue
        cols = [c.strip('"') for c in line.split(",")]
        return float(cols[1]), float(cols[6])
    raise RuntimeError("no result from %s: %s" % (" ".join(cmd), out))


def main():
    work = tempfile.mkdtemp(prefix="redshard-bench-")
    procs = []
    try:
        ports = [free_port() for _ in range(4)]
        for p in ports:
            procs.append(subprocess.Popen(["redis-server", "--port", str(p), "--save", "", "--appendonly", "no",
                                           "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL))
        for p in ports:
            wait_port(p)
        rs_port, nc_port, nc_stats = free_port(), free_port(), free_port()
        servers = "".join("   - 127.0.0.1:%d:1\n" % p for p in ports)
        pool = "  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 5000\n  servers:\n" + servers
        with open(os.path.join(work, "rs.yml"), "w") as f:
            f.write("bench:\n  listen: 127.0.0.1:%d\n%s" % (rs_port, pool))
        with open(os.path.join(work, "nc.yml"), "w") as f:
            f.write("bench:\n  listen: 127.0.0.1:%d\n%s" % (nc_port, pool))
        rs_cmd = [REDSHARD, "-c", os.path.join(work, "rs.yml")]
        if WORKERS:
            rs_cmd += ["--workers", WORKERS]
        rs = subprocess.Popen(rs_cmd, stderr=open(os.path.join(work, "rs.log"), "w"))
        procs.append(rs)
        procs.append(subprocess.Popen(["nutcracker", "-c", os.path.join(work, "nc.yml"), "-s", str(nc_stats),
                                       "-o", os.path.join(work, "nc.log")]))
        wait_port(rs_port)
        wait_port(nc_port)
        targets = [("direct", ports[0]), ("nutcracker", nc_port), ("redshard", rs_port)]
        results = {}
        for pipeline in (1, 16):
            for name, args in TESTS:
                for _ in range(ROUNDS):
                    for target, port in targets:
                        rps, p99 = bench(port, pipeline, args)
                        results.setdefault((name, pipeline, target), []).append((rps, p99))
        rss = rss_kib(rs.pid)
        print("redis-benchmark -c 50 -n %d -r 100000, median of %d interleaved rounds; %d cores" %
              (REQUESTS, ROUNDS, os.cpu_count()))
        print()
        print("| test | -P | direct rps | nutcracker rps | redshard rps | redshard/nutcracker | redshard/direct "
              "| p99 ms direct / nutcracker / redshard |")
        print("|---|---|---|---|---|---|---|---|")
        for pipeline in (1, 16):
            for name, _ in TESTS:
                med = {}
                p99 = {}
                for target, _ in targets:
                    runs = results[(name, pipeline, target)]
                    med[target] = statistics.median(r[0] for r in runs)
                    p99[target] = statistics.median(r[1] for r in runs)
                print("| %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f / %.2f / %.2f |" % (
                    name, pipeline, med["direct"], med["nutcracker"], med["redshard"],
                    med["redshard"] / med["nutcracker"], med["redshard"] / med["direct"],
                    p99["direct"], p99["nutcracker"], p99["redshard"]))
        print()
        print("redshard RSS after the runs: %.1f MiB" % (rss / 1024.0))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
