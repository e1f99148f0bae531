"""django-redis, with its default settings, through redshard: set/get,
set_many/get_many, incr, delete_many, delete_pattern, keys, iter_keys and
clear, every value checked on the way.

Untagged keys spread over every server, so set_many and delete_pattern (one
MULTI over all their keys) need a pool with `multi: per_server`; keys() needs
`allow_keys`, clear() `allow_flush`. With PREFIX '{dj}' every key shares a
server and a default pool does for all but keys() and clear().

Usage: python django_cache_app.py PORT [PREFIX [N]]
Prints 'ALL OK' at the end; exits non-zero on a failure.
"""
import sys

import django
from django.conf import settings

port = int(sys.argv[1])
prefix = sys.argv[2] if len(sys.argv) > 2 else ""
n = int(sys.argv[3]) if len(sys.argv) > 3 else 300

settings.configure(
    CACHES={
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:%d/0" % port,
            "KEY_PREFIX": prefix,
        }
    }
)
django.setup()

from django.core.cache import cache  # noqa: E402

for i in range(n):
    assert cache.set("k%d" % i, {"v": i}, timeout=300) is True
assert [cache.get("k%d" % i) for i in range(n)] == [{"v": i} for i in range(n)]
assert cache.add("k0", "other") is False and cache.get("k0") == {"v": 0}
assert 0 < cache.ttl("k0") <= 300
many = {"m%d" % i: i for i in range(n)}
assert not cache.set_many(many, timeout=300)  # one MULTI, N SETs (None: no failed keys)
assert cache.get_many(list(many) + ["absent"]) == many  # MGET
assert cache.incr("m5", 10) == 15 and cache.get("m5") == 15  # EVAL
assert cache.delete_many(["k1", "k2", "k3", "absent"]) == 3  # DEL k1 k2 k3 absent
assert cache.get("k1") is None and cache.get("k4") == {"v": 4}
assert cache.delete_pattern("m*") == n  # SCAN, then one MULTI of DELs
assert cache.get_many(list(many)) == {}
assert cache.get("k4") == {"v": 4}
left = {"k%d" % i for i in range(n)} - {"k1", "k2", "k3"}
assert set(cache.keys("k*")) == left  # KEYS
assert set(cache.iter_keys("k*")) == left  # SCAN
cache.clear()  # FLUSHDB (an error would raise)
assert cache.get("k4") is None and list(cache.iter_keys("*")) == []
print("django-redis (prefix %r): %d keys, every value right" % (prefix, n))
print("ALL OK")
