"""`--cluster dask://HOST:PORT`: trials on a real Dask scheduler with two workers on 127.0.0.1.

The suite starts `dask scheduler` and two `dask worker` processes (one thread each, no nanny, so
killing a worker loses it for good), waits for them with a bounded timeout and stops them after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from x0ctl.errors import IOFailure
from x0ctl.quorum import cluster as cluster_module
from x0ctl.quorum.montecarlo import Task, decisions, run_many, run_task
from x0ctl.quorum.scenario import Scenario

from .conftest import REPO, assert_one_line_error
from .promserver import closed_port, free_port

distributed = pytest.importorskip("distributed", reason="the 'cluster' extra (distributed) is not installed")

DASK = Path(sys.executable).with_name("dask")
START_TIMEOUT_S = 60
SMALL = ("quorum", "simulate", "-n", "7", "--duration", "5s", "--seed", "3")


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([str(DASK), *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def start_worker(address: str) -> subprocess.Popen:
    return _start("worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny", "--no-dashboard",
                  "--memory-limit", "0", "--death-timeout", "30")


@pytest.fixture(scope="module")
def dask_cluster():
    """(dask://127.0.0.1:PORT, worker processes): a scheduler and two workers, stopped after the module."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard")
    workers = [start_worker(address) for _ in range(2)]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        client = None
        while client is None:
            try:
                client = distributed.Client(address, timeout=5, set_as_default=False)
            except OSError:
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise
                time.sleep(0.5)
        try:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)
        finally:
            client.close()
        yield f"dask://127.0.0.1:{port}", workers
    finally:
        for process in [*workers, scheduler]:
            _stop(process)


def test_cluster_trials_and_sweep_are_identical_to_a_local_run(cli, dask_cluster):
    url, _ = dask_cluster
    local = cli.json(*SMALL, "-f", "2", "--trials", "4", "--jobs", "1")
    remote = cli.json(*SMALL, "-f", "2", "--trials", "4", "--cluster", url)
    assert [decisions(run) for run in remote["runs"]] == [decisions(run) for run in local["runs"]]
    assert remote["aggregate"] == local["aggregate"] and remote["crypto"] == local["crypto"]
    assert remote["crypto"]["conformance"]["identical"] is True
    local_sweep = cli.json(*SMALL, "--sweep-byzantine", "0..2", "--trials", "2")
    remote_sweep = cli.json(*SMALL, "--sweep-byzantine", "0..2", "--trials", "2", "--cluster", url)
    assert remote_sweep["sweep"] == local_sweep["sweep"]


def test_fuzz_on_the_cluster_finds_what_a_local_campaign_finds(cli, dask_cluster, tmp_path):
    url, _ = dask_cluster
    args = ("quorum", "fuzz", "--byzantine", "beyond", "--shrink-runs", "6")
    local = cli.json(*args, "--counterexample", str(tmp_path / "local.json"))
    remote = cli.json(*args, "--counterexample", str(tmp_path / "remote.json"), "--cluster", url)
    assert remote["found"] and remote["trials"] == local["trials"]
    assert remote["counterexample_document"] == local["counterexample_document"]


def test_an_unreachable_scheduler_is_exit_4_in_one_line(cli, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)
    result = cli(*SMALL, "-f", "2", "--trials", "2", "--cluster", f"dask://127.0.0.1:{closed_port()}")
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "cannot reach the Dask scheduler at dask://127.0.0.1:")


def test_the_cluster_comes_from_a_profile_too(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)
    config = tmp_path / "config.yaml"
    config.write_text(f"profiles:\n  farm:\n    cluster: dask://127.0.0.1:{closed_port()}\n")
    result = cli("--profile", "farm", *SMALL, "-f", "2", "--trials", "2", env={"X0CTL_CONFIG": str(config)})
    assert result.exit_code == 4
    assert_one_line_error(result.stderr, "cannot reach the Dask scheduler")


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "tcp://127.0.0.1:8786", "dask://127.0.0.1", "dask://h:99999"])
def test_a_malformed_cluster_address_is_a_usage_error(cli, address):
    result = cli(*SMALL, "-f", "2", "--trials", "2", "--cluster", address)
    assert result.exit_code == 2
    assert_one_line_error(result.stderr, "--cluster: expected dask://HOST:PORT")


def test_a_killed_worker_loses_no_trial(dask_cluster):
    """Runs last in the module: it kills one of the two workers while it holds a trial."""
    url, workers = dask_cluster
    tasks = [Task(Scenario(nodes=10, byzantine=3, duration_s=10.0, seed=seed), "openssl") for seed in range(8)]
    killed: list = []

    def kill_a_busy_worker(done: int, total: int) -> None:
        if killed:
            return
        client = distributed.Client(cluster_module.scheduler_address(url), timeout=5, set_as_default=False)
        try:
            busy = {worker for worker, keys in client.processing().items() if keys}
            pids = client.run(os.getpid, workers=list(busy))
        finally:
            client.close()
        victim = next(process for process in workers if process.pid in pids.values())
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed.append(victim.pid)

    results = run_many(tasks, jobs=1, progress=kill_a_busy_worker, cluster=url)
    assert killed, "no worker was killed mid-campaign"
    assert len(results) == len(tasks) and all(result is not None for result in results)
    assert [result["seed"] for result in results] == list(range(8))
    assert [decisions(result) for result in results[:2]] == [decisions(run_task(task)) for task in tasks[:2]]


def test_a_trial_that_keeps_failing_is_reported_never_dropped(dask_cluster):
    url, _ = dask_cluster
    broken = Task(Scenario(nodes=7, byzantine=2, duration_s=5.0, seed=1), "openssl", rules="no-such-rules")
    with pytest.raises(IOFailure, match="trial 1 .* failed on the Dask cluster"):
        run_many([Task(Scenario(nodes=7, byzantine=2, duration_s=5.0, seed=1), "openssl"), broken], jobs=1,
                 cluster=url)
