"""Keys for the mesh agent's slot: the `mesh-pqc-keys` Secret out, the mesh's own key files in.

The mesh keeps private keys only in the FIPS expanded form (ML-KEM-768 dk 2400 bytes, ML-DSA-65
sk 4032 bytes: what liboqs and Go's circl marshal), never seeds. So:

- export (`PRIVATE_EXPORT_FORMATS`, `export_private`): a key imported from the mesh is written back
  byte for byte; a key x0ctl generated (a seed) is expanded by the PQC backend, and a backend that
  cannot (the openssl backend: pyca/cryptography exports seeds only) is an EnvironmentProblem
  (exit 3) naming liboqs. The Secret is the only place private keys leave the keystore; the
  typed result (`to_dict()`) carries ids and sizes, never key bytes.
- import (`import_mesh_keys`): the Python side's JSON files (`{kem,signature}_{id16}_{time}.json`,
  hex fields, the private key under AES-GCM with the node's master key) or a `mesh-pqc-keys`
  Secret. An imported key has no seed; it is stored as PKCS#8 with the expandedKey choice, checked
  against its public key (hashes inside the expanded form), and kept for export to the mesh only:
  x0ctl's own protocols never use mesh-purpose keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import EnvironmentProblem, UsageError
from x0ctl.keystore.keyfiles import (
    ALGORITHM_FOR_PURPOSE,
    EXPANDED,
    EXPANDED_SIZES,
    ML_DSA_65,
    ML_KEM_768,
    PUBLIC_SIZES,
    expanded_matches_public,
    expanded_private_pem,
    public_pem,
)
from x0ctl.keystore.lifecycle import brief
from x0ctl.keystore.store import KeyRecord, Keystore

SECRET_NAME = "mesh-pqc-keys"
DEFAULT_NAMESPACE = "x0tta6bl4-mesh"  # the namespace of the mesh's own manifests
SECRET_PREFIX = {"mesh-kem": "ml-kem", "mesh-sig": "ml-dsa"}
SLOTS = ("current", "previous")
KEY_TYPE_PURPOSE = {"kem": "mesh-kem", "signature": "mesh-sig"}
# The Python side accepts the pre-standard names too (it maps them before calling liboqs).
ALGORITHM_ALIASES = {"ML-KEM-768": ML_KEM_768, "Kyber768": ML_KEM_768, "ML-DSA-65": ML_DSA_65, "Dilithium3": ML_DSA_65}
MESH_JSON_NAME = re.compile(r"(kem|signature)_([0-9a-f]{16})_([0-9]+)\.json")
LIBOQS_HINT = ("install liboqs (see README.md, 'Installing liboqs') and run with `--backend liboqs`, which "
               "exports expanded keys; or keep the mesh's own keys (`keys import --format mesh-json`)")


def mesh_key_id(public_key: bytes) -> str:
    from x0ctl.mesh.keyid import mesh_key_id as key_id

    return key_id(public_key)


@dataclass
class SecretSlot:
    """One current/previous key of the Secret (ids and sizes: never the key)."""

    purpose: str
    slot: str
    key: dict  # KeyBrief
    mesh_key_id: str
    private_form: str  # what the keystore holds: seed (expanded by the backend) or expanded (copied)
    private_bytes: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class PrivateExport:
    """`keys export`: `data` is the file's bytes (private keys inside), `to_dict()` the summary."""

    keystore: str
    format: str
    name: str
    namespace: str
    slots: list[SecretSlot] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # Secret keys left out (no previous key)
    data: bytes = field(default=b"", repr=False)
    out: str | None = None

    def to_dict(self) -> dict:
        return {"keystore": self.keystore, "format": self.format, "name": self.name, "namespace": self.namespace,
                "out": self.out, "keys": [slot.to_dict() for slot in self.slots], "missing": self.missing}


def _expanded(store: Keystore, record: KeyRecord) -> tuple[bytes, str]:
    """(the expanded private key, the form the keystore holds it in)."""
    from x0ctl.pqc.base import UnsupportedOperation

    stored = store.load_expanded(record)
    if stored is not None:
        return stored, EXPANDED
    scheme = store.scheme(record.algorithm)
    try:
        return scheme.expanded_private_key(store.load_private(record)), "seed"
    except UnsupportedOperation as exc:
        raise EnvironmentProblem(
            f"the {store.backend.name} backend cannot produce the expanded {record.algorithm} private key the mesh "
            f"expects for {record.purpose} key {record.short} ({exc})", hint=LIBOQS_HINT) from None


def _previous(records: list[KeyRecord], purpose: str) -> KeyRecord | None:
    """The newest retired key that still has its private key (the mesh's overlap key)."""
    retired = [r for r in records if r.purpose == purpose and r.state == "retired" and r.private_key]
    return max(retired, key=lambda r: r.version) if retired else None


