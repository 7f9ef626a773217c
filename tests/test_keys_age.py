"""Backups as age v1 files: C2SP testkit vectors, interop with age/pyrage, tamper detection, restore."""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import shutil
import time
from pathlib import Path

import pytest

from .conftest import assert_one_line_error
from .keys_helpers import keystore_view, restored_view

TESTKIT = Path(__file__).parent / "keys_age_testkit"
WORK_FACTOR = "10"  # the documented floor; keeps scrypt at milliseconds in tests


def _parse_vector(path: Path) -> tuple[dict, bytes]:
    head, _, body = path.read_bytes().partition(b"\n\n")
    meta: dict[str, list[str]] = {}
    for line in head.decode().splitlines():
        name, _, value = line.partition(": ")
        meta.setdefault(name, []).append(value)
    return meta, body


@pytest.mark.parametrize("name", sorted(p.name for p in TESTKIT.iterdir() if not p.name.endswith(".md")))
def test_c2sp_testkit_vectors(name):
    from x0ctl.keystore import age

    meta, body = _parse_vector(TESTKIT / name)
    identities = [age.HybridIdentity.parse(i) for i in meta.get("identity", []) if i.startswith("AGE-SECRET-KEY-PQ-")]
    identities += [age.ScryptIdentity(p.encode()) for p in meta.get("passphrase", [])]
    try:
        plaintext = age.decrypt(body, identities)
        outcome = "success"
    except age.AgeNoMatch:
        outcome = "no match"
    except age.AgeHeaderError:
        outcome = "header failure"
    except age.AgePayloadError:
        outcome = "payload failure"
    assert outcome == meta["expect"][0]
    if outcome == "success":
        assert hashlib.sha256(plaintext).hexdigest() == meta["payload"][0]


def test_pq_identity_encoding_matches_age_reference():
    from x0ctl.keystore import age

    # From age's cmd/age/testdata/hybrid.txt: an identity and the recipient age-keygen printed for it.
    identity = age.HybridIdentity.parse("AGE-SECRET-KEY-PQ-16XDSLZ3XCSZ3236YJ5J0T9NAPLZTP96LJKQCVHJYUDTQVJR5J5PQTDPQCX")
    recipient = str(identity.recipient())
    assert recipient.startswith("age1pq1044e3hfmq2tltgck54m0gnpv8rfrwkdxjgl38psnwg8zfyv4uqdu63kk0u94ztt0q35k9")
    assert recipient.endswith("hyadxf33kjn9xpg2fq5hnlq0") and len(recipient) == 1959
    assert identity.encode() == "AGE-SECRET-KEY-PQ-16XDSLZ3XCSZ3236YJ5J0T9NAPLZTP96LJKQCVHJYUDTQVJR5J5PQTDPQCX"
    assert str(age.HybridRecipient.parse(recipient)) == recipient
    with pytest.raises(age.UsageError):
        age.HybridRecipient.parse(recipient[:-1] + ("q" if recipient[-1] != "q" else "p"))


def test_stream_chunking_round_trips_across_chunk_boundaries():
    from x0ctl.keystore import age

    identity = age.HybridIdentity.generate()
    for size in (0, 1, age.CHUNK_SIZE - 1, age.CHUNK_SIZE, age.CHUNK_SIZE + 1, 2 * age.CHUNK_SIZE):
        data = os.urandom(size)
        blob = age.encrypt(data, [identity.recipient()])
        assert age.decrypt(blob, [identity]) == data
    full = age.encrypt(os.urandom(age.CHUNK_SIZE), [identity.recipient()])
    with pytest.raises(age.AgePayloadError):
        age.decrypt(full[:-(age.CHUNK_SIZE + 16)] + full[-16:], [identity])  # drops a chunk


def test_scrypt_must_be_alone_and_work_factor_is_bounded():
    from x0ctl.keystore import age

    with pytest.raises(age.UsageError):
        age.encrypt(b"x", [age.ScryptRecipient(b"pw", 10), age.HybridIdentity.generate().recipient()])
    with pytest.raises(age.UsageError):
        age.ScryptRecipient(b"pw", 9)
    with pytest.raises(age.UsageError):
        age.ScryptRecipient(b"pw", 23)


