"""Quorum simulation at scale: cost per trial as n grows, real and modelled crypto, and a sweep
with local processes against a local Dask cluster, measured in one run.

    python benchmarks/bench_quorum.py                     # every available backend, n = 16, 100, 200 (+1000)
    python benchmarks/bench_quorum.py --nodes 16,100 --no-sweep --json
    OQS_INSTALL_PATH=/tmp/oqs python benchmarks/bench_quorum.py --backend liboqs

**Per trial.** One trial = one simulation of --duration simulated seconds (default 30) with
n nodes, f = floor((n-1)/3) Byzantine nodes on the mixed strategies, all-to-all broadcast, seed 7.
Each trial runs in a fresh process, which reports its own CPU time (time.process_time: the whole
trial, key generation included) and peak RSS (ru_maxrss), so trials do not share caches or memory.
Reported per (backend, crypto, n): CPU seconds, node-seconds simulated per CPU second
(n x duration / CPU s), trials per minute of one core (60 / CPU s) and peak RSS. n = 1000 is tried
with modelled crypto only, and only reported when it finishes within --large-timeout (60 s wall);
otherwise the row says it did not.

**Sweep.** `x0ctl quorum simulate -n 16 --sweep-byzantine 0..8 --trials 20 --duration 30s` (180
trials, modelled crypto with the default conformance re-runs) in-process: with `--jobs 2` (local
`spawn` processes) and on a local Dask cluster (a scheduler and two one-thread workers on
127.0.0.1, started before the timing, stopped after). Both sweeps are checked to agree. Target:
Dask wall time <= 1.3 x the --jobs 2 wall time.

The machine is shared: figures are wall and CPU times of this run only; compare ratios measured
in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DASK_TARGET = 1.3
LARGE_NODES = 1000


def one_trial(backend: str, crypto: str, nodes: int, duration: float, seed: int) -> dict:
    """Run in the child process: one trial, its CPU time and peak RSS."""
    from x0ctl.quorum.consensus import tolerated_faults
    from x0ctl.quorum.montecarlo import Task, run_task
    from x0ctl.quorum.scenario import Scenario

    started = time.process_time()
    result = run_task(Task(Scenario(nodes=nodes, byzantine=tolerated_faults(nodes), duration_s=duration, seed=seed),
                           backend, crypto=crypto))
    cpu = time.process_time() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"cpu_s": cpu, "peak_rss_mib": peak_kib / 1024, "deliveries": result["messages"]["delivered"],
            "signed": result["messages"]["signed"], "safety_ok": result["safety"]["ok"]}


def measure_trial(backend: str, crypto: str, nodes: int, duration: float, seed: int, timeout: float | None) -> dict:
    command = [sys.executable, __file__, "--one-trial", json.dumps([backend, crypto, nodes, duration, seed])]
    row = {"backend": backend, "crypto": crypto, "nodes": nodes, "byzantine": (nodes - 1) // 3,
           "simulated_s": duration}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=True)
    except subprocess.TimeoutExpired:
        return {**row, "finished": False, "note": f"did not finish within {timeout:g} s wall"}
    measured = json.loads(done.stdout)
    cpu = measured["cpu_s"]
    return {**row, "finished": True, "cpu_s": round(cpu, 3),
            "node_seconds_per_cpu_s": round(nodes * duration / cpu, 1),
            "trials_per_minute": round(60.0 / cpu, 2), "peak_rss_mib": round(measured["peak_rss_mib"], 1),
            "deliveries": measured["deliveries"], "safety_ok": measured["safety_ok"]}


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def local_dask_cluster():
    """(url, processes): a scheduler and two one-thread workers on 127.0.0.1, ready."""
    import distributed

    dask = str(Path(sys.executable).with_name("dask"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": REPO}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                                  **quiet)]
    processes += [subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1",
                                    "--no-nanny", "--no-dashboard", "--memory-limit", "0"], **quiet)
                  for _ in range(2)]
    deadline = time.monotonic() + 60
    while True:
        try:
            client = distributed.Client(address, timeout=5, set_as_default=False)
            break
        except OSError:
            if time.monotonic() > deadline:
                stop(processes)
                raise
            time.sleep(0.5)
    try:
        client.wait_for_workers(2, timeout=60)
    finally:
        client.close()
    return f"dask://127.0.0.1:{port}", processes


def stop(processes) -> None:
    for process in reversed(processes):  # workers first, then the scheduler
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def sweep_comparison(backend: str, duration: float) -> dict:
    from x0ctl.quorum.scenario import Scenario, expand_strategies
    from x0ctl.quorum.verdict import run_simulation

    scenario = Scenario(nodes=16, byzantine=0, duration_s=duration, seed=7,
                        strategies=tuple(expand_strategies(["collude"])))
    counts = list(range(9))

    def timed(**where) -> tuple[float, dict]:
        started = time.perf_counter()
        report = run_simulation(scenario, backend, trials=20, sweep=counts, **where)
        return time.perf_counter() - started, report.to_dict()

    jobs_wall, jobs_document = timed(jobs=2)
    row = {"backend": backend, "nodes": 16, "byzantine": "0..8", "trials_per_point": 20, "simulated_s": duration,
           "trials": 20 * len(counts), "jobs2_wall_s": round(jobs_wall, 2)}
    try:
        url, processes = local_dask_cluster()
    except ImportError:
        return {**row, "dask": "skipped: the 'cluster' extra (distributed) is not installed"}
    try:
        dask_wall, dask_document = timed(cluster=url)
    finally:
        stop(processes)
    if dask_document["sweep"] != jobs_document["sweep"] or dask_document["crypto"] != jobs_document["crypto"]:
        raise SystemExit("the sweep on Dask disagrees with the --jobs 2 sweep: results must not depend on where runs ran")
    ratio = dask_wall / jobs_wall
    return {**row, "dask_wall_s": round(dask_wall, 2), "dask_over_jobs2": round(ratio, 3), "target": DASK_TARGET,
            "meets_target": ratio <= DASK_TARGET,
            "conformance_identical": jobs_document["crypto"]["conformance"]["identical"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", help="openssl, liboqs or all (default: every available one)")
    parser.add_argument("--nodes", default="16,100,200", help="comma-separated n for the per-trial rows")
    parser.add_argument("--duration", type=float, default=30.0, help="simulated seconds per trial")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--large-timeout", type=float, default=60.0,
                        help=f"wall seconds allowed for the n = {LARGE_NODES} modelled trial (0: skip it)")
    parser.add_argument("--no-sweep", action="store_true", help="leave out the --jobs 2 / Dask sweep")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the Dask sweep misses its target")
    parser.add_argument("--one-trial", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_trial:
        print(json.dumps(one_trial(*json.loads(args.one_trial))))
        return 0

    from x0ctl.pqc import BACKEND_NAMES, backend_status

    names = list(BACKEND_NAMES) if args.backend == "all" else [args.backend]
    sizes = [int(item) for item in args.nodes.split(",") if item.strip()]
    trials, skipped, sweeps = [], {}, []
    for name in names:
        status = backend_status(name)
        if not status.available:
            skipped[name] = status.reason
            continue
        for crypto in ("modelled", "real"):
            for nodes in sizes:
                trials.append(measure_trial(name, crypto, nodes, args.duration, args.seed, None))
                if not args.json:
                    print(_trial_line(trials[-1]), flush=True)
        if args.large_timeout > 0:
            trials.append(measure_trial(name, "modelled", LARGE_NODES, args.duration, args.seed, args.large_timeout))
            if not args.json:
                print(_trial_line(trials[-1]), flush=True)
        if not args.no_sweep:
            sweeps.append(sweep_comparison(name, args.duration))
            if not args.json:
                print(_sweep_line(sweeps[-1]), flush=True)
    if args.json:
        print(json.dumps({"trials": trials, "sweeps": sweeps, "skipped": skipped, "cpus": os.cpu_count()}, indent=2))
    else:
        for name, reason in skipped.items():
            print(f"{name:8} skipped: {reason}")
    if args.strict and any(not sweep.get("meets_target", True) for sweep in sweeps):
        return 1
    return 0


def _trial_line(row: dict) -> str:
    head = f"{row['backend']:8} {row['crypto']:8} n={row['nodes']:<5} f={row['byzantine']:<4} {row['simulated_s']:g}s:"
    if not row["finished"]:
        return f"{head} {row['note']}"
    return (f"{head} {row['cpu_s']:8.3f} CPU s/trial, {row['node_seconds_per_cpu_s']:9.1f} node-s/CPU-s, "
            f"{row['trials_per_minute']:8.2f} trials/min/core, peak RSS {row['peak_rss_mib']:7.1f} MiB, "
            f"{row['deliveries']} receipts")


def _sweep_line(row: dict) -> str:
    head = (f"{row['backend']:8} sweep n=16 f=0..8 x 20 trials ({row['trials']} trials, {row['simulated_s']:g}s, "
            f"modelled): --jobs 2 {row['jobs2_wall_s']} s wall")
    if "dask_wall_s" not in row:
        return f"{head}; Dask {row['dask']}"
    return (f"{head}; local Dask cluster (2 workers) {row['dask_wall_s']} s wall = {row['dask_over_jobs2']} x "
            f"({'meets' if row['meets_target'] else 'MISSES'} target <= {DASK_TARGET})")


if __name__ == "__main__":
    sys.exit(main())
