"""The task rq's worker imports by name (rq_app.py enqueues it)."""


def add(a, b):
    return a + b
