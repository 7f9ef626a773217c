"""The crash-safe journal of a rollout, and the lock that keeps one rollout per target.

The engine talks to storage only through the small `RolloutStore` interface below (append and read
a rollout's events, list rollouts, lock a target); `StateDir` is the local-file store. Everything
that decides (replay, owners and heartbeats, orphans) sits above it, so another store (a shared
etcd, say) is an addition, not a change.

Each rollout is one file of JSON lines, appended under an fcntl lock and fsynced before the append
returns: a crash loses at most the event being written, and a torn last line is ignored on read.
The state of a rollout (status, step, deadlines) is always derived by replaying its journal, so
`resume` after a crash continues from the saved deadlines.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Self

from x0ctl.errors import IOFailure, UsageError

STATE_DIR_ENV = "X0CTL_STATE_DIR"
TERMINAL = ("promoted", "rolled-back", "failed")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


class EventLog(Protocol):
    """One rollout's append-only events."""

    @property
    def rollout_id(self) -> str: ...

    def append(self, event_type: str, **fields) -> dict:
        """Write one event durably (ts and type added) before returning it."""

    def events(self) -> list[dict]:
        """Every readable event in order; UsageError for an unknown rollout, IOFailure when unreadable."""


class Lock(Protocol):
    """An exclusive lock on a target, held while a process acts on it."""

    def acquire(self, holder: str) -> None:
        """Take it or raise IOFailure naming the holder."""

    def held_elsewhere(self) -> bool: ...

    def release(self) -> None: ...


class RolloutStore(Protocol):
    """Where rollouts live: `StateDir` on the local disk; any other store offers the same four calls."""

    def ensure(self) -> None:
        """Make the store ready for writing (IOFailure when it cannot be)."""

    def journal(self, rollout_id: str) -> EventLog: ...

    def ids(self) -> list[str]:
        """Every rollout id, oldest first."""

    def lock(self, target: str) -> Lock: ...


def default_state_dir(environ: dict | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV])
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "x0ctl"


def current_user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return f"uid:{os.getuid()}"


def new_rollout_id(target: str) -> str:
    return f"{target}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{secrets.token_hex(2)}"


class Journal:
    """Append-only JSON lines for one rollout."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def rollout_id(self) -> str:
        return self.path.name.removesuffix(".jsonl")

    def append(self, event_type: str, **fields) -> dict:
        event = {"ts": round(time.time(), 3), "type": event_type, **fields}
        line = (json.dumps(event, default=str, separators=(",", ":")) + "\n").encode()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise IOFailure(f"cannot write journal {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # a torn line from a crash would glue onto this one: start on a fresh line
            size = os.fstat(fd).st_size
            if size:
                with open(self.path, "rb") as existing:
                    existing.seek(size - 1)
                    if existing.read(1) != b"\n":
                        line = b"\n" + line
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        return event

    def events(self) -> list[dict]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            raise UsageError(f"no rollout {self.rollout_id!r} (looked in {self.path.parent})") from None
        except OSError as exc:
            raise IOFailure(f"cannot read journal {self.path}: {exc.strerror}") from None
        events = []
        for line in raw.splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and "type" in event:
                    events.append(event)
        return events


class StateDir:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root else default_state_dir()
        self.rollouts = self.root / "rollouts"
        self.locks = self.root / "locks"

    def ensure(self) -> None:
        try:
            self.rollouts.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.locks.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise IOFailure(f"cannot create state directory {self.root}: {exc.strerror}") from None

    def journal(self, rollout_id: str) -> Journal:
        if not _ID.match(rollout_id):
            raise UsageError(f"{rollout_id!r} is not a rollout id")
        return Journal(self.rollouts / f"{rollout_id}.jsonl")

    def ids(self) -> list[str]:
        if not self.rollouts.is_dir():
            return []
        return sorted((p.name.removesuffix(".jsonl") for p in self.rollouts.glob("*.jsonl")),
                      key=lambda i: (self.rollouts / f"{i}.jsonl").stat().st_mtime)

    def lock(self, target: str) -> TargetLock:
        return TargetLock(self.locks / f"{target}.lock", target)


class TargetLock:
    """An exclusive fcntl lock on a target, held for as long as a rollout acts on it."""

    def __init__(self, path: Path, target: str) -> None:
        self.path = path
        self.target = target
        self._fd: int | None = None

    def acquire(self, holder: str) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise IOFailure(f"target {self.target!r} is locked by another rollout ({owner or 'unknown'})",
                            hint="wait for it, or pause/abort it") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{holder} pid {os.getpid()}\n".encode())
        self._fd = fd

    def held_elsewhere(self) -> bool:
        """True when some process holds the lock (we do not keep it)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops a lock we may just have taken
        return False

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


