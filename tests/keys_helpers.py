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


def kill_restore_once(backup: Path, passphrase_file: Path, target: Path, rng: random.Random, window: float,
                      backed_up: dict) -> dict:
    """SIGKILL `keys restore --force` at a random moment; the target must hold the old or the backed-up keystore.

    If an earlier run restored the backup, the target is rotated first so "old" and "restored" differ.
    """
    if keystore_view(target) == backed_up:
        from x0ctl.keystore import Keystore, rotate
        from x0ctl.pqc import get_backend

        rotate(Keystore(target, backend=get_backend("openssl"), wait=True))
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
    after = keystore_view(target)
    outcome = "restored" if after == backed_up else "old" if after == before else None
    return {"killed": killed, "exit": proc.returncode, "before": before, "after": after, "outcome": outcome,
            "problems": verify_problems(target), "stderr": stderr}
