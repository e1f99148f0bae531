"""dramatiq's RedisBroker, with its default settings, through redshard:
N messages sent and processed by a worker, each once.

Every broker operation is one Lua script (EVALSHA) whose one declared key is
the namespace, so all of dramatiq's keys live on that key's server. Its
first call is a script without keys (EVAL ... 0, a probe of the Lua stack),
which runs on the pool's keyless server.

Usage: python dramatiq_app.py PORT [N]
Prints 'ALL OK' at the end; exits non-zero on a failure.
"""
import sys
import threading
import time

import dramatiq
from dramatiq import Worker
from dramatiq.brokers.redis import RedisBroker

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
broker = RedisBroker(host="127.0.0.1", port=port)
dramatiq.set_broker(broker)
done = []
lock = threading.Lock()


@dramatiq.actor(max_retries=0)
def record(x):
    with lock:
        done.append(x)


for i in range(n):
    record.send(i)
worker = Worker(broker, worker_timeout=100, worker_threads=4)
worker.start()
deadline = time.monotonic() + 60
while len(done) < n and time.monotonic() < deadline:
    time.sleep(0.02)
worker.stop()
broker.close()
assert sorted(done) == list(range(n)), "processed %d of %d" % (len(done), n)
print("ALL OK")
