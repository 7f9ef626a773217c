"""Keys for the mesh agent's slot: the optional mesh purposes, the mesh-pqc-keys Secret, the mesh's own key files.

The mesh keeps expanded private keys only; the openssl backend cannot make them, so the key pairs
here are real ones from the NIST known-answer files (pk with its expanded dk/sk), and the mesh's
JSON key files are written by `write_mesh_key_file` below, from the mesh's documented format
(AES-256-GCM under a master key wrapped with a key derived from the node id), not with x0ctl code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.keys_helpers import verify_problems
from tests.test_json_schemas import assert_valid

SECRET_KEYS = {f"ml-{alg}-{slot}-{half}" for alg in ("kem", "dsa") for slot in ("current", "previous")
               for half in ("public", "private")}


@pytest.fixture
def ks(tmp_path) -> Path:
    return tmp_path / "keystore"


@pytest.fixture
def generated(cli, ks):
    """A keystore with x0ctl's own key set; calling it runs `x0ctl --backend openssl keys ARGS --keystore KS`."""

    class Keys:
        def __call__(self, *args: str, env: dict | None = None):
            return cli("--backend", "openssl", "keys", args[0], "--keystore", str(ks), *args[1:], env=env)

        def json(self, *args: str, expect: int = 0):
            result = self(*args, "-o", "json")
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
            return json.loads(result.stdout)

    keys = Keys()
    keys.json("generate", "--node", "node-17")
    return keys


def nist_pairs(relative: str, count: int) -> list[tuple[bytes, bytes]]:
    """(pk, expanded sk) of the first `count` records of a NIST .rsp file from cryptography-vectors."""
    vectors = pytest.importorskip("cryptography_vectors")
    pairs, record = [], {}
    for line in (Path(vectors.__file__).parent / relative).read_text().splitlines():
        name, _, value = line.partition(" = ")
        if name in ("pk", "sk"):
            record[name] = bytes.fromhex(value)
        if len(record) == 2:
            pairs.append((record["pk"], record["sk"]))
            record = {}
            if len(pairs) == count:
                break
    return pairs


@pytest.fixture(scope="module")
def kem_pairs():
    return nist_pairs("asymmetric/MLKEM/kat_MLKEM_768.rsp", 3)


@pytest.fixture(scope="module")
def sig_pairs():
    return nist_pairs("asymmetric/MLDSA/kat_MLDSA_65_det_pure.rsp", 2)


def _cipher_gcm_seal(key: bytes, plaintext: bytes) -> tuple[bytes, bytes, bytes]:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    nonce = os.urandom(12)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    body = encryptor.update(plaintext) + encryptor.finalize()
    return nonce, encryptor.tag, body


