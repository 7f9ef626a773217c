"""Shared by the keys tests and benchmarks/soak_keys_crash.py: keystore snapshots and SIGKILL runs."""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def x0ctl_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "x0ctl", "--backend", "openssl", "--quiet", *args]


def keystore_view(path: Path) -> dict:
    """What "the state" of a keystore is, for old-or-new comparisons."""
    state = json.loads((Path(path) / "state.json").read_text())
    return {
        "active": sorted(k["id"] for k in state["keys"] if k["state"] == "active"),
        "keys": sorted(k["id"] for k in state["keys"]),
        "history": state["history"]["count"],
        "generation": state["generation"],
    }


def restored_view(backed_up: dict) -> dict:
    """The view of a keystore restored from a backup of `backed_up`: the same keys, plus the signed restore entry."""
    return {**backed_up, "history": backed_up["history"] + 1, "generation": backed_up["generation"] + 1}


def verify_problems(path: Path) -> list[str]:
    from x0ctl.keystore import Keystore
    from x0ctl.pqc import get_backend

    return Keystore(path, backend=get_backend("openssl")).verify().problems


def _lock_is_held(path: Path) -> bool:
    """True while some process holds the keystore's exclusive lock (probe with a shared, non-blocking flock)."""
    try:
        fd = os.open(Path(path) / ".lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def kill_rotate_once(keystore: Path, rng: random.Random, window: float) -> dict:
    """Start `keys rotate`, wait until it holds the lock, SIGKILL it `0..window` s later; report what survived.

    Probing for the lock puts the kill inside the transaction (generation, file writes, history,
    state swap, deletions) instead of during interpreter start-up, where it would prove nothing.
    """
    before = keystore_view(keystore)
    env = {**os.environ, "X0CTL_KEYSTORE": str(keystore)}
    proc = subprocess.Popen(x0ctl_argv("keys", "rotate", "--keep", "1", "--wait"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    deadline = time.monotonic() + 30
    while proc.poll() is None and not _lock_is_held(keystore) and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(rng.uniform(0, window))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    after = keystore_view(keystore)
    if after["generation"] == before["generation"]:
        outcome = "old"
    else:
        outcome = "new"
    return {"killed": killed, "exit": proc.returncode, "before": before, "after": after, "outcome": outcome,
            "problems": verify_problems(keystore), "stderr": stderr}


def old_or_new(result: dict) -> str | None:
    """None if the keystore after a kill is exactly the old state or a complete rotation; else why not."""
    before, after = result["before"], result["after"]
    if result["problems"]:
        return f"verify failed: {result['problems']}"
    if after["generation"] == before["generation"]:
        if after != before:
            return f"same generation but different content: {before} -> {after}"
        return None
    if after["generation"] != before["generation"] + 1:
        return f"generation jumped {before['generation']} -> {after['generation']}"
    if set(after["active"]) & set(before["active"]):
        return "a partial rotation: some active keys changed and some did not"
    if after["history"] <= before["history"]:
        return "history did not grow with the rotation"
    return None


def _files(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(Path(path).rglob("*"))
            if p.is_file() and p.name != ".lock"}


def kill_restore_once(backup: Path, passphrase_file: Path, target: Path, rng: random.Random, window: float,
                      backed_up: dict, *, damaged: bool = False) -> dict:
    """SIGKILL `keys restore --force` at a random moment; the target must hold the old or the restored keystore.

    If an earlier run restored the backup, the target is rotated first so "old" and "restored" differ.
    damaged: state.json of the target is garbage first (the runbook's "restore over a damaged
    keystore"); "old" then means every file is byte-for-byte what it was.
    """
    restored = restored_view(backed_up)
    try:
        if keystore_view(target) == restored:
            from x0ctl.keystore import Keystore, rotate
            from x0ctl.pqc import get_backend

            rotate(Keystore(target, backend=get_backend("openssl"), wait=True))
    except ValueError:
        damaged = True  # still damaged: the previous run was killed before its swap
    if damaged:
        (Path(target) / "state.json").write_bytes(b"{ damaged by the soak")
        before = _files(target)
    else:
        before = keystore_view(target)
    proc = subprocess.Popen(
        x0ctl_argv("keys", "restore", str(backup), "--passphrase-file", str(passphrase_file), "--keystore", str(target),
                   "--force", "--allow-rollback", "--allow-other-node", "--wait"),  # crash safety, not policy
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    time.sleep(rng.uniform(0, window))
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    stderr = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    try:
        after = keystore_view(target)
    except ValueError:
        after = None  # state.json still the damaged one
    if after == restored:
        outcome, problems = "restored", verify_problems(target)
    elif damaged:
        outcome, problems = ("old" if _files(target) == before else None), []
    else:
        outcome, problems = ("old" if after == before else None), verify_problems(target)
    return {"killed": killed, "exit": proc.returncode, "before": before if not damaged else "damaged", "after": after,
            "outcome": outcome, "problems": problems, "stderr": stderr}
