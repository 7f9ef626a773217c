"""The keystore's history: an append-only, hash-chained log of lifecycle events, each signed.

One JSON object per line. Each entry carries `prev` (the SHA-256 of the previous line, 64 zeros
for the first) and an ML-DSA-65 signature (context `x0ctl-keys-history-v1`) by the signing key
that was active when the event happened. The first entry introduces the first signing key and is
signed by it; later signing keys are trusted only once an entry signed by an already-trusted key
introduces them. state.json records the number of entries and the hash of the last one, so an
edit breaks a signature or the chain, and a truncation no longer reaches the recorded head.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

GENESIS_PREV = "0" * 64
SIGNATURE_CONTEXT = b"x0ctl-keys-history-v1"


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def entry_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def make_entry(*, seq: int, prev: str, time: str, event: str, purpose: str | None, old_id: str | None,
               new_id: str | None, reason: str | None, epoch: int, signer: str, sign: Callable[[bytes], bytes],
               who: str | None = None, extra: dict | None = None) -> bytes:
    """One signed line. `extra`: event-specific fields (a restore's source, a generate's node), signed too."""
    body = {
        **(extra or {}),
        "seq": seq, "prev": prev, "time": time, "actor": who or actor(), "event": event, "purpose": purpose,
        "old_id": old_id, "new_id": new_id, "reason": reason, "epoch": epoch, "signer": signer,
    }
    body["signature"] = base64.b64encode(sign(canonical(body))).decode("ascii")
    return canonical(body)


def parse_lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\n") if line]


def verify_chain(lines: list[bytes], *, sig_public_keys: dict[str, bytes], verify: Callable[[bytes, bytes, bytes], bool],
                 committed_count: int, committed_head: str) -> tuple[list[str], set[str]]:
    """(problems, trusted signing key ids). `sig_public_keys`: every sig key id -> raw public key."""
    problems: list[str] = []
    trusted: set[str] = set()
    revoked: set[str] = set()
    prev = GENESIS_PREV
    for index, line in enumerate(lines[:committed_count]):
        where = f"history entry {index + 1}"
        try:
            entry = json.loads(line)
            signature = base64.b64decode(entry.pop("signature"), validate=True)
        except (ValueError, KeyError, AttributeError, TypeError):
            problems.append(f"{where}: not a valid entry (edited or corrupted)")
            return problems, trusted
        if canonical({**entry, "signature": base64.b64encode(signature).decode("ascii")}) != line:
            problems.append(f"{where}: not in canonical form (edited)")
        if entry.get("seq") != index + 1:
            problems.append(f"{where}: sequence number {entry.get('seq')!r} out of order (entries removed or reordered)")
        if entry.get("prev") != prev:
            problems.append(f"{where}: hash chain broken (an earlier entry was edited, removed or inserted)")
        signer = entry.get("signer")
        genesis = index == 0 and entry.get("purpose") == "sig" and entry.get("new_id") == signer
        if signer not in trusted and not genesis:
            problems.append(f"{where}: signed by {str(signer)[:23]}, which no earlier entry introduced")
        elif signer in revoked:  # a revoked key may sign its own revocation, never anything after it
            problems.append(f"{where}: signed by {str(signer)[:23]}, which an earlier entry revoked")
        elif signer not in sig_public_keys:
            problems.append(f"{where}: signing key {str(signer)[:23]} is missing from the keystore")
        elif not verify(sig_public_keys[signer], canonical(entry), signature):
            problems.append(f"{where}: signature does not verify (entry edited)")
        if entry.get("purpose") == "sig" and entry.get("new_id"):
            trusted.add(entry["new_id"])
        if entry.get("event") == "revoke" and entry.get("purpose") == "sig":
            revoked.add(entry.get("old_id"))
        prev = entry_hash(line)
    if len(lines) < committed_count:
        problems.append(f"history truncated: {len(lines)} entries, state.json records {committed_count}")
    elif prev != committed_head:
        problems.append("history head does not match state.json (history replaced or edited)")
    return problems, trusted


ACTIVATING_EVENTS = ("generate", "rotate", "activate")


@dataclass
class Replay:
    """What the signed history says the keystore must hold (see `replay`)."""

    states: dict[str, str] = field(default_factory=dict)  # key id -> pending/active/retired/revoked
    purposes: dict[str, str] = field(default_factory=dict)  # every introduced key id -> its purpose
    introduced_at: dict[str, int] = field(default_factory=dict)  # key id -> seq of the entry that introduced it
    pruned: set[str] = field(default_factory=set)
    revoked: dict[str, str | None] = field(default_factory=dict)  # key id -> reason
    epoch: int = 0
    node: str | None = None  # the node id the last `generate` entry recorded (None in older keystores)
    # key id -> (created, not_after) from the last entry that introduced or activated it; keys whose
    # entries were written by an older x0ctl (no new_created) are absent
    lifetimes: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)


def replay(lines: list[bytes]) -> Replay:
    """Replay verified history lines: key states, pruned and revoked keys, the epoch, the node.

    state.json is the commit point but is not signed; the signed history is the authority. Replaying
    it catches an edit of state.json alone: an un-revoked key, a deleted record, a key marked pruned
    without a prune entry.
    """
    result = Replay()

    def make_active(purpose: str, key_id: str) -> None:
        for other, state in list(result.states.items()):
            if state == "active" and result.purposes.get(other) == purpose:
                result.states[other] = "retired"
        result.states[key_id] = "active"
        result.epoch += 1

    for line in lines:
        entry = json.loads(line)
        event, purpose, old_id, new_id = entry.get("event"), entry.get("purpose"), entry.get("old_id"), entry.get("new_id")
        if new_id:
            result.purposes[new_id] = purpose
            result.introduced_at.setdefault(new_id, entry.get("seq"))
        if new_id and "new_created" in entry:
            result.lifetimes[new_id] = (entry.get("new_created"), entry.get("new_not_after"))
        if event == "generate" and isinstance(entry.get("node"), str):
            result.node = entry["node"]
        if event in ACTIVATING_EVENTS:
            make_active(purpose, new_id)
        elif event == "import":  # a key brought from the mesh: active, or retired (its previous key)
            if entry.get("state") == "retired":
                result.states[new_id] = "retired"
            else:
                make_active(purpose, new_id)
        elif event == "prepare":
            result.states[new_id] = "pending"
        elif event == "revoke":
            if new_id:
                make_active(purpose, new_id)
            result.states[old_id] = "revoked"
            result.revoked[old_id] = entry.get("reason")
        elif event == "prune":
            result.pruned.add(old_id)
    return result
