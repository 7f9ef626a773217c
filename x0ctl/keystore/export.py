"""Public key export for peers: which keys (an id, or the active key per purpose) in which format.

Formats are a registry (`EXPORT_FORMATS`: name -> function of the chosen keys returning bytes),
so another format (for example one a mesh agent reads) is one more entry, not a CLI change.
Only public material is ever exported.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from x0ctl.errors import UsageError
from x0ctl.keystore.keyfiles import PURPOSES
from x0ctl.keystore.lifecycle import resolve
from x0ctl.keystore.store import KeyRecord, Keystore


@dataclass
class ExportedKey:
    record: KeyRecord
    pem: bytes  # SubjectPublicKeyInfo, as stored
    raw: bytes  # the bare public key

    def to_dict(self) -> dict:
        r = self.record
        return {"id": r.id, "short_id": r.short, "purpose": r.purpose, "algorithm": r.algorithm, "version": r.version,
                "state": r.state, "public_key": base64.b64encode(self.raw).decode(), "pem": self.pem.decode()}


@dataclass
class PublicExport:
    """The chosen keys and the bytes of the requested format; `to_dict()` is the json format."""

    node: str
    epoch: int
    format: str
    keys: list[ExportedKey] = field(default_factory=list)
    data: bytes = b""

    def to_dict(self) -> dict:
        return {"node": self.node, "epoch": self.epoch, "keys": [k.to_dict() for k in self.keys]}


def _pem(export: PublicExport) -> bytes:
    return b"".join(k.pem for k in export.keys)


def _raw(export: PublicExport) -> bytes:
    if len(export.keys) != 1:
        raise UsageError("--format raw exports exactly one key: give an ID or --purpose")
    return export.keys[0].raw


def _json(export: PublicExport) -> bytes:
    return (json.dumps(export.to_dict(), indent=2) + "\n").encode()


EXPORT_FORMATS: dict[str, Callable[[PublicExport], bytes]] = {"pem": _pem, "raw": _raw, "json": _json}


def export_public(store: Keystore, key_ref: str | None = None, *, purpose: str | None = None,
                  fmt: str = "pem") -> PublicExport:
    """Public keys of `key_ref` (a key id prefix), else the active key of `purpose` (else of every purpose)."""
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use {', '.join(EXPORT_FORMATS)}")
    if purpose is not None and purpose not in PURPOSES:
        raise UsageError(f"unknown purpose {purpose!r}; use {' or '.join(PURPOSES)}")
    with store.reading() as (state, _lines):
        records = store.records(state)
        if key_ref:
            chosen = [resolve(records, key_ref)]
        else:
            chosen = [r for r in records if r.state == "active" and (purpose is None or r.purpose == purpose)]
        export = PublicExport(node=state["node"], epoch=state["epoch"], format=fmt,
                              keys=[ExportedKey(r, store.public_pem(r), store.load_public(r)) for r in chosen])
    export.data = EXPORT_FORMATS[fmt](export)
    return export
