"""Who drives a rollout, and whether anyone still does.

The process that runs a rollout's loop records itself in the journal (`owner`: pid, host, the
process's start time) and then a `heartbeat` event every HEARTBEAT_SECONDS from a background
thread, so even a driver command that runs for minutes does not make a live rollout look dead.
A rollout whose journal says `running` is **orphaned** when its owner is gone: the owner's process
no longer exists on this host (or the pid now belongs to a process started later), it recorded an
`interrupted` event, or no event at all arrived for STALE_SECONDS (the only sign available for an
owner on another host).

This sits above the journal store (it only appends and reads events), so it works the same for
every store.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 30.0  # six missed heartbeats
_START_TOLERANCE = 2.0  # clock-tick rounding between two readings of a process's start time


def _boot_time() -> float | None:
    try:
        with open("/proc/stat") as stat:
            for line in stat:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (unix seconds), from /proc; None where /proc is unavailable."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    boot = _boot_time()
    if boot is None:
        return None
    # the command name (field 2) may hold spaces and parentheses: fields resume after the last ')'
    fields = text[text.rindex(")") + 2:].split()
    return round(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"), 2)


def this_process() -> dict:
    """The owner record of the running process."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": process_start_time(os.getpid())}


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is someone else's
        return True
    return True


def orphan_reason(status: str, owner: dict | None, interrupted: dict | None, last_event: float | None,
                  now: float | None = None) -> str | None:
    """Why a rollout in `status` has nobody driving it, or None when it is driven (or needs no driver)."""
    if status != "running":
        return None
    now = time.time() if now is None else now
    if interrupted is not None:
        return f"interrupted ({interrupted.get('reason') or 'signal'}) at {_clock(interrupted.get('ts'))}"
    if owner and owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        pid = owner["pid"]
        if not _process_exists(pid):
            return f"its process {pid} on {owner['host']} is gone"
        started, recorded = process_start_time(pid), owner.get("started")
        if started is not None and recorded is not None and abs(started - recorded) > _START_TOLERANCE:
            return f"its process {pid} on {owner['host']} is gone (the pid now belongs to another process)"
    if last_event is not None and now - last_event > STALE_SECONDS:
        who = f"process {owner.get('pid')} on {owner.get('host')}" if owner else "its owner"
        return f"no heartbeat from {who} for {now - last_event:.0f}s"
    return None


def _clock(ts) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if isinstance(ts, int | float) else "?"


class Heartbeat:
    """Calls `beat()` every `every` seconds on a daemon thread until stopped."""

    def __init__(self, beat: Callable[[], None], every: float = HEARTBEAT_SECONDS) -> None:
        self._beat = beat
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="x0ctl-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._beat()
            except Exception:  # noqa: BLE001 - a failed beat is seen as a stale heartbeat, never a crash
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every + 1)
