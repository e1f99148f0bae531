"""Iterates a keyspace through redshard with redis-py's scan_iter, default settings.

Usage: python scan_check.py PORT PREFIX COUNT
The proxy's pool holds COUNT keys named PREFIX<n> (n from 0), among others.
Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
"""
import sys

import redis

port, prefix, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
want = {("%s%d" % (prefix, i)).encode() for i in range(count)}

scenarios = [("default", {})]
if int(redis.__version__.split(".")[0]) >= 5:  # `protocol` came with redis-py 5
    scenarios.append(("resp2", {"protocol": 2}))
failed = 0
for label, kwargs in scenarios:
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, **kwargs)
    for page in (10, 1000):
        got = list(r.scan_iter(match=prefix + "*", count=page))
        ok = len(got) == len(want) and set(got) == want
        print("%s count=%d: %s (%d keys, redis-py %s)" % (label, page, "ok" if ok else "FAILED", len(got), redis.__version__))
        failed += not ok
    r.close()
print("ALL OK" if not failed else "FAILED: %d scenario(s)" % failed)
sys.exit(1 if failed else 0)
