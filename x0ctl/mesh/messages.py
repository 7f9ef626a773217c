"""Captured mesh control-plane messages, verified exactly as the mesh encodes and signs them.

The mesh defines no capture format, so x0ctl defines one (docs/mesh.md): JSON Lines, one message
per line.

- `mesh-gossip` (src/network/byzantine/signed_gossip.py): the fields of the mesh's `serialize()`,
  `type`, `sender`, `timestamp`, `nonce`, `epoch`, `payload`, plus `signature` and `public_key`.
  Signed bytes: `json.dumps(those six, sort_keys=True)` with Python's default separators
  (", " and ": "), UTF-8.
- `mesh-beacon` (src/libx0t/core/app_minimal_with_pqc_beacons.py): the body of POST /mesh/beacon,
  `node_id`, `timestamp`, `nonce` (a string), `neighbors`, `signature`, `public_key`. Signed
  bytes: compact sorted JSON (separators "," and ":") of node_id, timestamp as a float, nonce and
  the neighbours sorted.

`signature` and `public_key` are hex (the mesh's own encoding) or base64. An optional
`received_at` (unix seconds) on a line says when the message was captured, for freshness.
Signatures are ML-DSA-65 with an empty context, verified against the key carried in the message:
that is all the mesh checks. x0ctl also tells whether that key is the sender's pinned key
(`--keys`), and what the capture shows about nonces, epochs and timestamps.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from x0ctl.errors import UsageError
from x0ctl.mesh.keyid import mesh_key_id
from x0ctl.pqc.fingerprint import PREFIX as FINGERPRINT_PREFIX
from x0ctl.pqc.fingerprint import fingerprint
from x0ctl.textfile import nested_too_deeply, read_text

ALGORITHM = "ML-DSA-65"
PUBLIC_KEY_BYTES = 1952
SIGNATURE_BYTES = 3309
FORMATS = ("mesh-gossip", "mesh-beacon")
GOSSIP_TYPES = ("beacon", "route_update", "node_failure", "topology_change", "governance_proposal", "key_rotation")
DEFAULT_MAX_AGE = 60.0  # the mesh's beacon nonce TTL; gossip has no window at all
MIN_FINGERPRINT_PREFIX = 32  # hex digits: shorter pins could be met by grinding keys

# Finding codes and how bad each is. "fail" findings make `quorum verify` exit 1.
SEVERITY = {
    "malformed": "fail",  # the line is not a message of this format
    "signature_invalid": "fail",  # the signature does not verify over the bytes the mesh signs
    "key_mismatch": "fail",  # the sender is pinned to another key: a substituted public key
    "sender_unknown": "fail",  # --keys was given and does not name the sender
    "nonce_replayed": "fail",  # this sender's (epoch, nonce) was seen earlier in the capture
    "epoch_stale": "fail",  # more than one epoch behind the sender's newest: the mesh refuses it too
    "too_old": "fail",  # older than --max-age when captured
    "from_future": "fail",  # timestamped after its capture by more than --max-age
    "key_unpinned": "warn",  # no --keys: the key in the message is taken on trust, as the mesh does
    "epoch_previous": "warn",  # one epoch behind the sender's newest: the mesh still accepts it
    "key_changed_same_epoch": "warn",  # the sender signs with another key without a new epoch
    "unknown_type": "warn",  # a gossip type the mesh does not define
    "freshness_unchecked": "info",  # no received_at and no --at
}


@dataclass(frozen=True)
class Finding:
    code: str
    detail: str

    @property
    def severity(self) -> str:
        return SEVERITY[self.code]

    def to_dict(self) -> dict:
        return {"code": self.code, "severity": self.severity, "detail": self.detail}


@dataclass
class MessageReport:
    line: int
    sender: str | None = None
    type: str | None = None
    epoch: int | None = None
    nonce: str | None = None  # as text: gossip nonces are integers, beacon nonces strings
    timestamp: float | None = None
    signature: str = "malformed"  # valid | invalid | malformed
    key_id: str | None = None  # the mesh's key id: first 8 bytes of SHA-256 of the key, hex
    fingerprint: str | None = None  # x0ctl's sha256 fingerprint of the same key
    binding: str = "none"  # pinned | mismatch | unknown-sender | unpinned | none
    findings: list[Finding] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        severities = {f.severity for f in self.findings}
        return "fail" if "fail" in severities else "warn" if "warn" in severities else "ok"

    def add(self, code: str, detail: str) -> None:
        self.findings.append(Finding(code, detail))

    def to_dict(self) -> dict:
        return {"line": self.line, "sender": self.sender, "type": self.type, "epoch": self.epoch,
                "nonce": self.nonce, "timestamp": self.timestamp, "signature": self.signature,
                "key_id": self.key_id, "fingerprint": self.fingerprint, "binding": self.binding,
                "verdict": self.verdict, "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class CaptureReport:
    format: str
    source: str
    pinned_senders: int | None  # None without --keys
    at: float | None
    max_age: float
    messages: tuple[MessageReport, ...]

    @property
    def ok(self) -> bool:
        return all(m.verdict != "fail" for m in self.messages)

    def summary(self) -> dict:
        codes: dict[str, int] = {}
        for message in self.messages:
            for item in message.findings:
                codes[item.code] = codes.get(item.code, 0) + 1
        count = {name: sum(m.signature == name for m in self.messages) for name in ("valid", "invalid", "malformed")}
        return {"messages": len(self.messages), "signatures": count,
                "pinned": sum(m.binding == "pinned" for m in self.messages),
                "verdicts": {v: sum(m.verdict == v for m in self.messages) for v in ("ok", "warn", "fail")},
                "findings": dict(sorted(codes.items()))}

    def to_dict(self) -> dict:
        return {"format": self.format, "source": self.source, "ok": self.ok, "algorithm": ALGORITHM,
                "context": "", "pinned_senders": self.pinned_senders, "at": self.at, "max_age": self.max_age,
                "summary": self.summary(), "messages": [m.to_dict() for m in self.messages]}



def gossip_signed_bytes(message: Mapping[str, Any]) -> bytes:
    """What signed_gossip.py signs: its six fields through json.dumps(sort_keys=True), default separators."""
    body = {name: message[name] for name in ("type", "sender", "timestamp", "nonce", "epoch", "payload")}
    return json.dumps(body, sort_keys=True).encode("utf-8")


def beacon_signed_bytes(node_id: str, timestamp: float, nonce: str, neighbors: list[str]) -> bytes:
    """What the beacon app signs: compact sorted JSON, timestamp as a float, neighbours sorted."""
    body = {"node_id": node_id, "timestamp": float(timestamp), "nonce": nonce, "neighbors": sorted(neighbors)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode_binary(text: Any, expected: int) -> bytes | None:
    """Hex (the mesh's encoding) when the length says so, else standard or URL-safe base64; None if neither."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    try:
        if len(text) == 2 * expected:
            value = bytes.fromhex(text)
        else:
            padded = text + "=" * (-len(text) % 4)
            value = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (ValueError, binascii.Error):
        return None
    return value if len(value) == expected else None


@dataclass(frozen=True)
class Pins:
    """--keys: node id -> the ML-DSA-65 public keys (or x0ctl fingerprints) it may sign with."""

    keys: dict[str, tuple[bytes, ...]]
    fingerprints: dict[str, tuple[str, ...]]

    def __len__(self) -> int:
        return len(set(self.keys) | set(self.fingerprints))

    def knows(self, sender: str) -> bool:
        return sender in self.keys or sender in self.fingerprints

    def matches(self, sender: str, public_key: bytes) -> bool:
        if public_key in self.keys.get(sender, ()):
            return True
        printed = fingerprint(ALGORITHM, public_key).removeprefix(FINGERPRINT_PREFIX)
        return any(printed.startswith(prefix) for prefix in self.fingerprints.get(sender, ()))


def load_pins(path: str | Path) -> Pins:
    """A YAML/JSON mapping of node id to one key or a list: raw public key (hex/base64) or sha256:<hex>."""
    import yaml

    text = read_text(path, "pins file")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML or JSON: {getattr(exc, 'problem', None) or exc}") from None
    except RecursionError:
        raise nested_too_deeply(path, "pins file") from None
    if not isinstance(document, dict) or not document:
        raise UsageError(f"{path}: must map node ids to public keys or sha256: fingerprints")
    keys: dict[str, list[bytes]] = {}
    prints: dict[str, list[str]] = {}
    for node, entries in document.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            where = f"{path}: {node}"
            if isinstance(entry, str) and entry.strip().lower().startswith(FINGERPRINT_PREFIX):
                digits = entry.strip().lower().removeprefix(FINGERPRINT_PREFIX)
                if len(digits) < MIN_FINGERPRINT_PREFIX or len(digits) > 64 or any(c not in "0123456789abcdef"
                                                                                   for c in digits):
                    raise UsageError(f"{where}: a fingerprint is sha256: and {MIN_FINGERPRINT_PREFIX} to 64 hex digits")
                prints.setdefault(str(node), []).append(digits)
                continue
            key = decode_binary(entry, PUBLIC_KEY_BYTES)
            if key is None:
                raise UsageError(f"{where}: not an {ALGORITHM} public key ({PUBLIC_KEY_BYTES} bytes, hex or base64) "
                                 "nor a sha256: fingerprint")
            keys.setdefault(str(node), []).append(key)
    return Pins({k: tuple(v) for k, v in keys.items()}, {k: tuple(v) for k, v in prints.items()})


@dataclass
class _History:
    """What the capture showed so far, per sender."""

    newest_epoch: dict[str, int] = field(default_factory=dict)
    nonces: dict[tuple[str, int | None, str], int] = field(default_factory=dict)
    key_in_epoch: dict[tuple[str, int | None], bytes] = field(default_factory=dict)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_gossip(obj: dict, report: MessageReport) -> tuple[bytes, Any, Any] | None:
    missing = [n for n in ("type", "sender", "timestamp", "nonce", "epoch", "payload", "signature", "public_key")
               if n not in obj]
    if missing:
        report.add("malformed", f"missing {', '.join(missing)}")
        return None
    if not isinstance(obj["sender"], str) or not _number(obj["timestamp"]) or not isinstance(obj["nonce"], int) \
            or isinstance(obj["nonce"], bool) or not isinstance(obj["epoch"], int) or isinstance(obj["epoch"], bool):
        report.add("malformed", "sender must be a string, timestamp a number, nonce and epoch integers")
        return None
    report.sender, report.type, report.epoch = obj["sender"], str(obj["type"]), obj["epoch"]
    report.nonce, report.timestamp = str(obj["nonce"]), float(obj["timestamp"])
    if obj["type"] not in GOSSIP_TYPES:
        report.add("unknown_type", f"type {obj['type']!r} is not one of the mesh's: {', '.join(GOSSIP_TYPES)}")
    return gossip_signed_bytes(obj), obj["signature"], obj["public_key"]


def _parse_beacon(obj: dict, report: MessageReport) -> tuple[bytes, Any, Any] | None:
    missing = [n for n in ("node_id", "timestamp", "nonce", "signature", "public_key") if n not in obj]
    if missing:
        report.add("malformed", f"missing {', '.join(missing)}")
        return None
    neighbors = obj.get("neighbors") or []
    if not isinstance(obj["node_id"], str) or not _number(obj["timestamp"]) or not isinstance(obj["nonce"], str) \
            or not isinstance(neighbors, list) or not all(isinstance(n, str) for n in neighbors):
        report.add("malformed", "node_id and nonce must be strings, timestamp a number, neighbors a list of strings")
        return None
    report.sender, report.type, report.nonce = obj["node_id"], "beacon", obj["nonce"]
    report.timestamp = float(obj["timestamp"])
    return beacon_signed_bytes(obj["node_id"], obj["timestamp"], obj["nonce"], neighbors), obj["signature"], \
        obj["public_key"]


def _freshness(obj: dict, report: MessageReport, at: float | None, max_age: float, fmt: str) -> None:
    received = obj.get("received_at")
    reference = float(received) if _number(received) else at
    if reference is None:
        report.add("freshness_unchecked", "no received_at on the line and no --at")
        return
    age = reference - report.timestamp
    mesh = "the mesh refuses it too" if fmt == "mesh-beacon" else "the mesh accepts it (gossip has no freshness window)"
    if age > max_age:
        report.add("too_old", f"{age:.1f} s old when captured (max {max_age:g} s); {mesh}")
    elif age < -max_age:
        report.add("from_future", f"timestamped {-age:.1f} s after its capture (max {max_age:g} s); {mesh}")


def _history_checks(report: MessageReport, key: bytes, history: _History, fmt: str) -> None:
    sender, epoch = report.sender, report.epoch
    # The beacon app keeps one nonce set for all senders; gossip one per sender and epoch.
    nonce_key = ("*" if fmt == "mesh-beacon" else sender, epoch, report.nonce)
    if nonce_key in history.nonces:
        report.add("nonce_replayed", f"nonce {report.nonce} already seen on line {history.nonces[nonce_key]}")
    else:
        history.nonces[nonce_key] = report.line
    if epoch is not None:
        newest = history.newest_epoch.get(sender)
        if newest is not None and epoch < newest - 1:
            report.add("epoch_stale", f"epoch {epoch} after epoch {newest} from {sender}; the mesh refuses it too")
        elif newest is not None and epoch == newest - 1:
            report.add("epoch_previous", f"epoch {epoch} after epoch {newest} from {sender}; the mesh still accepts it")
        history.newest_epoch[sender] = max(epoch, newest if newest is not None else epoch)
    seen = history.key_in_epoch.setdefault((sender, epoch), key)
    if seen != key:
        report.add("key_changed_same_epoch", f"{sender} signs with key {mesh_key_id(key)} after {mesh_key_id(seen)} "
                                             f"in the same epoch")


def _binding(report: MessageReport, key: bytes, pins: Pins | None) -> None:
    if pins is None:
        report.binding = "unpinned"
        report.add("key_unpinned", "no --keys: the key carried in the message is trusted, as the mesh does")
    elif not pins.knows(report.sender):
        report.binding = "unknown-sender"
        report.add("sender_unknown", f"{report.sender!r} is not in the pins file")
    elif pins.matches(report.sender, key):
        report.binding = "pinned"
    else:
        report.binding = "mismatch"
        report.add("key_mismatch", f"signed with key {mesh_key_id(key)}, not one pinned for {report.sender!r}")


def verify_capture(text: str, fmt: str, *, sig_scheme, source: str = "-", pins: Pins | None = None,
                   at: float | None = None, max_age: float = DEFAULT_MAX_AGE) -> CaptureReport:
    """Verify every message of a JSON Lines capture; `sig_scheme` is an ML-DSA-65 x0ctl.pqc SigScheme."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if not math.isfinite(max_age) or max_age <= 0:
        raise UsageError("--max-age must be a positive duration")
    history = _History()
    # A capture repeats each sender's key on every line: load it and name it once.
    known_keys: dict[bytes, tuple[Any, str, str]] = {}
    reports: list[MessageReport] = []
    # JSON Lines end at "\n" only: splitlines() would also cut at U+2028 and friends inside strings
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        report = MessageReport(line=number)
        reports.append(report)
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            report.add("malformed", "not a JSON object")
            continue
        if not isinstance(obj, dict):
            report.add("malformed", "not a JSON object")
            continue
        parsed = _parse_gossip(obj, report) if fmt == "mesh-gossip" else _parse_beacon(obj, report)
        if parsed is None:
            continue
        signed, signature_text, key_text = parsed
        key = decode_binary(key_text, PUBLIC_KEY_BYTES)
        signature = decode_binary(signature_text, SIGNATURE_BYTES)
        if key is None or signature is None:
            report.add("malformed", f"public_key must be {PUBLIC_KEY_BYTES} bytes and signature {SIGNATURE_BYTES} "
                                    "bytes, hex or base64")
            continue
        if key not in known_keys:
            known_keys[key] = (sig_scheme.public_key(key), mesh_key_id(key), fingerprint(ALGORITHM, key))
        verifier, report.key_id, report.fingerprint = known_keys[key]
        report.signature = "valid" if verifier.verify(signed, signature, b"") else "invalid"
        if report.signature == "invalid":
            report.add("signature_invalid", "the signature does not verify over the bytes the mesh signs")
        _binding(report, key, pins)
        if report.signature == "valid":  # like the mesh, only a verified message enters the replay history
            _history_checks(report, key, history, fmt)
        _freshness(obj, report, at, max_age, fmt)
    if not reports:
        raise UsageError(f"{source}: no messages (expected JSON Lines, one {fmt} message per line)")
    return CaptureReport(fmt, source, len(pins) if pins is not None else None, at, max_age, tuple(reports))


def verify_capture_file(path: str, fmt: str, *, keys: str | Path | None = None, backend: str = "auto",
                        at: float | None = None, max_age: float = DEFAULT_MAX_AGE) -> CaptureReport:
    """`x0ctl quorum verify --format mesh-...`: read the capture (`-` = stdin) and the pins, then verify."""
    import sys

    from x0ctl.pqc import get_backend

    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if path == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError:
            raise UsageError("stdin: not UTF-8 text") from None
    else:
        text = read_text(path, "capture")
    pins = load_pins(keys) if keys is not None else None
    scheme = get_backend(backend).sig(ALGORITHM)
    return verify_capture(text, fmt, sig_scheme=scheme, source=path, pins=pins, at=at, max_age=max_age)