@pytest.fixture
def source(cli, tmp_path):
    """A keystore with some history, plus a passphrase file and a PQ identity/recipient."""
    ks = tmp_path / "source"
    base = ("--backend", "openssl", "keys")
    assert cli(*base, "generate", "--keystore", str(ks)).exit_code == 0
    assert cli(*base, "rotate", "--keystore", str(ks), "--purpose", "kem").exit_code == 0
    passfile = tmp_path / "pass.txt"
    passfile.write_text("a long backup passphrase\n")
    identity = tmp_path / "identity.txt"
    out = cli("keys", "backup-identity", "--out", str(identity), "-o", "json")
    assert out.exit_code == 0
    recipient = json.loads(out.stdout)["recipient"]
    assert recipient.startswith("age1pq1") and f"# public key: {recipient}" in identity.read_text()
    assert oct(identity.stat().st_mode & 0o777) == "0o600"
    return {"ks": ks, "pass": passfile, "identity": identity, "recipient": recipient, "tmp": tmp_path,
            "base": base}


def _backup(cli, source, *extra) -> Path:
    out = source["tmp"] / f"backup-{len(list(source['tmp'].glob('backup-*')))}.age"
    result = cli(*source["base"], "backup", "--keystore", str(source["ks"]), "--out", str(out), *extra)
    assert result.exit_code == 0, result.stderr
    return out


def _restore(cli, source, backup: Path, target: Path, *extra):
    """`keys restore`; without a pin of its own, the backup's signer is trusted (test_keys_hardening pins)."""
    pin = () if "--expect-signer" in extra else ("--trust-backup-signer",)
    return cli(*source["base"], "restore", str(backup), "--keystore", str(target), *pin, *extra)


def test_pq_backup_round_trip(cli, source):
    backup = _backup(cli, source, "-r", source["recipient"])
    assert backup.read_bytes().startswith(b"age-encryption.org/v1\n-> mlkem768x25519 ")
    target = source["tmp"] / "restored"
    result = _restore(cli, source, backup, target, "-i", str(source["identity"]), "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert keystore_view(target) == restored_view(keystore_view(source["ks"]))
    assert cli(*source["base"], "verify", "--keystore", str(target)).exit_code == 0
    assert oct(target.stat().st_mode & 0o777) == "0o700"


def test_passphrase_backup_round_trip_and_wrong_passphrase(cli, source):
    backup = _backup(cli, source, "--passphrase-file", str(source["pass"]), "--scrypt-work-factor", WORK_FACTOR)
    wrong = source["tmp"] / "wrong.txt"
    wrong.write_text("not it\n")
    target = source["tmp"] / "restored"
    result = _restore(cli, source, backup, target, "--passphrase-file", str(wrong))
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "wrong passphrase")
    assert not target.exists()
    other = source["tmp"] / "other-id.txt"
    assert cli("keys", "backup-identity", "--out", str(other)).exit_code == 0
    pq_backup = _backup(cli, source, "-r", source["recipient"])
    result = _restore(cli, source, pq_backup, target, "-i", str(other))
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "no identity matched")
    assert not target.exists()
    assert _restore(cli, source, backup, target, "--passphrase-file", str(source["pass"])).exit_code == 0
    assert keystore_view(target) == restored_view(keystore_view(source["ks"]))


def test_restore_refuses_existing_keystore_and_force_keeps_it_aside(cli, source):
    backup = _backup(cli, source, "--passphrase-file", str(source["pass"]), "--scrypt-work-factor", WORK_FACTOR)
    target = source["tmp"] / "target"
    assert cli(*source["base"], "generate", "--keystore", str(target)).exit_code == 0
    before = keystore_view(target)
    result = _restore(cli, source, backup, target, "--passphrase-file", str(source["pass"]))
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "refusing to overwrite")
    assert keystore_view(target) == before
    result = _restore(cli, source, backup, target, "--passphrase-file", str(source["pass"]), "--force")
    assert result.exit_code == 2  # the target is another node's keystore
    assert_one_line_error(result.stderr, "belongs to another node", "--allow-other-node")
    assert keystore_view(target) == before
    result = _restore(cli, source, backup, target, "--passphrase-file", str(source["pass"]), "--force",
                      "--allow-other-node", "-o", "json")
    assert result.exit_code == 0, result.stderr
    aside = Path(json.loads(result.stdout)["replaced"])
    assert keystore_view(aside) == before
    assert keystore_view(target) == restored_view(keystore_view(source["ks"]))
    assert not list(source["tmp"].glob(".target.restore-*"))


