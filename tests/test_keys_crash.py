"""SIGKILL at random moments and concurrent writers: the keystore always holds the old or the new state.

The suite runs a handful of kills; benchmarks/soak_keys_crash.py runs hundreds (`--runs 200`).
"""

from __future__ import annotations

import os
import random
import subprocess
import time

import pytest

from .conftest import assert_one_line_error, run_x0ctl
from .keys_helpers import (
    REPO,
    keystore_view,
    kill_restore_once,
    kill_rotate_once,
    old_or_new,
    verify_problems,
    x0ctl_argv,
)

SUITE_KILLS = int(os.environ.get("X0CTL_TEST_KILLS", "10"))


@pytest.fixture
def keystore(tmp_path):
    path = tmp_path / "ks"
    result = run_x0ctl("--backend", "openssl", "keys", "generate", "--keystore", str(path))
    assert result.returncode == 0, result.stderr
    return path


def test_sigkill_during_rotation_leaves_old_or_new_state(keystore):
    rng = random.Random(int(os.environ.get("X0CTL_TEST_SEED", "0")) or None)
    outcomes = {"old": 0, "new": 0}
    for run in range(SUITE_KILLS):
        result = kill_rotate_once(keystore, rng, window=0.35)
        problem = old_or_new(result)
        assert problem is None, (run, problem, result["stderr"][-500:])
        assert result["exit"] in (0, -9), result  # killed, or finished before the kill: never an error
        outcomes[result["outcome"]] += 1
    # Afterwards the keystore is fully usable: a rotation completes and cleans up leftovers.
    final = run_x0ctl("--backend", "openssl", "keys", "rotate", "--keystore", str(keystore), "-o", "json")
    assert final.returncode == 0, final.stderr
    assert verify_problems(keystore) == []
    assert not list(keystore.rglob("*.tmp"))
    assert outcomes["old"] + outcomes["new"] == SUITE_KILLS
    assert outcomes["new"] > 0  # the window is short enough that some rotations commit before the kill


def test_sigkill_during_restore_leaves_old_or_restored_keystore(keystore, tmp_path):
    passfile = tmp_path / "pass"
    passfile.write_text("restore drill\n")
    backup = tmp_path / "b.age"
    made = run_x0ctl("--backend", "openssl", "keys", "backup", "--keystore", str(keystore), "--out", str(backup),
                     "--passphrase-file", str(passfile), "--scrypt-work-factor", "10")
    assert made.returncode == 0, made.stderr
    backed_up = keystore_view(keystore)
    target = tmp_path / "target"
    assert run_x0ctl("--backend", "openssl", "keys", "generate", "--keystore", str(target)).returncode == 0
    rng = random.Random()
    olds = []
    for run in range(max(4, SUITE_KILLS // 2)):
        result = kill_restore_once(backup, passfile, target, rng, window=1.5, backed_up=backed_up, damaged=run % 2 == 1)
        assert result["problems"] == [], result
        assert result["exit"] in (0, -9), result
        assert result["outcome"] in ("old", "restored"), result
        olds.append(result["before"])
    # Nothing was deleted: every replaced keystore is kept beside the target (a damaged one as it was).
    for aside in tmp_path.glob("target.replaced-*"):
        if (aside / "state.json").read_bytes().startswith(b"{ damaged"):
            assert "damaged" in olds
        else:
            assert keystore_view(aside) in olds
    # No staging copy (with private keys) survives once a restore or verify has run after the kills.
    assert run_x0ctl("--backend", "openssl", "keys", "verify", "--keystore", str(target)).returncode in (0, 1)
    assert not list(tmp_path.glob(".target.restore-*"))


def test_two_rotations_never_both_proceed(keystore):
    from x0ctl.keystore.fsutil import KeystoreLock

    with KeystoreLock(keystore):
        result = run_x0ctl("--backend", "openssl", "keys", "rotate", "--keystore", str(keystore))
        assert result.returncode == 4
        assert_one_line_error(result.stderr, "keystore locked", "--wait")
        before = keystore_view(keystore)
        waiter = subprocess.Popen(x0ctl_argv("keys", "rotate", "--keystore", str(keystore), "--wait"),
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.0)
        assert waiter.poll() is None  # blocked on the lock, not failed
        assert keystore_view(keystore) == before
    assert waiter.wait(timeout=60) == 0
    waiter.stdout.close()
    waiter.stderr.close()
    assert keystore_view(keystore)["generation"] == before["generation"] + 1


def test_racing_rotations_serialise(keystore, tmp_path):
    metrics = tmp_path / "keys.prom"
    argv = x0ctl_argv("keys", "rotate", "--keystore", str(keystore), "--metrics-file", str(metrics))
    before = keystore_view(keystore)
    procs = [subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
    codes, errors = [], []
    for proc in procs:
        codes.append(proc.wait(timeout=60))
        errors.append(proc.stderr.read().decode())
        proc.stderr.close()
    assert set(codes) <= {0, 4}, errors
    assert all("keystore locked" in err for code, err in zip(codes, errors) if code == 4)
    winners = codes.count(0)
    after = keystore_view(keystore)
    assert after["generation"] == before["generation"] + winners
    assert after["history"] == before["history"] + 2 * winners
    assert verify_problems(keystore) == []
    text = metrics.read_text()
    assert f"key_rotation_success_total {float(2 * winners)}" in text
    if winners < 3:
        assert f'key_rotation_failure_total{{reason="locked"}} {float(3 - winners)}' in text
