"""The mesh's key id, shown beside x0ctl's fingerprint.

The Go agent names a key by the first 8 bytes of SHA-256 of the raw public key, in hex
(agent/internal/crypto/pqc/rotation.go). x0ctl's own fingerprint (x0ctl.pqc.fingerprint) binds the
algorithm name too and keeps all 32 bytes; the mesh's id is for matching the agent's logs, never
for pinning: 64 bits can be met by grinding keys.
"""

from __future__ import annotations

import hashlib

MESH_KEY_ID_BYTES = 8


def mesh_key_id(public_key: bytes) -> str:
    """First 8 bytes of SHA-256 of the raw public key, 16 lower-case hex digits."""
    return hashlib.sha256(bytes(public_key)).digest()[:MESH_KEY_ID_BYTES].hex()
