#!/usr/bin/python3
"""Write N distinct tokens per algorithm for the login benchmark.

Usage: make_bench_tokens.py FIXTURE_DIR N OUT.csv

FIXTURE_DIR is a folder made by test/jwt/make_tokens.py (its keys and
secret are used).  Each line of OUT.csv is "alg,token"; tokens differ by
their "jti" claim, so none of them is in a session's verification cache.
"""

import sys
import time
import uuid

import jwt

fx, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
secret = open(fx + "/secret.txt").read()
rsa_key = open(fx + "/rsa_private.pem").read()
ec_key = open(fx + "/ec256_private.pem").read()
exp = int(time.time()) + 86400
with open(out, "w") as f:
    for alg, key, kid in (("HS256", secret, None), ("RS256", rsa_key, "k1"),
                          ("ES256", ec_key, "e1")):
        headers = {"kid": kid} if kid else None
        for _ in range(n):
            claims = {"sub": "bench", "tenant_id": "bench",
                      "role": "bench_app", "exp": exp,
                      "jti": str(uuid.uuid4())}
            f.write("%s,%s\n" % (alg, jwt.encode(claims, key, algorithm=alg,
                                                 headers=headers)))
