"""Lifecycle operations: generate, rotate (prepare -> activate -> retire), revoke, prune.

Each operation is one keystore transaction (see store.py): a SIGKILL anywhere leaves the keystore
in the state before or after it. Results are plain dicts (the `-o json` schema of the CLI).
"""

from __future__ import annotations

import time

from x0ctl.errors import UsageError
from x0ctl.keystore.keyfiles import PURPOSES
from x0ctl.keystore.store import KeyRecord, Keystore, parse_time


def _brief(record: KeyRecord | None) -> dict | None:
    if record is None:
        return None
    return {"id": record.id, "short_id": record.short, "purpose": record.purpose, "algorithm": record.algorithm,
            "version": record.version, "state": record.state, "not_after": record.not_after}


def _purposes(purpose: str) -> tuple[str, ...]:
    if purpose == "all":
        return PURPOSES
    if purpose not in PURPOSES:
        raise UsageError(f"unknown purpose {purpose!r}; use kem, sig or all")
    return (purpose,)


def generate(store: Keystore, *, node: str | None = None, force: bool = False, reason: str | None = None,
             validity: int | None = None) -> dict:
    """A new active key set (sig first: it signs the history). Refuses an existing set without force."""
    with store.transaction(create=True, node=node) as txn:
        existing = [p for p in PURPOSES if txn.active(p) is not None]
        if existing and not force:
            raise UsageError(f"the keystore at {store.path} already has an active key set",
                             hint="rotate with `x0ctl keys rotate`, or pass --force to replace it (old keys are retired, not deleted)")
        if node:
            txn.state["node"] = node
        created = []
        for purpose in ("sig", "kem"):
            old = txn.active(purpose)
            new = txn.new_key(purpose)
            txn.record("generate", purpose, old=old, new=new, reason=reason or ("forced regeneration" if old else None))
            txn.activate(new, validity=validity)
            created.append(txn.find(new.id))
        txn.commit()
        return {"keystore": str(store.path), "node": txn.state["node"], "epoch": txn.state["epoch"],
                "created": [_brief(r) for r in created], "retired": [p for p in existing], "recovered": txn.recovered}


def rotate(store: Keystore, *, purpose: str = "all", stage: str | None = None, older_than: int | None = None,
           keep: int | None = None, dry_run: bool = False, reason: str | None = None,
           validity: int | None = None) -> dict:
    """Rotate keys. stage None: prepare + activate (or activate an already prepared key)."""
    if stage not in (None, "prepare", "activate"):
        raise UsageError(f"unknown stage {stage!r}; use prepare or activate")
    if keep is not None and keep < 0:
        raise UsageError("--keep must be 0 or more")
    purposes = _purposes(purpose)
    result = {"keystore": str(store.path), "dry_run": dry_run, "stage": stage or "prepare+activate",
              "rotated": [], "prepared": [], "skipped": [], "pruned": [], "epoch": None, "recovered": []}
    with store.transaction() as txn:
        result["recovered"] = txn.recovered
        current = time.time()
        for name in purposes:
            active = txn.active(name)
            if active is None:
                raise UsageError(f"no active {name} key to rotate", hint="run `x0ctl keys generate` first")
            if older_than is not None and stage != "activate":
                age = current - parse_time(active.activated or active.created)
                if age < older_than:
                    result["skipped"].append({"purpose": name, "reason": "not due", "age_seconds": int(age),
                                              "active": _brief(active)})
                    continue
            pending = txn.pending(name)
            if stage == "prepare":
                if pending is not None:
                    result["skipped"].append({"purpose": name, "reason": "already prepared", "pending": _brief(pending)})
                    continue
                if not dry_run:
                    pending = txn.new_key(name)
                    txn.record("prepare", name, old=active, new=pending, reason=reason)
                result["prepared"].append(_brief(pending) if pending else {"purpose": name})
                continue
            if stage == "activate" and pending is None:
                raise UsageError(f"no pending {name} key to activate", hint="run `x0ctl keys rotate --stage prepare` first")
            if dry_run:
                result["rotated"].append({"purpose": name, "old": _brief(active), "new": _brief(pending)})
                continue
            if pending is None:
                pending = txn.new_key(name)
                txn.record("rotate", name, old=active, new=pending, reason=reason)
            else:
                txn.record("activate", name, old=active, new=pending, reason=reason)
            old = txn.activate(pending, validity=validity)
            result["rotated"].append({"purpose": name, "old": _brief(txn.find(old.id)) if old else None,
                                      "new": _brief(txn.find(pending.id))})
        if keep is not None and not dry_run:
            for name in purposes:
                result["pruned"] += [_brief(r) for r in txn.prune(name, keep)]
        result["epoch"] = txn.state["epoch"]
        if not dry_run and txn.new_lines:
            txn.commit()
    return result


def revoke(store: Keystore, key_ref: str, *, reason: str) -> dict:
    """Mark a key revoked (compromise). A revoked active key is replaced by a new active key."""
    if not reason or not reason.strip():
        raise UsageError("revoking a key needs --reason")
    with store.transaction() as txn:
        record = resolve(txn.records(), key_ref)
        if record.state == "revoked":
            raise UsageError(f"key {record.short} is already revoked")
        replacement = None
        was_active = record.state == "active"
        if was_active:
            replacement = txn.new_key(record.purpose)
            txn.record("revoke", record.purpose, old=record, new=replacement, reason=reason)
            txn.activate(replacement)
        else:
            txn.record("revoke", record.purpose, old=record, reason=reason)
        record = txn.find(record.id)
        record.state, record.revoked, record.reason = "revoked", txn.time, reason
        txn._put(record)
        txn.commit()
        return {"keystore": str(store.path), "revoked": _brief(record),
                "replacement": _brief(txn.find(replacement.id)) if replacement else None, "epoch": txn.state["epoch"]}


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
