#!/usr/bin/env python3
"""Soak test: SIGKILL `x0ctl keys rotate` (and `keys restore --force`) at random moments, hundreds of times.

    python benchmarks/soak_keys_crash.py [--runs 200] [--restore-runs 50] [--seed N]

Each rotate run starts the real command as a subprocess, waits until it holds the keystore lock
(so the kill lands inside the transaction, not in interpreter start-up), sleeps a random 0..W
seconds (W: 2 x the measured time a rotation holds the lock) and sends SIGKILL. After every run
it checks that `keys verify` passes and that the keystore holds exactly the old state or the
complete new one (both purposes rotated, history and generation advanced by one commit).
Restore runs kill `keys restore --force` at a random moment and check the target holds the old
keystore or the backed-up one. Exit status 1 on any violation.

It also prints what one rotation costs in-process against the raw primitives it needs (X-Wing and
ML-DSA-65 key generation plus the history signatures) measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.keys_helpers import (
    _lock_is_held,
    keystore_view,
    kill_restore_once,
    kill_rotate_once,
    old_or_new,
    x0ctl_argv,
)


def _x0ctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(x0ctl_argv(*args), cwd=REPO, capture_output=True, text=True, check=False)


def measure_lock_hold(keystore: Path, rounds: int = 3) -> float:
    """Seconds a complete `keys rotate` holds the lock (median of `rounds`)."""
    best = []
    for _ in range(rounds):
        proc = subprocess.Popen(x0ctl_argv("keys", "rotate", "--keystore", str(keystore), "--keep", "1", "--wait"),
                                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None and not _lock_is_held(keystore):
            time.sleep(0.0005)
        start = time.monotonic()
        while proc.poll() is None and _lock_is_held(keystore):
            time.sleep(0.0005)
        best.append(time.monotonic() - start)
        proc.wait()
    return sorted(best)[len(best) // 2]


def rotation_cost_ratio(workdir: Path, repeat: int = 5) -> tuple[float, float]:
    """(seconds per in-process rotation of both keys, seconds of the bare primitives it performs)."""
    from x0ctl.keystore import Keystore, generate, rotate
    from x0ctl.pqc import XWing, get_backend

    backend = get_backend("openssl")
    store = Keystore(workdir / "ratio", backend=backend)
    generate(store)
    xwing, sig = XWing(backend), backend.sig("ML-DSA-65")
    full, bare = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        rotate(store, keep=1)
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        xwing.generate()
        signer = sig.generate()
        for _ in range(2):  # two history entries, each signed
            signer.sign(b"x" * 400, b"x0ctl-keys-history-v1")
        bare.append(time.perf_counter() - start)
    return min(full), min(bare)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200, help="SIGKILLed rotations (default 200)")
    parser.add_argument("--restore-runs", type=int, default=50, help="SIGKILLed restores (default 50)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"seed {seed}")
    failures = []
    with tempfile.TemporaryDirectory(prefix="x0ctl-soak-") as tmp:
        workdir = Path(tmp)
        keystore = workdir / "ks"
        made = _x0ctl("keys", "generate", "--keystore", str(keystore))
        if made.returncode:
            print(made.stderr)
            return 1
        hold = measure_lock_hold(keystore)
        window = 2.0 * hold  # under load the real hold time varies; overshooting covers post-commit kills too
        print(f"a rotation holds the lock for {hold * 1000:.0f} ms; kill window 0..{window * 1000:.0f} ms")
        outcomes = {"old": 0, "new": 0, "killed": 0}
        started = time.monotonic()
        for run in range(args.runs):
            result = kill_rotate_once(keystore, rng, window)
            problem = old_or_new(result)
            if problem is None and result["exit"] not in (0, -9):
                problem = f"exit {result['exit']}: {result['stderr'].strip()[-300:]}"
            if problem:
                failures.append(f"rotate run {run}: {problem}")
            outcomes[result["outcome"]] += 1
            outcomes["killed"] += result["killed"]
            if (run + 1) % 50 == 0:
                print(f"  {run + 1} rotate runs: {outcomes} ({time.monotonic() - started:.0f} s)")
        print(f"rotate: {args.runs} runs, {outcomes['killed']} killed mid-run, "
              f"{outcomes['old']} left the old state, {outcomes['new']} the new state")

        if args.restore_runs:
            passfile = workdir / "pass"
            passfile.write_text("soak\n")
            backup = workdir / "b.age"
            made = _x0ctl("keys", "backup", "--keystore", str(keystore), "--out", str(backup), "--passphrase-file",
                          str(passfile), "--scrypt-work-factor", "10")
            if made.returncode:
                print(made.stderr)
                return 1
            backed_up = keystore_view(keystore)
            target = workdir / "target"
            _x0ctl("keys", "generate", "--keystore", str(target))
            start = time.monotonic()
            probe = _x0ctl("keys", "restore", str(backup), "--passphrase-file", str(passfile), "--keystore",
                           str(workdir / "probe"), "--trust-backup-signer")
            duration = time.monotonic() - start
            if probe.returncode:
                print(probe.stderr)
                return 1
            counts = {"old": 0, "restored": 0, "killed": 0, "damaged": 0}
            for run in range(args.restore_runs):
                damaged = run % 2 == 1  # every other run restores over a keystore whose state.json is garbage
                result = kill_restore_once(backup, passfile, target, rng, 2.0 * duration, backed_up, damaged=damaged)
                if result["problems"] or result["outcome"] is None or result["exit"] not in (0, -9):
                    failures.append(f"restore run {run}{' (damaged target)' if damaged else ''}: exit {result['exit']}, "
                                    f"problems {result['problems']}, state {json.dumps(result['after'])[:200]}, "
                                    f"stderr {result['stderr'].strip()[-200:]}")
                else:
                    counts[result["outcome"]] += 1
                counts["killed"] += result["killed"]
                counts["damaged"] += damaged
            leftovers = list(workdir.glob(".target.restore-*"))
            checked = _x0ctl("keys", "verify", "--keystore", str(target), "-o", "json")
            remaining = list(workdir.glob(".target.restore-*"))
            if remaining:
                contents = {p.name: sorted(str(f.relative_to(p)) for f in p.rglob("*")) for p in remaining}
                failures.append(f"restore staging directories left after verify: {contents}; verify exit "
                                f"{checked.returncode}: {checked.stdout[-800:]} {checked.stderr[-300:]}")
            print(f"restore: {args.restore_runs} runs ({counts['damaged']} over a damaged keystore), "
                  f"{counts['killed']} killed mid-run, {counts['old']} left the old keystore, "
                  f"{counts['restored']} the restored one; {len(leftovers)} staging leftovers, "
                  f"{len(remaining)} after the next verify")

        full, bare = rotation_cost_ratio(workdir)
        print(f"one rotation (kem+sig, in-process): {full * 1000:.1f} ms; bare primitives: {bare * 1000:.1f} ms; "
              f"ratio {full / bare:.1f}x (the rest is fsync'd atomic writes and verification reads)")
    if failures:
        print(f"FAILED: {len(failures)} violation(s)")
        for failure in failures[:20]:
            print("  " + failure)
        return 1
    print("OK: every run left the old or the new state, and keys verify passed after each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
