#!/usr/bin/env python3
"""An independent reader of a threshold seed-shares.json (docs/FORMATS.md, "Threshold seed
shares"): pyca/cryptography's HPKE and hashlib/hmac, nothing from Seedward.

  threshold_shares.py --shares seed-shares.json --key owner-a.pem --key owner-b.pem --id ID

Opens each given owner's share (HPKE base mode, info "seedward threshold share v1"),
checks its index and commitment, combines the shares with its own GF(2^8) Lagrange
interpolation, checks the salt, derives the workload secret of ID (HKDF-SHA256, docs
section 2) and prints it as hex. Exit status 0 means every check held.

Run by tests/tests/clients/threshold.rs, which compares the output with `seedward
workload-secret`.
"""

import argparse
import base64
import hashlib
import hmac
import json
import sys

from cryptography.hazmat.primitives import hpke, serialization

SHARE_INFO = b"seedward threshold share v1"
COMMITMENT_DOMAIN = b"seedward share commitment v1"


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def gf_mul(a, b):
    """Multiplication in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (0x11b)."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def gf_inv(a):
    """a^254 = a^-1 for a != 0."""
    result, power, exponent = 1, a, 254
    while exponent:
        if exponent & 1:
            result = gf_mul(result, power)
        power = gf_mul(power, power)
        exponent >>= 1
    return result


def combine(shares):
    """Lagrange interpolation at x = 0 over (index, value bytes) pairs."""
    length = len(shares[0][1])
    secret = bytearray(length)
    for i, (x_i, y_i) in enumerate(shares):
        numerator, denominator = 1, 1
        for k, (x_k, _) in enumerate(shares):
            if k != i:
                numerator = gf_mul(numerator, x_k)
                denominator = gf_mul(denominator, x_k ^ x_i)
        coefficient = gf_mul(numerator, gf_inv(denominator))
        for j in range(length):
            secret[j] ^= gf_mul(y_i[j], coefficient)
    return bytes(secret)


def hkdf(salt, ikm, info, length):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shares", required=True)
    parser.add_argument("--key", action="append", required=True)
    parser.add_argument("--id", required=True)
    args = parser.parse_args()

    with open(args.shares, encoding="utf-8") as f:
        document = json.load(f)
    threshold = document.get("Threshold")
    if not isinstance(threshold, int) or threshold < 2:
        fail(f"Threshold is {threshold!r}, expected an integer >= 2")
    salt = base64.b64decode(document["salt"], validate=True)
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

    shares = []
    for path in args.key:
        with open(path, "rb") as f:
            private = serialization.load_pem_private_key(f.read(), password=None)
        public_hex = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ).hex()
        entry = next((s for s in document["SeedShares"] if s["PublicKey"].lower() == public_hex), None)
        if entry is None:
            fail(f"no share for {public_hex}")
        sealed = base64.b64decode(entry["EncryptedSeed"], validate=True)
        share = suite.decrypt(sealed, private, info=SHARE_INFO)
        index, value = share[0], share[1:]
        if index != entry["ShareIndex"]:
            fail(f"share of {public_hex} has index {index}, the document says {entry['ShareIndex']}")
        commitment = hashlib.sha256(COMMITMENT_DOMAIN + share).hexdigest()
        if commitment != entry["ShareCommitment"]:
            fail(f"share {index} does not match its commitment")
        print(f"ok: share {index} opens and matches its commitment", file=sys.stderr)
        shares.append((index, value))
    if len(shares) < threshold:
        fail(f"{len(shares)} shares given, {threshold} needed")

    secret = combine(shares)
    seed, combined_salt = secret[:-32], secret[-32:]
    if combined_salt != salt:
        fail("the combined salt is not the document's salt")
    print(f"ok: {len(shares)} shares combine to a {len(seed)}-byte seed and the document's salt", file=sys.stderr)
    pod_state = hkdf(salt, seed, b"POD STATE SECRET", len(seed))
    workload = hkdf(salt, pod_state, b"WORKLOAD SECRET ID: " + args.id.encode(), len(seed))
    print(workload.hex())


if __name__ == "__main__":
    main()
