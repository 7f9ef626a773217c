"""The node keystore: layout, lifecycle transactions, crash recovery and verification.

Layout (directory 0700, files 0600):

    state.json          the single source of truth: every key's metadata, epoch, history head
    history.jsonl       signed, hash-chained lifecycle log (see history.py)
    keys/<purpose>-v<version>-<id12>.key.pem   PKCS#8 private key (seed form)
    keys/<purpose>-v<version>-<id12>.pub.pem   SubjectPublicKeyInfo public key
    .lock               flock target: one writer at a time

Every change is one transaction under the exclusive lock: new key files are written (atomic,
fsynced) first, then history.jsonl is replaced with the old entries plus the new ones, and last
state.json is replaced. Replacing state.json is the commit point: before it the old state is in
force (new key files are unreferenced orphans, extra history lines beyond the count recorded in
state.json are an uncommitted tail); after it the new state is. The next locked open removes
orphans, temporary files and an uncommitted tail; files made obsolete by a commit (pruned private
keys) are deleted only after it. A SIGKILL at any instant therefore leaves the old or the new state.
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import socket
import stat
import tarfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from x0ctl.durations import format_time, parse_duration, parse_time, utc_now
from x0ctl.errors import CheckFailed, IOFailure, UsageError
from x0ctl.keystore import history as hist
from x0ctl.fsutil import TMP_SUFFIX, atomic_write, fsync_dir
from x0ctl.keystore.fsutil import (
    LOCK_NAME,
    KeystoreLock,
    loose_permissions,
    make_private_dir,
    unlink_durable,
)
from x0ctl.keystore.keyfiles import (
    ALGORITHM_FOR_PURPOSE,
    EXPANDED,
    ML_DSA_65,
    ML_KEM_768,
    PURPOSES,
    REQUIRED_PURPOSES,
    SEED,
    X_WING,
    KeyFileError,
    expanded_from_private_pem,
    expanded_matches_public,
    private_pem,
    public_pem,
    raw_from_public_pem,
    seed_from_private_pem,
)

FORMAT = "x0ctl-keystore/1"
STATE_NAME = "state.json"
HISTORY_NAME = "history.jsonl"
KEYS_DIR = "keys"
STATES = ("pending", "active", "retired", "revoked")
KEYSTORE_ENV = "X0CTL_KEYSTORE"


def default_path() -> Path:
    """--keystore, else $X0CTL_KEYSTORE, else $XDG_DATA_HOME/x0ctl (~/.local/share/x0ctl)."""
    if os.environ.get(KEYSTORE_ENV):
        return Path(os.environ[KEYSTORE_ENV]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "x0ctl"


MAX_VALIDITY = 100 * 365 * 86400  # beyond this a date no longer means anything (and overflows)


def parse_validity(text: str) -> int:
    """--validity: a positive duration of at most 100 years."""
    seconds = int(parse_duration(text, "--validity"))
    if not 0 < seconds <= MAX_VALIDITY:
        raise UsageError(f"--validity {text!r}: must be more than 0 and at most 100 years")
    return seconds


KEY_ID_RE = re.compile(r"sha256:[0-9a-f]{64}")
# <purpose>-v<version>-<id12>.(key|pub).pem; purposes may contain dashes (room for new purposes).
KEY_FILE_RE = re.compile(r"[a-z0-9][a-z0-9-]*-v[0-9]+-[0-9a-f]{12}\.(key|pub)\.pem")
RESTORE_MARKER = ".restore-staging"  # inside a directory a restore is still unpacking (see recovery.py)
_TIME_FIELDS = ("activated", "retired", "revoked", "pruned", "not_after")


_TIME_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z")


def _is_time(value) -> bool:
    """A time as x0ctl writes it (RFC 3339 UTC, `Z`); numbers and other forms are not accepted here."""
    if not isinstance(value, str) or not _TIME_RE.fullmatch(value):
        return False
    try:
        parse_time(value)
    except (UsageError, ValueError, OverflowError):
        return False
    return True


def _shown(value, limit: int = 80) -> str:
    """An untrusted value for a message: repr (escapes control characters), bounded."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def key_file_problem(relative) -> str | None:
    """Why a key file path from state.json may not be used (None: it names a file inside keys/)."""
    parts = relative.split("/") if isinstance(relative, str) else []
    if len(parts) != 2 or parts[0] != KEYS_DIR or not KEY_FILE_RE.fullmatch(parts[1]):
        return f"path {_shown(relative)} is outside the keystore's {KEYS_DIR}/ directory or not a key file name"
    return None


