"""rq through redshard: N jobs enqueued on a queue named with a hash tag (so
the queue's own keys share a server), run by a SimpleWorker in burst mode,
every result checked. Needs a pool with `multi: per_server`: rq's
transactions span job, worker and queue keys.

Usage: python rq_app.py PORT [N]
Prints 'ALL OK' at the end; exits non-zero on a failure.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis import Redis  # noqa: E402
from rq import Queue, SimpleWorker  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402

from rq_tasks import add  # noqa: E402

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 300

r = Redis(host="127.0.0.1", port=port, socket_timeout=30)
q = Queue("{rq}", connection=r)
jobs = [q.enqueue(add, i, i) for i in range(n)]
assert q.count == n, q.count
worker = SimpleWorker([q], connection=r)
assert worker.work(burst=True) is True
assert q.count == 0, q.count
for i, job in enumerate(jobs):
    fetched = Job.fetch(job.id, connection=r)
    assert fetched.get_status() == JobStatus.FINISHED, (i, fetched.get_status())
    assert fetched.return_value() == 2 * i, (i, fetched.return_value())
assert q.finished_job_registry.count == n, q.finished_job_registry.count
assert q.failed_job_registry.count == 0
print("rq: %d jobs, every result right" % n)
print("ALL OK")
