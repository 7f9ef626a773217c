"""Backups and restore: origin and rollback checks, an atomic swap, leftovers of an interrupted restore.

A restore unpacks the backup into a sibling staging directory `.<name>.restore-<random>` that
holds a marker file (flocked while the restore runs), verifies it, decides under the target's
lock whether it may replace what is there, writes its own signed history entry (and re-applies
revokes the backup predates) into the staged copy, and swaps it in with one renameat2 exchange.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import json
import os
import secrets
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from x0ctl.errors import CheckFailed, IOFailure, UsageError
from x0ctl.keystore import history as hist
from x0ctl.fsutil import atomic_write, fsync_dir
from x0ctl.keystore.fsutil import LOCK_NAME, KeystoreLock, exchange_paths, make_private_dir
from x0ctl.keystore.keyfiles import ML_DSA_65, KeyFileError, raw_from_public_pem
from x0ctl.keystore.store import (
    HISTORY_NAME,
    KEY_FILE_RE,
    KEYS_DIR,
    RESTORE_MARKER,
    STATE_NAME,
    Keystore,
    node_identity,
    state_problems,
)


@dataclass
class BackupResult:
    """`keys backup -o json`."""

    backup: str
    bytes: int
    keystore: str
    recipients: list[str]
    signer: str | None  # the node's first signing key: pin it at restore with --expect-signer
    excluded_revoked: list[str] = field(default_factory=list)  # short ids whose private keys were left out

    def to_dict(self) -> dict:
        return {"backup": self.backup, "bytes": self.bytes, "keystore": self.keystore, "recipients": self.recipients,
                "signer": self.signer, "excluded_revoked": self.excluded_revoked}


@dataclass
class RestoreResult:
    """`keys restore -o json`."""

    keystore: str
    replaced: str | None
    keys: int
    history_entries: int
    signer: str | None
    backup_sha256: str
    previous_head: str | None
    reapplied_revokes: list[str] = field(default_factory=list)
    replaced_problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"keystore": self.keystore, "replaced": self.replaced, "keys": self.keys,
                "history_entries": self.history_entries, "signer": self.signer, "backup_sha256": self.backup_sha256,
                "previous_head": self.previous_head, "reapplied_revokes": self.reapplied_revokes,
                "replaced_problems": self.replaced_problems, "notes": self.notes}


@dataclass
class BackupIdentityResult:
    """`keys backup-identity -o json`."""

    identity_file: str
    recipient: str
    node_signer: str | None  # of the keystore next to it, when that verifies: keep it with the identity
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"identity_file": self.identity_file, "recipient": self.recipient, "node_signer": self.node_signer}


def backup_identity(out: Path, *, force: bool = False, store: Keystore | None = None) -> BackupIdentityResult:
    """Write a new post-quantum age identity to `out` (0600); with `store`, also its node signer.

    The signer is what `restore --expect-signer` pins, so it is printed and written into the file
    as a comment, but only from a keystore that verifies (a tampered one could name anyone).
    """
    from x0ctl.durations import utc_now
    from x0ctl.keystore import age

    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"{out} exists; refusing to overwrite an identity (pass --force)")
    signer, notes = None, []
    if store is not None and store.exists():
        report = store.verify()
        if report.ok:
            signer = node_identity(store)
        else:
            notes.append(f"the keystore at {store.path} fails verification; no node signer recorded")
    identity = age.HybridIdentity.generate()
    recipient = str(identity.recipient())
    pin = f"# node signer (keys restore --expect-signer): {signer}\n" if signer else ""
    atomic_write(out, f"# created: {utc_now()}\n# public key: {recipient}\n{pin}{identity.encode()}\n".encode(), mode=0o600)
    return BackupIdentityResult(identity_file=str(out), recipient=recipient, node_signer=signer, notes=notes)


def backup(store: Keystore, out: Path, recipients: list, *, force: bool = False,
           exclude_revoked: bool = False) -> BackupResult:
    """Encrypt a verified snapshot of `store` to `recipients` (age) and write it to `out` (0600)."""
    from x0ctl.keystore import age

    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"{out} exists; refusing to overwrite a backup (pass --force)")
    payload = store.snapshot(exclude_revoked=exclude_revoked)
    data = age.encrypt(payload, recipients)
    atomic_write(out, data, mode=0o600)
    excluded = []
    if exclude_revoked:
        with store.reading() as (state, _lines):
            excluded = [r.short for r in store.records(state) if r.state == "revoked" and r.private_key]
    return BackupResult(backup=str(out), bytes=len(data), keystore=str(store.path), signer=node_identity(store),
                        recipients=[str(r) if isinstance(r, age.HybridRecipient) else f"scrypt (work factor {r.work_factor})"
                                    for r in recipients], excluded_revoked=excluded)


def backup_kind(data: bytes) -> str | None:
    """Which secret opens an age file: "passphrase" (scrypt), "recipients" (age1pq1...), None (neither/unreadable).

    Lets the CLI ask for the right secret, and say which one is missing, before trying any.
    """
    from x0ctl.keystore import age

    try:
        header, _ = age.parse_header(data)
    except age.AgeError:
        return None  # decrypting reports what is wrong with the file
    types = {stanza.type for stanza in header.stanzas}
    if "scrypt" in types:
        return "passphrase"
    return "recipients" if "mlkem768x25519" in types else None


def _extract_snapshot(payload: bytes, destination: Path) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as archive:
            for member in archive.getmembers():
                name = member.name
                parts = name.split("/")
                allowed = name in (STATE_NAME, HISTORY_NAME) or (
                    len(parts) == 2 and parts[0] == KEYS_DIR and KEY_FILE_RE.fullmatch(parts[1]))
                if not member.isfile() or not allowed:
                    raise CheckFailed(f"the backup archive holds an unexpected entry {name!r}; refusing it")
                target = destination / name
                make_private_dir(target.parent)
                atomic_write(target, archive.extractfile(member).read())
    except tarfile.TarError:
        raise CheckFailed("the backup decrypted but does not contain an x0ctl keystore archive") from None


def _aside_path(target: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = target.parent / f"{target.name}.replaced-{stamp}"
    serial = 1
    while aside.exists():  # two restores within one second must not collide
        serial += 1
        aside = target.parent / f"{target.name}.replaced-{stamp}-{serial}"
    return aside


def _marker_in_use(marker: Path) -> bool:
    """True while a running restore holds the staging marker's flock."""
    try:
        fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _remove_staging(staging: Path) -> None:
    """Delete a staging copy, its marker last: a kill halfway leaves a directory still recognisable
    as staging (and deleted by the next cleaner), never an unmarked half that looks like data."""
    for entry in staging.iterdir():
        if entry.name == RESTORE_MARKER:
            continue
        if stat.S_ISDIR(os.lstat(entry).st_mode):
            shutil.rmtree(entry)
        else:
            entry.unlink()
    (staging / RESTORE_MARKER).unlink(missing_ok=True)
    staging.rmdir()