@dataclass
class RolloutState:
    """What a journal says about a rollout, replayed event by event."""

    rollout_id: str
    plan: dict = field(default_factory=dict)
    status: str = "pending"  # pending | running | paused | promoted | rolled-back | failed
    cause: str | None = None  # the verdict or action that ended or paused it: fail | inconclusive | error | operator
    reason: str | None = None
    step_index: int = -1
    weight: int = 0
    max_weight: int = 0
    step_started: float | None = None
    gates_after: float | None = None
    bake_until: float | None = None
    created: float | None = None
    updated: float | None = None
    replay: dict | None = None
    last_gates: dict = field(default_factory=dict)  # gate name -> last result
    streaks: dict = field(default_factory=dict)  # gate name -> [verdict, consecutive count]
    intended_step: int = -1  # a step whose weight change began (its `step` event may be missing after a crash)
    rollback_started: dict | None = None  # a rollback that began and has not ended: resume must finish it
    advance_requested: bool = False
    full_promotion_requested: bool = False
    pending_operator: list = field(default_factory=list)
    events: int = 0
    owner: dict | None = None  # the process driving the loop: pid, host, started
    interrupted: dict | None = None  # the owner stopped on a signal or a closed output: reason, ts
    catch_up: dict | None = None  # after a resume: the unwatched interval the next round must judge
    judged_since: float | None = None  # after a resume: only gate rounds from here on may end the step
    after_rollback: dict | None = None  # an earlier rollout of the target rolled back shortly before: id, ts
    orphaned: str | None = None  # why nobody drives this running rollout (set by an observer, not replay)

    @property
    def target(self) -> str:
        return self.plan.get("target", "")

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @property
    def shown_status(self) -> str:
        """The status as people and scripts see it: a running rollout nobody drives is `orphaned`."""
        return "orphaned" if self.orphaned else self.status

    def to_dict(self) -> dict:
        steps = self.plan.get("steps", [])
        return {
            "id": self.rollout_id, "target": self.target, "version": self.plan.get("version", ""),
            "status": self.shown_status, "cause": self.cause, "reason": self.orphaned or self.reason,
            "weight": self.weight, "owner": self.owner, "last_event": self.updated,
            "step": self.step_index + 1 if self.step_index >= 0 else 0, "steps": len(steps),
            "weights": [s["weight"] for s in steps], "step_started": self.step_started,
            "gates_after": self.gates_after, "bake_until": self.bake_until, "created": self.created,
            "updated": self.updated, "gates": list(self.last_gates.values()), "events": self.events,
        }


def replay(rollout_id: str, events: list[dict]) -> RolloutState:
    """The rollout's state from its journal; a damaged journal is a UsageError naming the event."""
    if not events or events[0].get("type") != "created" or not isinstance(events[0].get("plan"), dict):
        raise UsageError(f"rollout {rollout_id!r}: the journal is damaged (it does not start with a 'created' event "
                         "holding the plan)")
    state = RolloutState(rollout_id)
    for number, event in enumerate(events, start=1):
        try:
            _apply(state, event)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UsageError(f"rollout {rollout_id!r}: journal event {number} ({event.get('type')!r}) is damaged: "
                             f"{type(exc).__name__} {exc}") from None
    return state


def _apply(state: RolloutState, event: dict) -> None:
    """Fold one journal event into the state."""
    state.events += 1
    state.updated = event.get("ts")
    kind = event["type"]
    if kind == "created":
        state.plan = event.get("plan", {})
        state.created = event.get("ts")
        state.after_rollback = event.get("after_rollback")
        state.status = "running"
        state.replay = event.get("replay")
    elif kind == "step-intent":
        state.intended_step = int(event["step"]) - 1
    elif kind == "rollback-intent":
        state.rollback_started = {"cause": event.get("cause"), "reason": event.get("reason")}
    elif kind == "owner":
        state.owner = {key: event.get(key) for key in ("pid", "host", "started")}
        state.interrupted = None
    elif kind == "interrupted":
        state.interrupted = {"reason": event.get("reason"), "ts": event.get("ts")}
        state.owner = None
    elif kind == "unwatched":
        state.catch_up = {"from": event["from"], "until": event["until"]}
        state.judged_since = event["until"]
        if state.bake_until is not None:
            state.bake_until = max(state.bake_until, float(event["until"]) + float(event.get("wait", 0)))
    elif kind == "step":
        state.catch_up = state.judged_since = None
        state.step_index = int(event["step"]) - 1
        state.intended_step = state.step_index
        state.weight = int(event["weight"])
        state.max_weight = max(state.max_weight, state.weight)
        state.step_started = event.get("started")
        state.gates_after = event.get("gates_after")
        state.bake_until = event.get("bake_until")
        state.streaks = {}
        state.advance_requested = False
        state.status = "running"
    elif kind == "gate":
        if event.get("catch_up"):
            state.catch_up = None
        name = event.get("gate")
        state.last_gates[name] = {k: v for k, v in event.items() if k not in ("type",)}
        verdict = event.get("verdict")
        streak = state.streaks.get(name)
        if verdict == "pass":
            state.streaks[name] = ["pass", 0]
        elif streak and streak[0] == verdict:
            streak[1] += 1
        else:
            state.streaks[name] = [verdict, 1]
    elif kind == "operator":
        action = event.get("action")
        if action == "promote":
            state.advance_requested = True
            state.full_promotion_requested = state.full_promotion_requested or bool(event.get("full"))
        if action in ("pause", "abort", "rollback", "promote") and not state.finished:
            state.pending_operator.append(event)
        if action == "resume":
            state.pending_operator = [e for e in state.pending_operator if e.get("action") != "pause"]
    elif kind == "handled":
        state.pending_operator = [e for e in state.pending_operator if e.get("ts") != event.get("operator_ts")
                                  or e.get("action") != event.get("action")]
    elif kind == "paused":
        state.status = "paused"
        state.cause, state.reason = event.get("cause"), event.get("reason")
    elif kind == "resumed":
        state.status = "running"
        state.cause = state.reason = None
    elif kind == "promoted":
        state.status, state.weight = "promoted", 100
        state.step_index = state.intended_step = len(state.plan.get("steps", [])) - 1
        state.cause, state.reason = None, event.get("reason")
    elif kind == "rolled-back":
        state.rollback_started = None
        state.status, state.weight = "rolled-back", 0
        state.cause, state.reason = event.get("cause"), event.get("reason")
    elif kind == "failed":
        state.rollback_started = None
        state.status = "failed"
        state.cause, state.reason = "error", event.get("reason")
