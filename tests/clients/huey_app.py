"""huey, with its default settings, through redshard: N tasks enqueued, run
by an in-process consumer of worker threads, every result checked.

Usage: python huey_app.py PORT [N]
Prints 'ALL OK' at the end; exits non-zero on a failure.
"""
import sys

from huey import RedisHuey

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300

huey = RedisHuey("test", host="127.0.0.1", port=port)


@huey.task()
def add(a, b):
    return a + b


@huey.task()
def fail():
    raise ValueError("expected")


huey.flush()
results = [add(i, i) for i in range(n)]
failed = fail()
assert len(huey) == n + 1, len(huey)
# Threads, no signal handlers: consumer.run() would install them and loop
# forever.
consumer = huey.create_consumer(
    workers=4, worker_type="thread", periodic=False, check_worker_health=False
)
consumer.start()
try:
    values = [r.get(blocking=True, timeout=30) for r in results]
    try:
        failed.get(blocking=True, timeout=30)
        raise AssertionError("a failing task reported success")
    except Exception as e:  # huey.exceptions.TaskException
        assert "expected" in str(e), repr(e)
finally:
    consumer.stop(graceful=True)
assert values == [2 * i for i in range(n)], values[:10]
# Every result was read once, and so removed; the queue is empty.
assert len(huey) == 0, len(huey)
assert huey.result_count() == 0, huey.result_count()
print("huey: %d tasks, every result right" % n)
print("ALL OK")
