"""Lifecycle operations: generate, rotate (prepare -> activate -> retire), revoke, prune; and the
read-side commands (list, show, history, verify). Each returns a typed result whose `to_dict()` is
the command's `-o json` schema.

Each change is one keystore transaction (see store.py): it starts with every `verify` check and
refuses a keystore that fails them, and a SIGKILL anywhere leaves the state before or after it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.errors import CheckFailed, IOFailure, UsageError
from x0ctl.keystore.keyfiles import PURPOSES, REQUIRED_PURPOSES
from x0ctl.durations import parse_time
from x0ctl.keystore.store import KeyRecord, Keystore, VerifyReport, node_problem


def brief(record: KeyRecord | None) -> dict | None:
    """KeyBrief: {id, short_id, purpose, algorithm, version, state, not_after}."""
    if record is None:
        return None
    return {"id": record.id, "short_id": record.short, "purpose": record.purpose, "algorithm": record.algorithm,
            "version": record.version, "state": record.state, "not_after": record.not_after}


def key_details(record: KeyRecord, mesh_key_id: str | None = None) -> dict:
    """A full record plus `short_id` and the mesh's key id (`keys list`/`keys show`)."""
    return {**record.to_dict(), "private_form": record.private_form or "seed", "short_id": record.short,
            "mesh_key_id": mesh_key_id}


def _mesh_ids(store: Keystore, records: list[KeyRecord]) -> dict[str, str | None]:
    """key id -> the mesh's key id (SHA-256 of the raw public key, 8 bytes hex); None when the file is unreadable."""
    from x0ctl.mesh.keyid import mesh_key_id

    found: dict[str, str | None] = {}
    for record in records:
        try:
            found[record.id] = mesh_key_id(store.load_public(record))
        except CheckFailed:
            found[record.id] = None
    return found


@dataclass
class GenerateResult:
    keystore: str
    node: str
    epoch: int
    created: list[dict]
    retired: list[str]
    recovered: list[str]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class RotateResult:
    keystore: str
    dry_run: bool
    stage: str
    rotated: list[dict] = field(default_factory=list)  # {purpose, old: KeyBrief|None, new: KeyBrief|None}
    prepared: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)  # {purpose, reason, ...}
    pruned: list[dict] = field(default_factory=list)
    epoch: int | None = None
    recovered: list[str] = field(default_factory=list)
    metrics: dict | None = None  # only with a metrics file

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        if self.metrics is None:
            del data["metrics"]
        return data


@dataclass
class RevokeResult:
    keystore: str
    revoked: dict
    replacement: dict | None
    epoch: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class KeyListing:
    keystore: str
    node: str
    epoch: int
    keys: list[KeyRecord]
    mesh_key_ids: dict[str, str | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"keystore": self.keystore, "node": self.node, "epoch": self.epoch,
                "keys": [key_details(r, self.mesh_key_ids.get(r.id)) for r in self.keys]}


@dataclass
class HistoryListing:
    keystore: str
    entries: list[dict]

    def to_dict(self) -> dict:
        return {"keystore": self.keystore, "entries": self.entries}


def _purposes(purpose: str) -> tuple[str, ...]:
    """`all`: every purpose (the caller skips optional ones the keystore does not have)."""
    if purpose == "all":
        return PURPOSES
    if purpose not in PURPOSES:
        raise UsageError(f"unknown purpose {purpose!r}; use {', '.join(PURPOSES)} or all")
    return (purpose,)


def generate(store: Keystore, *, node: str | None = None, force: bool = False, reason: str | None = None,
             validity: int | None = None, purpose: str | None = None) -> GenerateResult:
    """A new active key set (sig first: it signs the history). Refuses an existing set without force.

    purpose: only that purpose's key, added to an existing keystore that has none (how a keystore
    gains the optional mesh-kem/mesh-sig purposes); a new keystore gets the kem and sig keys too.
    """
    if node is not None and node_problem(node):
        raise UsageError(f"--node: {node_problem(node)}")
    if purpose is not None and purpose not in PURPOSES:
        raise UsageError(f"unknown purpose {purpose!r}; use {', '.join(PURPOSES)}")
    with store.transaction(create=True, node=node) as txn:
        if purpose is None:
            wanted = list(REQUIRED_PURPOSES)
        else:
            wanted = [p for p in REQUIRED_PURPOSES if txn.active(p) is None and p != purpose] + [purpose]
        existing = [p for p in wanted if txn.active(p) is not None]
        if existing and not force:
            what = f"an active {purpose} key" if purpose else "an active key set"
            raise UsageError(f"the keystore at {store.path} already has {what}",
                             hint="rotate with `x0ctl keys rotate`, or pass --force to replace it (old keys are retired, not deleted)")
        if node:
            txn.state["node"] = node
        created = []
        for purpose in sorted(wanted, key=lambda name: name != "sig"):
            old = txn.active(purpose)
            new = txn.new_key(purpose)
            txn.record("generate", purpose, old=old, new=new, reason=reason or ("forced regeneration" if old else None),
                       extra={"node": txn.state["node"]}, validity=validity)
            txn.activate(new, validity=validity)
            created.append(txn.find(new.id))
        txn.commit()
        return GenerateResult(keystore=str(store.path), node=txn.state["node"], epoch=txn.state["epoch"],
                              created=[brief(r) for r in created], retired=existing, recovered=txn.recovered)