def _mesh_secret(export: PrivateExport, values: dict[str, bytes]) -> bytes:
    import yaml

    manifest = {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": export.name, "namespace": export.namespace,
                     "labels": {"app.kubernetes.io/name": "x0tta6bl4-agent", "app.kubernetes.io/component": "pqc-keys",
                                "app.kubernetes.io/managed-by": "x0ctl"},
                     "annotations": {f"x0ctl.io/{SECRET_PREFIX[s.purpose]}-{s.slot}-key-id": s.mesh_key_id
                                     for s in export.slots}},
        "type": "Opaque",
        "data": {name: base64.b64encode(value).decode("ascii") for name, value in values.items()},
    }
    return yaml.safe_dump(manifest, sort_keys=False).encode()


PRIVATE_EXPORT_FORMATS: dict[str, Callable[[PrivateExport, dict[str, bytes]], bytes]] = {"mesh-secret": _mesh_secret}


def export_private(store: Keystore, *, fmt: str = "mesh-secret", name: str = SECRET_NAME,
                   namespace: str = DEFAULT_NAMESPACE) -> PrivateExport:
    """The mesh purposes' current and previous keys, private parts included, in `fmt`.

    Refuses a keystore that fails verification (like backup). Both mesh purposes need an active key.
    """
    if fmt not in PRIVATE_EXPORT_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use {', '.join(PRIVATE_EXPORT_FORMATS)}")
    for label, value in (("--name", name), ("--namespace", namespace)):
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?", value or ""):
            raise UsageError(f"{label} {value!r} is not a Kubernetes object name (lower-case DNS subdomain)")
    export = PrivateExport(keystore=str(store.path), format=fmt, name=name, namespace=namespace)
    values: dict[str, bytes] = {}
    store.require_verified()
    with store.reading() as (state, _lines):
        records = store.records(state)
        for purpose, prefix in SECRET_PREFIX.items():
            current = next((r for r in records if r.purpose == purpose and r.state == "active"), None)
            if current is None:
                raise UsageError(f"the keystore has no active {purpose} key for the mesh's {prefix} slot",
                                 hint=f"add one with `x0ctl keys generate --purpose {purpose}` or "
                                      "`x0ctl keys import --format mesh-json|mesh-secret`")
            for slot, record in (("current", current), ("previous", _previous(records, purpose))):
                if record is None:
                    export.missing += [f"{prefix}-{slot}-public", f"{prefix}-{slot}-private"]
                    continue
                public = store.load_public(record)
                private, form = _expanded(store, record)
                values[f"{prefix}-{slot}-public"] = public
                values[f"{prefix}-{slot}-private"] = private
                export.slots.append(SecretSlot(purpose=purpose, slot=slot, key=brief(record),
                                               mesh_key_id=mesh_key_id(public), private_form=form,
                                               private_bytes=len(private)))
    export.data = PRIVATE_EXPORT_FORMATS[fmt](export, values)
    return export


@dataclass
class MeshKey:
    """One key read from the mesh's files: where it came from, and whether it is the current one."""

    purpose: str
    public: bytes
    expanded: bytes = field(repr=False)
    source: str
    created: float = 0.0
    current: bool = False

    @property
    def algorithm(self) -> str:
        return ALGORITHM_FOR_PURPOSE[self.purpose]


def _checked(key: MeshKey, claimed_id: str | None = None) -> MeshKey:
    """Lengths, the mesh's id if the source states one, and the expanded key holding the public key."""
    algorithm = key.algorithm
    if len(key.public) != PUBLIC_SIZES[algorithm]:
        raise UsageError(f"{key.source}: {algorithm} public key is {len(key.public)} bytes, expected {PUBLIC_SIZES[algorithm]}")
    if len(key.expanded) != EXPANDED_SIZES[algorithm]:
        raise UsageError(f"{key.source}: {algorithm} private key is {len(key.expanded)} bytes, expected the "
                         f"{EXPANDED_SIZES[algorithm]}-byte expanded form the mesh writes")
    if claimed_id is not None and claimed_id != mesh_key_id(key.public):
        raise UsageError(f"{key.source}: key id {claimed_id!r} is not the public key's ({mesh_key_id(key.public)})")
    if not expanded_matches_public(algorithm, key.expanded, key.public):
        raise UsageError(f"{key.source}: the private key does not belong to the public key")
    try:
        public_pem(algorithm, key.public)
    except ValueError:  # FIPS 203's modulus check on ek: a coefficient >= q
        raise UsageError(f"{key.source}: not a valid {algorithm} public key") from None
    return key


