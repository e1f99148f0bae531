#!/usr/bin/env python3
"""End-to-end benchmark (run through scripts/bench.sh).

Starts 4 Redis servers on free loopback ports, redshard and nutcracker in
front of them with the same pool, then runs redis-benchmark
(-c 50 -n 200000 -r 100000) for SET, GET, MSET (10 keys) and MGET (10 keys),
at -P 1 and -P 16, against one Redis directly, nutcracker and redshard,
interleaved, 3 rounds; prints the median rps, the ratios, p99 latency, each
proxy's CPU time per request, and redshard's RSS after the run; then hosted
commands against the same scripts through nutcracker, and publish/subscribe
throughput against one Redis directly; then TLS: redshard with TLS on both
sides (clients and servers) and with TLS toward clients only, against TLS
directly to one Redis, with redshard in plain text in the same rounds for the
ratio to plain; then Redis Cluster: a pool with `cluster: true` in front of
a 3-master cluster against clients straight at the cluster (redis-benchmark
--cluster for SET and GET; for MGET of 10 keys over many slots, which
redis-benchmark cannot send to a cluster, examples/cluster_mget.rs on both
sides, see there). Everything it starts it stops again.

--tls-only runs the TLS section alone (it is one of the slower sections);
--cluster runs the cluster section alone.

REDSHARD_BIN=path benchmarks another redshard binary; REDSHARD_BASE=path adds a
second redshard (e.g. the previous build) to the same interleaved rounds, for
a before/after comparison from one run. --sentinel adds a redshard whose pool
follows three redis-sentinel processes monitoring the same four servers (as
masters m1..m4), to price a sentinel pool against a plain one.
"""
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REDSHARD = os.environ.get("REDSHARD_BIN") or os.path.join(ROOT, "target", "release", "redshard")
QUICK = "--quick" in sys.argv
TLS_ONLY = "--tls-only" in sys.argv
CLUSTER_ONLY = "--cluster" in sys.argv
ROUNDS = 1 if QUICK else 3
REQUESTS = 50000 if QUICK else 200000
BASE = os.environ.get("REDSHARD_BASE")
WORKERS = os.environ.get("REDSHARD_WORKERS")
SENTINEL = "--sentinel" in sys.argv
TICK = os.sysconf("SC_CLK_TCK")


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


def children_cpu():
    """CPU time of the benchmark programs so far (servers and proxies are waited for at the end only)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_seconds(pid):
    """User plus system CPU time of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


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


def bench(port, pipeline, args, options=(), requests=REQUESTS):
    """redis-benchmark's rps and p99 ms for one test (`options`: its TLS
    options, or --cluster)."""
    cmd = ["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-r", "100000",
           "-P", str(pipeline), "--csv"] + list(options) + list(args)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    for line in out.splitlines():
        # In --cluster mode it lists the masters before the CSV.
        if line.startswith('"test"') or not line.startswith('"'):
            continue
        cols = [c.strip('"') for c in line.split(",")]
        return float(cols[1]), float(cols[6])
    raise RuntimeError("no result from %s: %s" % (" ".join(cmd), out))


def script(name):
    """A hosted script as redshard sends it (some share a prelude)."""
    text = ""
    if name in ("rp_open.lua", "sk_buy.lua"):
        with open(os.path.join(ROOT, "src", "hosted", "lua", "expire_with_parent.lua")) as f:
            text = f.read()
    with open(os.path.join(ROOT, "src", "hosted", "lua", name)) as f:
        return text + f.read()


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port)] + list(args), capture_output=True, text=True,
                          timeout=30).stdout.strip()


