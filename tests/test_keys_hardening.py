"""Issue 15: a keystore attacker (write access to the directory) or a damaged disk never ends with
keys lost, files outside the keystore touched, or a revoked key usable again while verify passes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from .conftest import assert_one_line_error

WORK_FACTOR = "10"  # the scrypt floor: tests only


@pytest.fixture
def node(cli, tmp_path):
    """A generated keystore, a passphrase file and a helper to run `x0ctl keys ...` against it."""

    class Node:
        ks = tmp_path / "keystore"
        passfile = tmp_path / "pass.txt"

        def __call__(self, command: str, *args: str, keystore: Path | None = None):
            return cli("--backend", "openssl", "keys", command, "--keystore", str(keystore or self.ks), *args)

        def json(self, command: str, *args: str, expect: int = 0, keystore: Path | None = None):
            result = self(command, *args, "-o", "json", keystore=keystore)
            assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr)
            return json.loads(result.stdout) if result.stdout.strip() else None

        def state(self) -> dict:
            return json.loads((self.ks / "state.json").read_text())

        def write_state(self, state: dict) -> None:
            (self.ks / "state.json").write_text(json.dumps(state))

        def record(self, purpose: str, state: str) -> dict:
            return next(k for k in self.state()["keys"] if k["purpose"] == purpose and k["state"] == state)

        def backup(self, *extra: str) -> Path:
            out = tmp_path / f"backup-{len(list(tmp_path.glob('backup-*')))}.age"
            result = self("backup", "--out", str(out), "--passphrase-file", str(self.passfile),
                          "--scrypt-work-factor", WORK_FACTOR, *extra)
            assert result.exit_code == 0, result.stderr
            return out

        def restore(self, backup: Path, *extra: str, keystore: Path | None = None):
            return self("restore", str(backup), "--passphrase-file", str(self.passfile), *extra, keystore=keystore)

    found = Node()
    found.passfile.write_text("a long backup passphrase\n")
    assert cli("--backend", "openssl", "keys", "generate", "--node", "node-17", "--keystore", str(found.ks)).exit_code == 0
    return found


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# Attack 1: paths in state.json are confined to keys/.


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_record_paths_outside_keys_dir_are_refused_and_nothing_is_deleted(node, tmp_path, where):
    node("rotate", "--purpose", "kem")
    retired = node.record("kem", "retired")
    victim = tmp_path / "victim-file"
    shutil.copy(node.ks / retired["private_key"], victim)
    victim.chmod(0o600)
    state = node.state()
    for key in state["keys"]:
        if key["id"] == retired["id"]:
            key["private_key"] = "../victim-file" if where == "relative" else str(victim)
    node.write_state(state)
    before = _files(node.ks)

    report = node.json("verify", expect=1)
    assert any("outside" in p and "keys/" in p for p in report["problems"]), report["problems"]
    result = node("rotate", "--keep", "0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert_one_line_error(result.stderr, "fails verification")
    assert victim.exists() and _files(node.ks) == before
    assert node("backup", "--out", str(tmp_path / "b.age"), "--passphrase-file", str(node.passfile)).exit_code == 1
    assert not (tmp_path / "b.age").exists()


# Attack 2: every key the signed history introduced must still be there (or be pruned by a signed entry).


@pytest.mark.parametrize("tamper", ["delete_record", "mark_pruned"])
def test_record_removed_from_state_fails_verify_and_next_change_keeps_its_files(node, tamper):
    node("rotate", "--purpose", "kem")
    retired = node.record("kem", "retired")
    state = node.state()
    if tamper == "delete_record":
        state["keys"] = [k for k in state["keys"] if k["id"] != retired["id"]]
    else:
        for key in state["keys"]:
            if key["id"] == retired["id"]:
                key["private_key"], key["pruned"] = None, key["retired"]
    node.write_state(state)

    report = node.json("verify", expect=1)
    assert any(retired["id"][7:19] in p or retired["id"][:23] in p for p in report["problems"]), report["problems"]
    assert node("rotate", "--purpose", "kem").exit_code == 1
    assert (node.ks / retired["private_key"]).exists()


# Attack 3: restore --force over a damaged keystore still sees the signed revoke.


def test_restore_over_damaged_keystore_never_unrevokes(node, tmp_path):
    backup = node.backup()
    kem = node.record("kem", "active")
    node("revoke", kem["id"][7:23], "--reason", "disk image leaked")
    (node.ks / "state.json").write_text("{ damaged")
    before = _files(node.ks)

    refused = node.restore(backup, "--force")
    assert refused.exit_code == 2, (refused.stdout, refused.stderr)
    assert_one_line_error(refused.stderr, "un-revoke")
    assert _files(node.ks) == before

    restored = node.restore(backup, "--force", "--allow-rollback")
    assert restored.exit_code == 0, restored.stderr
    record = next(k for k in node.state()["keys"] if k["id"] == kem["id"])
    assert record["state"] == "revoked"
    assert node.json("verify")["ok"] is True
    assert sum(1 for _ in tmp_path.glob("keystore.replaced-*")) == 1


# Finding 4: a restore into an empty target needs the node's signer pinned.


def test_restore_into_empty_target_needs_a_signer_pin(node, tmp_path):
    backup = node.backup()
    target = tmp_path / "disk-lost"
    refused = node.restore(backup, keystore=target)
    assert refused.exit_code == 2
    assert_one_line_error(refused.stderr, "--expect-signer")
    assert not target.exists()
    signer = node.json("history")["entries"][0]["signer"]
    wrong = node.restore(backup, "--expect-signer", "sha256:" + "0" * 64, keystore=target)
    assert wrong.exit_code == 2 and not target.exists()
    trusted = node.restore(backup, "--trust-backup-signer", keystore=target)
    assert trusted.exit_code == 0, trusted.stderr
    assert signer in trusted.stdout + trusted.stderr
    shutil.rmtree(target)
    pinned = node.json("restore", str(backup), "--passphrase-file", str(node.passfile), "--expect-signer", signer,
                       keystore=target)
    assert pinned["signer"] == signer


def test_backup_identity_prints_the_node_fingerprint_to_keep(node, tmp_path):
    signer = node.json("history")["entries"][0]["signer"]
    data = node.json("backup-identity", "--out", str(tmp_path / "recovery.txt"))
    assert data["node_signer"] == signer
    assert signer in (tmp_path / "recovery.txt").read_text()


# Finding 5: an anchor outside the directory.


def test_checkpoint_detects_rollback_and_a_swapped_keystore(node, tmp_path, cli):
    old_copy = tmp_path / "old-copy"
    shutil.copytree(node.ks, old_copy)
    node("rotate")
    checkpoint = tmp_path / "node-17.checkpoint"
    made = node.json("checkpoint", "--out", str(checkpoint))
    assert made["epoch"] == node.state()["epoch"] and made["head"] == node.state()["history"]["head"]
    assert node.json("verify", "--checkpoint", str(checkpoint))["ok"] is True
    node("rotate")  # newer than the checkpoint: fine
    assert node.json("verify", "--checkpoint", str(checkpoint))["ok"] is True

    old = node.json("verify", "--checkpoint", str(checkpoint), keystore=old_copy, expect=1)
    assert any("older than checkpoint" in p for p in old["problems"]), old["problems"]
    other = tmp_path / "other"
    assert cli("--backend", "openssl", "keys", "generate", "--node", "node-17", "--keystore", str(other)).exit_code == 0
    swapped = node.json("verify", "--checkpoint", str(checkpoint), keystore=other, expect=1)
    assert any("checkpoint" in p for p in swapped["problems"]), swapped["problems"]

    forged = json.loads(checkpoint.read_text())
    forged["epoch"] += 5
    checkpoint.write_text(json.dumps(forged))
    bad = node.json("verify", "--checkpoint", str(checkpoint), expect=1)
    assert any("signature" in p for p in bad["problems"]), bad["problems"]


# Finding 6: malformed records, node, lock file, leftovers, file modes, messages.


@pytest.mark.parametrize("edit", ["int_id", "string_version", "node_control_chars", "node_not_string"])
def test_malformed_state_is_a_problem_not_a_crash(node, edit):
    state = node.state()
    if edit == "int_id":
        state["keys"].append({"id": 1})
    elif edit == "string_version":
        state["keys"][0]["version"] = str(state["keys"][0]["version"])
    elif edit == "node_control_chars":
        state["node"] = "node-17\x1b[2J\x07"
    else:
        state["node"] = 17
    node.write_state(state)
    for command in ("verify", "rotate", "list"):
        result = node(command)
        assert result.exit_code == 1, (command, result.exit_code, result.stdout, result.stderr)
        assert "\x1b" not in result.stdout + result.stderr


@pytest.mark.parametrize("lock", ["symlink", "world_writable"])
def test_unsafe_lock_file_is_flagged(node, tmp_path, lock):
    path = node.ks / ".lock"
    path.unlink(missing_ok=True)
    if lock == "symlink":
        (tmp_path / "elsewhere").write_text("")
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.write_text("")
        path.chmod(0o666)
    report = node.json("verify", expect=1)
    assert any(".lock" in p for p in report["problems"]), report["problems"]
    assert node("rotate").exit_code in (1, 2)


def test_leftover_restore_staging_is_cleaned_with_a_note(node, tmp_path):
    staging = tmp_path / ".keystore.restore-0badc0de"
    shutil.copytree(node.ks, staging)
    (staging / ".restore-staging").write_text("")
    previous = tmp_path / ".keystore.restore-feedf00d"  # killed between the exchange and the final rename
    shutil.copytree(node.ks, previous)
    report = node.json("verify")
    assert not staging.exists() and not previous.exists()
    assert any("staging" in n for n in report["notes"]), report["notes"]
    kept = list(tmp_path.glob("keystore.replaced-*"))
    assert len(kept) == 1 and (kept[0] / "state.json").exists()


def test_staging_cleanup_interrupted_halfway_is_finished_later(node, tmp_path):
    from x0ctl.keystore import clean_restore_leftovers

    half = tmp_path / ".keystore.restore-00c0ffee"  # a kill hit the cleaner after it removed state.json
    shutil.copytree(node.ks / "keys", half / "keys")
    (half / ".restore-staging").write_text("")
    unknown = tmp_path / ".keystore.restore-0ddba11"  # not something a restore leaves: never touched
    (unknown / "notes").mkdir(parents=True)
    notes = clean_restore_leftovers(node.ks)
    assert not half.exists() and unknown.exists()
    assert any("left .keystore.restore-0ddba11 alone" in n for n in notes), notes


def test_group_readable_identity_file_is_refused(node, tmp_path, cli):
    identity = tmp_path / "recovery.txt"
    recipient = node.json("backup-identity", "--out", str(identity))["recipient"]
    out = tmp_path / "pq.age"
    assert node("backup", "--out", str(out), "-r", recipient).exit_code == 0
    identity.chmod(0o644)
    result = node("restore", str(out), "-i", str(identity), "--trust-backup-signer", keystore=tmp_path / "t")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "0644")


def test_wrong_kind_of_secret_gets_a_message_about_the_kind(node, tmp_path):
    identity = tmp_path / "recovery.txt"
    recipient = node.json("backup-identity", "--out", str(identity))["recipient"]
    passphrase_backup = node.backup()
    result = node("restore", str(passphrase_backup), "-i", str(identity), keystore=tmp_path / "t")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "passphrase")
    assert "wrong passphrase" not in result.stderr
    pq = tmp_path / "pq.age"
    assert node("backup", "--out", str(pq), "-r", recipient).exit_code == 0
    result = node("restore", str(pq), keystore=tmp_path / "t")
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--identity")


# Finding 7: restore is in the signed history.


def test_restore_writes_a_signed_history_entry(node, tmp_path):
    import hashlib

    backup = node.backup()
    node("rotate")
    previous_head = node.state()["history"]["head"]
    assert node.restore(backup, "--force", "--allow-rollback").exit_code == 0
    entry = node.json("history")["entries"][-1]
    assert entry["event"] == "restore"
    assert entry["backup_sha256"] == hashlib.sha256(backup.read_bytes()).hexdigest()
    assert entry["previous_head"] == previous_head
    assert entry["backup_signer"] == node.json("history")["entries"][0]["signer"]
    assert node.json("verify")["ok"] is True


# Operations: metrics gauges, --exclude-revoked, exit codes, help.


def test_metrics_file_has_key_age_gauges(node, tmp_path):
    metrics = tmp_path / "keys.prom"
    node("rotate", "--purpose", "kem", "--validity", "30d", "--metrics-file", str(metrics))
    node.json("verify", "--metrics-file", str(metrics))
    from prometheus_client.parser import text_string_to_metric_families

    samples = {(sample.name, sample.labels.get("purpose")): sample.value
               for family in text_string_to_metric_families(metrics.read_text()) for sample in family.samples}
    kem = node.record("kem", "active")

    def parse_time(text: str) -> float:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()

    assert samples[("x0ctl_key_active_created_timestamp_seconds", "kem")] == parse_time(kem["created"])
    assert samples[("x0ctl_key_active_not_after_timestamp_seconds", "kem")] == parse_time(kem["not_after"])
    assert ("x0ctl_key_active_created_timestamp_seconds", "sig") in samples
    assert ("x0ctl_key_active_not_after_timestamp_seconds", "sig") not in samples  # no --validity: no gauge
    assert samples[("key_rotation_success_total", None)] == 1.0


def test_backup_can_leave_revoked_private_keys_out(node, tmp_path):
    kem = node.record("kem", "active")
    node("revoke", kem["id"][7:23], "--reason", "leaked")
    backup = node.backup("--exclude-revoked")
    target = tmp_path / "restored"
    assert node.restore(backup, "--trust-backup-signer", keystore=target).exit_code == 0
    record = next(k for k in json.loads((target / "state.json").read_text())["keys"] if k["id"] == kem["id"])
    assert record["state"] == "revoked" and record["private_key"] is None
    assert (target / record["public_key"]).exists()
    assert not (target / kem["private_key"]).exists()
    assert node.json("verify", keystore=target)["ok"] is True


def test_missing_keystore_is_exit_4(node, tmp_path):
    for command in ("list", "verify", "rotate", "history"):
        result = node(command, keystore=tmp_path / "nowhere")
        assert result.exit_code == 4, (command, result.stderr)
        assert_one_line_error(result.stderr, "no keystore")


def test_backup_help_names_the_age_version_for_pq(cli):
    text = " ".join(cli("keys", "backup", "--help").stdout.split())
    assert "1.3" in text

