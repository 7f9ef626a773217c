"""Key fingerprints: the one way x0ctl names a public key (key ids, pinned peers, history)."""

from __future__ import annotations

import hashlib

PREFIX = "sha256:"


def fingerprint(algorithm: str, public_key: bytes) -> str:
    """`sha256:<64 hex>` over the algorithm name and the raw public key.

    The algorithm is bound in so that the same bytes under another algorithm never share a name.
    """
    digest = hashlib.sha256(algorithm.encode("ascii") + b"\x00" + bytes(public_key)).hexdigest()
    return PREFIX + digest


def short_id(fingerprint_text: str, length: int = 16) -> str:
    """The first hex digits, for tables and command lines (like git's abbreviated hashes)."""
    return fingerprint_text.removeprefix(PREFIX)[:length]