def node_problem(node) -> str | None:
    """Why a node id is unusable: it is shown on terminals and sent to peers, so printable text only."""
    if not isinstance(node, str) or not node.strip():
        return f"node {_shown(node)} is not a non-empty string"
    if len(node) > 253 or not node.isprintable():
        return f"node {_shown(node)} is longer than 253 characters or holds control characters"
    return None


def record_problems(item) -> list[str]:
    """Why one entry of state.json's `keys` is malformed (empty: every field has its type and form)."""
    if not isinstance(item, dict):
        return [f"key record {_shown(item)} is not an object"]
    label = f"key record {_shown(item.get('id'), 30)}"
    found = []
    if not isinstance(item.get("id"), str) or not KEY_ID_RE.fullmatch(item["id"]):
        found.append(f"{label}: id is not sha256:<64 hex digits>")
    if not isinstance(item.get("purpose"), str) or item["purpose"] not in ALGORITHM_FOR_PURPOSE:
        found.append(f"{label}: unknown purpose {_shown(item.get('purpose'))}")
    elif item.get("algorithm") != ALGORITHM_FOR_PURPOSE[item["purpose"]]:
        found.append(f"{label}: algorithm {_shown(item.get('algorithm'))} does not fit purpose {item['purpose']}")
    version = item.get("version")
    if type(version) is not int or version < 1:
        found.append(f"{label}: version {_shown(version)} is not a positive integer")
    if item.get("state") not in STATES:
        found.append(f"{label}: unknown state {_shown(item.get('state'))}")
    if not _is_time(item.get("created")):
        found.append(f"{label}: created {_shown(item.get('created'))} is not a UTC time")
    for name in _TIME_FIELDS:
        if item.get(name) is not None and not _is_time(item[name]):
            found.append(f"{label}: {name} {_shown(item[name])} is not a UTC time")
    if item.get("reason") is not None and not isinstance(item["reason"], str):
        found.append(f"{label}: reason is not text")
    if item.get("private_form") not in (None, SEED, EXPANDED):
        found.append(f"{label}: private_form {_shown(item.get('private_form'))} is not seed or expanded")
    for name in ("public_key", "private_key"):
        if name == "private_key" and item.get(name) is None:
            continue
        problem = key_file_problem(item.get(name))
        if problem:
            found.append(f"{label}: {name} {problem}")
    return found


def state_problems(state) -> list[str]:
    """Why a parsed state.json cannot be used at all (structure, types, node, every key record)."""
    if not isinstance(state, dict):
        return ["state.json is not a keystore state (not an object)"]
    if state.get("format") != FORMAT:
        return [f"state.json: unknown keystore format {_shown(state.get('format'))}"]
    found = []
    history = state.get("history")
    if (not isinstance(history, dict) or type(history.get("count")) is not int or history["count"] < 0
            or not isinstance(history.get("head"), str)):
        found.append("state.json: history count/head malformed")
    for name in ("epoch", "generation"):
        if type(state.get(name)) is not int or state[name] < 0:
            found.append(f"state.json: {name} {_shown(state.get(name))} is not a non-negative integer")
    problem = node_problem(state.get("node"))
    if problem:
        found.append(f"state.json: {problem}")
    if not isinstance(state.get("keys"), list):
        found.append("state.json: keys is not a list")
    else:
        for item in state["keys"]:
            found += record_problems(item)
    return found


def _read_regular(path: Path) -> bytes:
    """A file's bytes, refusing a symbolic link (a key file must be the keystore's own)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


@dataclass
class KeyRecord:
    """One key's metadata as state.json stores it (`to_dict()` is that form)."""

    id: str
    algorithm: str
    purpose: str
    version: int
    state: str
    created: str
    public_key: str  # path relative to the keystore, always keys/<name>
    private_key: str | None  # None once pruned (or left out of a backup because revoked)
    activated: str | None = None
    retired: str | None = None
    revoked: str | None = None
    pruned: str | None = None
    not_after: str | None = None
    reason: str | None = None
    private_form: str | None = None  # expanded: imported from the mesh without a seed (export only); else seed

    @classmethod
    def from_dict(cls, data: dict) -> KeyRecord:
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @property
    def short(self) -> str:
        from x0ctl.pqc.fingerprint import short_id

        return short_id(self.id)


