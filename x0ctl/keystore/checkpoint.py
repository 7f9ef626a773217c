"""Checkpoints: a signed statement of where a keystore's history stood, kept outside the node.

Everything `keys verify` checks lives inside the keystore directory, so someone who can replace
the whole directory (with an older copy of itself, or another node's complete keystore) passes
it. A checkpoint is the anchor outside: `keys checkpoint` signs {node, node_signer, epoch, count,
head, time} with the active signing key; `keys verify --checkpoint FILE` then fails on a keystore
whose history does not reach that entry, holds a different entry there, has a lower epoch, or
does not know the key that signed the checkpoint.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from x0ctl.errors import CheckFailed, UsageError
from x0ctl.keystore import history as hist
from x0ctl.keystore.keyfiles import ML_DSA_65
from x0ctl.durations import parse_time, utc_now
from x0ctl.keystore.store import KEY_ID_RE, Keystore, node_identity
from x0ctl.textfile import read_json

FORMAT = "x0ctl-keys-checkpoint/1"
SIGNATURE_CONTEXT = b"x0ctl-keys-checkpoint-v1"
_FIELDS = {"format": str, "node": str, "node_signer": str, "epoch": int, "count": int, "head": str, "time": str,
           "signer": str, "signature": str}


@dataclass
class Checkpoint:
    """A signed checkpoint; `to_dict()` is the file's content and `keys checkpoint -o json`."""

    node: str
    node_signer: str  # the keystore's first signing key (its identity)
    epoch: int
    count: int  # history entries
    head: str  # SHA-256 of the last history line
    time: str
    signer: str  # the signing key that signed this statement
    signature: str  # base64 ML-DSA-65, context x0ctl-keys-checkpoint-v1, over the canonical body

    def body(self) -> dict:
        return {"format": FORMAT, "node": self.node, "node_signer": self.node_signer, "epoch": self.epoch,
                "count": self.count, "head": self.head, "time": self.time, "signer": self.signer}

    def to_dict(self) -> dict:
        return {**self.body(), "signature": self.signature}


def make_checkpoint(store: Keystore) -> Checkpoint:
    """Sign where `store` stands now (it must pass verify: a checkpoint of a bad keystore anchors nothing)."""
    with store.reading() as (state, lines):
        store.require_verified()
        signer = next(r for r in store.records(state) if r.purpose == "sig" and r.state == "active")
        private = store.load_private(signer)
        draft = Checkpoint(node=state["node"], node_signer=node_identity(store), epoch=state["epoch"],
                           count=state["history"]["count"], head=state["history"]["head"], time=utc_now(),
                           signer=signer.id, signature="")
        signature = private.sign(hist.canonical(draft.body()), SIGNATURE_CONTEXT)
        draft.signature = base64.b64encode(signature).decode("ascii")
        return draft


def load_checkpoint(path: Path) -> Checkpoint:
    """A checkpoint file: missing/unreadable exit 4, malformed exit 2 (its signature is checked by verify)."""
    body = read_json(path, "checkpoint")
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise UsageError(f"checkpoint {path} is not an {FORMAT} statement")
    for name, kind in _FIELDS.items():
        if type(body.get(name)) is not kind:
            raise UsageError(f"checkpoint {path}: field {name!r} missing or not {kind.__name__}")
    if not (KEY_ID_RE.fullmatch(body["signer"]) and KEY_ID_RE.fullmatch(body["node_signer"])
            and len(body["head"]) == 64 and body["count"] >= 1 and body["epoch"] >= 0):
        raise UsageError(f"checkpoint {path}: malformed signer, head, count or epoch")
    try:
        parse_time(body["time"])
    except UsageError:
        raise UsageError(f"checkpoint {path}: time {body['time']!r} is not a UTC time") from None
    return Checkpoint(**{name: body[name] for name in Checkpoint.__dataclass_fields__})


def checkpoint_problems(store: Keystore, checkpoint: Checkpoint, label: str) -> list[str]:
    """Why `store` is older than, or diverges from, `checkpoint` (empty: it contains it)."""
    try:
        state = store.read_state()
        records = {r.id: r for r in store.records(state)}
    except CheckFailed as exc:
        return [f"checkpoint {label}: cannot compare: {exc}"]
    if node_identity(store) != checkpoint.node_signer:
        return [f"checkpoint {label}: the keystore's history was started by another key than the checkpoint's "
                f"node {checkpoint.node_signer[:23]} (another node's keystore, or one rebuilt from scratch)"]
    lines = store.history_lines()[: state["history"]["count"]]
    signer = records.get(checkpoint.signer)
    if signer is not None and signer.purpose == "sig":
        try:
            public = store.load_public(signer)
            signature = base64.b64decode(checkpoint.signature, validate=True)
        except (CheckFailed, ValueError) as exc:
            return [f"checkpoint {label}: cannot check its signature: {exc}"]
        if not store.backend.sig(ML_DSA_65).verify(public, hist.canonical(checkpoint.body()), signature,
                                                   SIGNATURE_CONTEXT):
            return [f"checkpoint {label}: signature does not verify (checkpoint edited, or not from this keystore)"]
    elif len(lines) >= checkpoint.count:
        return [f"checkpoint {label}: signed by {checkpoint.signer[:23]}, a key this keystore does not hold although "
                "its history reaches the checkpoint (history replaced)"]
    # else: a keystore older than the checkpoint cannot know a signing key introduced after it
    if len(lines) < checkpoint.count or state["epoch"] < checkpoint.epoch:
        return [f"checkpoint {label}: the keystore is older than checkpoint of {checkpoint.time} "
                f"(history {len(lines)} entries, epoch {state['epoch']}; the checkpoint saw "
                f"{checkpoint.count} entries, epoch {checkpoint.epoch}): rolled back?"]
    if hist.entry_hash(lines[checkpoint.count - 1]) != checkpoint.head:
        return [f"checkpoint {label}: the keystore's history diverges from the checkpoint at entry "
                f"{checkpoint.count} (history replaced)"]
    return []