def clean_restore_leftovers(target: Path) -> list[str]:
    """Finish what SIGKILLed restores of `target` left; notes say what was done. Hold target's lock.

    - a staging copy (marker present, no restore running): removed, since it holds private keys;
    - the keystore a restore had just swapped out (no marker, a state.json): kept, renamed to
      `<name>.replaced-<time>` as the restore would have;
    - the empty directory an interrupted restore into an empty target swapped out: removed.
    """
    target = Path(target)
    notes = []
    stray = target / RESTORE_MARKER
    if stray.is_file() and not _marker_in_use(stray):
        stray.unlink()
        notes.append(f"removed {RESTORE_MARKER} left in the keystore by an interrupted restore")
    for leftover in sorted(target.parent.glob(f".{target.name}.restore-*")):
        if not stat.S_ISDIR(os.lstat(leftover).st_mode):
            continue
        marker = leftover / RESTORE_MARKER
        if marker.exists():
            if _marker_in_use(marker):
                continue
            _remove_staging(leftover)
            notes.append(f"removed {leftover.name}: the staging copy of an interrupted restore (it held private keys)")
        elif (leftover / STATE_NAME).exists():
            aside = _aside_path(target)
            os.rename(leftover, aside)
            notes.append(f"{leftover.name} held the keystore an interrupted restore replaced: kept as {aside.name}")
        elif {p.name for p in leftover.iterdir()} <= {LOCK_NAME}:
            shutil.rmtree(leftover)
            notes.append(f"removed {leftover.name}: the empty directory an interrupted restore replaced")
        else:
            notes.append(f"left {leftover.name} alone: not recognised as a restore leftover; inspect it")
    if notes:
        fsync_dir(target.parent)
    return notes


