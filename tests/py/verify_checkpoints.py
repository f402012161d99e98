"""Checks every signed checkpoint of an argus-mcp audit log with Python
`cryptography`, independent of the gateway's code: each `signature` (the
bare 64-byte Ed25519 signature, Base64) over the exact bytes of `signed`,
with the public key in PEM; `signed` names the head it covers.

Usage: verify_checkpoints.py LOG PUBLIC.pem
Prints the number of checkpoints verified; exits 1 at the first that fails.
"""

import base64
import hashlib
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key


def main() -> None:
    log, pem = sys.argv[1], sys.argv[2]
    with open(pem, "rb") as f:
        key = load_pem_public_key(f.read())
    with open(log, "rb") as f:
        lines = f.read().split(b"\n")[:-1]
    checked = 0
    prev_hash = None
    for raw in lines:
        record = json.loads(raw)
        if record.get("kind") == "checkpoint":
            signed = record["signed"].encode()
            origin, seq, head, end = record["signed"].split("\n")
            assert end == "" and int(seq) == record["seq"] - 1, record
            assert head == prev_hash == record["head"] == record["prev"], record
            key.verify(base64.b64decode(record["signature"]), signed)
            checked += 1
        prev_hash = hashlib.sha256(raw + b"\n").hexdigest()
    print(checked)


if __name__ == "__main__":
    main()