@dataclass
class VerifyReport:
    """`keys verify`: problems fail (exit 1), notes do not."""

    path: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys_checked: int = 0
    history_entries: int = 0
    checkpoints: list[dict] = field(default_factory=list)
    metrics: dict | None = None

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.ok = False

    def to_dict(self) -> dict:
        return {"keystore": self.path, "ok": self.ok, "problems": self.problems, "notes": self.notes,
                "keys_checked": self.keys_checked, "history_entries": self.history_entries,
                "checkpoints": self.checkpoints, "metrics": self.metrics}


def _empty_state(node: str) -> dict:
    return {"format": FORMAT, "node": node, "epoch": 0, "generation": 0,
            "history": {"count": 0, "head": hist.GENESIS_PREV}, "keys": []}


class Keystore:
    """A keystore directory. Reads take a shared lock, changes an exclusive one (`wait` or exit 4)."""

    def __init__(self, path: Path | str | None = None, *, backend=None, insecure_permissions: bool = False,
                 wait: bool = False) -> None:
        self.path = Path(path).expanduser() if path else default_path()
        self._backend = backend
        self.insecure_permissions = insecure_permissions
        self.wait = wait

    @property
    def backend(self):
        if self._backend is None:
            from x0ctl.pqc import get_backend

            self._backend = get_backend("auto")
        return self._backend

    def exists(self) -> bool:
        return (self.path / STATE_NAME).is_file()

    def require(self) -> None:
        """IOFailure (exit 4) unless a keystore exists at the path."""
        if not self.exists():
            raise IOFailure(f"no keystore at {self.path}", hint="create one with `x0ctl keys generate`, or check --keystore")

    def permission_problems(self) -> list[str]:
        found = []
        candidates = [self.path, self.path / KEYS_DIR, self.path / STATE_NAME, self.path / HISTORY_NAME,
                      self.path / LOCK_NAME]
        if (self.path / KEYS_DIR).is_dir():
            candidates += sorted((self.path / KEYS_DIR).iterdir())
        for candidate in candidates:
            reason = loose_permissions(candidate)
            if reason:
                found.append(reason)
        return found

    def _check_permissions(self) -> None:
        found = self.permission_problems()
        if found and not self.insecure_permissions:
            raise UsageError(f"refusing to use a keystore others can access: {found[0]}",
                             hint=f"chmod -R go-rwx {self.path}, or pass --insecure-permissions")

    def load_state_json(self):
        """state.json parsed but not checked (see `read_state`); IOFailure when missing or unreadable."""
        path = self.path / STATE_NAME
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise IOFailure(f"no keystore at {self.path}", hint="create one with `x0ctl keys generate`") from None
        except OSError as exc:
            raise IOFailure(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            return json.loads(data)
        except ValueError:
            raise CheckFailed(f"{path} is not JSON (damaged keystore state)",
                              hint="restore from a backup, see docs/keys.md 'Recovery'") from None

    def read_state(self) -> dict:
        """state.json, checked for structure and types (CheckFailed, exit 1, when damaged)."""
        state = self.load_state_json()
        found = state_problems(state)
        if found:
            more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
            raise CheckFailed(f"{self.path / STATE_NAME}: damaged keystore state: {found[0]}{more}",
                              hint="run `x0ctl keys verify`; restore from a backup, see docs/keys.md 'Recovery'")
        return state

    def history_lines(self) -> list[bytes]:
        """Every line of history.jsonl, committed or not (state.json's count says how many are)."""
        try:
            return hist.parse_lines((self.path / HISTORY_NAME).read_bytes())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise IOFailure(f"cannot read {self.path / HISTORY_NAME}: {exc.strerror or exc}") from None

    @contextmanager
    def reading(self):
        """(state, committed history lines) under a shared lock."""
        self.require()
        self._check_permissions()
        with KeystoreLock(self.path, exclusive=False, wait=True):
            state = self.read_state()
            lines = self.history_lines()[: state["history"]["count"]]
            yield state, lines

    def records(self, state: dict) -> list[KeyRecord]:
        found = state_problems(state)
        if found:
            raise CheckFailed(f"{self.path / STATE_NAME}: damaged key record: {found[0]}")
        return [KeyRecord.from_dict(item) for item in state["keys"]]

    def key_path(self, relative: str, root: Path | None = None) -> Path:
        """The file a record names, confined to `<root>/keys/` (CheckFailed for anything else)."""
        problem = key_file_problem(relative)
        if problem:
            raise CheckFailed(f"refusing a key file {problem}")
        return Path(root or self.path) / relative

    def scheme(self, algorithm: str):
        """The backend's implementation of a key algorithm (X-Wing KEM or ML-DSA-65)."""
        if algorithm == X_WING:
            from x0ctl.pqc import XWing

            return XWing(self.backend)
        if algorithm == ML_KEM_768:
            return self.backend.kem(ML_KEM_768)
        return self.backend.sig(ML_DSA_65)

    def load_private(self, record: KeyRecord, root: Path | None = None):
        path, data = self._private_file(record, root)
        if expanded_from_private_pem(record.algorithm, data) is not None:
            raise CheckFailed(f"key {record.short} ({record.purpose}) was imported from the mesh without its seed: "
                              "x0ctl keeps it for `keys export --format mesh-secret` only")
        seed = seed_from_private_pem(record.algorithm, data, str(path))
        return self.scheme(record.algorithm).from_seed(seed)

    def _private_file(self, record: KeyRecord, root: Path | None = None) -> tuple[Path, bytes]:
        if record.private_key is None:
            raise CheckFailed(f"key {record.short} has no private key (pruned, or left out of the backup)")
        path = self.key_path(record.private_key, root)
        try:
            return path, _read_regular(path)
        except OSError as exc:
            raise CheckFailed(f"cannot read private key {path}: {exc.strerror or exc}") from None

    def load_expanded(self, record: KeyRecord, root: Path | None = None) -> bytes | None:
        """The stored expanded private key of a key imported from the mesh (None for a seed key)."""
        return expanded_from_private_pem(record.algorithm, self._private_file(record, root)[1])

    def public_pem(self, record: KeyRecord, root: Path | None = None) -> bytes:
        path = self.key_path(record.public_key, root)
        try:
            return _read_regular(path)
        except OSError as exc:
            raise CheckFailed(f"cannot read public key {path}: {exc.strerror or exc}") from None

    def load_public(self, record: KeyRecord, root: Path | None = None) -> bytes:
        path = self.key_path(record.public_key, root)
        return raw_from_public_pem(record.algorithm, self.public_pem(record, root), str(path))

    def _recover(self, state: dict) -> list[str]:
        """Remove what an interrupted transaction left behind (exclusive lock held, state verified).

        Only names this code itself writes are candidates: temporary files, and key files in
        keys/ that no record references. Nothing outside the keystore directory is touched.
        """
        cleaned = []
        referenced = set()
        for item in state["keys"]:
            referenced.add(item["public_key"])
            if item.get("private_key"):
                referenced.add(item["private_key"])
        for directory in (self.path, self.path / KEYS_DIR):
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                relative = entry.relative_to(self.path).as_posix()
                stray_tmp = entry.name.endswith(TMP_SUFFIX)
                orphan_key = directory != self.path and KEY_FILE_RE.fullmatch(entry.name) and relative not in referenced
                if stat.S_ISREG(os.lstat(entry).st_mode) and (stray_tmp or orphan_key):
                    entry.unlink()
                    cleaned.append(relative)
            fsync_dir(directory)
        lines = self.history_lines()
        count = state["history"]["count"]
        if len(lines) > count:
            atomic_write(self.path / HISTORY_NAME, b"".join(line + b"\n" for line in lines[:count]))
            cleaned.append(f"{HISTORY_NAME}: {len(lines) - count} uncommitted entr{'y' if len(lines) - count == 1 else 'ies'}")
        return cleaned

    def require_verified(self) -> VerifyReport:
        """verify(); CheckFailed (exit 1) listing the problems when it fails. Every change starts here."""
        report = self.verify()
        if not report.ok:
            shown = "; ".join(report.problems[:5]) + (f"; and {len(report.problems) - 5} more" if len(report.problems) > 5 else "")
            raise CheckFailed(f"the keystore at {self.path} fails verification ({len(report.problems)} problem(s)): {shown}",
                              hint="nothing was changed; see `x0ctl keys verify` and docs/keys.md 'Recovery'")
        return report

    @contextmanager
    def transaction(self, *, create: bool = False, node: str | None = None):
        """A Transaction under the exclusive lock; nothing changes on disk unless `commit()` is called.

        An existing keystore must pass every `verify` check first: a change must never build on
        (or clean up after) a keystore an attacker or a bad disk has altered.
        """
        if create:
            make_private_dir(self.path)
        else:
            self.require()
        self._check_permissions()
        with KeystoreLock(self.path, exclusive=True, wait=self.wait):
            if self.exists():
                self.require_verified()
                state = self.read_state()
                recovered = self._recover(state)
            else:
                state, recovered = _empty_state(node or socket.gethostname()), []
            make_private_dir(self.path / KEYS_DIR)
            txn = Transaction(self, state, self.history_lines()[: state["history"]["count"]])
            txn.recovered = recovered
            yield txn

    def verify(self, root: Path | None = None) -> VerifyReport:
        """Everything `keys verify` checks. Read-only: leftovers of an interrupted run are notes.

        Raises IOFailure (exit 4) when there is no keystore at all; everything else is a problem.
        """
        root = Path(root or self.path)
        report = VerifyReport(str(root))
        checker = Keystore(root, backend=self._backend, insecure_permissions=self.insecure_permissions)
        checker.require()
        for reason in checker.permission_problems():
            (report.notes.append if self.insecure_permissions else report.problem)(f"permissions: {reason}")
        try:
            state = checker.load_state_json()
        except CheckFailed as exc:
            report.problem(str(exc))
            return report
        found = state_problems(state)
        if found:
            for problem in found:
                report.problem(problem)
            return report
        records = checker.records(state)
        sig_public: dict[str, bytes] = {}
        for record in records:
            report.keys_checked += 1
            self._verify_key(checker, record, report, sig_public)
        for purpose in PURPOSES:
            active = [r for r in records if r.purpose == purpose and r.state == "active"]
            pending = [r for r in records if r.purpose == purpose and r.state == "pending"]
            optional_and_absent = purpose not in REQUIRED_PURPOSES and not any(r.purpose == purpose for r in records)
            if len(active) != 1 and not optional_and_absent:
                report.problem(f"{purpose}: {len(active)} active keys (exactly one is required)")
            if len(pending) > 1:
                report.problem(f"{purpose}: {len(pending)} pending keys (at most one is allowed)")
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            report.problem("the same key id appears twice in state.json")
        all_lines = checker.history_lines()
        count = state["history"]["count"]
        report.history_entries = min(count, len(all_lines))
        problems, trusted = hist.verify_chain(
            all_lines, sig_public_keys=sig_public, committed_count=count, committed_head=state["history"]["head"],
            verify=checker.history_verifier())
        for problem in problems:
            report.problem(problem)
        if not problems:
            replayed = hist.replay(all_lines[:count])
            self._check_state_against_history(state, records, replayed, report)
            for record in records:
                if record.id not in replayed.purposes:
                    report.problem(f"key {record.short} ({record.purpose}) is not recorded in the history")
                elif record.purpose == "sig" and record.id not in trusted:
                    report.problem(f"signing key {record.short} was never introduced by a trusted history entry")
        current = time.time()
        for record in records:
            if record.state == "active" and record.not_after and parse_time(record.not_after) < current:
                report.notes.append(f"active {record.purpose} key {record.short} expired at {record.not_after} "
                                    "(not-after); rotate it")
        if len(all_lines) > count:
            report.notes.append(f"{len(all_lines) - count} uncommitted history entries from an interrupted "
                                "operation (removed by the next change)")
        referenced = {r.public_key for r in records} | {r.private_key for r in records if r.private_key}
        keys_dir = root / KEYS_DIR
        if keys_dir.is_dir():
            for entry in sorted(keys_dir.iterdir()):
                if entry.relative_to(root).as_posix() not in referenced:
                    report.notes.append(f"unreferenced file {entry.relative_to(root)} from an interrupted "
                                        "operation (removed by the next change)")
        return report

    def history_verifier(self):
        """verify(public, message, signature) for history entries (ML-DSA-65, the history context)."""
        scheme = self.backend.sig(ML_DSA_65)
        return lambda public, message, signature: scheme.verify(public, message, signature, hist.SIGNATURE_CONTEXT)

    @staticmethod
    def _check_state_against_history(state: dict, records: list[KeyRecord], replayed: hist.Replay,
                                     report: VerifyReport) -> None:
        by_id = {r.id: r for r in records}
        for key_id, purpose in replayed.purposes.items():
            if key_id not in by_id:
                report.problem(f"key {key_id.removeprefix('sha256:')[:16]} ({purpose}), introduced by history entry "
                               f"{replayed.introduced_at.get(key_id)}, is missing from state.json (record deleted?)")
        for record in records:
            wanted = replayed.states.get(record.id)
            if wanted is not None and record.state != wanted:
                report.problem(f"key {record.short} ({record.purpose}): state.json says {record.state}, "
                               f"the signed history says {wanted} (state.json edited?)")
            if record.id in replayed.pruned and record.private_key is not None:
                report.problem(f"key {record.short} ({record.purpose}): pruned in the history but state.json "
                               "still lists its private key")
            if record.private_key is None and record.id not in replayed.pruned and record.id not in replayed.revoked:
                report.problem(f"key {record.short} ({record.purpose}): its private key is gone, but no signed "
                               "prune or revoke entry removed it (state.json edited?)")
        if state["epoch"] != replayed.epoch:
            report.problem(f"state.json epoch {state['epoch']} differs from the signed history's {replayed.epoch} "
                           "(state.json edited?)")
        unsigned = [record for record in records if record.id not in replayed.lifetimes]
        for record in records:
            signed = replayed.lifetimes.get(record.id)
            if signed is None:
                continue
            for name, value in zip(("created", "not_after"), signed, strict=True):
                if getattr(record, name) != value:
                    report.problem(f"key {record.short} ({record.purpose}): state.json says {name} "
                                   f"{_shown(getattr(record, name))}, the signed history says {_shown(value)} "
                                   "(state.json edited?)")
        if unsigned:
            report.notes.append(f"{len(unsigned)} key(s) ({', '.join(r.short for r in unsigned)}) were recorded by an "
                                "older x0ctl whose history does not sign created/not_after; rotate to cover them")
        if replayed.node is not None and state["node"] != replayed.node:
            report.problem(f"state.json node {_shown(state['node'])} differs from the signed history's "
                           f"{_shown(replayed.node)} (state.json edited?)")

    def _verify_key(self, checker: Keystore, record: KeyRecord, report: VerifyReport, sig_public: dict) -> None:
        from x0ctl.pqc.fingerprint import fingerprint

        label = f"key {record.short} ({record.purpose} v{record.version})"
        try:
            public = checker.load_public(record)
        except (CheckFailed, KeyFileError) as exc:
            report.problem(f"{label}: {exc}")
            return
        if fingerprint(record.algorithm, public) != record.id:
            report.problem(f"{label}: public key file does not match the key id (file swapped)")
            return
        if record.purpose == "sig":
            sig_public[record.id] = public
        if record.private_key is None:
            if record.state in ("active", "pending"):
                report.problem(f"{label}: {record.state} but its private key was pruned")
            return
        try:
            expanded = checker.load_expanded(record)
        except CheckFailed as exc:
            report.problem(f"{label}: {exc}")
            return
        if (record.private_form == EXPANDED) != (expanded is not None):
            report.problem(f"{label}: state.json says its private key is in the {record.private_form or SEED} form, "
                           "the file holds the other (file swapped?)")
            return
        if expanded is not None:
            if not expanded_matches_public(record.algorithm, expanded, public):
                report.problem(f"{label}: expanded private key does not hold its public key (file swapped)")
            return
        try:
            private = checker.load_private(record)
        except (CheckFailed, KeyFileError) as exc:
            report.problem(f"{label}: {exc}")
            return
        if private.public_key() != public:
            report.problem(f"{label}: private key does not match its public key (file swapped)")

    def snapshot(self, *, exclude_revoked: bool = False) -> bytes:
        """The committed, verified keystore as an uncompressed tar (what `keys backup` encrypts).

        exclude_revoked: revoked keys' private files stay out; their records (private_key null)
        and public keys stay in, and the signed revoke entry accounts for the missing file.
        """
        with self.reading() as (state, lines):
            self.require_verified()
            state = copy.deepcopy(state)
            files = {HISTORY_NAME: b"".join(line + b"\n" for line in lines)}
            for item in state["keys"]:
                record = KeyRecord.from_dict(item)
                if exclude_revoked and record.state == "revoked":
                    item["private_key"] = None
                for relative in (record.public_key, item["private_key"]):
                    if relative:
                        files[relative] = _read_regular(self.key_path(relative))
            files[STATE_NAME] = json.dumps(state, indent=2, sort_keys=True).encode() + b"\n"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for name in sorted(files):
                info = tarfile.TarInfo(name)
                info.size, info.mode, info.mtime = len(files[name]), 0o600, int(time.time())
                archive.addfile(info, io.BytesIO(files[name]))
        return buffer.getvalue()


class Transaction:
    """Pending changes to one keystore; `commit()` makes them durable in one atomic step."""

    def __init__(self, store: Keystore, state: dict, lines: list[bytes]) -> None:
        self.store = store
        self.state = copy.deepcopy(state)
        self.lines = list(lines)
        self.new_lines: list[bytes] = []
        self.delete_after_commit: list[Path] = []
        self.recovered: list[str] = []
        self._private_cache: dict[str, object] = {}
        self.time = utc_now()

    def records(self) -> list[KeyRecord]:
        return [KeyRecord.from_dict(item) for item in self.state["keys"]]

    def find(self, key_id: str) -> KeyRecord:
        for record in self.records():
            if record.id == key_id:
                return record
        raise UsageError(f"no key {key_id}")

    def active(self, purpose: str) -> KeyRecord | None:
        found = [r for r in self.records() if r.purpose == purpose and r.state == "active"]
        return found[0] if found else None

    def pending(self, purpose: str) -> KeyRecord | None:
        found = [r for r in self.records() if r.purpose == purpose and r.state == "pending"]
        return found[0] if found else None

    def put(self, record: KeyRecord) -> None:
        """Store `record` in the pending state (replacing the record with the same id)."""
        for index, item in enumerate(self.state["keys"]):
            if item["id"] == record.id:
                self.state["keys"][index] = record.to_dict()
                return
        self.state["keys"].append(record.to_dict())

    def new_key(self, purpose: str) -> KeyRecord:
        """Generate a key, write its files (orphans until commit) and add it as `pending`."""
        from x0ctl.pqc.fingerprint import fingerprint, short_id

        algorithm = ALGORITHM_FOR_PURPOSE[purpose]
        private = self.store.scheme(algorithm).generate()
        public = private.public_key()
        key_id = fingerprint(algorithm, public)
        if any(r.id == key_id for r in self.records()):
            raise CheckFailed("generated a key id that already exists; refusing to continue")
        version = 1 + max((r.version for r in self.records() if r.purpose == purpose), default=0)
        stem = f"{KEYS_DIR}/{purpose}-v{version}-{short_id(key_id, 12)}"
        atomic_write(self.store.path / f"{stem}.key.pem", private_pem(algorithm, private.seed()))
        atomic_write(self.store.path / f"{stem}.pub.pem", public_pem(algorithm, public))
        record = KeyRecord(id=key_id, algorithm=algorithm, purpose=purpose, version=version, state="pending",
                           created=self.time, public_key=f"{stem}.pub.pem", private_key=f"{stem}.key.pem")
        self._private_cache[key_id] = private
        self.put(record)
        return record

    def import_key(self, purpose: str, public: bytes, private_file: bytes, private_form: str) -> KeyRecord:
        """Add a key from elsewhere (files written, orphans until commit) as `pending`; the caller records and places it."""
        from x0ctl.pqc.fingerprint import fingerprint, short_id

        algorithm = ALGORITHM_FOR_PURPOSE[purpose]
        key_id = fingerprint(algorithm, public)
        version = 1 + max((r.version for r in self.records() if r.purpose == purpose), default=0)
        stem = f"{KEYS_DIR}/{purpose}-v{version}-{short_id(key_id, 12)}"
        atomic_write(self.store.path / f"{stem}.key.pem", private_file)
        atomic_write(self.store.path / f"{stem}.pub.pem", public_pem(algorithm, public))
        record = KeyRecord(id=key_id, algorithm=algorithm, purpose=purpose, version=version, state="pending",
                           created=self.time, public_key=f"{stem}.pub.pem", private_key=f"{stem}.key.pem",
                           private_form=private_form)
        self.put(record)
        return record

    def _signer(self, introducing: KeyRecord | None):
        signer = self.active("sig")
        if signer is None:
            if introducing is None or introducing.purpose != "sig" or self.state["history"]["count"] + len(self.new_lines):
                raise CheckFailed("no active signing key to sign the history entry")
            signer = introducing  # the first entry introduces the first signing key and signs itself
        private = self._private_cache.get(signer.id) or self.store.load_private(signer)
        self._private_cache[signer.id] = private
        return signer, private

    def _not_after(self, record: KeyRecord, validity: int | None) -> str | None:
        return format_time(parse_time(self.time) + validity) if validity is not None else record.not_after

    def record(self, event: str, purpose: str | None, *, old: KeyRecord | None = None, new: KeyRecord | None = None,
               reason: str | None = None, extra: dict | None = None, validity: int | None = None) -> None:
        """Append a signed history entry (written at commit). An entry introducing or activating `new`
        signs its `created` and `not_after` (from `validity`, as `activate` will set it), so an edit
        of a key's lifetime in state.json is caught by verify."""
        signer, private = self._signer(new)
        if new is not None:
            extra = {**(extra or {}), "new_created": new.created, "new_not_after": self._not_after(new, validity)}
        all_lines = self.lines + self.new_lines
        prev = hist.entry_hash(all_lines[-1]) if all_lines else hist.GENESIS_PREV
        line = hist.make_entry(
            seq=len(all_lines) + 1, prev=prev, time=self.time, event=event, purpose=purpose,
            old_id=old.id if old else None, new_id=new.id if new else None, reason=reason,
            epoch=self.state["epoch"], signer=signer.id, extra=extra,
            sign=lambda message: private.sign(message, hist.SIGNATURE_CONTEXT),
        )
        self.new_lines.append(line)

    def activate(self, new: KeyRecord, reason: str | None = None, validity: int | None = None) -> KeyRecord | None:
        """`new` becomes active (valid for `validity` seconds if given); the previous active key is retired."""
        old = self.active(new.purpose)
        if old is not None:
            old.state, old.retired = "retired", self.time
            self.put(old)
        new.state, new.activated = "active", self.time
        new.not_after = self._not_after(new, validity)
        if reason:
            new.reason = reason
        self.put(new)
        self.state["epoch"] += 1
        return old

    def revoke(self, record: KeyRecord, reason: str) -> KeyRecord | None:
        """Revoke `record` (signed entry first); a revoked active key is replaced at once (returned)."""
        replacement = None
        if record.state == "active":
            replacement = self.new_key(record.purpose)
            self.record("revoke", record.purpose, old=record, new=replacement, reason=reason)
            self.activate(replacement)
        else:
            self.record("revoke", record.purpose, old=record, reason=reason)
        record = self.find(record.id)
        record.state, record.revoked, record.reason = "revoked", self.time, reason
        self.put(record)
        return replacement

    def prune(self, purpose: str, keep: int) -> list[KeyRecord]:
        retired = sorted((r for r in self.records() if r.purpose == purpose and r.state == "retired" and r.private_key),
                         key=lambda r: r.version, reverse=True)
        pruned = []
        for record in retired[keep:]:
            self.delete_after_commit.append(self.store.key_path(record.private_key))
            record.private_key, record.pruned = None, self.time
            self.put(record)
            self.record("prune", purpose, old=record, reason=f"--keep {keep}")
            pruned.append(record)
        return pruned

    def commit(self) -> None:
        lines = self.lines + self.new_lines
        if self.new_lines:
            atomic_write(self.store.path / HISTORY_NAME, b"".join(line + b"\n" for line in lines))
        self.state["history"] = {"count": len(lines), "head": hist.entry_hash(lines[-1]) if lines else hist.GENESIS_PREV}
        self.state["generation"] += 1
        atomic_write(self.store.path / STATE_NAME, json.dumps(self.state, indent=2, sort_keys=True).encode() + b"\n")
        for path in self.delete_after_commit:  # after the commit point: a crash here only leaves orphans
            unlink_durable(path)
        self.lines, self.new_lines = lines, []


def node_identity(store: Keystore) -> str | None:
    """The signing key that signed the keystore's first history entry: who the keystore belongs to.

    Every later entry chains back to it under signatures, so a backup whose genesis signer is the
    node's cannot have been assembled by someone without the node's signing keys.
    """
    try:
        lines = store.history_lines()
    except IOFailure:
        return None
    if not lines:
        return None
    try:
        signer = json.loads(lines[0]).get("signer")
    except (ValueError, AttributeError):
        return None
    return signer if isinstance(signer, str) and KEY_ID_RE.fullmatch(signer) else None


def keystore_health(path: Path | str | None = None, backend=None) -> dict:
    """A summary for `x0ctl doctor`: never raises; `ok` False with the problems when unhealthy."""
    store = Keystore(path, backend=backend)
    summary: dict = {"keystore": str(store.path), "exists": store.exists(), "ok": False, "problems": [],
                     "notes": [], "active": {}, "epoch": None}
    if not summary["exists"]:
        summary["problems"].append("no keystore (run `x0ctl keys generate`)")
        return summary
    try:
        if backend is None:  # inside the try: a guard that refuses every backend is a problem to report
            from x0ctl.pqc import get_backend

            store = Keystore(path, backend=get_backend("openssl"))
        report = store.verify()
        state = store.read_state()
    except Exception as exc:  # noqa: BLE001 - doctor must keep going; the message carries no key material
        summary["problems"].append(f"{type(exc).__name__}: {exc}")
        return summary
    summary.update(ok=report.ok, problems=report.problems, notes=report.notes, epoch=state.get("epoch"))
    current = time.time()
    for record in store.records(state):
        if record.state == "active":
            age = current - parse_time(record.activated) if record.activated else None
            summary["active"][record.purpose] = {"id": record.id, "version": record.version,
                                                 "age_days": round(age / 86400, 2) if age is not None else None,
                                                 "not_after": record.not_after}
    return summary