def _regions(blob: bytes) -> dict[str, int]:
    """Offsets of one byte in each region of an age file."""
    header_end = blob.index(b"\n---") + 1
    mac_line_end = blob.index(b"\n", header_end) + 1
    return {"intro": 3, "stanza_type": blob.index(b"-> ") + 4, "stanza_arg": blob.index(b"-> ") + 12,
            "stanza_body": blob.index(b"\n", blob.index(b"-> ")) + 3, "mac": header_end + 6,
            "payload_nonce": mac_line_end + 2, "payload_body": mac_line_end + 200, "final_tag": len(blob) - 3}


@pytest.mark.parametrize("kind", ["passphrase", "pq"])
def test_tampered_or_truncated_backups_are_rejected_and_target_untouched(cli, source, kind):
    extra = ("--passphrase-file", str(source["pass"]), "--scrypt-work-factor", WORK_FACTOR) if kind == "passphrase" \
        else ("-r", source["recipient"])
    key = ("--passphrase-file", str(source["pass"])) if kind == "passphrase" else ("-i", str(source["identity"]))
    blob = _backup(cli, source, *extra).read_bytes()
    target = source["tmp"] / "target"
    assert cli(*source["base"], "generate", "--keystore", str(target)).exit_code == 0
    before = keystore_view(target)
    damaged = source["tmp"] / "damaged.age"
    variants = {f"flip_{name}": blob[:at] + bytes([blob[at] ^ 0x01]) + blob[at + 1:] for name, at in _regions(blob).items()}
    variants.update(truncated_payload=blob[:-100], truncated_header=blob[:40], empty=b"",
                    not_age=b"-----BEGIN PRIVATE KEY-----\n", appended=blob + b"x")
    for name, data in variants.items():
        damaged.write_bytes(data)
        result = _restore(cli, source, damaged, target, *key, "--force")
        assert result.exit_code == 1, (name, result.stderr)
        assert_one_line_error(result.stderr)
        assert keystore_view(target) == before, name
    assert not list(source["tmp"].glob("target.replaced-*"))


def test_backup_whose_content_does_not_verify_is_not_restored(cli, source, tmp_path):
    import io
    import tarfile

    from x0ctl.errors import CheckFailed
    from x0ctl.keystore import Keystore, age
    from x0ctl.pqc import get_backend

    # Sabotage a copy of the keystore (swap a private key), then encrypt its snapshot properly.
    broken = tmp_path / "broken"
    shutil.copytree(source["ks"], broken)
    keys_dir = broken / "keys"
    kem_keys = sorted(keys_dir.glob("kem-*.key.pem"))
    shutil.copy(kem_keys[0], kem_keys[1])
    # `keys backup` refuses a keystore that fails verify, so pack the sabotaged copy by hand.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in [broken / "state.json", broken / "history.jsonl", *sorted(keys_dir.iterdir())]:
            archive.add(path, arcname=path.relative_to(broken).as_posix())
    payload = buffer.getvalue()
    with pytest.raises(CheckFailed, match="fails verification"):
        Keystore(broken, backend=get_backend("openssl")).snapshot()
    identity = age.read_identity_file(source["identity"].read_text())[0]
    backup = tmp_path / "broken.age"
    backup.write_bytes(age.encrypt(payload, [identity.recipient()]))
    target = tmp_path / "target"
    result = _restore(cli, source, backup, target, "-i", str(source["identity"]))
    assert result.exit_code == 1
    assert_one_line_error(result.stderr, "does not verify")
    assert not target.exists()


def test_pyrage_decrypts_x0ctl_passphrase_backup_and_x0ctl_restores_pyrage_file(cli, source):
    pyrage = pytest.importorskip("pyrage", reason="pyrage (an independent age implementation) is not installed")
    backup = _backup(cli, source, "--passphrase-file", str(source["pass"]), "--scrypt-work-factor", WORK_FACTOR)
    payload = pyrage.passphrase.decrypt(backup.read_bytes(), "a long backup passphrase")
    foreign = source["tmp"] / "made-by-pyrage.age"
    foreign.write_bytes(pyrage.passphrase.encrypt(payload, "a long backup passphrase"))  # rage's own work factor
    target = source["tmp"] / "restored"
    result = _restore(cli, source, foreign, target, "--passphrase-file", str(source["pass"]))
    assert result.exit_code == 0, result.stderr
    assert keystore_view(target) == restored_view(keystore_view(source["ks"]))


