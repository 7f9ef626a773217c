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
import secrets
import shutil
import socket
import tarfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from x0ctl.durations import format_time, parse_duration, parse_time, utc_now
from x0ctl.errors import CheckFailed, IOFailure, UsageError
from x0ctl.keystore import history as hist
from x0ctl.keystore.fsutil import (
    LOCK_NAME,
    TMP_SUFFIX,
    KeystoreLock,
    atomic_write,
    exchange_paths,
    fsync_dir,
    loose_permissions,
    make_private_dir,
    unlink_durable,
)
from x0ctl.keystore.keyfiles import (
    ALGORITHM_FOR_PURPOSE,
    ML_DSA_65,
    PURPOSES,
    X_WING,
    KeyFileError,
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


@dataclass
class KeyRecord:
    id: str
    algorithm: str
    purpose: str
    version: int
    state: str
    created: str
    public_key: str  # path relative to the keystore
    private_key: str | None  # None once pruned
    activated: str | None = None
    retired: str | None = None
    revoked: str | None = None
    pruned: str | None = None
    not_after: str | None = None
    reason: str | None = None

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
    path: str
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keys_checked: int = 0
    history_entries: int = 0

    def problem(self, text: str) -> None:
        self.problems.append(text)
        self.ok = False

    def to_dict(self) -> dict:
        return {"keystore": self.path, "ok": self.ok, "problems": self.problems, "notes": self.notes,
                "keys_checked": self.keys_checked, "history_entries": self.history_entries}


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

    # ------------------------------------------------------------------ basics

    @property
    def backend(self):
        if self._backend is None:
            from x0ctl.pqc import get_backend

            self._backend = get_backend("auto")
        return self._backend

    def exists(self) -> bool:
        return (self.path / STATE_NAME).is_file()

    def _require(self) -> None:
        if not self.exists():
            raise CheckFailed(f"no keystore at {self.path}", hint="create one with `x0ctl keys generate`")

    def permission_problems(self) -> list[str]:
        found = []
        candidates = [self.path, self.path / KEYS_DIR, self.path / STATE_NAME, self.path / HISTORY_NAME]
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

    def read_state(self) -> dict:
        try:
            state = json.loads((self.path / STATE_NAME).read_bytes())
        except FileNotFoundError:
            raise CheckFailed(f"no keystore at {self.path}", hint="create one with `x0ctl keys generate`") from None
        except (ValueError, OSError) as exc:
            raise CheckFailed(f"{self.path / STATE_NAME} is unreadable or not JSON: {exc}") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise CheckFailed(f"{self.path / STATE_NAME}: unknown keystore format {state.get('format')!r}"
                              if isinstance(state, dict) else f"{self.path / STATE_NAME}: not a keystore state")
        history = state.get("history")
        if (not isinstance(state.get("keys"), list) or not all(isinstance(k, dict) for k in state["keys"])
                or not isinstance(history, dict) or not isinstance(history.get("count"), int)
                or not isinstance(history.get("head"), str) or not isinstance(state.get("epoch"), int)):
            raise CheckFailed(f"{self.path / STATE_NAME}: damaged keystore state (keys, history or epoch malformed)",
                              hint="restore from a backup, or see docs/keys.md 'Recovery'")
        return state

    def _history_lines(self) -> list[bytes]:
        try:
            return hist.parse_lines((self.path / HISTORY_NAME).read_bytes())
        except FileNotFoundError:
            return []

    @contextmanager
    def reading(self):
        """(state, committed history lines) under a shared lock."""
        self._require()
        self._check_permissions()
        with KeystoreLock(self.path, exclusive=False, wait=True):
            state = self.read_state()
            lines = self._history_lines()[: state["history"]["count"]]
            yield state, lines

    def records(self, state: dict) -> list[KeyRecord]:
        try:
            return [KeyRecord.from_dict(item) for item in state["keys"]]
        except (KeyError, TypeError, ValueError):
            raise CheckFailed(f"{self.path / STATE_NAME}: damaged key record in the keystore state") from None

    # ------------------------------------------------------------------ key material

    def _scheme(self, algorithm: str):
        if algorithm == X_WING:
            from x0ctl.pqc import XWing

            return XWing(self.backend)
        return self.backend.sig(ML_DSA_65)

    def load_private(self, record: KeyRecord, root: Path | None = None):
        root = root or self.path
        if record.private_key is None:
            raise CheckFailed(f"key {record.short} was pruned: its private key no longer exists")
        path = root / record.private_key
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CheckFailed(f"cannot read private key {path}: {exc.strerror or exc}") from None
        seed = seed_from_private_pem(record.algorithm, data, str(path))
        return self._scheme(record.algorithm).from_seed(seed)

    def load_public(self, record: KeyRecord, root: Path | None = None) -> bytes:
        path = (root or self.path) / record.public_key
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CheckFailed(f"cannot read public key {path}: {exc.strerror or exc}") from None
        return raw_from_public_pem(record.algorithm, data, str(path))

    # ------------------------------------------------------------------ recovery

    def _recover(self, state: dict) -> list[str]:
        """Remove what an interrupted transaction left behind (exclusive lock held)."""
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
                orphan_key = directory.name == KEYS_DIR and directory != self.path and relative not in referenced
                if entry.is_file() and (stray_tmp or orphan_key):
                    entry.unlink()
                    cleaned.append(relative)
            fsync_dir(directory)
        lines = self._history_lines()
        count = state["history"]["count"]
        if len(lines) > count:
            atomic_write(self.path / HISTORY_NAME, b"".join(line + b"\n" for line in lines[:count]))
            cleaned.append(f"{HISTORY_NAME}: {len(lines) - count} uncommitted entr{'y' if len(lines) - count == 1 else 'ies'}")
        return cleaned

    @contextmanager
    def transaction(self, *, create: bool = False, node: str | None = None):
        """A Transaction under the exclusive lock; nothing changes on disk unless `commit()` is called."""
        if create:
            make_private_dir(self.path)
        else:
            self._require()
        self._check_permissions()
        with KeystoreLock(self.path, exclusive=True, wait=self.wait):
            if self.exists():
                state = self.read_state()
                recovered = self._recover(state)
            else:
                state, recovered = _empty_state(node or socket.gethostname()), []
            make_private_dir(self.path / KEYS_DIR)
            txn = Transaction(self, state, self._history_lines()[: state["history"]["count"]])
            txn.recovered = recovered
            yield txn

    # ------------------------------------------------------------------ verification

    def verify(self, root: Path | None = None) -> VerifyReport:
        """Everything `keys verify` checks. Read-only: leftovers of an interrupted run are notes."""
        root = Path(root or self.path)
        report = VerifyReport(str(root))
        checker = Keystore(root, backend=self._backend, insecure_permissions=self.insecure_permissions)
        if not checker.exists():
            report.problem(f"no keystore at {root}")
            return report
        for reason in checker.permission_problems():
            (report.notes.append if self.insecure_permissions else report.problem)(f"permissions: {reason}")
        try:
            state = checker.read_state()
        except CheckFailed as exc:
            report.problem(str(exc))
            return report
        records = checker.records(state)
        sig_public: dict[str, bytes] = {}
        for record in records:
            report.keys_checked += 1
            self._verify_key(checker, record, report, sig_public)
        for purpose in PURPOSES:
            active = [r for r in records if r.purpose == purpose and r.state == "active"]
            pending = [r for r in records if r.purpose == purpose and r.state == "pending"]
            if len(active) != 1:
                report.problem(f"{purpose}: {len(active)} active keys (exactly one is required)")
            if len(pending) > 1:
                report.problem(f"{purpose}: {len(pending)} pending keys (at most one is allowed)")
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            report.problem("the same key id appears twice in state.json")
        all_lines = checker._history_lines()
        count = state["history"]["count"]
        report.history_entries = min(count, len(all_lines))
        sig_scheme = checker.backend.sig(ML_DSA_65)
        problems, trusted = hist.verify_chain(
            all_lines, sig_public_keys=sig_public, committed_count=count, committed_head=state["history"]["head"],
            verify=lambda public, message, signature: sig_scheme.verify(public, message, signature,
                                                                        hist.SIGNATURE_CONTEXT),
        )
        for problem in problems:
            report.problem(problem)
        introduced = set()
        for line in all_lines[:count]:
            try:
                introduced.add(json.loads(line).get("new_id"))
            except ValueError:
                pass
        if not problems:
            self._check_state_against_history(state, records, all_lines[:count], report)
        for record in records:
            if record.id not in introduced:
                report.problem(f"key {record.short} ({record.purpose}) is not recorded in the history")
            elif record.purpose == "sig" and record.id not in trusted and not problems:
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

    @staticmethod
    def _check_state_against_history(state: dict, records: list[KeyRecord], lines: list[bytes],
                                     report: VerifyReport) -> None:
        expected, pruned, epoch = hist.expected_states(lines)
        for record in records:
            wanted = expected.get(record.id)
            if wanted is not None and record.state != wanted:
                report.problem(f"key {record.short} ({record.purpose}): state.json says {record.state}, "
                               f"the signed history says {wanted} (state.json edited?)")
            if record.id in pruned and record.private_key is not None:
                report.problem(f"key {record.short} ({record.purpose}): pruned in the history but state.json "
                               "still lists its private key")
        if state["epoch"] != epoch:
            report.problem(f"state.json epoch {state['epoch']} differs from the signed history's {epoch} "
                           "(state.json edited?)")

    def _verify_key(self, checker: Keystore, record: KeyRecord, report: VerifyReport, sig_public: dict) -> None:
        from x0ctl.pqc.fingerprint import fingerprint

        label = f"key {record.short} ({record.purpose} v{record.version})"
        if record.state not in STATES:
            report.problem(f"{label}: unknown state {record.state!r}")
        if ALGORITHM_FOR_PURPOSE.get(record.purpose) != record.algorithm:
            report.problem(f"{label}: algorithm {record.algorithm!r} does not fit purpose {record.purpose!r}")
            return
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
            private = checker.load_private(record)
        except (CheckFailed, KeyFileError) as exc:
            report.problem(f"{label}: {exc}")
            return
        if private.public_key() != public:
            report.problem(f"{label}: private key does not match its public key (file swapped)")

    # ------------------------------------------------------------------ backup payload

    def snapshot(self) -> bytes:
        """The committed keystore as an uncompressed tar (what `keys backup` encrypts)."""
        with self.reading() as (state, lines):
            files = {STATE_NAME: (self.path / STATE_NAME).read_bytes(),
                     HISTORY_NAME: b"".join(line + b"\n" for line in lines)}
            for record in self.records(state):
                for relative in (record.public_key, record.private_key):
                    if relative:
                        files[relative] = (self.path / relative).read_bytes()
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

    # --- queries
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

    def _put(self, record: KeyRecord) -> None:
        for index, item in enumerate(self.state["keys"]):
            if item["id"] == record.id:
                self.state["keys"][index] = record.to_dict()
                return
        self.state["keys"].append(record.to_dict())

    # --- changes
    def new_key(self, purpose: str) -> KeyRecord:
        """Generate a key, write its files (orphans until commit) and add it as `pending`."""
        from x0ctl.pqc.fingerprint import fingerprint, short_id

        algorithm = ALGORITHM_FOR_PURPOSE[purpose]
        private = self.store._scheme(algorithm).generate()
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
        self._put(record)
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

    def record(self, event: str, purpose: str | None, *, old: KeyRecord | None = None, new: KeyRecord | None = None,
               reason: str | None = None) -> None:
        signer, private = self._signer(new)
        all_lines = self.lines + self.new_lines
        prev = hist.entry_hash(all_lines[-1]) if all_lines else hist.GENESIS_PREV
        line = hist.make_entry(
            seq=len(all_lines) + 1, prev=prev, time=self.time, event=event, purpose=purpose,
            old_id=old.id if old else None, new_id=new.id if new else None, reason=reason,
            epoch=self.state["epoch"], signer=signer.id,
            sign=lambda message: private.sign(message, hist.SIGNATURE_CONTEXT),
        )
        self.new_lines.append(line)

    def activate(self, new: KeyRecord, reason: str | None = None, validity: int | None = None) -> KeyRecord | None:
        """`new` becomes active (valid for `validity` seconds if given); the previous active key is retired."""
        old = self.active(new.purpose)
        if old is not None:
            old.state, old.retired = "retired", self.time
            self._put(old)
        new.state, new.activated = "active", self.time
        if validity is not None:
            new.not_after = format_time(parse_time(self.time) + validity)
        if reason:
            new.reason = reason
        self._put(new)
        self.state["epoch"] += 1
        return old

    def prune(self, purpose: str, keep: int) -> list[KeyRecord]:
        retired = sorted((r for r in self.records() if r.purpose == purpose and r.state == "retired" and r.private_key),
                         key=lambda r: r.version, reverse=True)
        pruned = []
        for record in retired[keep:]:
            self.delete_after_commit.append(self.store.path / record.private_key)
            record.private_key, record.pruned = None, self.time
            self._put(record)
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


# ---------------------------------------------------------------------- restore


def _extract_snapshot(payload: bytes, destination: Path) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:") as archive:
            _extract_members(archive, destination)
    except tarfile.TarError:
        raise CheckFailed("the backup decrypted but does not contain an x0ctl keystore archive") from None


def _extract_members(archive: tarfile.TarFile, destination: Path) -> None:
    for member in archive.getmembers():
        name = member.name
        parts = Path(name).parts
        allowed = name in (STATE_NAME, HISTORY_NAME) or (
            len(parts) == 2 and parts[0] == KEYS_DIR and re.fullmatch(r"[a-z]+-v\d+-[0-9a-f]{12}\.(key|pub)\.pem", parts[1]))
        if not member.isfile() or not allowed:
            raise CheckFailed(f"the backup archive holds an unexpected entry {name!r}; refusing it")
        data = archive.extractfile(member).read()
        target = destination / name
        make_private_dir(target.parent)
        atomic_write(target, data)


def node_identity(store: Keystore) -> str | None:
    """The signing key that signed the keystore's first history entry: who the keystore belongs to.

    Every later entry chains back to it under signatures, so a backup whose genesis signer is the
    node's cannot have been assembled by someone without the node's signing keys.
    """
    lines = store._history_lines()
    if not lines:
        return None
    try:
        return json.loads(lines[0]).get("signer")
    except ValueError:
        return None


def _foreign_problem(restored: Keystore, current: Keystore | None, expect_signer: str | None) -> str | None:
    """Why the backup may belong to another node (None when its origin checks out)."""
    origin = node_identity(restored)
    if expect_signer is not None:
        wanted = expect_signer.strip().lower().removeprefix("sha256:")
        if len(wanted) < 32 or any(c not in "0123456789abcdef" for c in wanted):
            raise UsageError("--expect-signer needs at least 32 hex digits of the node's first signing key id")
        if not (origin or "").removeprefix("sha256:").startswith(wanted):
            return f"its history was started by signing key {str(origin)[:23]}, not the expected {expect_signer}"
        return None
    if current is not None:
        mine = node_identity(current)
        if mine is not None and origin != mine:
            return f"it belongs to another node (first signing key {str(origin)[:23]}, this keystore's {mine[:23]})"
    return None


def _rollback_problems(current: Keystore, restored: Keystore) -> list[str]:
    """Why replacing `current` with `restored` would undo security decisions (empty: it would not).

    A backup older than the keystore it replaces can bring back a key revoked after a compromise
    and lower the epoch that peers use to refuse old keys. --force alone must not do that silently.
    """
    try:
        now, then = current.read_state(), restored.read_state()
        now_records, then_records = current.records(now), restored.records(then)
    except CheckFailed:
        return []  # a damaged current keystore is exactly what --force restores over
    problems = []
    revoked_now = {r.id for r in now_records if r.state == "revoked"}
    back = sorted(r.short for r in then_records if r.id in revoked_now and r.state != "revoked")
    if back:
        problems.append(f"it would un-revoke key(s) {', '.join(back)}")
    if then["epoch"] < now["epoch"]:
        problems.append(f"it would lower the epoch from {now['epoch']} to {then['epoch']}")
    return problems


def restore(payload: bytes, target: Path, *, backend=None, force: bool = False, wait: bool = False,
            insecure_permissions: bool = False, allow_rollback: bool = False, expect_signer: str | None = None,
            allow_other_node: bool = False) -> dict:
    """Restore a decrypted backup into `target` after verifying it; the target changes atomically.

    The archive is unpacked into a sibling directory and verified there, then swapped in under the
    target's lock by one atomic exchange (renameat2). An empty target is discarded; with `force`,
    an existing keystore is kept as `<target>.replaced-<time>`; no keys are ever deleted.
    """
    target = Path(target).expanduser().absolute()
    make_private_dir(target.parent)
    staging = target.parent / f".{target.name}.restore-{secrets.token_hex(4)}"
    make_private_dir(staging)
    staging_holds_old = False
    created_target = swapped = False
    try:
        _extract_snapshot(payload, staging)
        report = Keystore(staging, backend=backend).verify()
        if not report.ok:
            raise CheckFailed(f"the backup does not verify ({len(report.problems)} problem(s)): {report.problems[0]}")
        result = {"keystore": str(target), "replaced": None, "keys": report.keys_checked,
                  "history_entries": report.history_entries}
        # Decide under the target's lock: a `keys generate` committing between an unlocked check
        # and the swap would otherwise be replaced, and its keys deleted (found in review).
        created_target = not target.exists()
        make_private_dir(target)
        with KeystoreLock(target, exclusive=True, wait=wait):
            occupied = [p.name for p in target.iterdir() if p.name != LOCK_NAME]
            if occupied and not force:
                raise UsageError(f"refusing to overwrite the existing keystore at {target}",
                                 hint="restore into an empty --keystore, or pass --force to move the current one aside")
            if not allow_other_node:
                foreign = _foreign_problem(Keystore(staging, backend=backend),
                                           Keystore(target, backend=backend) if occupied else None, expect_signer)
                if foreign:
                    raise UsageError(f"refusing the backup: {foreign}",
                                     hint="check the file; pass --allow-other-node if this node's identity should change")
            if occupied and not allow_rollback:
                rollback = _rollback_problems(Keystore(target, backend=backend), Keystore(staging, backend=backend))
                if rollback:
                    raise UsageError(f"the backup is older than the keystore at {target}: {'; '.join(rollback)}",
                                     hint="pass --allow-rollback if that is intended")
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            aside = target.parent / f"{target.name}.replaced-{stamp}"
            serial = 1
            while aside.exists():  # two restores within one second must not collide
                serial += 1
                aside = target.parent / f"{target.name}.replaced-{stamp}-{serial}"
            if not occupied:
                aside = None
            swapped = True  # from here on the target is (being) replaced: never clean it up
            if exchange_paths(staging, target):
                staging_holds_old = True  # from here on `staging` is the previous keystore: never delete it
                fsync_dir(target.parent)
                if aside is not None:
                    os.rename(staging, aside)
                    fsync_dir(target.parent)
                elif {p.name for p in staging.iterdir()} <= {LOCK_NAME}:
                    shutil.rmtree(staging)  # the empty directory that stood at the target
                    staging_holds_old = False
            else:  # no renameat2 on this kernel/filesystem: two renames, documented crash window
                os.rename(target, aside or staging.with_name(staging.name + ".old"))
                os.rename(staging, target)
                fsync_dir(target.parent)
        result["replaced"] = str(aside) if aside else None
        return result
    except OSError as exc:
        raise IOFailure(f"restore into {target} failed: {exc.strerror or exc}") from None
    finally:
        if staging.exists() and not staging_holds_old:
            shutil.rmtree(staging, ignore_errors=True)
        if created_target and not swapped and target.is_dir() and {p.name for p in target.iterdir()} <= {LOCK_NAME}:
            shutil.rmtree(target, ignore_errors=True)  # a refused restore leaves no directory it made


def keystore_health(path: Path | str | None = None, backend=None) -> dict:
    """A summary for `x0ctl doctor`: never raises; `ok` False with the problems when unhealthy."""
    store = Keystore(path, backend=backend)
    summary: dict = {"keystore": str(store.path), "exists": store.exists(), "ok": False, "problems": [],
                     "notes": [], "active": {}, "epoch": None}
    if not summary["exists"]:
        summary["problems"].append("no keystore (run `x0ctl keys generate`)")
        return summary
    try:
        if backend is None:
            from x0ctl.pqc import get_backend

            store._backend = get_backend("openssl")
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
