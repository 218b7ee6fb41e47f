#!/usr/bin/python3
"""Generate JWT test fixtures for heliosdb with an independent JOSE library.

Usage: make_tokens.py DIR

Writes into DIR (created if needed, world-readable so that the server can
read the key files):

  rsa.pem, rsa_other.pem, rsa_k2.pem,
  ec256.pem, ec384.pem, ed25519.pem              public keys (PEM)
  *_private.pem                                  the private keys
  jwks.json                                      two RSA keys "k1" and "k2",
                                                 an EC P-256 key "e1", an
                                                 Ed25519 key "d1" and an
                                                 "oct" key that must be ignored
  jwks_k1.json, jwks_k2.json                     one of those RSA keys each
  tokens.psql                                    \\set lines: one psql
                                                 variable per token, plus
                                                 "secret" (the HMAC secret)
  NAME.jwt                                       each token on its own, for
                                                 TAP tests and benchmarks

Tokens are signed by PyJWT (Debian python3-jwt) with keys from
python3-cryptography.  Only tokens PyJWT refuses to make (algorithm "none",
an HMAC over the RSA public key, malformed structure) are assembled by hand
here with the standard library's hmac module.  Valid tokens expire ten years
from now; fresh keys are made on every run.
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    os.chmod(out, 0o755)
    now = int(time.time())
    far = now + 10 * 365 * 86400

    def write(name, data):
        path = os.path.join(out, name)
        with open(path, "w") as f:
            f.write(data)
        os.chmod(path, 0o644)

    def pem_pub(key):
        return key.public_key().public_bytes(
            serialization.Encoding.PEM,
            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def pem_priv(key):
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode()

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_k2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec256 = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    secret = secrets.token_urlsafe(48)

    for name, key in [("rsa", rsa_key), ("rsa_other", rsa_other),
                      ("rsa_k2", rsa_k2), ("ec256", ec256), ("ec384", ec384),
                      ("ed25519", ed)]:
        write(name + ".pem", pem_pub(key))
        write(name + "_private.pem", pem_priv(key))

    def jwk(key, cls, kid, alg):
        d = json.loads(cls.to_jwk(key.public_key()))
        if cls is ECAlgorithm:
            # RFC 7518 6.2.1.2: coordinates at full length.  Debian's PyJWT
            # drops leading zero bytes (one key in 128), which the server
            # rightly refuses.
            nums = key.public_key().public_numbers()
            size = (key.curve.key_size + 7) // 8
            d.update(x=b64(nums.x.to_bytes(size, "big")),
                     y=b64(nums.y.to_bytes(size, "big")))
        d.update(kid=kid, alg=alg, use="sig")
        return d

    jwks = {"keys": [
        jwk(rsa_key, RSAAlgorithm, "k1", "RS256"),
        jwk(rsa_k2, RSAAlgorithm, "k2", "RS256"),
        jwk(ec256, ECAlgorithm, "e1", "ES256"),
        jwk(ed, OKPAlgorithm, "d1", "EdDSA"),
        {"kty": "oct", "kid": "s1", "k": b64(secret.encode())},
    ]}
    write("jwks.json", json.dumps(jwks, indent=1))
    # One-key sets, for key rotation tests.
    write("jwks_k1.json", json.dumps({"keys": [jwks["keys"][0]]}))
    write("jwks_k2.json", json.dumps({"keys": [jwks["keys"][1]]}))

    base = {"sub": "user-1", "tenant_id": "jwt-acme",
            "role": "regress_jwt_app", "iat": now, "exp": far}
    tokens = {}

    def sign(name, claims, key, alg, headers=None):
        tokens[name] = jwt.encode(claims, key, algorithm=alg, headers=headers)

    def claims(**kw):
        c = dict(base)
        for k, v in kw.items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        return c

    def hs_raw(header_b64, payload_b64, key=secret.encode(), digest=hashlib.sha256):
        signing_input = header_b64 + "." + payload_b64
        mac = hmac.new(key, signing_input.encode(), digest).digest()
        return signing_input + "." + b64(mac)

    # Every algorithm.
    for alg in ("HS256", "HS384", "HS512"):
        sign(alg.lower(), claims(), secret, alg)
    for alg in ("RS256", "RS384", "RS512"):
        sign(alg.lower(), claims(), rsa_key, alg)
    sign("es256", claims(), ec256, "ES256")
    sign("es384", claims(), ec384, "ES384")
    sign("eddsa", claims(), ed, "EdDSA")
    sign("eddsa_other_key", claims(), ed25519.Ed25519PrivateKey.generate(), "EdDSA")

    # JWKS selection by kid.
    sign("jwks_k1", claims(sub="user-k1"), rsa_key, "RS256", {"kid": "k1"})
    sign("jwks_k2", claims(sub="user-k2"), rsa_k2, "RS256", {"kid": "k2"})
    sign("jwks_e1", claims(sub="user-e1"), ec256, "ES256", {"kid": "e1"})
    sign("jwks_d1", claims(sub="user-d1"), ed, "EdDSA", {"kid": "d1"})
    sign("jwks_k3", claims(), rsa_key, "RS256", {"kid": "k3"})
    sign("jwks_wrong_kid", claims(), rsa_key, "RS256", {"kid": "k2"})
    sign("jwks_nokid", claims(), rsa_key, "RS256")
    # Token signed with the JWKS's HMAC key: must not verify.
    sign("jwks_oct", claims(), secret + "x", "HS256", {"kid": "s1"})

    # Forgeries.
    sign("rs256_other_key", claims(), rsa_other, "RS256")
    sign("es256_other_key", claims(), ec.generate_private_key(ec.SECP256R1()), "ES256")
    sign("hs256_wrong_secret", claims(), secrets.token_urlsafe(48), "HS256")
    rsa_pem = pem_pub(rsa_key)
    tokens["confusion"] = hs_raw(b64json({"alg": "HS256", "typ": "JWT"}),
                                 b64json(claims()), key=rsa_pem.encode())
    tokens["alg_none"] = b64json({"alg": "none", "typ": "JWT"}) + "." + \
        b64json(claims()) + "."
    tokens["alg_none_sig"] = b64json({"alg": "none"}) + "." + \
        b64json(claims()) + "." + b64(b"x" * 32)
    tokens["alg_unknown"] = hs_raw(b64json({"alg": "HS999"}), b64json(claims()))
    tokens["alg_missing"] = hs_raw(b64json({"typ": "JWT"}), b64json(claims()))
    tokens["crit"] = hs_raw(b64json({"alg": "HS256", "crit": ["exp"]}),
                            b64json(claims()))
    # Change one claim of a valid token, keep its signature.
    h, p, s = tokens["hs256"].split(".")
    tokens["tampered"] = h + "." + b64json(claims(role="postgres")) + "." + s
    # ECDSA signatures of the wrong length: three bytes short, and a valid
    # signature in DER (not JOSE r||s) form.
    h, p, s = tokens["es256"].split(".")
    raw = base64.urlsafe_b64decode(s + "==")
    tokens["es256_truncated"] = h + "." + p + "." + b64(raw[:-3])
    der = ec256.sign((h + "." + p).encode(), ec.ECDSA(hashes.SHA256()))
    tokens["es256_der"] = h + "." + p + "." + b64(der)

    # Time claims.
    sign("expired", claims(exp=now - 3600, iat=now - 7200), secret, "HS256")
    sign("no_exp", claims(exp=None), secret, "HS256")
    sign("exp_string", claims(exp=str(far)), secret, "HS256")
    sign("nbf_future", claims(nbf=now + 3600), secret, "HS256")
    sign("nbf_leeway", claims(nbf=now + 1800), secret, "HS256")
    sign("nbf_past", claims(nbf=now - 60), secret, "HS256")
    sign("iat_future", claims(iat=now + 3600), secret, "HS256")

    # Issuer and audience.
    sign("iss_good", claims(iss="https://issuer.example"), secret, "HS256")
    sign("iss_bad", claims(iss="https://evil.example"), secret, "HS256")
    sign("aud_string", claims(aud="heliosdb"), secret, "HS256")
    sign("aud_array", claims(aud=["other", "heliosdb"]), secret, "HS256")
    sign("aud_bad", claims(aud=["other"]), secret, "HS256")

    # Identity claims.
    sign("minimal", {"exp": far}, secret, "HS256")
    sign("tenant_unknown", claims(tenant_id="jwt-nope"), secret, "HS256")
    sign("tenant_other", claims(tenant_id="jwt-globex", sub="user-2"), secret, "HS256")
    sign("role_other", claims(role="regress_jwt_other"), secret, "HS256")
    sign("role_missing", claims(role="regress_jwt_no_such_role"), secret, "HS256")
    sign("role_number", claims(role=42), secret, "HS256")
    sign("no_role", claims(role=None), secret, "HS256")
    sign("perm_unknown", claims(permissions=["read", "fly"]), secret, "HS256")
    sign("perm_not_array", claims(permissions="read"), secret, "HS256")
    for name, perms in [("perm_read", ["read"]),
                        ("perm_write", ["read", "write"]),
                        ("perm_delete", ["read", "delete"]),
                        ("perm_create_table", ["read", "create_table"]),
                        ("perm_create_view", ["read", "create_view"]),
                        ("perm_none", []),
                        ("perm_star", ["*"])]:
        sign(name, claims(permissions=perms, sub="user-" + name), secret, "HS256")

    # Malformed tokens.  Those with a valid signature reach the payload
    # checks, so they show which check refuses them.
    good_h = b64json({"alg": "HS256", "typ": "JWT"})
    good_p = b64json(claims())
    tokens["bad_base64"] = good_h[:-2] + "*!." + good_p + "." + "AAAA"
    tokens["bad_base64_sig"] = good_h + "." + good_p + ".%%%"
    tokens["two_parts"] = good_h + "." + good_p
    tokens["four_parts"] = hs_raw(good_h, good_p) + ".x"
    tokens["header_not_json"] = hs_raw(b64(b"{alg: HS256}"), good_p)
    tokens["header_array"] = hs_raw(b64json(["HS256"]), good_p)
    tokens["payload_not_json"] = hs_raw(good_h, b64(b'{"sub":"x",'))
    tokens["payload_array"] = hs_raw(good_h, b64json([1, 2]))
    tokens["payload_nul"] = hs_raw(good_h, b64(b'{"exp":%d,"sub":"a\\u0000b"}' % far))
    tokens["dup_claim"] = hs_raw(
        good_h, b64(b'{"exp":%d,"role":"regress_jwt_app","role":"postgres"}' % far))
    tokens["dup_escaped"] = hs_raw(
        good_h, b64(b'{"exp":%d,"role":"regress_jwt_app","r\\u006fle":"postgres"}' % far))
    tokens["dup_header"] = hs_raw(
        b64(b'{"alg":"HS256","alg":"none"}'), good_p)
    tokens["huge"] = hs_raw(good_h, b64json(claims(pad="x" * 9000)))
    tokens["deep"] = hs_raw(good_h, b64(b'{"exp":%d,"x":%s%s}' % (far, b"[" * 40, b"]" * 40)))
    tokens["big_number"] = hs_raw(good_h, b64(b'{"exp":1e999999}'))
    tokens["exp_overflow"] = hs_raw(good_h, b64(b'{"exp":99999999999999999999e300}'))
    tokens["exp_underflow"] = hs_raw(good_h, b64(b'{"exp":1e-390}'))
    tokens["exp_negative"] = hs_raw(good_h, b64(b'{"exp":-1}'))
    tokens["empty"] = ""
    tokens["garbage"] = "not a token at all"

    lines = ["\\set secret '%s'" % secret]
    for name, tok in sorted(tokens.items()):
        write(name + ".jwt", tok)
        lines.append("\\set %s '%s'" % (name, tok))
    write("secret.txt", secret)
    write("tokens.psql", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