def _unhex(value, what: str) -> bytes:
    if not isinstance(value, str):
        raise UsageError(f"{what} is not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise UsageError(f"{what} is not hex") from None


def _master_key(data: bytes, node_id: str) -> bytes:
    """The mesh's master key file: nonce(12) || AES-256-GCM(master key), keyed from the node id alone."""
    import hashlib

    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if len(data) != 12 + 32 + 16:
        raise UsageError(f"the master key file is {len(data)} bytes, expected 60 (nonce, wrapped 32-byte key, tag)")
    wrapping = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"x0tta6bl4-master-key").derive(
        hashlib.sha256(f"{node_id}:x0tta6bl4".encode()).digest())
    try:
        return AESGCM(wrapping).decrypt(data[:12], data[12:], None)
    except InvalidTag:
        raise UsageError("the master key file does not open with this --mesh-node-id (wrong node id, or not the "
                         "mesh's master.key)") from None


def _decrypt_private(sealed: bytes, master: bytes, what: str) -> bytes:
    """A key file's private key: nonce(12) || tag(16) || AES-256-GCM ciphertext under HKDF(master)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    if len(sealed) < 28:
        raise UsageError(f"{what}: private_key_encrypted is too short")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"x0tta6bl4-key-encryption").derive(master)
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[28:] + sealed[12:28], None)
    except InvalidTag:
        raise UsageError(f"{what}: the private key does not decrypt with this master key") from None


def read_mesh_json(paths: list[Path], *, master_key: bytes | None = None, node_id: str | None = None) -> list[MeshKey]:
    """The mesh's key files; per purpose the newest (created_at) is the current key."""
    from x0ctl.textfile import read_private_bytes

    master = _master_key(master_key, node_id) if master_key is not None else None
    keys = []
    for path in paths:
        what = str(path)
        try:
            data = json.loads(read_private_bytes(path, "mesh key file"))
        except ValueError:
            raise UsageError(f"{what}: not JSON") from None
        if not isinstance(data, dict):
            raise UsageError(f"{what}: not a mesh key file (not a JSON object)")
        purpose = KEY_TYPE_PURPOSE.get(data.get("key_type"))
        if purpose is None:
            raise UsageError(f"{what}: key_type {data.get('key_type')!r} is not kem or signature")
        named = MESH_JSON_NAME.fullmatch(Path(path).name)
        if named and KEY_TYPE_PURPOSE[named.group(1)] != purpose:
            raise UsageError(f"{what}: the file name says {named.group(1)}, the content {data.get('key_type')}")
        if ALGORITHM_ALIASES.get(data.get("algorithm")) != ALGORITHM_FOR_PURPOSE[purpose]:
            raise UsageError(f"{what}: algorithm {data.get('algorithm')!r} is not {ALGORITHM_FOR_PURPOSE[purpose]} "
                             f"(the only {purpose} algorithm the mesh agent's slot takes)")
        public = _unhex(data.get("public_key"), f"{what}: public_key")
        if "private_key_encrypted" in data:
            if master is None:
                raise UsageError(f"{what}: the private key is encrypted under the mesh's master key",
                                 hint="give --mesh-master-key FILE (the mesh's master.key) and --mesh-node-id ID")
            expanded = _decrypt_private(_unhex(data["private_key_encrypted"], f"{what}: private_key_encrypted"),
                                        master, what)
        elif "private_key" in data:
            expanded = _unhex(data["private_key"], f"{what}: private_key")
        else:
            raise UsageError(f"{what}: no private key (private_key_encrypted or private_key)")
        claimed = data.get("key_id")
        if claimed is not None and not isinstance(claimed, str):
            raise UsageError(f"{what}: key_id is not text")
        created = data.get("created_at")
        if type(created) not in (int, float) or not 0 <= created < 1e11:
            raise UsageError(f"{what}: created_at {created!r} is not a Unix time")
        keys.append(_checked(MeshKey(purpose=purpose, public=public, expanded=expanded, source=what,
                                     created=float(created)), claimed))
    for purpose in KEY_TYPE_PURPOSE.values():
        mine = [k for k in keys if k.purpose == purpose]
        if mine:
            max(mine, key=lambda k: k.created).current = True
    return keys


