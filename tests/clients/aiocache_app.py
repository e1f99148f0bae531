"""aiocache's RedisCache, with its default settings, through redshard:
set/get, multi_set (with a ttl: one MULTI of MSET and an EXPIRE per key),
multi_get, increment, exists, delete, every value checked on the way.

Untagged keys spread over every server, so multi_set's MULTI needs a pool
with `multi: per_server`, which splits its MSET per server.

Usage: python aiocache_app.py PORT [N]
Prints 'ALL OK' at the end; exits non-zero on a failure.
"""
import asyncio
import sys

from aiocache import RedisCache


async def main(port, n):
    cache = RedisCache(endpoint="127.0.0.1", port=port)
    pairs = [("a%d" % i, "v%d" % i) for i in range(n)]
    assert await cache.multi_set(pairs, ttl=300) is True  # MULTI MSET EXPIRE.. EXEC
    assert await cache.multi_get([k for k, _ in pairs] + ["absent"]) == [
        v for _, v in pairs
    ] + [None]  # MGET
    assert 0 < await cache.raw("ttl", "a0") <= 300
    assert await cache.multi_set([("b%d" % i, i) for i in range(n)]) is True  # MSET
    assert await cache.get("b7") == 7  # JSON, its default serializer
    assert await cache.increment("b7", 5) == 12
    assert await cache.exists("a1") is True
    assert await cache.delete("a1") == 1
    assert await cache.exists("a1") is False
    for i in range(n):
        await cache.delete("a%d" % i)
        await cache.delete("b%d" % i)
    await cache.close()
    print("ALL OK")


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300))