def active_key_times(records: list[KeyRecord]) -> dict[str, tuple[float, float | None]]:
    """purpose -> (created, not_after) of its active key, in Unix seconds: the key-age gauges."""
    return {r.purpose: (parse_time(r.created), parse_time(r.not_after) if r.not_after else None)
            for r in records if r.state == "active"}


def rotate(store: Keystore, *, purpose: str = "all", stage: str | None = None, older_than: float | None = None,
           keep: int | None = None, dry_run: bool = False, reason: str | None = None,
           validity: int | None = None, metrics_file: Path | None = None) -> RotateResult:
    """Rotate keys. stage None: prepare + activate (or activate an already prepared key).

    metrics_file: count the rotation (or its failure, by reason) and set the key-age gauges.
    """
    from x0ctl.keystore import metrics

    try:
        result = _rotate(store, purpose=purpose, stage=stage, older_than=older_than, keep=keep, dry_run=dry_run,
                         reason=reason, validity=validity)
    except BaseException as exc:
        if metrics_file is not None and not dry_run and isinstance(exc, Exception):
            try:
                metrics.record(metrics_file, failure=metrics.failure_reason(exc))
            except (IOFailure, UsageError, CheckFailed):
                pass  # the rotation's own error is the one to report
        raise
    if metrics_file is not None and not dry_run:
        with store.reading() as (state, _lines):
            active = active_key_times(store.records(state))
        result.metrics = metrics.record(metrics_file, successes=len(result.rotated), active=active).to_dict()
    return result


def _rotate(store: Keystore, *, purpose: str, stage: str | None, older_than: float | None, keep: int | None,
            dry_run: bool, reason: str | None, validity: int | None) -> RotateResult:
    if stage not in (None, "prepare", "activate"):
        raise UsageError(f"unknown stage {stage!r}; use prepare or activate")
    if keep is not None and keep < 0:
        raise UsageError("--keep must be 0 or more")
    named = _purposes(purpose)
    result = RotateResult(keystore=str(store.path), dry_run=dry_run, stage=stage or "prepare+activate")
    with store.transaction() as txn:
        purposes = [name for name in named
                    if purpose != "all" or name in REQUIRED_PURPOSES or txn.active(name) is not None]
        result.recovered = txn.recovered
        current = time.time()
        for name in purposes:
            active = txn.active(name)
            if active is None:
                raise UsageError(f"no active {name} key to rotate", hint="run `x0ctl keys generate` first")
            if older_than is not None and stage != "activate":
                age = current - parse_time(active.activated or active.created)
                if age < older_than:
                    result.skipped.append({"purpose": name, "reason": "not due", "age_seconds": int(age),
                                           "active": brief(active)})
                    continue
            pending = txn.pending(name)
            if stage == "prepare":
                if pending is not None:
                    result.skipped.append({"purpose": name, "reason": "already prepared", "pending": brief(pending)})
                    continue
                if not dry_run:
                    pending = txn.new_key(name)
                    txn.record("prepare", name, old=active, new=pending, reason=reason)
                result.prepared.append(brief(pending) if pending else {"purpose": name})
                continue
            if stage == "activate" and pending is None:
                raise UsageError(f"no pending {name} key to activate", hint="run `x0ctl keys rotate --stage prepare` first")
            if dry_run:
                result.rotated.append({"purpose": name, "old": brief(active), "new": brief(pending)})
                continue
            if pending is None:
                pending = txn.new_key(name)
                txn.record("rotate", name, old=active, new=pending, reason=reason, validity=validity)
            else:
                txn.record("activate", name, old=active, new=pending, reason=reason, validity=validity)
            old = txn.activate(pending, validity=validity)
            result.rotated.append({"purpose": name, "old": brief(txn.find(old.id)) if old else None,
                                   "new": brief(txn.find(pending.id))})
        if keep is not None and not dry_run:
            for name in purposes:
                result.pruned += [brief(r) for r in txn.prune(name, keep)]
        result.epoch = txn.state["epoch"]
        if not dry_run and txn.new_lines:
            txn.commit()
    return result


