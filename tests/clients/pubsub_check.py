"""Publish/subscribe through redshard with redis-py's pubsub(), default settings.

Usage: python pubsub_check.py PORT
Four publishers send 2,500 messages each (on four channels); three
subscribers must get every message exactly once, in each publisher's order;
one of them also by pattern. Run with the default protocol and with RESP2.
Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
"""
import sys
import threading
import time

import redis

port = int(sys.argv[1])
PUBLISHERS, PER_PUBLISHER, SUBSCRIBERS = 4, 2500, 3

scenarios = [("default", {})]
if int(redis.__version__.split(".")[0]) >= 5:  # `protocol` came with redis-py 5
    scenarios.append(("resp2", {"protocol": 2}))


def run(label, kwargs):
    channels = ["py:%s:ch%d" % (label, i) for i in range(PUBLISHERS)]
    subs = []
    for k in range(SUBSCRIBERS):
        r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kwargs)
        p = r.pubsub(ignore_subscribe_messages=True)
        p.subscribe(*channels)
        if k == 0:
            p.psubscribe("py:%s:*" % label)
        subs.append(p)
    # Every subscription confirmed before the first message is published.
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kwargs)
    deadline = time.time() + 10
    while time.time() < deadline:
        counts = dict(r.pubsub_numsub(*channels))
        if all(counts[c.encode()] == SUBSCRIBERS for c in channels) and r.pubsub_numpat() >= 1:
            break
        for p in subs:
            p.get_message(timeout=0.01)
    results = [None] * SUBSCRIBERS

    def read(k):
        p = subs[k]
        want = PUBLISHERS * PER_PUBLISHER * (2 if k == 0 else 1)
        nxt = {}
        got = 0
        end = time.time() + 60
        while got < want and time.time() < end:
            m = p.get_message(timeout=1)
            if m is None:
                continue
            pub, n = map(int, m["data"].decode().split(":"))
            key = (m["type"], pub)
            if nxt.get(key, 0) != n:
                results[k] = "subscriber %d: %s from publisher %d: got %d, expected %d" % (
                    k, m["type"], pub, n, nxt.get(key, 0))
                return
            nxt[key] = n + 1
            got += 1
        results[k] = "ok" if got == want else "subscriber %d: %d of %d messages" % (k, got, want)

    def publish(i):
        c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, **kwargs)
        for start in range(0, PER_PUBLISHER, 250):
            pipe = c.pipeline(transaction=False)
            for n in range(start, start + 250):
                pipe.publish(channels[i], "%d:%d" % (i, n))
            assert pipe.execute() == [SUBSCRIBERS + 1] * 250
        c.close()

    started = time.time()
    readers = [threading.Thread(target=read, args=(k,)) for k in range(SUBSCRIBERS)]
    writers = [threading.Thread(target=publish, args=(i,)) for i in range(PUBLISHERS)]
    for t in readers + writers:
        t.start()
    for t in readers + writers:
        t.join()
    took = time.time() - started
    for p in subs:
        p.close()
    bad = [x for x in results if x != "ok"]
    print("%s: %s (%d messages to %d subscribers in %.2f s, redis-py %s)" % (
        label, "ok" if not bad else "FAILED: " + "; ".join(map(str, bad)),
        PUBLISHERS * PER_PUBLISHER, SUBSCRIBERS, took, redis.__version__))
    return not bad


failed = sum(not run(label, kwargs) for label, kwargs in scenarios)
print("ALL OK" if not failed else "FAILED: %d scenario(s)" % failed)
sys.exit(1 if failed else 0)