def _age_tty(args: list[str], passphrase: bytes, prompts: int, timeout: float = 60) -> int:
    """Run Debian's `age`, which reads passphrases only from a terminal, on a pseudo-terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execvp("age", ["age", *args])
    seen, answered, deadline = b"", 0, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 1024)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if answered < prompts and seen.lower().count(b"passphrase") > answered:
                os.write(fd, passphrase + b"\n")
                answered += 1
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.mark.skipif(shutil.which("age") is None, reason="the age tool is not installed (apt-get install age)")
def test_debian_age_decrypts_x0ctl_passphrase_backup(cli, source):
    from x0ctl.keystore import Keystore
    from x0ctl.pqc import get_backend

    backup = _backup(cli, source, "--passphrase-file", str(source["pass"]), "--scrypt-work-factor", WORK_FACTOR)
    plain = source["tmp"] / "plain.tar"
    assert _age_tty(["-d", "-o", str(plain), str(backup)], b"a long backup passphrase", prompts=1) == 0
    import tarfile

    with tarfile.open(plain) as archive:
        names = set(archive.getnames())
    snapshot_names = set()
    with tarfile.open(fileobj=__import__("io").BytesIO(
            Keystore(source["ks"], backend=get_backend("openssl")).snapshot())) as archive:
        snapshot_names = set(archive.getnames())
    assert names == snapshot_names and "state.json" in names and "history.jsonl" in names
    assert _age_tty(["-d", "-o", str(plain) + ".x", str(backup)], b"wrong passphrase", prompts=1) != 0


def test_restore_over_a_newer_keystore_needs_allow_rollback(cli, source):
    """A backup from before a revocation must not quietly bring the compromised key back."""
    backup = _backup(cli, source, "--passphrase-file", str(source["pass"]), "--scrypt-work-factor", WORK_FACTOR)
    listed = cli.json(*source["base"], "list", "--keystore", str(source["ks"]))
    sig_id = next(k["id"] for k in listed["keys"] if k["purpose"] == "sig" and k["state"] == "active")
    revoked = cli(*source["base"], "revoke", sig_id, "--reason", "compromised", "--keystore", str(source["ks"]))
    assert revoked.exit_code == 0, revoked.stderr
    after_revoke = keystore_view(source["ks"])
    result = _restore(cli, source, backup, source["ks"], "--passphrase-file", str(source["pass"]), "--force")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "older than the keystore", "un-revoke", "--allow-rollback")
    assert keystore_view(source["ks"]) == after_revoke
    result = _restore(cli, source, backup, source["ks"], "--passphrase-file", str(source["pass"]), "--force",
                      "--allow-rollback")
    assert result.exit_code == 0, result.stderr


def test_expect_signer_pins_the_node_a_backup_comes_from(cli, source):
    """Anyone with the public recipient can encrypt a keystore; --expect-signer refuses a stranger's."""
    from x0ctl.keystore import Keystore
    from x0ctl.keystore.store import node_identity

    genuine = node_identity(Keystore(source["ks"]))
    stranger_ks = source["tmp"] / "stranger"
    assert cli(*source["base"], "generate", "--keystore", str(stranger_ks)).exit_code == 0
    forged = source["tmp"] / "forged.age"
    made = cli(*source["base"], "backup", "--keystore", str(stranger_ks), "--out", str(forged), "-r", source["recipient"])
    assert made.exit_code == 0, made.stderr
    pin = genuine.removeprefix("sha256:")[:32]
    result = _restore(cli, source, forged, source["tmp"] / "t1", "-i", str(source["identity"]), "--expect-signer", pin)
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "refusing the backup", "not the expected")
    assert not (source["tmp"] / "t1").exists()  # refused: not even the directory is left behind
    real = _backup(cli, source, "-r", source["recipient"])
    result = _restore(cli, source, real, source["tmp"] / "t2", "-i", str(source["identity"]), "--expect-signer", pin)
    assert result.exit_code == 0, result.stderr
    short = _restore(cli, source, real, source["tmp"] / "t3", "-i", str(source["identity"]), "--expect-signer", pin[:8])
    assert short.exit_code == 2
    assert_one_line_error(short.stderr, "32 hex digits")