@dataclass
class SignedFacts:
    """What a (possibly damaged) keystore still proves about itself."""

    revoked: dict[str, str | None] = field(default_factory=dict)  # key id -> reason
    epoch: int = 0
    head: str | None = None  # hash of its last readable history line
    identity: str | None = None


def signed_facts(current: Keystore, known_sig_keys: dict[str, bytes]) -> SignedFacts:
    """Revokes and the epoch from every source still readable, state.json damaged or not.

    History entries count when their signature verifies under a signing key found in the
    keystore's keys/ directory or the backup (`known_sig_keys`); state.json counts when it still
    parses. Both can only add refusals: nothing read here makes a restore more permissive.
    """
    from x0ctl.pqc.fingerprint import fingerprint

    facts = SignedFacts(identity=node_identity(current))
    keys = dict(known_sig_keys)
    keys_dir = current.path / KEYS_DIR
    if keys_dir.is_dir():
        for path in keys_dir.glob("sig-*.pub.pem"):
            try:
                raw = raw_from_public_pem(ML_DSA_65, path.read_bytes(), str(path))
            except (OSError, KeyFileError):
                continue
            keys[fingerprint(ML_DSA_65, raw)] = raw
    verify = current.history_verifier()
    try:
        lines = current.history_lines()
    except IOFailure:
        lines = []
    for line in lines:
        try:
            entry = json.loads(line)
            signature = base64.b64decode(entry.pop("signature"), validate=True)
            signer, epoch = entry["signer"], entry["epoch"]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if signer not in keys or type(epoch) is not int or not verify(keys[signer], hist.canonical(entry), signature):
            continue
        facts.head = hist.entry_hash(line)
        activates = entry.get("event") in hist.ACTIVATING_EVENTS or (entry.get("event") == "revoke" and entry.get("new_id"))
        facts.epoch = max(facts.epoch, epoch + (1 if activates else 0))
        if entry.get("event") == "revoke" and isinstance(entry.get("old_id"), str):
            facts.revoked[entry["old_id"]] = entry.get("reason")
    try:
        state = current.load_state_json()
    except (CheckFailed, IOFailure):
        return facts
    if not state_problems(state):
        facts.epoch = max(facts.epoch, state["epoch"])
        for item in state["keys"]:
            if item["state"] == "revoked":
                facts.revoked.setdefault(item["id"], item.get("reason"))
        if facts.head is None or state["history"]["count"]:
            facts.head = state["history"]["head"]
    return facts


