"""`x0ctl keys`: lifecycle, keystore layout, verification, tamper detection, secrets never printed."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import stat
import time
from pathlib import Path

import pytest

from .conftest import assert_one_line_error
from .keys_helpers import keystore_view


@pytest.fixture
def ks(tmp_path) -> Path:
    return tmp_path / "keystore"


@pytest.fixture
def keys(cli, ks):
    """Run `x0ctl --backend openssl keys <args> --keystore <tmp>`; `.json()` parses `-o json` output."""

    class Keys:
        path = ks

        def __call__(self, *args: str, env: dict | None = None, input: str | None = None):
            # --keystore goes first so a test's own --keystore (restore targets) comes later and wins.
            return cli("--backend", "openssl", "keys", args[0], "--keystore", str(ks), *args[1:], env=env, input=input)

        def json(self, *args: str, expect: int = 0):
            result = self(*args, "-o", "json")
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
            return json.loads(result.stdout)

    return Keys()


@pytest.fixture
def generated(keys):
    keys.json("generate", "--node", "node-17")
    return keys


def _state(ks: Path) -> dict:
    return json.loads((ks / "state.json").read_text())


def _active(ks: Path, purpose: str) -> dict:
    return next(k for k in _state(ks)["keys"] if k["purpose"] == purpose and k["state"] == "active")


def test_generate_creates_private_keystore_with_interoperable_key_files(generated, ks):
    from cryptography.hazmat.primitives.asymmetric import mldsa
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    from x0ctl.pqc.fingerprint import fingerprint

    assert stat.S_IMODE(ks.stat().st_mode) == 0o700
    for path in [ks / "state.json", ks / "history.jsonl", *(ks / "keys").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    state = _state(ks)
    assert state["node"] == "node-17" and state["epoch"] == 2
    sig, kem = _active(ks, "sig"), _active(ks, "kem")
    assert (sig["algorithm"], kem["algorithm"]) == ("ML-DSA-65", "X-Wing")
    private = load_pem_private_key((ks / sig["private_key"]).read_bytes(), password=None)
    assert isinstance(private, mldsa.MLDSA65PrivateKey)
    public = load_pem_public_key((ks / sig["public_key"]).read_bytes())
    assert public.public_bytes_raw() == private.public_key().public_bytes_raw()
    assert sig["id"] == fingerprint("ML-DSA-65", public.public_bytes_raw())
    # X-Wing: id-XWing PKCS#8 with the 32-byte seed; the seed regenerates the recorded public key.
    from x0ctl.keystore.keyfiles import raw_from_public_pem, seed_from_private_pem
    from x0ctl.pqc import XWing, get_backend

    seed = seed_from_private_pem("X-Wing", (ks / kem["private_key"]).read_bytes(), "kem")
    der = base64.b64decode("".join((ks / kem["private_key"]).read_text().splitlines()[1:-1]))
    assert der[7:20] == bytes.fromhex("060b2b0601040183e62d81c87a") and der[-32:] == seed
    raw_public = raw_from_public_pem("X-Wing", (ks / kem["public_key"]).read_bytes(), "kem")
    assert XWing(get_backend("openssl")).from_seed(seed).public_key() == raw_public
    assert kem["id"] == fingerprint("X-Wing", raw_public)


def test_generate_refuses_existing_set_and_force_retires_old_keys(generated, ks):
    before = _state(ks)
    result = generated("generate")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "already has an active key set", "--force")
    assert _state(ks) == before
    out = generated.json("generate", "--force", "--reason", "reinstall")
    assert set(out["retired"]) == {"kem", "sig"}
    states = {k["id"]: k["state"] for k in _state(ks)["keys"]}
    assert all(states[k["id"]] == "retired" for k in before["keys"])
    assert generated.json("verify")["ok"]


def test_keystore_location_from_env_and_xdg(cli, tmp_path):
    env = {"XDG_DATA_HOME": str(tmp_path / "xdg"), "X0CTL_KEYSTORE": ""}
    assert cli("--backend", "openssl", "keys", "generate", env=env).exit_code == 0
    assert (tmp_path / "xdg" / "x0ctl" / "state.json").is_file()
    env = {"X0CTL_KEYSTORE": str(tmp_path / "explicit")}
    assert cli("--backend", "openssl", "keys", "generate", env=env).exit_code == 0
    assert (tmp_path / "explicit" / "state.json").is_file()


def test_commands_on_missing_keystore_fail_cleanly(keys):
    for args in (("list",), ("verify",), ("rotate",), ("history",), ("show", "abcd"), ("checkpoint",)):
        result = keys(*args)
        assert result.exit_code == 4, args  # README: 1 is "check failed"; a missing keystore is I/O
        assert_one_line_error(result.stderr, "no keystore")


def test_loose_permissions_refused_unless_insecure_flag(generated, ks):
    os.chmod(ks, 0o755)
    result = generated("list")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "others can access", "0755")
    assert generated("rotate").exit_code == 2
    assert generated("list", "--insecure-permissions").exit_code == 0
    os.chmod(ks, 0o700)
    os.chmod(next((ks / "keys").iterdir()), 0o644)
    report = generated.json("verify", expect=1)
    assert any("0644" in p for p in report["problems"])


def test_rotate_retires_old_keys_and_bumps_epoch(generated, ks):
    old = {p: _active(ks, p)["id"] for p in ("kem", "sig")}
    out = generated.json("rotate", "--reason", "scheduled")
    assert {r["purpose"] for r in out["rotated"]} == {"kem", "sig"}
    assert out["epoch"] == 4
    for purpose in ("kem", "sig"):
        assert _active(ks, purpose)["id"] != old[purpose]
        retired = next(k for k in _state(ks)["keys"] if k["id"] == old[purpose])
        assert retired["state"] == "retired" and retired["retired"] and (ks / retired["private_key"]).exists()
    history = generated.json("history")["entries"]
    assert [e["event"] for e in history[-2:]] == ["rotate", "rotate"]
    assert history[-1]["reason"] == "scheduled" and history[-1]["old_id"] in old.values()
    assert generated.json("verify")["ok"]


def test_rotate_if_older_than_is_a_noop_for_young_keys(generated, ks):
    before = keystore_view(ks)
    result = generated("rotate", "--if-older-than", "30d")
    assert result.exit_code == 0
    assert "not due" in result.stdout
    assert keystore_view(ks) == before
    out = generated.json("rotate", "--if-older-than", "0s", "--purpose", "kem")
    assert [r["purpose"] for r in out["rotated"]] == ["kem"]


def test_rotate_if_older_than_rotates_old_key(generated, ks):
    state = _state(ks)
    for key in state["keys"]:
        if key["purpose"] == "sig":
            key["activated"] = "2020-01-01T00:00:00Z"  # metadata only: not part of the signed history
    (ks / "state.json").write_text(json.dumps(state))
    out = generated.json("rotate", "--if-older-than", "30d")
    assert [r["purpose"] for r in out["rotated"]] == ["sig"]
    assert [s["purpose"] for s in out["skipped"]] == ["kem"]


def test_staged_rotation_prepare_then_activate(generated, ks):
    old = _active(ks, "kem")["id"]
    prepared = generated.json("rotate", "--purpose", "kem", "--stage", "prepare")["prepared"][0]
    assert prepared["state"] == "pending" and _active(ks, "kem")["id"] == old
    again = generated.json("rotate", "--purpose", "kem", "--stage", "prepare")
    assert again["skipped"][0]["reason"] == "already prepared"
    assert generated.json("verify")["ok"]
    out = generated.json("rotate", "--purpose", "kem", "--stage", "activate")
    assert out["rotated"][0]["new"]["id"] == prepared["id"] == _active(ks, "kem")["id"]
    result = generated("rotate", "--purpose", "kem", "--stage", "activate")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "no pending kem key")


def test_staged_sig_rotation_keeps_history_verifiable(generated):
    generated.json("rotate", "--purpose", "sig", "--stage", "prepare")
    generated.json("rotate", "--purpose", "sig", "--stage", "activate")
    generated.json("rotate", "--purpose", "sig")
    assert generated.json("verify")["ok"]


def test_keep_prunes_private_keys_of_old_versions_only(generated, ks):
    for _ in range(3):
        generated.json("rotate", "--purpose", "kem")
    out = generated.json("rotate", "--purpose", "kem", "--keep", "1")
    assert len(out["pruned"]) == 3
    kem = sorted((k for k in _state(ks)["keys"] if k["purpose"] == "kem"), key=lambda k: k["version"])
    assert [k["private_key"] is None for k in kem] == [True, True, True, False, False]
    assert all((ks / k["public_key"]).exists() for k in kem)
    assert not any((ks / "keys").glob("kem-v1-*.key.pem"))
    assert generated.json("verify")["ok"]


def test_dry_run_changes_nothing(generated, ks):
    before = keystore_view(ks)
    files = sorted(p.name for p in (ks / "keys").iterdir())
    out = generated.json("rotate", "--dry-run", "--keep", "0")
    assert out["dry_run"] and len(out["rotated"]) == 2
    assert keystore_view(ks) == before and sorted(p.name for p in (ks / "keys").iterdir()) == files


def test_rotate_rejects_bad_options(generated):
    for args, fragment in ((("--purpose", "x"),), "purpose"), ((("--stage", "later"),), "stage"), \
            ((("--if-older-than", "soon"),), "duration"), ((("--keep", "-1"),), "--keep"):
        result = generated("rotate", *args[0])
        assert result.exit_code == 2, args
        assert_one_line_error(result.stderr, fragment)


def test_metrics_textfile_counts_across_runs(generated, tmp_path, ks):
    from prometheus_client.parser import text_string_to_metric_families

    metrics = tmp_path / "textfile" / "x0ctl_keys.prom"
    generated.json("rotate", "--metrics-file", str(metrics))
    generated.json("rotate", "--purpose", "kem", "--metrics-file", str(metrics))
    os.chmod(ks, 0o755)
    assert generated("rotate", "--metrics-file", str(metrics)).exit_code == 2
    os.chmod(ks, 0o700)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(metrics.read_text()) for s in family.samples}
    assert samples[("key_rotation_success_total", ())] == 3
    assert samples[("key_rotation_failure_total", (("reason", "usage"),))] == 1
    assert not list(metrics.parent.glob("*.tmp*"))  # written via temp file + rename


def test_revoke_active_key_forces_new_active_key(generated, ks):
    old = _active(ks, "sig")
    out = generated.json("revoke", old["id"][7:19], "--reason", "disk image leaked")
    assert out["revoked"]["state"] == "revoked" and out["replacement"]["purpose"] == "sig"
    record = next(k for k in _state(ks)["keys"] if k["id"] == old["id"])
    assert record["state"] == "revoked" and record["reason"] == "disk image leaked"
    assert _active(ks, "sig")["id"] == out["replacement"]["id"]
    assert generated.json("history")["entries"][-1]["event"] == "revoke"
    assert generated.json("verify")["ok"]
    again = generated("revoke", old["id"], "--reason", "x")
    assert again.exit_code == 2
    assert_one_line_error(again.stderr, "already revoked")
    assert generated("revoke", old["id"]).exit_code == 2  # --reason is required


def test_show_accepts_unique_prefixes_only(generated, ks):
    sig = _active(ks, "sig")
    assert generated.json("show", sig["id"][7:15])["id"] == sig["id"]
    assert generated.json("show", sig["id"])["id"] == sig["id"]
    for ref, fragment in (("ffff" * 16, "no key matches"), ("xyz!", "not a key id"), ("", "not a key id")):
        result = generated("show", ref)
        assert result.exit_code == 2
        assert_one_line_error(result.stderr, fragment)


def test_export_public_formats(generated, ks, tmp_path):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    pem = generated("export-public", "--purpose", "sig")
    assert pem.exit_code == 0
    assert load_pem_public_key(pem.stdout.encode()).public_bytes_raw()
    both = generated("export-public")
    assert both.stdout.count("BEGIN PUBLIC KEY") == 2
    out = tmp_path / "kem.bin"
    assert generated("export-public", "--purpose", "kem", "--format", "raw", "--out", str(out)).exit_code == 0
    assert len(out.read_bytes()) == 1216
    data = generated.json("export-public", "--format", "json")
    assert {k["purpose"] for k in data["keys"]} == {"kem", "sig"}
    assert all(len(base64.b64decode(k["public_key"])) in (1216, 1952) for k in data["keys"])
    result = generated("export-public", "--format", "raw")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "exactly one key")


def test_swapped_private_key_file_is_detected(generated, ks):
    generated.json("rotate", "--purpose", "kem")
    kem = sorted((k for k in _state(ks)["keys"] if k["purpose"] == "kem"), key=lambda k: k["version"])
    shutil.copy(ks / kem[0]["private_key"], ks / kem[1]["private_key"])
    report = generated.json("verify", expect=1)
    assert any("does not match its public key" in p for p in report["problems"])
    result = generated("verify")
    assert_one_line_error(result.stderr, "verification failed")


def test_swapped_public_key_file_is_detected(generated, ks):
    sig = _active(ks, "sig")
    generated.json("rotate", "--purpose", "sig")
    new = _active(ks, "sig")
    shutil.copy(ks / new["public_key"], ks / sig["public_key"])
    report = generated.json("verify", expect=1)
    assert any("file swapped" in p for p in report["problems"])


def test_missing_private_key_is_detected(generated, ks):
    (ks / _active(ks, "kem")["private_key"]).unlink()
    report = generated.json("verify", expect=1)
    assert any("cannot read private key" in p for p in report["problems"])


@pytest.mark.parametrize("tamper", ["edit_reason", "drop_middle", "truncate", "reorder", "forge_entry", "garbage"])
def test_history_tampering_is_detected(generated, ks, tamper):
    generated.json("rotate", "--reason", "scheduled")
    path = ks / "history.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    if tamper == "edit_reason":
        lines[-1] = lines[-1].replace(b'"scheduled"', b'"scheduleD"')
    elif tamper == "drop_middle":
        del lines[1]
    elif tamper == "truncate":
        lines = lines[:-1]
    elif tamper == "reorder":
        lines[2], lines[3] = lines[3], lines[2]
    elif tamper == "forge_entry":
        # A well-formed entry appended and recorded as the head, but signed by a key nobody introduced.
        from x0ctl.keystore import history
        from x0ctl.pqc import get_backend

        intruder = get_backend("openssl").sig("ML-DSA-65").generate()
        line = history.make_entry(seq=len(lines) + 1, prev=history.entry_hash(lines[-1].rstrip(b"\n")),
                                  time="2030-01-01T00:00:00Z", event="rotate", purpose="kem", old_id=None,
                                  new_id=None, reason="forged", epoch=9, signer="sha256:" + "ab" * 32,
                                  sign=lambda m: intruder.sign(m, history.SIGNATURE_CONTEXT))
        lines.append(line + b"\n")
        state = _state(ks)
        state["history"] = {"count": len(lines), "head": history.entry_hash(line)}
        (ks / "state.json").write_text(json.dumps(state))
    elif tamper == "garbage":
        lines[0] = b"{not json\n"
    path.write_bytes(b"".join(lines))
    report = generated.json("verify", expect=1)
    assert report["problems"], report


def test_state_with_two_active_keys_is_detected(generated, ks):
    generated.json("rotate", "--purpose", "kem")
    state = _state(ks)
    for key in state["keys"]:
        if key["purpose"] == "kem":
            key["state"] = "active"
    (ks / "state.json").write_text(json.dumps(state))
    report = generated.json("verify", expect=1)
    assert any("2 active keys" in p for p in report["problems"])


def test_keys_created_by_each_backend_verify_under_the_other(tmp_path, backend):
    from x0ctl.keystore import Keystore, generate, rotate
    from x0ctl.pqc import get_backend

    store = Keystore(tmp_path / "ks", backend=backend)
    generate(store)
    rotate(store, purpose="sig")
    assert Keystore(tmp_path / "ks", backend=get_backend("openssl")).verify().ok
    assert store.verify().ok


def test_keystore_health_for_doctor(generated, ks, tmp_path):
    from x0ctl.keystore import keystore_health

    health = keystore_health(ks)
    assert health["ok"] and set(health["active"]) == {"kem", "sig"} and health["epoch"] == 2
    missing = keystore_health(tmp_path / "none")
    assert not missing["ok"] and not missing["exists"]
    (ks / _active(ks, "kem")["private_key"]).write_bytes(b"garbage")
    assert not keystore_health(ks)["ok"]


def test_interrupted_transaction_leftovers_are_notes_then_cleaned(generated, ks):
    from x0ctl.keystore import history

    (ks / "keys" / "kem-v9-000000000000.key.pem").write_bytes(b"orphan")
    os.chmod(ks / "keys" / "kem-v9-000000000000.key.pem", 0o600)
    lines = (ks / "history.jsonl").read_bytes()
    (ks / "history.jsonl").write_bytes(lines + lines.splitlines(keepends=True)[-1])  # an uncommitted tail
    (ks / ".state.json.abc.tmp").write_bytes(b"{")
    os.chmod(ks / ".state.json.abc.tmp", 0o600)
    report = generated.json("verify")
    assert report["ok"] and len(report["notes"]) == 2
    out = generated.json("rotate", "--purpose", "kem")
    assert len(out["recovered"]) == 3
    assert not (ks / "keys" / "kem-v9-000000000000.key.pem").exists() and not (ks / ".state.json.abc.tmp").exists()
    report = generated.json("verify")
    assert report["ok"] and not report["notes"]
    assert len(history.parse_lines((ks / "history.jsonl").read_bytes())) == _state(ks)["history"]["count"]


def test_no_command_prints_key_material(cli, generated, ks, tmp_path):
    from x0ctl.keystore.keyfiles import seed_from_private_pem

    passfile = tmp_path / "pass"
    passfile.write_text("correct horse battery staple\n")
    identity_file = tmp_path / "id.txt"
    outputs = []
    runs = [("generate", "--force"), ("list",), ("show", _active(ks, "kem")["id"]), ("history",), ("verify",), ("export-public",),
            ("export-public", "--format", "json"), ("rotate", "--keep", "0"), ("rotate", "--dry-run"),
            ("revoke", _active(ks, "kem")["id"], "--reason", "test"),
            ("backup", "--out", str(tmp_path / "b.age"), "--passphrase-file", str(passfile), "--scrypt-work-factor", "10"),
            ("restore", str(tmp_path / "b.age"), "--passphrase-file", str(passfile), "--keystore", str(tmp_path / "r"))]
    for args in runs:
        for fmt in ("table", "json"):
            result = generated(*args, "-o", fmt)
            outputs.append(result.stdout + result.stderr)
    identity = cli("keys", "backup-identity", "--out", str(identity_file))
    assert identity.exit_code == 0, identity.stderr
    outputs.append(identity.stdout + identity.stderr)
    text = "\n".join(outputs)
    secrets_ = ["correct horse battery staple", identity_file.read_text().splitlines()[-1]]
    for key in _state(ks)["keys"]:
        if key["private_key"]:
            pem = (ks / key["private_key"]).read_bytes()
            seed = seed_from_private_pem(key["algorithm"], pem, "key")
            secrets_ += [seed.hex(), seed.hex().upper(), base64.b64encode(seed).decode()[:40],
                         pem.decode().splitlines()[1][:40]]
    for secret in secrets_:
        assert secret not in text
    assert "AGE-SECRET-KEY" not in text and "PRIVATE KEY" not in text


def test_every_keys_command_has_help_with_examples(cli):
    for command in ("generate", "rotate", "revoke", "list", "show", "history", "export-public", "verify", "backup",
                    "backup-identity", "restore"):
        result = cli("keys", command, "--help")
        assert result.exit_code == 0, command
        assert "Examples:" in result.stdout, command


def test_passphrase_is_never_taken_from_argv(generated, tmp_path):
    result = generated("backup", "--out", str(tmp_path / "b.age"), "--passphrase", "hunter2")
    assert result.exit_code == 2  # --passphrase is a flag that prompts; a value is an unexpected argument
    no_tty = generated("backup", "--out", str(tmp_path / "b.age"))
    assert no_tty.exit_code == 2
    assert_one_line_error(no_tty.stderr, "--passphrase-file")
    assert not (tmp_path / "b.age").exists()


def test_passphrase_from_environment_variable(generated, tmp_path):
    out = tmp_path / "b.age"
    env = {"BACKUP_PASS": "from-env"}
    result = generated("backup", "--out", str(out), "--passphrase-env", "BACKUP_PASS", "--scrypt-work-factor", "10",
                       env=env)
    assert result.exit_code == 0, result.stderr
    restored = generated("restore", str(out), "--passphrase-env", "BACKUP_PASS", "--keystore",
                         str(tmp_path / "r"), "--trust-backup-signer", env=env)
    assert restored.exit_code == 0, restored.stderr
    unset = generated("backup", "--out", str(tmp_path / "c.age"), "--passphrase-env", "NOPE_NOT_SET")
    assert unset.exit_code == 2
    assert re.search(r"NOPE_NOT_SET is not set", unset.stderr)


def test_validity_sets_not_after_and_verify_notes_expiry(generated, ks, monkeypatch):
    from x0ctl.keystore import store as store_module
    from x0ctl.keystore.store import parse_time

    # a rotation recorded 100 days ago with a 90-day validity: expired, without editing state.json
    # (an edited not_after is now caught by the signed history)
    monkeypatch.setattr(store_module, "utc_now", lambda: store_module.format_time(time.time() - 100 * 86400))
    out = generated.json("rotate", "--purpose", "kem", "--validity", "90d")
    monkeypatch.undo()
    new = out["rotated"][0]["new"]
    record = _active(ks, "kem")
    assert new["not_after"] == record["not_after"]
    assert parse_time(record["not_after"]) - parse_time(record["activated"]) == 90 * 86400
    report = generated.json("verify")
    assert report["ok"] and any("expired" in note for note in report["notes"])


def test_restore_never_replaces_a_keystore_created_while_it_waited(tmp_path, monkeypatch):
    """A `keys generate` that commits just before restore takes the lock must win, not be deleted."""
    from x0ctl.errors import UsageError
    from x0ctl.keystore import Keystore, generate
    from x0ctl.keystore import backups as store_module
    from x0ctl.keystore.fsutil import KeystoreLock, make_private_dir
    from x0ctl.pqc import get_backend

    backend = get_backend("openssl")
    source = Keystore(tmp_path / "source", backend=backend)
    generate(source)
    payload = source.snapshot()
    target = tmp_path / "target"
    make_private_dir(target)  # provisioned, still empty
    created = {}

    class GenerateFirst(KeystoreLock):
        def acquire(self):
            if "done" not in created:
                created["done"] = True  # generate takes this lock too: only the first acquire races
                created.update(generate(Keystore(target, backend=backend)).to_dict())
            super().acquire()

    monkeypatch.setattr(store_module, "KeystoreLock", GenerateFirst)
    with pytest.raises(UsageError, match="refusing to overwrite"):
        store_module.restore(payload, target, backend=backend, trust_backup_signer=True)
    ids_now = {record.id for record in Keystore(target, backend=backend).records(Keystore(target).read_state())}
    assert {key["id"] for key in created["created"]} <= ids_now
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source", "target"]  # no staging left behind


def test_entries_signed_by_a_revoked_signing_key_are_rejected(tmp_path):
    """Un-revoking a compromised key by editing state.json must not let it sign history again."""
    from x0ctl.errors import CheckFailed
    from x0ctl.keystore import Keystore, generate, revoke, rotate
    from x0ctl.pqc import get_backend

    path = tmp_path / "ks"
    store = Keystore(path, backend=get_backend("openssl"))
    generate(store)
    state = json.loads((path / "state.json").read_text())
    compromised = next(k["id"] for k in state["keys"] if k["purpose"] == "sig" and k["state"] == "active")
    revoke(store, compromised, reason="compromised")
    assert store.verify().ok
    state = json.loads((path / "state.json").read_text())
    for key in state["keys"]:
        if key["purpose"] == "sig":
            key["state"] = "active" if key["id"] == compromised else "pending"
    (path / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    with pytest.raises(CheckFailed, match="fails verification"):
        rotate(store, purpose="kem")  # x0ctl itself refuses to build on the edited state
    # An attacker signs an entry with the un-revoked key by hand: the chain must reject it.
    from x0ctl.keystore import history
    from x0ctl.keystore.store import KeyRecord

    lines = history.parse_lines((path / "history.jsonl").read_bytes())
    signer = KeyRecord.from_dict(next(k for k in state["keys"] if k["id"] == compromised))
    private = store.load_private(signer)
    forged = history.make_entry(seq=len(lines) + 1, prev=history.entry_hash(lines[-1]), time="2030-01-01T00:00:00Z",
                                event="prune", purpose="kem", old_id=None, new_id=None, reason="forged",
                                epoch=state["epoch"], signer=compromised,
                                sign=lambda message: private.sign(message, history.SIGNATURE_CONTEXT))
    (path / "history.jsonl").write_bytes(b"".join(line + b"\n" for line in [*lines, forged]))
    state["history"] = {"count": len(lines) + 1, "head": history.entry_hash(forged)}
    (path / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    report = store.verify()
    assert not report.ok
    assert any("which an earlier entry revoked" in problem for problem in report.problems), report.problems


@pytest.mark.parametrize("edit", ["un-revoke", "epoch", "un-prune"])
def test_state_json_edits_are_caught_by_the_signed_history(tmp_path, edit):
    """state.json is not signed; replaying the signed history must expose an edit of it alone."""
    from x0ctl.keystore import Keystore, generate, revoke, rotate
    from x0ctl.pqc import get_backend

    path = tmp_path / "ks"
    store = Keystore(path, backend=get_backend("openssl"))
    generate(store)
    rotate(store, purpose="kem", keep=0)  # retires and prunes the first kem key
    state = json.loads((path / "state.json").read_text())
    compromised = next(k["id"] for k in state["keys"] if k["purpose"] == "sig" and k["state"] == "active")
    revoke(store, compromised, reason="compromised")
    assert store.verify().ok
    state = json.loads((path / "state.json").read_text())
    if edit == "un-revoke":
        for key in state["keys"]:
            if key["purpose"] == "sig":
                key["state"] = "active" if key["id"] == compromised else "retired"
    elif edit == "epoch":
        state["epoch"] -= 1
    else:
        pruned = next(k for k in state["keys"] if k.get("pruned"))
        pruned["private_key"] = pruned["public_key"].replace(".pub.pem", ".key.pem")
    (path / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    report = store.verify()
    assert not report.ok
    assert any("history" in problem for problem in report.problems), report.problems


def test_keys_from_an_older_x0ctl_without_signed_lifetimes_verify_with_a_note(keys, ks, monkeypatch):
    """History entries written before created/not_after were signed: accepted, named in a note."""
    from x0ctl.keystore import history

    signed_make_entry = history.make_entry

    def older_make_entry(**fields):
        extra = {k: v for k, v in (fields.pop("extra") or {}).items() if k not in ("new_created", "new_not_after")}
        return signed_make_entry(**fields, extra=extra)

    monkeypatch.setattr(history, "make_entry", older_make_entry)
    keys.json("generate", "--node", "node-17")
    monkeypatch.undo()
    assert b"new_created" not in (ks / "history.jsonl").read_bytes()
    report = keys.json("verify")
    assert report["ok"], report["problems"]
    assert any("older x0ctl" in note for note in report["notes"])
