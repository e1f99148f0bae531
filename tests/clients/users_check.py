"""Logs in to redshard with a username and password through redis-py
(RESP2: AUTH user pass; RESP3: HELLO 3 AUTH user pass), as a user whose keys
are app:*, and checks what it may and may not do.

Usage: python users_check.py PORT USER PASSWORD
Prints one line per scenario and 'ALL OK' at the end; exits 1 on a failure.
"""
import sys

import redis

port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]


def check(label, **kwargs):
    r = redis.Redis(host="127.0.0.1", port=port, username=user, password=password,
                    socket_timeout=5, **kwargs)
    key = "app:py-%s" % label
    assert r.set(key, "1") is True
    assert r.get(key) == b"1"
    assert r.execute_command("ACL", "WHOAMI") in (user, user.encode())
    try:
        r.get("other:%s" % label)
    except redis.exceptions.NoPermissionError as e:
        assert "no permissions to access one of the keys" in str(e), e
    else:
        raise AssertionError("a key outside app:* was read")
    r.close()
    bad = redis.Redis(host="127.0.0.1", port=port, username=user, password="wrong",
                      socket_timeout=5, **kwargs)
    try:
        bad.ping()
    except redis.exceptions.AuthenticationError:
        pass
    else:
        raise AssertionError("a wrong password was taken")
    print("%s: ok" % label)


check("resp2")
if int(redis.__version__.split(".")[0]) >= 5:  # RESP3 came with redis-py 5
    check("resp3", protocol=3)
print("ALL OK")