def _hkdf(secret: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def write_master_key(path: Path, node_id: str, master: bytes) -> None:
    """The mesh's master.key: nonce || AES-GCM ciphertext || tag, keyed from SHA-256("<node>:x0tta6bl4")."""
    nonce, tag, body = _cipher_gcm_seal(_hkdf(hashlib.sha256(f"{node_id}:x0tta6bl4".encode()).digest(),
                                              b"x0tta6bl4-master-key"), master)
    path.write_bytes(nonce + body + tag)
    path.chmod(0o600)


def write_mesh_key_file(directory: Path, key_type: str, algorithm: str, public: bytes, private: bytes,
                        created: float, master: bytes) -> Path:
    """A backup file as the mesh's Python side names and fills it (private key: nonce || tag || ciphertext)."""
    nonce, tag, body = _cipher_gcm_seal(_hkdf(master, b"x0tta6bl4-key-encryption"), private)
    key_id = hashlib.sha256(public).hexdigest()[:16]
    path = directory / f"{key_type}_{key_id}_{int(created)}.json"
    path.write_text(json.dumps({"key_id": key_id, "algorithm": algorithm, "public_key": public.hex(),
                                "private_key_encrypted": (nonce + tag + body).hex(), "created_at": created,
                                "rotated_at": None, "key_type": key_type}, indent=2))
    path.chmod(0o600)
    return path


def mesh_id(public: bytes) -> str:
    return hashlib.sha256(public).digest()[:8].hex()


def _by_purpose(listing: dict, purpose: str) -> dict[str, dict]:
    return {key["state"]: key for key in listing["keys"] if key["purpose"] == purpose}


def test_a_keystore_without_mesh_keys_stays_valid_and_gains_them(generated, ks):
    assert verify_problems(ks) == []
    assert {k["purpose"] for k in generated.json("list")["keys"]} == {"kem", "sig"}
    added = generated.json("generate", "--purpose", "mesh-kem")
    assert [(k["purpose"], k["algorithm"]) for k in added["created"]] == [("mesh-kem", "ML-KEM-768")]
    last = generated.json("history")["entries"][-1]
    assert (last["event"], last["purpose"], last["new_id"]) == ("generate", "mesh-kem", added["created"][0]["id"])
    assert verify_problems(ks) == []
    again = generated("generate", "--purpose", "mesh-kem")
    assert again.exit_code == 2 and "already has an active mesh-kem key" in again.stderr
    rotated = generated.json("rotate")
    assert sorted(item["purpose"] for item in rotated["rotated"]) == ["kem", "mesh-kem", "sig"]
    assert verify_problems(ks) == []


def test_the_mesh_kem_key_is_not_the_x_wing_key(generated, ks):
    generated.json("generate", "--purpose", "mesh-kem")
    keys = generated.json("export-public", "--format", "json")["keys"]
    raw = {k["purpose"]: base64.b64decode(k["public_key"]) for k in keys}
    assert len(raw["mesh-kem"]) == 1184 and len(raw["kem"]) == 1216
    assert raw["mesh-kem"] != raw["kem"][:1184], "X-Wing's ML-KEM-768 part reused for the mesh"


def test_list_and_show_give_the_mesh_key_id_beside_the_fingerprint(generated):
    listing = generated.json("list")
    assert_valid("keys list", listing)
    keys = {k["purpose"]: base64.b64decode(k["public_key"]) for k in generated.json("export-public", "--format", "json")["keys"]}
    for key in listing["keys"]:
        assert key["mesh_key_id"] == mesh_id(keys[key["purpose"]])
        shown = generated.json("show", key["short_id"])
        assert_valid("keys show", shown)
        assert shown["mesh_key_id"] == key["mesh_key_id"] and shown["private_form"] == "seed"
    table = generated("list")
    assert "mesh id" in table.stdout and listing["keys"][0]["mesh_key_id"] in table.stdout


def test_export_of_keys_x0ctl_generated_needs_a_backend_that_expands_them(generated, ks, tmp_path):
    generated.json("generate", "--purpose", "mesh-kem")
    generated.json("generate", "--purpose", "mesh-sig")
    out = tmp_path / "secret.yaml"
    result = generated("export", "--format", "mesh-secret", "--out", str(out))
    assert result.exit_code == 3, result.stderr
    assert "cannot produce the expanded ML-KEM-768 private key" in result.stderr and "liboqs" in result.stderr
    assert not out.exists()


def test_mesh_json_import_then_secret_round_trip(cli, generated, ks, tmp_path, kem_pairs, sig_pairs):
    files = tmp_path / "mesh-backups"
    files.mkdir()
    master = os.urandom(32)
    write_master_key(tmp_path / "master.key", "node-7", master)
    paths = [write_mesh_key_file(files, "kem", "ML-KEM-768", pk, sk, 1_700_000_000 + i, master)
             for i, (pk, sk) in enumerate(kem_pairs)]
    paths += [write_mesh_key_file(files, "signature", "Dilithium3", pk, sk, 1_700_000_000 + i, master)
              for i, (pk, sk) in enumerate(sig_pairs)]
    imported = generated.json("import", "--format", "mesh-json", "--mesh-master-key", str(tmp_path / "master.key"),
                              "--mesh-node-id", "node-7", *map(str, paths))
    assert_valid("keys import", imported)
    assert len(imported["imported"]) == 5 and not imported["skipped"]
    assert verify_problems(ks) == []
    listing = generated.json("list")
    kem, sig = _by_purpose(listing, "mesh-kem"), _by_purpose(listing, "mesh-sig")
    assert kem["active"]["mesh_key_id"] == mesh_id(kem_pairs[-1][0])  # the newest file is the current key
    assert sig["active"]["mesh_key_id"] == mesh_id(sig_pairs[-1][0])
    assert all(k["private_form"] == "expanded" for k in listing["keys"] if k["purpose"].startswith("mesh-"))
    history = generated.json("history")
    assert_valid("keys history", history)  # import entries carry state, mesh_key_id, private_form
    entries = history["entries"][-5:]
    assert {e["event"] for e in entries} == {"import"} and entries[-1]["state"] == "active"

    out = tmp_path / "secret.yaml"
    summary = generated.json("export", "--format", "mesh-secret", "--out", str(out))
    assert_valid("keys export", summary)
    assert out.stat().st_mode & 0o777 == 0o600
    assert not any(k["private_form"] == "seed" for k in summary["keys"])
    secret = yaml.safe_load(out.read_text())
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "mesh-pqc-keys")
    data = {name: base64.b64decode(value) for name, value in secret["data"].items()}
    assert set(data) == SECRET_KEYS
    assert (data["ml-kem-current-public"], data["ml-kem-current-private"]) == kem_pairs[2]
    assert (data["ml-kem-previous-public"], data["ml-kem-previous-private"]) == kem_pairs[1]
    assert (data["ml-dsa-current-public"], data["ml-dsa-current-private"]) == sig_pairs[1]
    assert (data["ml-dsa-previous-public"], data["ml-dsa-previous-private"]) == sig_pairs[0]
    assert kem_pairs[2][1].hex() not in json.dumps(summary) and base64.b64encode(kem_pairs[2][1]).decode() not in json.dumps(summary)

    other = tmp_path / "other"
    assert cli("--backend", "openssl", "keys", "generate", "--keystore", str(other)).exit_code == 0
    back = cli.json("--backend", "openssl", "keys", "import", "--format", "mesh-secret", str(out), "--keystore", str(other))
    assert sorted(k["mesh_key_id"] for k in back["imported"]) == sorted(
        mesh_id(pk) for pk in (kem_pairs[1][0], kem_pairs[2][0], sig_pairs[0][0], sig_pairs[1][0]))
    assert verify_problems(other) == []
    again = tmp_path / "again.yaml"
    cli.json("--backend", "openssl", "keys", "export", "--out", str(again), "--keystore", str(other))
    assert yaml.safe_load(again.read_text())["data"] == secret["data"]
    repeat = cli.json("--backend", "openssl", "keys", "import", "--format", "mesh-secret", str(out), "--keystore", str(other))
    assert not repeat["imported"] and len(repeat["skipped"]) == 4