def _check_origin(signer: str | None, current: Keystore | None, *, expect_signer: str | None,
                  trust_backup_signer: bool, allow_other_node: bool) -> None:
    """Refuse a backup that may come from anyone but this node (UsageError, exit 2)."""
    if expect_signer is not None:
        wanted = expect_signer.strip().lower().removeprefix("sha256:")
        if len(wanted) < 32 or any(c not in "0123456789abcdef" for c in wanted):
            raise UsageError("--expect-signer needs at least 32 hex digits of the node's first signing key id")
        if not (signer or "").removeprefix("sha256:").startswith(wanted):
            raise UsageError(f"refusing the backup: its history was started by signing key {str(signer)[:23]}, "
                             f"not the expected {expect_signer}", hint="check the file and the fingerprint")
        return
    mine = node_identity(current) if current is not None else None
    if mine is not None:
        if mine != signer and not allow_other_node:
            raise UsageError(f"refusing the backup: it belongs to another node (first signing key {str(signer)[:23]}, "
                             f"this keystore's {mine[:23]})",
                             hint="check the file; pass --allow-other-node if this node's identity should change")
        return
    if current is not None and allow_other_node:
        return
    if not trust_backup_signer:
        raise UsageError("refusing the backup: nothing here to check its origin against (anyone with the public "
                         "age recipient can make one)",
                         hint="pass --expect-signer FINGERPRINT (printed by `keys backup` and `keys backup-identity`), "
                              "or --trust-backup-signer to accept and record the backup's signer")


def _reapply_and_record(staged: Keystore, reapply: dict[str, str | None], *, backup_sha256: str, signer: str | None,
                        previous_head: str | None) -> list[str]:
    """In the staged copy: revoke again what the replaced keystore had revoked, then the restore entry."""
    reapplied = []
    with staged.transaction() as txn:
        for key_id, reason in reapply.items():
            record = txn.find(key_id)
            if record.state != "revoked":
                txn.revoke(record, f"re-applied after restore: {reason or 'revoked before'}")
                reapplied.append(record.short)
        txn.record("restore", None, reason="keys restore",
                   extra={"backup_sha256": backup_sha256, "backup_signer": signer, "previous_head": previous_head})
        txn.commit()
    return reapplied


