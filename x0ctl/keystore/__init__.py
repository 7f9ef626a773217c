"""The node keystore: key lifecycle with nothing lost (a documented Python API; see docs/keys.md).

    from x0ctl.keystore import Keystore, generate, rotate, revoke, keystore_health
    store = Keystore("/var/lib/x0ctl", backend=get_backend("auto"))
    generate(store); rotate(store, purpose="all", keep=3); store.verify().ok

Backups are age v1 files: `x0ctl.keystore.age` (encrypt/decrypt, scrypt and mlkem768x25519).
"""

from __future__ import annotations

from x0ctl.keystore.lifecycle import generate, resolve, revoke, rotate
from x0ctl.keystore.store import (
    KeyRecord,
    Keystore,
    VerifyReport,
    default_path,
    keystore_health,
    parse_validity,
    restore,
)

__all__ = [
    "KeyRecord",
    "Keystore",
    "VerifyReport",
    "default_path",
    "generate",
    "keystore_health",
    "parse_validity",
    "resolve",
    "restore",
    "revoke",
    "rotate",
]
