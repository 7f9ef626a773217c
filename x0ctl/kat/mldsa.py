"""FIPS 204 message forms a KAT needs beyond pure ML-DSA: mu, the internal M', HashML-DSA's M'.

A backend that verifies over an external mu (`SigPublicKey.verify_mu`) can check every ACVP
signature form through it: mu = SHAKE256(SHAKE256(pk, 64) || M', 64), where M' is given
(internal interface), 0x00 || len(ctx) || ctx || M (pure) or 0x01 || len(ctx) || ctx || OID ||
PH(M) (HashML-DSA, FIPS 204 algorithm 4).
"""

from __future__ import annotations

import hashlib

_OID_PREFIX = bytes.fromhex("06096086480165030402")  # DER of OID 2.16.840.1.101.3.4.2.x, without x


def _digest(name: str, size: int | None = None):
    def compute(data: bytes) -> bytes:
        hashed = hashlib.new(name, data)
        return hashed.digest(size) if size else hashed.digest()

    return compute


# ACVP hashAlg -> (last arc of the NIST OID, PH). SHAKE-128/256 give 256 and 512 bits (FIPS 204 5.4).
PRE_HASH_FUNCTIONS = {
    "SHA2-256": (0x01, _digest("sha256")),
    "SHA2-384": (0x02, _digest("sha384")),
    "SHA2-512": (0x03, _digest("sha512")),
    "SHA2-224": (0x04, _digest("sha224")),
    "SHA2-512/224": (0x05, _digest("sha512_224")),
    "SHA2-512/256": (0x06, _digest("sha512_256")),
    "SHA3-224": (0x07, _digest("sha3_224")),
    "SHA3-256": (0x08, _digest("sha3_256")),
    "SHA3-384": (0x09, _digest("sha3_384")),
    "SHA3-512": (0x0A, _digest("sha3_512")),
    "SHAKE-128": (0x0B, _digest("shake_128", 32)),
    "SHAKE-256": (0x0C, _digest("shake_256", 64)),
}


def pre_hash_message(hash_alg: str, message: bytes, context: bytes) -> bytes:
    """HashML-DSA's M' = 0x01 || len(ctx) || ctx || OID(PH) || PH(M)."""
    arc, hash_function = PRE_HASH_FUNCTIONS[hash_alg]
    return bytes((1, len(context))) + context + _OID_PREFIX + bytes((arc,)) + hash_function(message)


def message_representative(public_key: bytes, internal_message: bytes) -> bytes:
    """mu = SHAKE256(tr || M', 64) with tr = SHAKE256(pk, 64)."""
    tr = hashlib.shake_256(public_key).digest(64)
    return hashlib.shake_256(tr + internal_message).digest(64)


def pure_form(internal_message: bytes) -> tuple[bytes, bytes] | None:
    """(M, ctx) when M' = 0x00 || len(ctx) || ctx || M, the form pure ML-DSA signs; else None."""
    if len(internal_message) >= 2 and internal_message[0] == 0 and len(internal_message) >= 2 + internal_message[1]:
        length = internal_message[1]
        return internal_message[2 + length:], internal_message[2:2 + length]
    return None