def test_an_imported_key_cannot_lend_itself_to_x0ctls_own_protocols(generated, ks, tmp_path, kem_pairs):
    from x0ctl.errors import CheckFailed
    from x0ctl.keystore import Keystore
    from x0ctl.pqc import get_backend

    secret = tmp_path / "s.yaml"
    pk, sk = kem_pairs[0]
    secret.write_text(yaml.safe_dump({"kind": "Secret", "data": {
        "ml-kem-current-public": base64.b64encode(pk).decode(), "ml-kem-current-private": base64.b64encode(sk).decode()}}))
    secret.chmod(0o600)
    generated.json("import", "--format", "mesh-secret", str(secret))
    store = Keystore(ks, backend=get_backend("openssl"))
    record = next(r for r in store.records(store.read_state()) if r.purpose == "mesh-kem")
    with pytest.raises(CheckFailed, match="without its seed"):
        store.load_private(record)
    assert verify_problems(ks) == []


def test_mesh_keys_survive_backup_and_restore(generated, ks, tmp_path, kem_pairs):
    generated.json("generate", "--purpose", "mesh-sig")
    secret = tmp_path / "s.yaml"
    pk, sk = kem_pairs[0]
    secret.write_text(yaml.safe_dump({"kind": "Secret", "data": {
        "ml-kem-current-public": base64.b64encode(pk).decode(), "ml-kem-current-private": base64.b64encode(sk).decode()}}))
    secret.chmod(0o600)
    generated.json("import", "--format", "mesh-secret", str(secret))
    env = {"BACKUP_PASS": "mesh-keys"}
    backed = generated("backup", "--out", str(tmp_path / "b.age"), "--passphrase-env", "BACKUP_PASS",
                       "--scrypt-work-factor", "10", env=env)
    assert backed.exit_code == 0, backed.stderr
    restored = generated("restore", str(tmp_path / "b.age"), "--passphrase-env", "BACKUP_PASS", "--keystore",
                         str(tmp_path / "r"), "--trust-backup-signer", env=env)
    assert restored.exit_code == 0, restored.stderr
    assert verify_problems(tmp_path / "r") == []
    state = json.loads((tmp_path / "r" / "state.json").read_text())
    assert {(k["purpose"], k.get("private_form")) for k in state["keys"] if k["purpose"].startswith("mesh-")} == {
        ("mesh-sig", None), ("mesh-kem", "expanded")}