def restore(payload: bytes, target: Path, *, backend=None, force: bool = False, wait: bool = False,
            insecure_permissions: bool = False, allow_rollback: bool = False, expect_signer: str | None = None,
            trust_backup_signer: bool = False, allow_other_node: bool = False,
            backup_sha256: str | None = None) -> RestoreResult:
    """Restore a decrypted backup into `target` after verifying it; the target changes atomically.

    Into an empty target the backup's signer must be pinned (`expect_signer`) or explicitly
    trusted. Over an existing keystore (`force`), the origin must match and nothing the current
    keystore's signed history or state.json revoked may become usable again: that needs
    `allow_rollback`, and then the revokes are re-applied. The previous keystore is kept as
    `<target>.replaced-<time>`; no keys are ever deleted. `backup_sha256`: of the backup file,
    recorded in the restore's history entry (default: of `payload`).
    """
    target = Path(target).expanduser().absolute()
    backup_sha256 = backup_sha256 or hashlib.sha256(payload).hexdigest()
    make_private_dir(target.parent)
    staging = target.parent / f".{target.name}.restore-{secrets.token_hex(4)}"
    make_private_dir(staging)
    marker_fd = os.open(staging / RESTORE_MARKER, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(marker_fd, fcntl.LOCK_EX)  # cleaners leave a staging copy alone while this is held
    staging_holds_old = created_target = swapped = False
    try:
        _extract_snapshot(payload, staging)
        staged = Keystore(staging, backend=backend)
        report = staged.verify()
        if not report.ok:
            raise CheckFailed(f"the backup does not verify ({len(report.problems)} problem(s)): {report.problems[0]}")
        signer = node_identity(staged)
        # Decide under the target's lock: a `keys generate` committing between an unlocked check
        # and the swap would otherwise be replaced, and its keys deleted (found in review).
        created_target = not target.exists()
        make_private_dir(target)
        with KeystoreLock(target, exclusive=True, wait=wait):
            notes = clean_restore_leftovers(target)
            occupied = [p.name for p in target.iterdir() if p.name != LOCK_NAME]
            current = Keystore(target, backend=backend, insecure_permissions=insecure_permissions)
            if occupied and not force:
                raise UsageError(f"refusing to overwrite the existing keystore at {target}",
                                 hint="restore into an empty --keystore, or pass --force to move the current one aside")
            _check_origin(signer, current if occupied else None, expect_signer=expect_signer,
                          trust_backup_signer=trust_backup_signer, allow_other_node=allow_other_node)
            replaced_problems, reapply, previous_head = [], {}, None
            if occupied:
                replaced_problems = _problems_of(current)
                staged_records = staged.records(staged.read_state())
                sig_keys = {r.id: staged.load_public(r) for r in staged_records if r.purpose == "sig"}
                facts = signed_facts(current, sig_keys)
                previous_head = facts.head
                back = {r.id: facts.revoked[r.id] for r in staged_records if r.id in facts.revoked and r.state != "revoked"}
                rollback = []
                if back:
                    rollback.append("it would un-revoke key(s) " + ", ".join(sorted(k.removeprefix("sha256:")[:16] for k in back)))
                staged_epoch = staged.read_state()["epoch"]
                if staged_epoch < facts.epoch:
                    rollback.append(f"it would lower the epoch from {facts.epoch} to {staged_epoch}")
                if rollback and not allow_rollback:
                    raise UsageError(f"the backup is older than the keystore at {target}: {'; '.join(rollback)}",
                                     hint="pass --allow-rollback if that is intended (revokes are then re-applied)")
                reapply = back
            reapplied = _reapply_and_record(staged, reapply, backup_sha256=backup_sha256, signer=signer,
                                            previous_head=previous_head)
            state = staged.read_state()
            result = RestoreResult(keystore=str(target), replaced=None, keys=len(state["keys"]),
                                   history_entries=state["history"]["count"], signer=signer,
                                   backup_sha256=backup_sha256, previous_head=previous_head,
                                   reapplied_revokes=reapplied, replaced_problems=replaced_problems, notes=notes)
            aside = _aside_path(target) if occupied else None
            with KeystoreLock(staging, exclusive=True):  # the restored keystore's lock, held through the swap
                swapped = True  # from here on the target is (being) replaced: never clean it up
                if exchange_paths(staging, target):
                    staging_holds_old = True  # from here on `staging` is the previous keystore: never delete it
                    fsync_dir(target.parent)
                    (target / RESTORE_MARKER).unlink()
                    if aside is not None:
                        os.rename(staging, aside)
                        fsync_dir(target.parent)
                    elif {p.name for p in staging.iterdir()} <= {LOCK_NAME}:
                        shutil.rmtree(staging)  # the empty directory that stood at the target
                        staging_holds_old = False
                else:  # no renameat2 on this kernel/filesystem: two renames, documented crash window
                    os.rename(target, aside or staging.with_name(staging.name + ".old"))
                    os.rename(staging, target)
                    (target / RESTORE_MARKER).unlink()
                    fsync_dir(target.parent)
        result.replaced = str(aside) if aside else None
        return result
    except OSError as exc:
        raise IOFailure(f"restore into {target} failed: {exc.strerror or exc}") from None
    finally:
        if staging.exists() and not staging_holds_old:
            try:
                _remove_staging(staging)
            except OSError:
                pass  # the next restore or verify removes what is left (the marker is still there)
        os.close(marker_fd)
        if created_target and not swapped and target.is_dir() and {p.name for p in target.iterdir()} <= {LOCK_NAME}:
            shutil.rmtree(target, ignore_errors=True)  # a refused restore leaves no directory it made


def _problems_of(current: Keystore) -> list[str]:
    """What `keys verify` says about the keystore being replaced (recorded, never a reason to skip checks)."""
    try:
        return current.verify().problems
    except (CheckFailed, IOFailure) as exc:
        return [str(exc)]