def hosted_bench(rs_port, nc_port, backend_ports):
    """LOCK.ACQUIRE + LOCK.RELEASE and SECKILL.BUY through redshard, against
    the same scripts sent as EVALSHA through nutcracker (loaded on every
    backend first, as an app would have to)."""
    shas = {}
    for name in ("lock_acquire.lua", "lock_release.lua", "sk_buy.lua", "sk_create.lua"):
        for p in backend_ports:
            shas[name] = redis_cli(p, "SCRIPT", "LOAD", script(name))
    n = str(max(REQUESTS // 4, 10000))
    runs = []

    def rps(port, *cmd):
        out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", n, "-r", "100000", "--csv"]
                             + list(cmd), capture_output=True, text=True, timeout=600).stdout
        line = [l for l in out.splitlines() if l and not l.startswith('"test"')][0]
        return float(line.split(",")[1].strip('"'))

    rounds = []
    for _ in range(ROUNDS):
        acq = rps(rs_port, "LOCK.ACQUIRE", "bench:__rand_int__", "owner", "60000")
        rel = rps(rs_port, "LOCK.RELEASE", "bench:__rand_int__", "owner")
        nc_acq = rps(nc_port, "EVALSHA", shas["lock_acquire.lua"], "1", "rs:lock:{bench:__rand_int__}", "owner", "60000")
        nc_rel = rps(nc_port, "EVALSHA", shas["lock_release.lua"], "1", "rs:lock:{bench:__rand_int__}", "owner")
        rounds.append((acq, rel, nc_acq, nc_rel))
    # Pairs per second: one acquire and one release each.
    pair = lambda a, r: 1.0 / (1.0 / a + 1.0 / r)
    runs.append(("LOCK.ACQUIRE + LOCK.RELEASE (pairs/s)",
                 statistics.median(pair(a, r) for a, r, _, _ in rounds),
                 statistics.median(pair(a, r) for _, _, a, r in rounds)))
    redis_cli(rs_port, "SECKILL.CREATE", "bench-rs", "100000000")
    keys = ["rs:sk:{bench-nc}:meta", "rs:sk:{bench-nc}:buyers", "rs:sk:{bench-nc}:orders"]
    redis_cli(nc_port, "EVALSHA", shas["sk_create.lua"], "3", *keys, "100000000", "0", "120000000", "86400")
    buys = []
    for _ in range(ROUNDS):
        rs_buy = rps(rs_port, "SECKILL.BUY", "bench-rs", "user:__rand_int__")
        nc_buy = rps(nc_port, "EVALSHA", shas["sk_buy.lua"], "3", *keys, "user:__rand_int__", "bench-nc", "0")
        buys.append((rs_buy, nc_buy))
    runs.append(("SECKILL.BUY", statistics.median(b[0] for b in buys), statistics.median(b[1] for b in buys)))
    return runs


def pubsub_rate(port, proc, messages, subscribers=3):
    """Messages per second delivered to every one of `subscribers` on one
    channel, published by one client pipelining 1,000 PUBLISHes per write;
    and the proxy's CPU µs per message delivered (0 without a proxy)."""
    import threading
    payload = b"x" * 16
    channel = b"bench:ch"
    frame = b"*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload)
    subs = []
    for _ in range(subscribers):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"SUBSCRIBE %s\r\n" % channel)
        got = b""
        while not got.endswith(b":1\r\n"):
            got += s.recv(4096)
        subs.append(s)
    want = len(frame) * messages
    done = []

    def drain(s):
        n = 0
        while n < want:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            n += len(chunk)
        done.append(n)

    readers = [threading.Thread(target=drain, args=(s,)) for s in subs]
    before = cpu_seconds(proc.pid) if proc else 0
    started = time.time()
    for t in readers:
        t.start()
    pub = socket.create_connection(("127.0.0.1", port))
    batch = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(channel), channel, len(payload), payload) * 1000
    reply = b":%d\r\n" % subscribers
    for _ in range(messages // 1000):
        pub.sendall(batch)
        need = len(reply) * 1000
        while need > 0:
            need -= len(pub.recv(need))
    for t in readers:
        t.join(timeout=120)
    took = time.time() - started
    used = (cpu_seconds(proc.pid) - before) if proc else 0
    for s in subs + [pub]:
        s.close()
    assert all(n == want for n in done), (done, want)
    return messages / took, used * 1e6 / (messages * subscribers)
def start_sentinels(work, ports, procs):
    """Three redis-sentinel processes monitoring `ports` as masters m1..; their ports."""
    sentinel_ports = []
    for i in range(3):
        port = free_port()
        conf = os.path.join(work, "sentinel%d.conf" % i)
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\n" % (port, work))
            for n, p in enumerate(ports):
                f.write("sentinel monitor m%d 127.0.0.1 %d 2\n" % (n + 1, p))
        procs.append(subprocess.Popen(["redis-sentinel", conf], stdout=subprocess.DEVNULL))
        sentinel_ports.append(port)
    for p in sentinel_ports:
        wait_port(p)
    return sentinel_ports


def start_cluster(work, procs, masters=3):
    """A Redis Cluster of `masters` masters without replicas, every slot
    served: redis-server --cluster-enabled yes, each node in a directory of
    its own (its nodes.conf) and with a free port for its cluster bus too
    (port + 10000, the default, is past 65535 for high ephemeral ports),
    joined by redis-cli --cluster create; stopped by PID with the rest of
    `procs`. The nodes' ports and processes."""
    ports, nodes = [], []
    for i in range(masters):
        port, bus = free_port(), free_port()
        node_dir = os.path.join(work, "cluster-node%d" % i)
        os.makedirs(node_dir)
        nodes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--cluster-enabled", "yes", "--cluster-port", str(bus),
             "--dir", node_dir, "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
            stdout=subprocess.DEVNULL))
        procs.append(nodes[-1])
        ports.append(port)
    for p in ports:
        wait_port(p)
    subprocess.run(["redis-cli", "--cluster", "create"] + ["127.0.0.1:%d" % p for p in ports]
                   + ["--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=60)
    deadline = time.time() + 20
    while True:
        infos = [redis_cli(p, "CLUSTER", "INFO") for p in ports]
        if all("cluster_state:ok" in i and "cluster_known_nodes:%d" % masters in i for i in infos):
            return ports, nodes
        if time.time() > deadline:
            raise RuntimeError("the cluster never settled: %s" % infos)
        time.sleep(0.05)


def pool_for(server_ports, extra=""):
    """The benchmarked pool's settings over `server_ports`."""
    servers = "".join("   - 127.0.0.1:%d:1\n" % p for p in server_ports)
    return "  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n  timeout: 5000\n%s  servers:\n%s" % (
        extra, servers)


def make_certs(work):
    """A CA and a certificate it signs for 127.0.0.1, with Debian's openssl
    (the proxy itself links no OpenSSL)."""
    ca, ca_key = os.path.join(work, "ca.pem"), os.path.join(work, "ca-key.pem")
    cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
    csr, ext = os.path.join(work, "cert.csr"), os.path.join(work, "cert.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run = lambda *a: subprocess.run(["openssl"] + list(a), check=True, capture_output=True)
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=redshard bench CA")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "2", "-extfile", ext)
    return ca, cert, key


def tls_bench(work, procs, start_redshard, plain_ports, plain_rs):
    """TLS throughput and proxy CPU: redshard with TLS on both sides and on
    the client side only, TLS directly to one Redis, and the plain redshard
    (`plain_rs`: port, process) in the same interleaved rounds."""
    ca, cert, key = make_certs(work)
    tls_ports = [free_port() for _ in range(4)]
    for p in tls_ports:
        procs.append(subprocess.Popen(
            ["redis-server", "--port", "0", "--tls-port", str(p), "--tls-cert-file", cert, "--tls-key-file", key,
             "--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
             "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL))
    for p in tls_ports:
        wait_port(p)
    listen_tls = "  tls_cert: %s\n  tls_key: %s\n" % (cert, key)
    backend_tls = "  tls: true\n  tls_ca: %s\n" % ca
    both_port, client_port = free_port(), free_port()
    both = start_redshard(REDSHARD, both_port, "tls-both", pool_for(tls_ports, listen_tls + backend_tls))
    client_only = start_redshard(REDSHARD, client_port, "tls-client", pool_for(plain_ports, listen_tls))
    tls_args = ["--tls", "--cacert", ca]
    targets = [("direct TLS", tls_ports[0], None, tls_args), ("redshard TLS both sides", both_port, both, tls_args),
               ("redshard TLS to clients", client_port, client_only, tls_args),
               ("redshard plain", plain_rs[0], plain_rs[1], [])]
    tests = TESTS[:2]
    results, cpu = {}, {}
    for pipeline in (1, 16):
        for name, args in tests:
            for _ in range(ROUNDS):
                for target, port, proc, tls in targets:
                    before = cpu_seconds(proc.pid) if proc else 0
                    rps, _ = bench(port, pipeline, args, tls)
                    used = (cpu_seconds(proc.pid) - before) if proc else 0
                    results.setdefault((name, pipeline, target), []).append(rps)
                    cpu.setdefault((name, pipeline, target), []).append(used * 1e6 / REQUESTS)
    print()
    print("TLS (redis-benchmark --tls, TLS 1.3, ECDSA P-256; redshard's provider: rustls with ring), "
          "median of %d interleaved rounds" % ROUNDS)
    print()
    print("| test | -P | direct TLS rps | redshard TLS both sides rps | redshard TLS to clients rps "
          "| redshard plain rps | both/direct TLS | clients-only/direct TLS | both/plain "
          "| CPU µs/req both / clients-only / plain |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for pipeline in (1, 16):
        for name, _ in tests:
            med = {t: statistics.median(results[(name, pipeline, t)]) for t, _, _, _ in targets}
            us = {t: statistics.median(cpu[(name, pipeline, t)]) for t, _, p, _ in targets if p}
            d, b, c, p = (med["direct TLS"], med["redshard TLS both sides"], med["redshard TLS to clients"],
                          med["redshard plain"])
            print("| %s | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.1f / %.1f / %.1f |" % (
                name, pipeline, d, b, c, p, b / d, c / d, b / p, us["redshard TLS both sides"],
                us["redshard TLS to clients"], us["redshard plain"]))


MGET_DRIVER = os.path.join(ROOT, "target", "release", "examples", "cluster_mget")


def mget_driver(mode, port, pipeline, requests):
    """examples/cluster_mget.rs: `requests` MGETs of 10 random keys, `mode`
    proxy (whole, to `port`) or cluster (split by slot, to the nodes of the
    cluster at `port`); rps, p99 ms and the number of MGETs done."""
    cmd = [MGET_DRIVER, mode, str(port), "-c", "50", "-n", str(requests), "-r", "100000", "-P", str(pipeline),
           "-k", "10"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), out.stderr))
    rps, p99, done = out.stdout.split()
    return float(rps), float(p99), int(done)


CLUSTER_SECONDS = 3 if QUICK else 6
CLUSTER_TESTS = [("SET", ["-t", "set"]), ("GET", ["-t", "get"]), ("MGET x10", None)]


def cluster_bench(work, procs, start_redshard):
    """redshard with a pool over a 3-master Redis Cluster against clients
    that talk to the cluster directly, interleaved: SET and GET with
    redis-benchmark (--cluster for the direct side), MGET of 10 keys with
    examples/cluster_mget.rs on both sides. redshard's CPU per request, and
    the nodes' (summed) on each side. For what the cluster machinery costs:
    redshard with a plain pool over as many plain servers, in the same
    rounds."""
    ports, nodes = start_cluster(work, procs)
    seeds = "".join("   - 127.0.0.1:%d:1\n" % p for p in ports)
    rs_port = free_port()
    rs = start_redshard(REDSHARD, rs_port, "cluster",
                        "  redis: true\n  cluster: true\n  timeout: 5000\n  servers:\n" + seeds)
    plain_ports = [free_port() for _ in ports]
    for p in plain_ports:
        procs.append(subprocess.Popen(["redis-server", "--port", str(p), "--save", "", "--appendonly", "no",
                                       "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL))
    for p in plain_ports:
        wait_port(p)
    plain_port = free_port()
    plain = start_redshard(REDSHARD, plain_port, "cluster-plain", pool_for(plain_ports))
    node_cpu = lambda: sum(cpu_seconds(n.pid) for n in nodes)
    results, cpu = {}, {}

    def run(key, target, measure, proxy=rs):
        proxy_before, nodes_before, client_before = cpu_seconds(proxy.pid), node_cpu(), children_cpu()
        rps, p99, done = measure()
        proxy_used, nodes_used = cpu_seconds(proxy.pid) - proxy_before, node_cpu() - nodes_before
        results.setdefault(key + (target,), []).append((rps, p99))
        cpu.setdefault(key + (target, "nodes"), []).append(nodes_used * 1e6 / done)
        cpu.setdefault(key + (target, "proxy"), []).append(proxy_used * 1e6 / done)
        cpu.setdefault(key + (target, "client"), []).append((children_cpu() - client_before) * 1e6 / done)

    # SET runs first: it writes the keys (key:<12 digits>) the MGETs read.
    for pipeline in (1, 16):
        for name, args in CLUSTER_TESTS:
            n = REQUESTS * (4 if pipeline > 1 else 1)
            if args:
                # --cluster runs one thread per master, and a threaded
                # redis-benchmark sees its end on a 250 ms tick: its time is
                # rounded up to the next quarter second (200,000 requests in
                # 0.26 s report 400,000 rps). Runs sized from uncounted
                # ones to last CLUSTER_SECONDS keep that below 0.25 /
                # CLUSTER_SECONDS of the direct side's rate (twice: a short
                # first one underrates it).
                for _ in range(2):
                    rate, _ = bench(ports[0], pipeline, args, ["--cluster"], n)
                    n = max(n, int(rate * CLUSTER_SECONDS))
            for _ in range(ROUNDS):
                if args:
                    run((name, pipeline), "direct", lambda: bench(ports[0], pipeline, args, ["--cluster"], n) + (n,))
                    run((name, pipeline), "redshard", lambda: bench(rs_port, pipeline, args, (), n) + (n,))
                    run((name, pipeline), "plain", lambda: bench(plain_port, pipeline, args, (), n) + (n,), plain)
                else:
                    run((name, pipeline), "direct", lambda: mget_driver("cluster", ports[0], pipeline, n))
                    run((name, pipeline), "redshard", lambda: mget_driver("proxy", rs_port, pipeline, n))
                    run((name, pipeline), "plain", lambda: mget_driver("proxy", plain_port, pipeline, n), plain)
    print()
    print("Redis Cluster (%d masters, no replicas): redshard, a pool with `cluster: true` and the masters as"
          " seeds, against clients straight at the cluster; -c 50, keys from 100,000, median of %d interleaved"
          " rounds" % (len(ports), ROUNDS))
    print()
    print("- SET, GET: redis-benchmark -t set|get through redshard (keys key:<n>, a batch of -P spread over the"
          " masters); direct: redis-benchmark --cluster (keys key:{tag}:<n>: each client stays on one"
          " master, a batch of -P shares one slot of it); -n for about %d s of the direct side (its threads"
          " round its time up to 250 ms)" % CLUSTER_SECONDS)
    print("- MGET x10: examples/cluster_mget.rs on both sides, -n %d (%d at -P 16), 10 random keys key:<n> per"
          " MGET; direct: one MGET per slot, each master's share pipelined on its connection, every master"
          " written before any is read; through redshard: the MGET whole" % (REQUESTS, REQUESTS * 4))
    print("- plain pool: the redshard side's runs through a plain pool (ketama) over %d plain"
          " redis-servers, for what the cluster machinery costs" % len(plain_ports))
    print()
    print("- CPU: µs per request of the proxy, of the nodes (summed) and of the client (the benchmark"
          " program); 'cores busy' = all three's CPU over the run's time, the direct side's out of %d cores;"
          " 'proxy µs for 0.9x': the most proxy CPU per request that still leaves 0.9x of the direct rate"
          " on these cores, given the client's and nodes' CPU through redshard" % os.cpu_count())
    print()
    print("| test | -P | direct rps | redshard rps | redshard/direct | p99 ms direct / redshard "
          "| redshard CPU µs/req | nodes' CPU µs/req direct / redshard | client CPU µs/req direct / redshard "
          "| cores busy direct | proxy µs for 0.9x | plain pool rps | cluster/plain rps | plain pool CPU µs/req |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for pipeline in (1, 16):
        for name, _ in CLUSTER_TESTS:
            med = lambda t, i: statistics.median(r[i] for r in results[(name, pipeline, t)])
            us = lambda t, what: statistics.median(cpu[(name, pipeline, t, what)])
            direct = med("direct", 0)
            busy = direct * (us("direct", "nodes") + us("direct", "client")) / 1e6
            # Cores / (0.9 direct rate) is the CPU a request may take in all.
            allowed = os.cpu_count() * 1e6 / (0.9 * direct) - us("redshard", "nodes") - us("redshard", "client")
            print("| %s | %d | %.0f | %.0f | %.2f | %.2f / %.2f | %.1f | %.1f / %.1f | %.1f / %.1f | %.2f | %.2f "
                  "| %.0f | %.2f | %.1f |" % (
                      name, pipeline, direct, med("redshard", 0), med("redshard", 0) / direct,
                      med("direct", 1), med("redshard", 1), us("redshard", "proxy"), us("direct", "nodes"),
                      us("redshard", "nodes"), us("direct", "client"), us("redshard", "client"), busy, allowed,
                      med("plain", 0), med("redshard", 0) / med("plain", 0), us("plain", "proxy")))


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
        pool = pool_for(ports)
        with open(os.path.join(work, "nc.yml"), "w") as f:
            f.write("bench:\n  listen: 127.0.0.1:%d\n%s" % (nc_port, pool))
        def start_redshard(binary, port, tag, pool=pool):
            conf = os.path.join(work, tag + ".yml")
            with open(conf, "w") as f:
                f.write("bench:\n  listen: 127.0.0.1:%d\n%s" % (port, pool))
            cmd = [binary, "-c", conf, "-s", str(free_port())]
            if WORKERS:
                cmd += ["--workers", WORKERS]
            proc = subprocess.Popen(cmd, stderr=open(os.path.join(work, tag + ".log"), "w"))
            procs.append(proc)
            wait_port(port)
            return proc
        rs = start_redshard(REDSHARD, rs_port, "rs")
        if CLUSTER_ONLY:
            cluster_bench(work, procs, start_redshard)
            return
        if TLS_ONLY:
            tls_bench(work, procs, start_redshard, ports, (rs_port, rs))
            return
        procs.append(subprocess.Popen(["nutcracker", "-c", os.path.join(work, "nc.yml"), "-s", str(nc_stats),
                                       "-o", os.path.join(work, "nc.log")]))
        wait_port(nc_port)
        nc = procs[-1]
        targets = [("direct", ports[0], None), ("nutcracker", nc_port, nc), ("redshard", rs_port, rs)]
        if BASE:
            base_port = free_port()
            targets.append(("base", base_port, start_redshard(BASE, base_port, "base")))
        if SENTINEL:
            sentinels = start_sentinels(work, ports, procs)
            masters = "".join("   - m%d:1\n" % (i + 1) for i in range(len(ports)))
            sentinel_pool = pool.split("  servers:")[0] + "  sentinels:\n" + "".join(
                "   - 127.0.0.1:%d\n" % p for p in sentinels) + "  servers:\n" + masters
            sentinel_port = free_port()
            targets.append(("sentinel", sentinel_port,
                            start_redshard(REDSHARD, sentinel_port, "sentinel", sentinel_pool)))
        results = {}
        cpu = {}
        for pipeline in (1, 16):
            for name, args in TESTS:
                for _ in range(ROUNDS):
                    for target, port, proc in targets:
                        before = cpu_seconds(proc.pid) if proc else 0
                        rps, p99 = bench(port, pipeline, args)
                        used = (cpu_seconds(proc.pid) - before) if proc else 0
                        results.setdefault((name, pipeline, target), []).append((rps, p99))
                        cpu.setdefault((name, pipeline, target), []).append(used * 1e6 / REQUESTS)
        rss = rss_kib(rs.pid)
        hosted = hosted_bench(rs_port, nc_port, ports)
        messages = 100000 if QUICK else 300000
        pubsub = {"direct": [], "redshard": []}
        for _ in range(ROUNDS):
            pubsub["direct"].append(pubsub_rate(ports[0], None, messages))
            pubsub["redshard"].append(pubsub_rate(rs_port, rs, messages))
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
                for target, _, _ in targets:
                    runs = results[(name, pipeline, target)]
                    med[target] = statistics.median(r[0] for r in runs)
                    p99[target] = statistics.median(r[1] for r in runs)
                print("| %s | %d | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f / %.2f / %.2f |" % (
                    name, pipeline, med["direct"], med["nutcracker"], med["redshard"],
                    med["redshard"] / med["nutcracker"], med["redshard"] / med["direct"],
                    p99["direct"], p99["nutcracker"], p99["redshard"]))
        print()
        print("Proxy CPU time per request (user + system, µs; median of the rounds)")
        print()
        names = [t for t, _, proc in targets if proc]
        print("| test | -P | " + " | ".join(names) + (" | redshard/base |" if BASE else " |"))
        print("|---|---|" + "---|" * (len(names) + (1 if BASE else 0)))
        for pipeline in (1, 16):
            for name, _ in TESTS:
                us = {t: statistics.median(cpu[(name, pipeline, t)]) for t in names}
                row = "| %s | %d | " % (name, pipeline) + " | ".join("%.1f" % us[t] for t in names)
                if BASE:
                    med = lambda t: statistics.median(r[0] for r in results[(name, pipeline, t)])
                    row += " | %.2f (rps)" % (med("redshard") / med("base"))
                print(row + " |")
        if SENTINEL:
            print()
            print("A pool that follows Sentinel against the same servers as a plain pool (rps)")
            print()
            print("| test | -P | plain | sentinel | sentinel/plain |")
            print("|---|---|---|---|---|")
            for pipeline in (1, 16):
                for name, _ in TESTS:
                    med = lambda t: statistics.median(r[0] for r in results[(name, pipeline, t)])
                    print("| %s | %d | %.0f | %.0f | %.2f |" % (
                        name, pipeline, med("redshard"), med("sentinel"), med("sentinel") / med("redshard")))
        print()
        print("redshard RSS after the runs: %.1f MiB" % (rss / 1024.0))
        print()
        print("Hosted commands (-P 1): redshard's command vs the same script as EVALSHA through nutcracker")
        print()
        print("| command | redshard rps | nutcracker EVALSHA rps | ratio |")
        print("|---|---|---|---|")
        for name, rs_rps, nc_rps in hosted:
            print("| %s | %.0f | %.0f | %.2f |" % (name, rs_rps, nc_rps, rs_rps / nc_rps))
        print()
        print("Publish/subscribe: %d messages of 16 bytes, one publisher pipelining 1,000 PUBLISHes per write,"
              " 3 subscribers on the channel (nutcracker has no pub/sub)" % messages)
        print()
        d = statistics.median(r[0] for r in pubsub["direct"])
        r = statistics.median(r[0] for r in pubsub["redshard"])
        cpu_us = statistics.median(x[1] for x in pubsub["redshard"])
        print("| direct msgs/s | redshard msgs/s | redshard/direct | redshard CPU µs per message delivered |")
        print("|---|---|---|---|")
        print("| %.0f | %.0f | %.2f | %.2f |" % (d, r, r / d, cpu_us))
        tls_bench(work, procs, start_redshard, ports, (rs_port, rs))
        cluster_bench(work, procs, start_redshard)
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
