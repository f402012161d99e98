"""Mints the JWTs the identity tests present, with PyJWT and `cryptography`
(independent of the gateway's code): good ones and the classic hostile ones.

Usage: mint_tokens.py JWKS_OUT BASE_URL ISSUER
Writes the JWK Set of the keys the gateway trusts to JWKS_OUT and prints a
JSON object {name: token} on stdout.
"""

import base64
import hashlib
import hmac
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main() -> None:
    jwks_out, base, issuer = sys.argv[1], sys.argv[2], sys.argv[3]
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk["kid"] = "rsa"
    ec_jwk = json.loads(ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk["kid"] = "ec"
    with open(jwks_out, "w") as f:
        json.dump({"keys": [rsa_jwk, ec_jwk]}, f)

    now = int(time.time())
    claims = {"iss": issuer, "sub": "alice", "aud": base, "exp": now + 3600}

    def rs(extra=None, key=rsa_key, kid="rsa", drop=()):
        c = dict(claims, **(extra or {}))
        for k in drop:
            c.pop(k)
        return jwt.encode(c, key, algorithm="RS256", headers={"kid": kid})

    tokens = {
        "whole": rs(),
        "whole_ec": jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "ec"}),
        "group_a": rs({"aud": [base + "/g/a/mcp", "other"]}),
        "group_b": rs({"aud": base + "/g/b"}),
        "expired": rs({"exp": now - 3600}),
        "not_yet": rs({"nbf": now + 3600}),
        "no_exp": rs(drop=("exp",)),
        "wrong_iss": rs({"iss": issuer + "/other"}),
        "wrong_aud": rs({"aud": "https://elsewhere.example"}),
        "unknown_kid": rs(key=stranger, kid="gone"),
        "stranger_same_kid": rs(key=stranger),
        "oversized": rs({"pad": "x" * 9000}),
        # Roles, where the original Argus reads them: `roles`, else
        # `realm_access.roles` (Keycloak).
        "dev_role": rs({"sub": "carol", "roles": ["dev"]}),
        "realm_ops": rs({"sub": "dave", "realm_access": {"roles": ["ops"]}}),
    }
    # alg none: unsigned.
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    tokens["alg_none"] = f"{header}.{payload}."
    # HS256 keyed with the RSA public key (key confusion): PyJWT refuses to
    # make it, so it is made by hand.
    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "kid": "rsa"}).encode())
    signed = f"{header}.{payload}".encode()
    tokens["hs256_confusion"] = f"{header}.{payload}." + b64url(
        hmac.new(pem, signed, hashlib.sha256).digest()
    )
    # Claims edited after signing.
    good = tokens["whole"].split(".")
    forged = dict(claims, sub="mallory")
    tokens["tampered"] = ".".join([good[0], b64url(json.dumps(forged).encode()), good[2]])
    json.dump(tokens, sys.stdout)


if __name__ == "__main__":
    main()