def test_swapped_or_relabelled_expanded_keys_fail_verify(generated, ks, tmp_path, kem_pairs):
    secret = tmp_path / "s.yaml"
    data = {}
    for slot, (pk, sk) in zip(("current", "previous"), kem_pairs):
        data[f"ml-kem-{slot}-public"] = base64.b64encode(pk).decode()
        data[f"ml-kem-{slot}-private"] = base64.b64encode(sk).decode()
    secret.write_text(yaml.safe_dump({"kind": "Secret", "data": data}))
    secret.chmod(0o600)
    generated.json("import", "--format", "mesh-secret", str(secret))
    state = json.loads((ks / "state.json").read_text())
    mesh = [k for k in state["keys"] if k["purpose"] == "mesh-kem"]
    first, second = (ks / mesh[0]["private_key"]), (ks / mesh[1]["private_key"])
    a, b = first.read_bytes(), second.read_bytes()
    first.write_bytes(b)
    second.write_bytes(a)
    found = verify_problems(ks)
    assert sum("expanded private key does not hold its public key" in p for p in found) == 2, found
    first.write_bytes(a)
    second.write_bytes(b)
    mesh[0]["private_form"] = "seed"
    (ks / "state.json").write_text(json.dumps(state))
    assert any("the file holds the other" in p for p in verify_problems(ks))


def test_a_secret_whose_private_key_belongs_to_another_public_key_is_refused(generated, ks, tmp_path, kem_pairs):
    (pk, _), (_, other_sk) = kem_pairs[0], kem_pairs[1]
    secret = tmp_path / "s.yaml"
    secret.write_text(yaml.safe_dump({"kind": "Secret", "data": {
        "ml-kem-current-public": base64.b64encode(pk).decode(), "ml-kem-current-private": base64.b64encode(other_sk).decode()}}))
    secret.chmod(0o600)
    before = (ks / "state.json").read_bytes()
    result = generated("import", "--format", "mesh-secret", str(secret))
    assert result.exit_code == 2 and "does not belong to the public key" in result.stderr
    assert (ks / "state.json").read_bytes() == before


def test_the_wrong_node_id_does_not_open_the_mesh_master_key(generated, tmp_path, kem_pairs):
    master = os.urandom(32)
    write_master_key(tmp_path / "master.key", "node-7", master)
    path = write_mesh_key_file(tmp_path, "kem", "ML-KEM-768", *kem_pairs[0], 1_700_000_000, master)
    result = generated("import", "--format", "mesh-json", "--mesh-master-key", str(tmp_path / "master.key"),
                       "--mesh-node-id", "node-8", str(path))
    assert result.exit_code == 2 and "wrong node id" in result.stderr


def test_export_never_prints_private_keys_to_a_terminal(generated, ks):
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "x0ctl", "--backend", "openssl", "keys", "export",
                                 "--keystore", str(ks)], stdout=terminal, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2 and b"refusing to print private keys to a terminal" in result.stderr


def test_keys_x0ctl_generated_export_expanded_where_the_backend_can(tmp_path, liboqs_backend):
    """With liboqs, seed keys are expanded for the Secret; the expanded forms hold their public keys and re-import."""
    from x0ctl.keystore import Keystore, export_private, generate, import_mesh_keys, rotate, verify_keystore

    store = Keystore(tmp_path / "ks", backend=liboqs_backend)
    generate(store)
    generate(store, purpose="mesh-kem")
    generate(store, purpose="mesh-sig")
    rotate(store, purpose="mesh-kem")
    export = export_private(store)
    assert {(s.purpose, s.slot, s.private_form, s.private_bytes) for s in export.slots} == {
        ("mesh-kem", "current", "seed", 2400), ("mesh-kem", "previous", "seed", 2400), ("mesh-sig", "current", "seed", 4032)}
    assert export.missing == ["ml-dsa-previous-public", "ml-dsa-previous-private"]
    secret = tmp_path / "s.yaml"
    secret.write_bytes(export.data)
    secret.chmod(0o600)
    other = Keystore(tmp_path / "other", backend=liboqs_backend)
    generate(other)
    result = import_mesh_keys(other, "mesh-secret", [secret])
    assert len(result.imported) == 3 and verify_keystore(other).ok