def revoke(store: Keystore, key_ref: str, *, reason: str) -> RevokeResult:
    """Mark a key revoked (compromise). A revoked active key is replaced by a new active key."""
    if not reason or not reason.strip():
        raise UsageError("revoking a key needs --reason")
    with store.transaction() as txn:
        record = resolve(txn.records(), key_ref)
        if record.state == "revoked":
            raise UsageError(f"key {record.short} is already revoked")
        replacement = txn.revoke(record, reason)
        txn.commit()
        return RevokeResult(keystore=str(store.path), revoked=brief(txn.find(record.id)),
                            replacement=brief(txn.find(replacement.id)) if replacement else None,
                            epoch=txn.state["epoch"])


def resolve(records: list[KeyRecord], key_ref: str) -> KeyRecord:
    """The one key whose id starts with `key_ref` (with or without `sha256:`), like git's short hashes."""
    wanted = key_ref.strip().lower().removeprefix("sha256:")
    if len(wanted) < 4 or any(c not in "0123456789abcdef" for c in wanted):
        raise UsageError(f"{key_ref!r} is not a key id; give at least 4 hex digits of it")
    matches = [r for r in records if r.id.removeprefix("sha256:").startswith(wanted)]
    if not matches:
        raise UsageError(f"no key matches {key_ref!r}")
    if len(matches) > 1:
        raise UsageError(f"{key_ref!r} matches {len(matches)} keys; give more digits")
    return matches[0]


def list_keys(store: Keystore) -> KeyListing:
    with store.reading() as (state, _lines):
        records = store.records(state)
        return KeyListing(keystore=str(store.path), node=state["node"], epoch=state["epoch"], keys=records,
                          mesh_key_ids=_mesh_ids(store, records))


def show_key(store: Keystore, key_ref: str) -> KeyRecord:
    with store.reading() as (state, _lines):
        return resolve(store.records(state), key_ref)


def show_key_details(store: Keystore, key_ref: str) -> dict:
    """`keys show`: the record, its short id and the mesh's key id."""
    with store.reading() as (state, _lines):
        record = resolve(store.records(state), key_ref)
        return key_details(record, _mesh_ids(store, [record])[record.id])


def read_history(store: Keystore, limit: int | None = None) -> HistoryListing:
    """The committed history entries as stored (the last `limit` of them)."""
    with store.reading() as (_state, lines):
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise CheckFailed(f"{store.path}/history.jsonl: a committed entry is not JSON",
                                  hint="run `x0ctl keys verify`") from None
    if limit is not None:
        entries = entries[-limit:] if limit > 0 else []
    return HistoryListing(keystore=str(store.path), entries=entries)


def verify_keystore(store: Keystore, *, checkpoints: list[Path] = (), metrics_file: Path | None = None) -> VerifyReport:
    """`keys verify`: every check, each checkpoint, leftovers of interrupted restores cleaned (notes).

    metrics_file: set the key-age gauges (counters untouched) when the keystore verifies.
    """
    from x0ctl.keystore.backups import clean_restore_leftovers
    from x0ctl.keystore.checkpoint import checkpoint_problems, load_checkpoint
    from x0ctl.keystore.fsutil import KeystoreLock

    loaded = [(str(path), load_checkpoint(path)) for path in checkpoints]
    store.require()
    cleaned = []
    target = store.path.absolute()
    if any(target.parent.glob(f".{target.name}.restore-*")) or (target / ".restore-staging").exists():
        try:
            with KeystoreLock(target, exclusive=True, wait=False):
                cleaned = clean_restore_leftovers(target)
        except IOFailure as exc:
            cleaned = [f"restore leftovers not cleaned: {exc.message}"]
    report = store.verify()
    report.notes += cleaned
    for label, checkpoint in loaded:
        found = checkpoint_problems(store, checkpoint, label) if report.ok else []
        for problem in found:
            report.problem(problem)
        report.checkpoints.append({"file": label, "time": checkpoint.time, "count": checkpoint.count,
                                   "epoch": checkpoint.epoch, "ok": report.ok and not found})
    if metrics_file is not None and report.ok:
        from x0ctl.keystore import metrics

        records = store.records(store.read_state())
        report.metrics = metrics.record(metrics_file, active=active_key_times(records)).to_dict()
    return report
