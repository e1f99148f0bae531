"""Exercises a redis-py client, with its default settings, through redshard.

Usage: python redis_py_check.py PORT [PASSWORD]
Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
"""
import sys

import redis

port = int(sys.argv[1])
password = sys.argv[2] if len(sys.argv) > 2 else None


STEP = ["connect"]


def step(name):
    STEP[0] = name


def check(label, **kwargs):
    step("connect")
    r = redis.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=5, **kwargs)
    prefix = "py-%s-" % label
    step("cleanup")
    for k in ("n", "h", "l", "z"):
        r.delete(prefix + k)
    step('set')
    assert r.set(prefix + "a", "1") is True
    step('get')
    assert r.get(prefix + "a") == b"1"
    keys = [prefix + "k%d:x" % i for i in range(20)]
    step('mset')
    assert r.mset({k: k for k in keys}) is True
    step('mget')
    assert r.mget(keys + [prefix + "missing"]) == [k.encode() for k in keys] + [None]
    step('incr')
    assert r.incr(prefix + "n") == 1
    step('expire')
    assert r.expire(prefix + "a", 100) is True
    assert 0 < r.ttl(prefix + "a") <= 100
    step('hset')
    assert r.hset(prefix + "h", mapping={"f1": "v1", "f2": "v2"}) == 2
    step('hgetall')
    assert r.hgetall(prefix + "h") == {b"f1": b"v1", b"f2": b"v2"}
    step('lpush')
    assert r.lpush(prefix + "l", "a", "b", "c") == 3
    step('lrange')
    assert r.lrange(prefix + "l", 0, -1) == [b"c", b"b", b"a"]
    step('eval')
    assert r.eval("return redis.call('GET', KEYS[1])", 1, prefix + "a") == b"1"
    step('zadd')
    assert r.zadd(prefix + "z", {"m": 1.5}) == 1
    step('zscore')
    assert r.zscore(prefix + "z", "m") == 1.5
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(prefix + "p%d" % i, i)
    step('get')
    pipe.get(prefix + "p99")
    step('execute')
    assert pipe.execute()[-1] == b"99"
    step('delete')
    assert r.delete(*keys) == 20
    if "client_name" in kwargs:
        assert r.client_getname() == kwargs["client_name"], r.client_getname()
    step('ping')
    assert r.ping() is True
    step('close')
    r.close()
    print("%s: ok (redis-py %s, protocol %s)" % (label, redis.__version__, kwargs.get("protocol", "default")))


failed = 0
for label, kwargs in [("default", {}), ("db0", {"db": 0}), ("named", {"client_name": "redshard-test"})]:
    try:
        check(label, **kwargs)
    except Exception as e:  # noqa: BLE001 - report any failure with its type
        failed += 1
        print("%s: FAILED at %s: %r" % (label, STEP[0], e))
print("ALL OK" if not failed else "FAILED: %d scenario(s)" % failed)
sys.exit(1 if failed else 0)
