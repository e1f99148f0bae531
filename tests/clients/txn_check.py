"""redis-py transactions through redshard: `pipeline()` is transactional by
default (MULTI ... EXEC), and `watch()` gives optimistic locking.

Usage: python txn_check.py PORT SCENARIO KEY...
  per_server K0 K1 K2   keys on three servers, a `multi: per_server` pool:
                        every reply, in the order queued
  cross_server A B C    A and C on one server, B on another, a same_server
                        pool: refused, nothing runs
  unknown A B           an unknown command between two INCRs: refused
  full A B              the pool's one dedicated connection is taken
  watch KEY             10 clients, 30 optimistic increments each
Prints 'ALL OK' at the end; exits non-zero on a failure.
"""
import sys
import threading

import redis

port = int(sys.argv[1])
scenario = sys.argv[2]
keys = sys.argv[3:]


def client():
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)


def refused(build, expected):
    """A transaction the proxy refuses while queuing: redis-py raises the
    queuing error (EXEC answered EXECABORT) and none of its commands ran."""
    r = client()
    pipe = r.pipeline()
    build(pipe)
    try:
        pipe.execute()
    except redis.ResponseError as e:
        assert expected in str(e), str(e)
        print("%s: refused: %s" % (scenario, e))
    else:
        raise AssertionError("the transaction was not refused")
    for k in keys:
        assert r.get(k) is None, (k, r.get(k))


if scenario == "per_server":
    k0, k1, k2 = keys
    r = client()
    pipe = r.pipeline()
    pipe.set(k2, "c").set(k0, "a").incr(k1).get(k2).get(k0).incrby(k1, 10)
    got = pipe.execute()
    assert got == [True, True, 1, b"c", b"a", 11], got
elif scenario == "cross_server":
    a, b, c = keys
    refused(lambda p: p.incr(a).incr(b).incr(c), "its key lives on another server")
elif scenario == "unknown":
    a, b = keys
    refused(lambda p: p.incr(a).execute_command("NOSUCH", "x").incr(b), "unknown command")
elif scenario == "full":
    a, b = keys
    refused(lambda p: p.incr(a).set(b, "v"), "max_dedicated_connections")
elif scenario == "watch":
    (key,) = keys
    clients, each = 10, 30
    retries = []
    failures = []

    def work():
        r = client()
        tries = 0
        try:
            for _ in range(each):
                while True:
                    with r.pipeline() as pipe:
                        try:
                            pipe.watch(key)
                            n = int(pipe.get(key) or 0)
                            pipe.multi()
                            pipe.set(key, n + 1)
                            assert pipe.execute() == [True]
                            break
                        except redis.WatchError:
                            tries += 1
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            failures.append(repr(e))
        retries.append(tries)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    assert len(retries) == clients, "a client did not finish"
    assert client().get(key) == str(clients * each).encode(), client().get(key)
    print("watch: %d increments, %d retries" % (clients * each, sum(retries)))
else:
    raise SystemExit("unknown scenario " + scenario)
print("ALL OK")