def read_mesh_secret(path: Path) -> list[MeshKey]:
    """A `mesh-pqc-keys` Secret (YAML or JSON, `data` base64 as kubectl prints it)."""
    import yaml

    from x0ctl.textfile import read_private_bytes

    what = str(path)
    try:
        manifest = yaml.safe_load(read_private_bytes(path, "Secret"))
    except yaml.YAMLError:
        raise UsageError(f"{what}: not YAML or JSON") from None
    if not isinstance(manifest, dict):
        raise UsageError(f"{what}: not a Kubernetes object")
    if manifest.get("kind") == "SealedSecret":
        raise UsageError(f"{what}: a SealedSecret is encrypted to the cluster's controller",
                         hint="import the Secret it unseals to: kubectl get secret mesh-pqc-keys -n NAMESPACE -o yaml")
    if manifest.get("kind") != "Secret" or not isinstance(manifest.get("data"), dict):
        raise UsageError(f"{what}: not a Secret with a data map")
    data = manifest["data"]
    keys = []
    for purpose, prefix in SECRET_PREFIX.items():
        for slot in SLOTS:
            names = (f"{prefix}-{slot}-public", f"{prefix}-{slot}-private")
            present = [n for n in names if n in data]
            if not present:
                continue
            if len(present) == 1:
                raise UsageError(f"{what}: {present[0]} without its {'private' if 'public' in present[0] else 'public'} half")
            raw = []
            for name in names:
                if not isinstance(data[name], str):
                    raise UsageError(f"{what}: data.{name} is not a base64 string")
                try:
                    raw.append(base64.b64decode("".join(data[name].split()), validate=True))
                except (ValueError, binascii.Error):
                    raise UsageError(f"{what}: data.{name} is not base64") from None
            keys.append(_checked(MeshKey(purpose=purpose, public=raw[0], expanded=raw[1], source=f"{what}: {prefix}-{slot}",
                                         current=slot == "current")))
        if any(k.purpose == purpose for k in keys) and not any(k.purpose == purpose and k.current for k in keys):
            raise UsageError(f"{what}: {prefix}-previous without {prefix}-current")
    if not keys:
        raise UsageError(f"{what}: no ml-kem-* or ml-dsa-* keys in data")
    return keys


@dataclass
class MeshImportResult:
    keystore: str
    format: str
    imported: list[dict] = field(default_factory=list)  # KeyBrief + mesh_key_id, source, private_form
    skipped: list[dict] = field(default_factory=list)  # {purpose, mesh_key_id, source, reason}
    epoch: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


IMPORT_FORMATS = ("mesh-json", "mesh-secret")


def import_mesh_keys(store: Keystore, fmt: str, paths: list[Path], *, master_key: bytes | None = None,
                     node_id: str | None = None) -> MeshImportResult:
    """Bring the mesh's keys into the mesh purposes: each one a signed `import` history entry.

    Per purpose the current key becomes active (the active key retired, as a rotation would) and
    older ones are added as retired. A key already in the keystore is skipped. Everything is read
    and checked before the keystore is touched; then it is one transaction.
    """
    if fmt not in IMPORT_FORMATS:
        raise UsageError(f"unknown import format {fmt!r}; use {', '.join(IMPORT_FORMATS)}")
    if not paths:
        raise UsageError("no file to import")
    if fmt == "mesh-json":
        if (master_key is None) != (node_id is None):
            raise UsageError("--mesh-master-key and --mesh-node-id go together (the node id unwraps the master key)")
        keys = read_mesh_json(paths, master_key=master_key, node_id=node_id)
    else:
        if len(paths) != 1:
            raise UsageError("--format mesh-secret reads one Secret file")
        keys = read_mesh_secret(paths[0])
    ids = [mesh_key_id(k.public) for k in keys]
    if len(set(ids)) != len(ids):
        raise UsageError("the same key appears twice in the input")
    result = MeshImportResult(keystore=str(store.path), format=fmt)
    with store.transaction() as txn:
        known = {store.load_public(r) for r in txn.records()}
        for key in sorted(keys, key=lambda k: (k.current, k.created)):  # retired ones first, the current last
            key_id = mesh_key_id(key.public)
            if key.public in known:
                result.skipped.append({"purpose": key.purpose, "mesh_key_id": key_id, "source": key.source,
                                       "reason": "already in the keystore"})
                continue
            record = txn.import_key(key.purpose, key.public, expanded_private_pem(key.algorithm, key.expanded), EXPANDED)
            state = "active" if key.current else "retired"
            old = txn.active(key.purpose) if key.current else None
            txn.record("import", key.purpose, old=old, new=record, reason=f"imported from {fmt}",
                       extra={"state": state, "mesh_key_id": key_id, "private_form": EXPANDED})
            if key.current:
                txn.activate(record)
            else:
                record.state, record.retired = "retired", txn.time
                txn.put(record)
            result.imported.append({**brief(txn.find(record.id)), "mesh_key_id": key_id, "source": key.source,
                                    "private_form": EXPANDED})
        if txn.new_lines:
            txn.commit()
        result.epoch = txn.state["epoch"]
    return result
