#!/usr/bin/env python3
"""Records where the real nutcracker places keys, for the cases the shared
vectors do not cover (weights, names, port 11211, unix sockets, servers
missing from the list, a server ejected at run time).

For each case: start the Redis servers the config names, start nutcracker,
SET every key through it, SCAN every backend, and write
tests/data/placement/<case>.yml (the config given to nutcracker) and
<case>.tsv (key<TAB>server_index, keys escaped as in the shared vectors).

Needs redis-server and nutcracker (apt-get install redis-server nutcracker).
Run from the repository root: python3 scripts/gen_placement.py
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

OUT = os.path.join("tests", "data", "placement")
NC_PORT = 22191


def key_set():
    keys = [b"key:%d" % i for i in range(4000)]
    for i in range(40):
        keys.append(b"{user%d}.following" % i)
        keys.append(b"obj:{%d}:field" % (i * 7))
    keys += [b"{}x", b"{", b"}", b"a{b}c{d}", b"}{z}", "ключ:1".encode(), "キー:2".encode(), "é".encode()]
    for i in range(60):
        keys.append(bytes([0x80 + i, 0xff - i, 0x41 + i % 26, 0x20 + i % 3]) + b"\x00k%d" % i)
    return keys


def escape(key):
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b != 0x5C else "\\x%02x" % b for b in key)


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return rest
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n)
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)


def connect(addr):
    if isinstance(addr, str):
        s = socket.socket(socket.AF_UNIX)
    else:
        s = socket.socket()
    for _ in range(100):
        try:
            s.connect(addr)
            return s
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("cannot connect to %r" % (addr,))


def scan_all(addr):
    s = connect(addr)
    r = Reader(s)
    cursor, keys = b"0", []
    while True:
        s.sendall(resp(b"SCAN", cursor, b"COUNT", b"1000"))
        cursor, batch = r.reply()
        keys += batch
        if cursor == b"0":
            return keys


def run_case(name, pool_lines, servers, down=(), work=None):
    """servers: list of (config entry, address) with address (host, port) or a socket path."""
    procs = []
    try:
        for entry, addr in servers:
            if entry in down:
                continue
            if isinstance(addr, str):
                args = ["--port", "0", "--unixsocket", addr]
            else:
                args = ["--bind", addr[0], "--port", str(addr[1])]
            procs.append(subprocess.Popen(["redis-server", "--save", "", "--appendonly", "no"] + args,
                                          stdout=subprocess.DEVNULL))
        # The tests read this comment to know which servers nutcracker had ejected.
        conf = "".join("# ejected: %s\n" % e for e in down)
        conf += "%s:\n" % name + "".join("  %s\n" % l for l in pool_lines)
        conf += "  servers:\n" + "".join("   - %s\n" % e for e, _ in servers)
        path = os.path.join(work, name + ".yml")
        with open(path, "w") as f:
            f.write(conf)
        nc = subprocess.Popen(["nutcracker", "-c", path, "-s", str(NC_PORT + 1), "-o", os.path.join(work, name + ".log")])
        procs.append(nc)
        for entry, addr in servers:
            if entry not in down:
                connect(addr).close()
        s = connect(("127.0.0.1", NC_PORT))
        r = Reader(s)
        if down:
            # Fail once per down server so nutcracker ejects it (server_failure_limit: 1).
            for i in range(50):
                s.sendall(resp(b"GET", b"probe:%d" % i))
                try:
                    r.reply()
                except RuntimeError:
                    pass
            time.sleep(0.2)
        keys = key_set()
        for i in range(0, len(keys), 200):
            batch = keys[i:i + 200]
            s.sendall(b"".join(resp(b"SET", k, b"1") for k in batch))
            for _ in batch:
                assert r.reply() == b"OK"
        placed = {}
        for index, (entry, addr) in enumerate(servers):
            if entry in down:
                continue
            for k in scan_all(addr):
                assert k not in placed, "key on two servers: %r" % k
                placed[k] = index
        missing = [k for k in keys if k not in placed]
        assert not missing, "%s: keys not found: %r" % (name, missing[:5])
        shutil.copy(path, os.path.join(OUT, name + ".yml"))
        with open(os.path.join(OUT, name + ".tsv"), "w") as f:
            f.write("key\tserver_index\n")
            for k in keys:
                f.write("%s\t%d\n" % (escape(k), placed[k]))
        counts = [sum(1 for v in placed.values() if v == i) for i in range(len(servers))]
        print("%-28s %s" % (name, counts))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def tcp(port, host="127.0.0.1"):
    return (host, port)


def main():
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="redshard-gen-")
    base = ["listen: 127.0.0.1:%d" % NC_PORT, "redis: true", "timeout: 5000"]
    ports = [7101, 7102, 7103, 7104]
    run_case("ketama_weighted", base + ["hash: fnv1a_64", "distribution: ketama"],
             [("127.0.0.1:%d:%d" % (p, w), tcp(p)) for p, w in zip(ports, [1, 2, 3, 4])], work=work)
    run_case("ketama_weighted_md5", base + ["hash: md5", "distribution: ketama"],
             [("127.0.0.1:%d:%d" % (p, w), tcp(p)) for p, w in zip(ports, [5, 1, 1, 3])], work=work)
    run_case("ketama_zero_points", base + ["hash: murmur", "distribution: ketama"],
             [("127.0.0.1:%d:%d" % (p, w), tcp(p)) for p, w in zip(ports[:3], [100, 1, 200])], work=work)
    run_case("ketama_named", base + ["hash: fnv1a_64", "distribution: ketama"],
             [("127.0.0.1:%d:1 %s" % (p, n), tcp(p)) for p, n in zip(ports, ["alpha", "beta", "gamma", "delta"])],
             work=work)
    run_case("ketama_named_weighted_tag", base + ["hash: jenkins", "hash_tag: \"{}\"", "distribution: ketama"],
             [("127.0.0.1:%d:%d %s" % (p, w, n), tcp(p))
              for p, w, n in zip(ports, [2, 1, 1, 3], ["redis-a", "redis-b", "redis-c", "redis-d"])], work=work)
    run_case("ketama_port_11211", base + ["hash: fnv1a_64", "distribution: ketama"],
             [("127.0.0.%d:11211:1" % h, tcp(11211, "127.0.0.%d" % h)) for h in (2, 3, 4)]
             + [("127.0.0.5:7105:1", tcp(7105, "127.0.0.5"))], work=work)
    socks = [os.path.join(work, "r%d.sock" % i) for i in range(3)]
    run_case("ketama_unix", base + ["hash: fnv1a_64", "distribution: ketama"],
             [("%s:1" % s, s) for s in socks], work=work)
    run_case("ketama_removed", base + ["hash: fnv1a_64", "distribution: ketama"],
             [("127.0.0.1:%d:1" % p, tcp(p)) for p in (7101, 7102, 7104)], work=work)
    run_case("ketama_ejected", base + ["hash: fnv1a_64", "distribution: ketama", "auto_eject_hosts: true",
                                        "server_failure_limit: 1", "server_retry_timeout: 600000"],
             [("127.0.0.1:%d:1" % p, tcp(p)) for p in ports], down=("127.0.0.1:7103:1",), work=work)
    run_case("modula_weighted", base + ["hash: fnv1a_32", "distribution: modula"],
             [("127.0.0.1:%d:%d" % (p, w), tcp(p)) for p, w in zip(ports, [1, 2, 3, 1])], work=work)
    run_case("modula_ejected", base + ["hash: crc32a", "distribution: modula", "auto_eject_hosts: true",
                                        "server_failure_limit: 1", "server_retry_timeout: 600000"],
             [("127.0.0.1:%d:%d" % (p, w), tcp(p)) for p, w in zip(ports, [1, 2, 1, 1])],
             down=("127.0.0.1:7101:1",), work=work)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
