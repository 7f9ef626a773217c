"""The node keystore: key lifecycle with nothing lost (a documented Python API; see docs/keys.md).

    from x0ctl.keystore import Keystore, generate, rotate, verify_keystore
    store = Keystore("/var/lib/x0ctl", backend=get_backend("auto"))
    generate(store); rotate(store, purpose="all", keep=3); verify_keystore(store).ok

Every function returns a typed result whose `to_dict()` is the matching command's `-o json`.
Backups are age v1 files: `x0ctl.keystore.age` (encrypt/decrypt, scrypt and mlkem768x25519).
"""

from __future__ import annotations

from x0ctl.keystore.backups import (
    BackupIdentityResult,
    BackupResult,
    RestoreResult,
    backup,
    backup_identity,
    backup_kind,
    clean_restore_leftovers,
    restore,
)
from x0ctl.keystore.checkpoint import Checkpoint, checkpoint_problems, load_checkpoint, make_checkpoint
from x0ctl.keystore.export import EXPORT_FORMATS, PublicExport, export_public
from x0ctl.keystore.keyfiles import ALGORITHM_FOR_PURPOSE, MESH_PURPOSES, PURPOSES, REQUIRED_PURPOSES
from x0ctl.keystore.lifecycle import (
    GenerateResult,
    HistoryListing,
    KeyListing,
    RevokeResult,
    RotateResult,
    brief,
    generate,
    read_history,
    key_details,
    list_keys,
    resolve,
    revoke,
    rotate,
    show_key,
    show_key_details,
    verify_keystore,
)
from x0ctl.keystore.meshkeys import (
    IMPORT_FORMATS,
    PRIVATE_EXPORT_FORMATS,
    MeshImportResult,
    PrivateExport,
    export_private,
    import_mesh_keys,
)
from x0ctl.keystore.store import (
    KeyRecord,
    Keystore,
    VerifyReport,
    default_path,
    keystore_health,
    node_identity,
    parse_validity,
)

__all__ = [
    "ALGORITHM_FOR_PURPOSE",
    "EXPORT_FORMATS",
    "IMPORT_FORMATS",
    "MESH_PURPOSES",
    "PRIVATE_EXPORT_FORMATS",
    "PURPOSES",
    "REQUIRED_PURPOSES",
    "MeshImportResult",
    "PrivateExport",
    "BackupIdentityResult",
    "BackupResult",
    "Checkpoint",
    "GenerateResult",
    "HistoryListing",
    "KeyListing",
    "KeyRecord",
    "Keystore",
    "PublicExport",
    "RestoreResult",
    "RevokeResult",
    "RotateResult",
    "VerifyReport",
    "backup",
    "backup_identity",
    "backup_kind",
    "brief",
    "checkpoint_problems",
    "clean_restore_leftovers",
    "default_path",
    "export_private",
    "export_public",
    "import_mesh_keys",
    "generate",
    "key_details",
    "keystore_health",
    "list_keys",
    "load_checkpoint",
    "make_checkpoint",
    "node_identity",
    "parse_validity",
    "read_history",
    "resolve",
    "restore",
    "revoke",
    "rotate",
    "show_key",
    "show_key_details",
    "verify_keystore",
]
