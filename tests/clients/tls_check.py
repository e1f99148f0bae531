"""redis-py with ssl=True through a TLS listener of redshard.

Usage: python tls_check.py PORT CA_FILE [CERT_FILE KEY_FILE]
Prints 'ALL OK' at the end; exits 1 on a failure. The certificate is
checked against the CA and the address (127.0.0.1), as by default.
"""
import sys

import redis

port = int(sys.argv[1])
ca = sys.argv[2]
extra = {}
if len(sys.argv) > 4:
    extra = {"ssl_certfile": sys.argv[3], "ssl_keyfile": sys.argv[4]}

r = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=ca, socket_timeout=5, **extra)
assert r.ping() is True
assert r.set("py-tls-a", "1") is True
assert r.get("py-tls-a") == b"1"
assert r.mset({"py-tls-%d" % i: str(i) for i in range(20)}) is True
assert r.mget(["py-tls-%d" % i for i in range(20)]) == [str(i).encode() for i in range(20)]
# A reply larger than one TLS record and than a socket buffer.
big = "x" * (1 << 20)
assert r.set("py-tls-big", big) is True
assert r.get("py-tls-big") == big.encode()
pipe = r.pipeline(transaction=False)
for i in range(500):
    pipe.incr("py-tls-n")
assert pipe.execute()[-1] == 500
r.delete("py-tls-n")
print("ALL OK")
